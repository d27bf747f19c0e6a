"""C_FindObjectsInit / C_FindObjects / C_FindObjectsFinal (PKCS#11 3.0, 5.7.7-5.7.9), object
visibility (4.4, 5.6) and persistence: token objects outlive C_Finalize and processes, session
objects live and die with their session and never leave their process."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import Any

import pytest

from support.constants import (
    Attribute,
    Attribute32,
    KeyType,
    NssAttribute,
    NssObjectClass,
    NssTrust,
    ObjectClass,
)
from support.keys import certificate, ec_templates
from support.objects import (
    create,
    data_template,
    destroy_rv,
    find,
    find_init_rv,
    find_next,
    get1,
    secret_template,
    user_ctx,
)
from support.pkcs11 import ROOT, TESTS, Module, ffi
from support.templates import Template


def _population(module: Module, h: int) -> dict[str, int]:
    """A token with one object of each kind, public and private, token and session."""
    pub, priv = ec_templates("P-256")
    objs = {
        "data-pub": data_template("data-pub", b"v1", token=True, private=False),
        "data-priv": data_template("data-priv", b"v2", token=True, private=True),
        "data-session": data_template("data-session", b"v1", token=False, private=False),
        "cert": {**certificate(), Attribute.LABEL: "cert", Attribute.ID: b"\x01", Attribute.TOKEN: True},
        "ec-pub": {**pub, Attribute.LABEL: "ec-pub", Attribute.ID: b"\x01", Attribute.TOKEN: True},
        "ec-priv": {**priv, Attribute.LABEL: "ec-priv", Attribute.ID: b"\x01", Attribute.TOKEN: True},
        "aes": secret_template(KeyType.AES, b"a" * 16, label="aes", id=b"\x02", token=True),
        "generic": secret_template(
            KeyType.GENERIC_SECRET, b"g" * 20, label="generic", id=b"\x02", token=False
        ),
    }
    return {name: create(module, h, template) for name, template in objs.items()}


QUERIES: list[tuple[dict[int, Any], set[str]]] = [
    ({}, {"data-pub", "data-priv", "data-session", "cert", "ec-pub", "ec-priv", "aes", "generic"}),
    ({Attribute.CLASS: ObjectClass.DATA}, {"data-pub", "data-priv", "data-session"}),
    ({Attribute.CLASS: ObjectClass.SECRET_KEY}, {"aes", "generic"}),
    ({Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.KEY_TYPE: KeyType.AES}, {"aes"}),
    ({Attribute.KEY_TYPE: KeyType.EC}, {"ec-pub", "ec-priv"}),
    ({Attribute.ID: b"\x01"}, {"cert", "ec-pub", "ec-priv"}),
    ({Attribute.ID: b"\x01", Attribute.CLASS: ObjectClass.PRIVATE_KEY}, {"ec-priv"}),
    ({Attribute.LABEL: "cert"}, {"cert"}),
    ({Attribute.LABEL: "nothing"}, set()),
    ({Attribute.TOKEN: False}, {"data-session", "generic"}),
    ({Attribute.TOKEN: True, Attribute.PRIVATE: False}, {"data-pub", "cert", "ec-pub"}),
    ({Attribute.VALUE: b"v1"}, {"data-pub", "data-session"}),
    ({Attribute.VALUE: b"v1", Attribute.TOKEN: True}, {"data-pub"}),
    ({Attribute.APPLICATION: "softhsm-py tests", Attribute.PRIVATE: True}, {"data-priv"}),
    ({Attribute.SIGN: True, Attribute.CLASS: ObjectClass.PRIVATE_KEY}, {"ec-priv"}),
    ({Attribute.CLASS: ObjectClass.PUBLIC_KEY, Attribute.LABEL: "ec-priv"}, set()),
    (
        {Attribute.ID: b"\x02", Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.LABEL: "generic"},
        {"generic"},
    ),
]


@pytest.mark.parametrize(("query", "expected"), QUERIES, ids=[str(i) for i in range(len(QUERIES))])
def test_find_matches(module: Module, query: dict[int, Any], expected: set[str]) -> None:
    c = user_ctx(module)
    objs = _population(module, c.h)
    names = {handle: name for name, handle in objs.items()}
    found = find(module, c.h, query)
    assert len(found) == len(set(found))
    assert {names[h] for h in found} == expected


def test_find_in_small_batches(module: Module) -> None:
    c = user_ctx(module)
    made = {create(module, c.h, data_template(f"d{i}", private=False)) for i in range(7)}
    assert find_init_rv(module, c.h, {Attribute.CLASS: ObjectClass.DATA})[0] == "OK"
    got: list[int] = []
    while chunk := find_next(module, c.h, 2):
        got.extend(chunk)
    assert find_next(module, c.h, 2) == []  # exhausted, still OK
    module.check("C_FindObjectsFinal", c.h)
    assert sorted(got) == sorted(made)


def test_private_objects_invisible_without_login(module: Module) -> None:
    c = user_ctx(module)
    objs = _population(module, c.h)
    public = {objs[n] for n in ("data-pub", "data-session", "cert", "ec-pub")}
    module.check("C_Logout", c.h)
    assert set(find(module, c.h)) == public
    assert find(module, c.h, {Attribute.PRIVATE: True}) == []
    assert find(module, c.h, {Attribute.LABEL: "data-priv"}) == []


def test_find_survives_changes(module: Module) -> None:
    """Objects created or destroyed while a search is active: no error, no duplicate; handles
    returned are live objects that match (or, at most, the one destroyed meanwhile)."""
    c = user_ctx(module)
    made = [create(module, c.h, data_template(f"d{i}", token=bool(i % 2), private=False)) for i in range(6)]
    assert find_init_rv(module, c.h, {Attribute.CLASS: ObjectClass.DATA})[0] == "OK"
    first = find_next(module, c.h, 2)
    victim = next(h for h in made if h not in first)
    assert destroy_rv(module, c.h, victim) == "OK"
    extra = create(module, c.h, data_template("late", token=True, private=False))
    rest: list[int] = []
    while chunk := find_next(module, c.h, 2):
        rest.extend(chunk)
    module.check("C_FindObjectsFinal", c.h)
    got = first + rest
    assert len(got) == len(set(got))
    assert set(made) - {victim} <= set(got) <= set(made) | {extra}
    if module.name == "softhsm-py":
        assert victim not in got  # destroyed objects are skipped, not returned stale


def test_find_operation_errors(module: Module) -> None:
    c = user_ctx(module)
    out, count = ffi.new("CK_OBJECT_HANDLE[]", 4), ffi.new("CK_ULONG *")
    module.expect("OPERATION_NOT_INITIALIZED", "C_FindObjects", c.h, out, 4, count)
    module.expect("OPERATION_NOT_INITIALIZED", "C_FindObjectsFinal", c.h)
    assert find_init_rv(module, c.h, {})[0] == "OK"
    assert find_init_rv(module, c.h, {})[0] == "OPERATION_ACTIVE"
    module.expect("ARGUMENTS_BAD", "C_FindObjects", c.h, out, 4, ffi.NULL)
    module.check("C_FindObjectsFinal", c.h)
    module.expect("OPERATION_NOT_INITIALIZED", "C_FindObjectsFinal", c.h)
    module.expect("ARGUMENTS_BAD", "C_FindObjectsInit", c.h, ffi.NULL, 1)
    t = Template({})
    module.expect("OK", "C_FindObjectsInit", c.h, t.ptr, 0)  # an empty template finds everything
    module.check("C_FindObjectsFinal", c.h)


def test_find_is_per_session(module: Module) -> None:
    c = user_ctx(module)
    create(module, c.h, data_template(private=False))
    other = module.open(c.slot)
    assert find_init_rv(module, c.h, {})[0] == "OK"
    assert find_init_rv(module, other, {})[0] == "OK"
    assert len(find_next(module, other, 10)) == 1
    module.check("C_FindObjectsFinal", other)
    assert len(find_next(module, c.h, 10)) == 1
    module.check("C_FindObjectsFinal", c.h)


@pytest.mark.parametrize(
    "query",
    [
        {
            Attribute.CLASS: NssObjectClass.TRUST,
            Attribute.ISSUER: b"\x30\x00",
            Attribute.SERIAL_NUMBER: b"\x02\x01\x01",
        },
        {NssAttribute.CERT_SHA1_HASH: b"\x11" * 20},
        {NssAttribute.TRUST_SERVER_AUTH: NssTrust.TRUSTED_DELEGATOR, Attribute.CLASS: NssObjectClass.TRUST},
        {Attribute32.VALIDATION_FLAG: True},
    ],
    ids=["nss-trust-class", "nss-cert-hash", "nss-trust-server-auth", "3.2-validation"],
)
def test_find_on_unknown_attributes_is_empty(module: Module, query: dict[int, Any]) -> None:
    """NSS searches by its vendor attributes (0xCE5363xx): a clean empty result (CLIENTS.md)."""
    c = user_ctx(module)
    _population(module, c.h)
    assert find(module, c.h, query) == []


def test_handles_stable_within_instance(module: Module) -> None:
    c = user_ctx(module)
    objs = _population(module, c.h)
    again = {get1(module, c.h, h, Attribute.LABEL).decode(): h for h in find(module, c.h)}
    assert again == objs
    other = module.open(c.slot)
    assert {get1(module, other, h, Attribute.LABEL).decode(): h for h in find(module, other)} == objs


def test_token_objects_persist_across_finalize(module: Module) -> None:
    c = user_ctx(module)
    objs = _population(module, c.h)
    module.check("C_Finalize", ffi.NULL)
    module.initialize()
    h = module.open(module.slot_of("test"))
    module.login(h)
    labels = {get1(module, h, x, Attribute.LABEL).decode() for x in find(module, h)}
    assert labels == {n for n in objs if n not in ("data-session", "generic")}
    assert get1(module, h, find(module, h, {Attribute.LABEL: "data-priv"})[0], Attribute.VALUE) == b"v2"


# ------------------------------------------------------------------------------- other processes
_CHILD = textwrap.dedent(
    """
    import json, sys
    sys.path.insert(0, {tests!r})
    from support.constants import Attribute
    from support.pkcs11 import Module
    from support import objects as s
    m = Module({path!r})
    m.initialize()
    h = m.open(m.slot_of("test"))
    m.login(h)
    if {create!r}:
        s.create(m, h, s.data_template("from-child", b"c", token=True, private=True))
        s.create(m, h, s.data_template("child-session", b"c", token=False, private=False))
    labels = sorted(s.get1(m, h, x, Attribute.LABEL).decode() for x in s.find(m, h))
    m.finalize()
    print(json.dumps(labels))
    """
)


def _child(module: Module, create_objects: bool) -> list[str]:
    code = _CHILD.format(tests=str(TESTS), path=module.path, create=create_objects)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_other_process_sees_token_objects_only(module: Module) -> None:
    c = user_ctx(module)
    objs = _population(module, c.h)
    seen = _child(module, create_objects=False)
    assert set(seen) == {n for n in objs if n not in ("data-session", "generic")}


def test_token_objects_from_other_process(module: Module) -> None:
    c = user_ctx(module)
    assert find(module, c.h, {Attribute.LABEL: "from-child"}) == []
    seen = _child(module, create_objects=True)
    assert "from-child" in seen and "child-session" in seen
    found = find(module, c.h, {Attribute.LABEL: "from-child"})
    assert len(found) == 1 and get1(module, c.h, found[0], Attribute.VALUE) == b"c"
    assert find(module, c.h, {Attribute.LABEL: "child-session"}) == []
