"""C_GetAttributeValue, C_SetAttributeValue, C_CopyObject, C_DestroyObject and C_GetObjectSize
(PKCS#11 3.0, 5.7): the output protocol, sensitive values, sticky attributes and their history,
the MODIFIABLE / COPYABLE / DESTROYABLE guards, handles and pointers."""

from __future__ import annotations

from typing import Any

import pytest

from support.constants import (
    UNAVAILABLE_INFORMATION,
    Attribute,
    Attribute32,
    KeyType,
    Mechanism,
    ObjectClass,
    UserType,
)
from support.keys import EC_OIDS, certificate, ec_templates, rsa_templates
from support.objects import (
    copy,
    copy_rv,
    create,
    data_template,
    destroy_rv,
    find,
    flag_attrs,
    generate_key,
    generate_key_pair,
    get,
    get1,
    get_rv,
    secret_template,
    set_rv,
    size_rv,
    user_ctx,
)
from support.pkcs11 import USER_PIN, Module, ffi, spec_departure
from support.templates import Query, Template

RSA_SECRET_PARTS = [
    Attribute.PRIVATE_EXPONENT,
    Attribute.PRIME_1,
    Attribute.PRIME_2,
    Attribute.EXPONENT_1,
    Attribute.EXPONENT_2,
    Attribute.COEFFICIENT,
]


def _key(module: Module, h: int, kind: str, **flags: Any) -> int:
    """A secret ("aes") or private ("rsa", "ec") key with the given flags."""
    if kind == "aes":
        return create(module, h, secret_template(**flags))
    template = rsa_templates()[1] if kind == "rsa" else ec_templates("P-256")[1]
    return create(module, h, {**template, **flag_attrs(flags)})


# ------------------------------------------------------------------------------- C_GetAttributeValue
def test_get_walks_whole_template(module: Module) -> None:
    """5.7: SENSITIVE / TYPE_INVALID / BUFFER_TOO_SMALL "do not denote true errors": every entry
    is processed; with several, any of the codes may be returned."""
    c = user_ctx(module)
    key = _key(module, c.h, "aes", label="k", sensitive=True)
    q = Query(
        [
            Attribute.CLASS,
            Attribute.ENCAPSULATE,
            Attribute.LABEL,
            Attribute.VALUE,
            Attribute.KEY_TYPE,
            0xCE536350,
        ],
        64,
    )
    assert q.run(module, c.h, key) in ("ATTRIBUTE_SENSITIVE", "ATTRIBUTE_TYPE_INVALID")
    assert [q.value(i) for i in (0, 2, 4)] == [ObjectClass.SECRET_KEY, b"k", KeyType.AES]
    assert [q.length(i) for i in (1, 3, 5)] == [UNAVAILABLE_INFORMATION] * 3


def test_get_mixed_valid_and_invalid_types(module: Module) -> None:
    """python-pkcs11 0.10 asks for 3.2's CKA_ENCAPSULATE next to valid attributes (CLIENTS.md)."""
    c = user_ctx(module)
    obj = create(module, c.h, data_template("mixed"))
    q = Query([Attribute.ENCAPSULATE, Attribute.LABEL, 0x80001234, Attribute.CLASS], 64)
    assert q.run(module, c.h, obj) == "ATTRIBUTE_TYPE_INVALID"
    got = (q.length(0), q.value(1), q.length(2), q.value(3))
    assert got == (UNAVAILABLE_INFORMATION, b"mixed", UNAVAILABLE_INFORMATION, ObjectClass.DATA)


def test_get_key_attribute_of_data_object_is_type_invalid(module: Module) -> None:
    c = user_ctx(module)
    obj = create(module, c.h, data_template())
    q = Query([Attribute.SENSITIVE, Attribute.LABEL], 64)
    assert q.run(module, c.h, obj) == "ATTRIBUTE_TYPE_INVALID"
    assert q.length(0) == UNAVAILABLE_INFORMATION and q.value(1) == b"data"


def test_get_lengths_with_null_values(module: Module) -> None:
    c = user_ctx(module)
    obj = create(module, c.h, data_template("twelve chars", b"v" * 300))
    q = Query([Attribute.LABEL, Attribute.VALUE, Attribute.CLASS, Attribute.TOKEN], None)
    assert q.run(module, c.h, obj) == "OK"
    assert [q.length(i) for i in range(4)] == [12, 300, ffi.sizeof("CK_ULONG"), 1]


def test_get_short_buffer(module: Module) -> None:
    c = user_ctx(module)
    obj = create(module, c.h, data_template("a long label"))
    q = Query([Attribute.LABEL, Attribute.CLASS, Attribute.VALUE], [3, 8, 64])
    assert q.run(module, c.h, obj) == "BUFFER_TOO_SMALL"
    assert q.length(0) == UNAVAILABLE_INFORMATION
    assert q.value(1) == ObjectClass.DATA and q.value(2) == b"payload"


def test_get_exact_buffer(module: Module) -> None:
    c = user_ctx(module)
    obj = create(module, c.h, data_template("exact"))
    q = Query([Attribute.LABEL], [5])
    assert q.run(module, c.h, obj) == "OK" and q.value(0) == b"exact"


@pytest.mark.parametrize("kind", ["aes", "rsa", "ec"])
@pytest.mark.parametrize(("sensitive", "extractable"), [(True, True), (False, False), (True, False)])
def test_secret_parts_never_revealed(module: Module, kind: str, sensitive: bool, extractable: bool) -> None:
    """Footnote 7: unreadable when CKA_SENSITIVE is TRUE or CKA_EXTRACTABLE is FALSE;
    C_GetAttributeValue gives CKR_ATTRIBUTE_SENSITIVE and CK_UNAVAILABLE_INFORMATION, also when
    only the length is asked for."""
    c = user_ctx(module)
    key = _key(module, c.h, kind, sensitive=sensitive, extractable=extractable)
    parts = RSA_SECRET_PARTS if kind == "rsa" else [Attribute.VALUE]
    for size in (None, 4096):
        q = Query([Attribute.CLASS, *parts], size)
        assert q.run(module, c.h, key) == "ATTRIBUTE_SENSITIVE"
        assert all(q.length(i) == UNAVAILABLE_INFORMATION for i in range(1, len(parts) + 1))
        assert q.length(0) == ffi.sizeof("CK_ULONG")
    if kind == "rsa":
        assert get1(module, c.h, key, Attribute.MODULUS) == rsa_templates()[1][Attribute.MODULUS]


@pytest.mark.parametrize("kind", ["aes", "rsa", "ec"])
def test_secret_parts_readable_when_allowed(module: Module, kind: str) -> None:
    c = user_ctx(module)
    key = _key(module, c.h, kind, sensitive=False, extractable=True)
    parts = RSA_SECRET_PARTS if kind == "rsa" else [Attribute.VALUE]
    rv, values = get_rv(module, c.h, key, parts)
    assert rv == "OK" and all(values[p] for p in parts)


# ------------------------------------------------------------------------------- sticky attributes
STICKY = [
    # (attribute, allowed direction from, to)
    (Attribute.SENSITIVE, False, True),
    (Attribute.EXTRACTABLE, True, False),
    (Attribute.WRAP_WITH_TRUSTED, False, True),
]
STICKY_IDS = ["sensitive", "extractable", "wrap-with-trusted"]


def _wrap_with_trusted_on_softhsm2(module: Module, attr: int) -> None:
    if attr == Attribute.WRAP_WITH_TRUSTED and module.softhsm2:
        pytest.skip(
            "CKA_WRAP_WITH_TRUSTED has footnote 11 but not 8 (4.9, 4.10): SoftHSMv2 reads it "
            "as never modifiable, softhsm-py as modifiable FALSE -> TRUE; the tables allow both"
        )


@pytest.mark.parametrize("kind", ["aes", "ec"])
@pytest.mark.parametrize(("attr", "start", "end"), STICKY, ids=STICKY_IDS)
def test_sticky_on_set(module: Module, kind: str, attr: int, start: bool, end: bool) -> None:
    """[11] SENSITIVE, WRAP_WITH_TRUSTED only FALSE -> TRUE; [12] EXTRACTABLE only TRUE -> FALSE.
    Once sticky the attribute "becomes a read only attribute": naming the value it already has
    may be accepted as no change (softhsm-py) or refused as read-only (SoftHSMv2)."""
    _wrap_with_trusted_on_softhsm2(module, attr)
    c = user_ctx(module)
    fresh = create(module, c.h, {**get_template(module, c.h, kind), attr: start})
    assert set_rv(module, c.h, fresh, {attr: end}) == "OK"
    assert get1(module, c.h, fresh, attr) is end
    assert set_rv(module, c.h, fresh, {attr: start}) == "ATTRIBUTE_READ_ONLY"
    assert get1(module, c.h, fresh, attr) is end
    assert set_rv(module, c.h, fresh, {attr: end}) in ("OK", "ATTRIBUTE_READ_ONLY")
    assert get1(module, c.h, fresh, attr) is end


@pytest.mark.parametrize("kind", ["aes", "ec"])
@pytest.mark.parametrize(("attr", "start", "end"), STICKY, ids=STICKY_IDS)
def test_sticky_on_copy(module: Module, kind: str, attr: int, start: bool, end: bool) -> None:
    _wrap_with_trusted_on_softhsm2(module, attr)
    c = user_ctx(module)
    source = create(module, c.h, {**get_template(module, c.h, kind), attr: start})
    moved = copy(module, c.h, source, {attr: end})
    assert get1(module, c.h, moved, attr) is end
    assert copy_rv(module, c.h, moved, {attr: start})[0] == "ATTRIBUTE_READ_ONLY"
    assert get1(module, c.h, copy(module, c.h, moved), attr) is end


def get_template(module: Module, h: int, kind: str) -> dict[int, Any]:
    return secret_template() if kind == "aes" else ec_templates("P-256")[1]


# ------------------------------------------------------------------------------- history
def _aes(module: Module, h: int, **flags: Any) -> int:
    rv, key = generate_key(
        module,
        h,
        Mechanism.AES_KEY_GEN,
        {Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.VALUE_LEN: 16, **flag_attrs(flags)},
    )
    assert rv == "OK"
    return key


def _history(module: Module, h: int, key: int) -> tuple[bool, bool]:
    values = get(module, h, key, [Attribute.ALWAYS_SENSITIVE, Attribute.NEVER_EXTRACTABLE])
    return values[Attribute.ALWAYS_SENSITIVE], values[Attribute.NEVER_EXTRACTABLE]


def test_history_of_generated_keys(module: Module) -> None:
    """4.10: ALWAYS_SENSITIVE / NEVER_EXTRACTABLE record the key's whole life, copies included
    (5.7 C_CopyObject: "the new key will have the same value for its CKA_ALWAYS_SENSITIVE")."""
    c = user_ctx(module)
    guarded = _aes(module, c.h, sensitive=True, extractable=False)
    assert _history(module, c.h, guarded) == (True, True)
    assert _history(module, c.h, copy(module, c.h, guarded, {Attribute.TOKEN: True})) == (True, True)
    assert get1(module, c.h, guarded, Attribute.LOCAL) is True
    assert get1(module, c.h, guarded, Attribute.KEY_GEN_MECHANISM) == Mechanism.AES_KEY_GEN

    opened = _aes(module, c.h, sensitive=False, extractable=True)
    assert _history(module, c.h, opened) == (False, False)
    assert set_rv(module, c.h, opened, {Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False}) == "OK"
    assert _history(module, c.h, opened) == (False, False)  # it was readable once: never forgotten
    late = copy(module, c.h, _aes(module, c.h, sensitive=False, extractable=True),
                {Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False})  # fmt: skip
    assert _history(module, c.h, late) == (False, False)


def test_history_of_imported_keys(module: Module) -> None:
    """A key given in clear to C_CreateObject has been outside the token."""
    c = user_ctx(module)
    key = _key(module, c.h, "aes", sensitive=True, extractable=False)
    assert _history(module, c.h, key) == (False, False)


@pytest.mark.parametrize(
    ("attr", "value"),
    [
        (Attribute.LOCAL, False),
        (Attribute.KEY_GEN_MECHANISM, 0),
        (Attribute.ALWAYS_SENSITIVE, False),
        (Attribute.NEVER_EXTRACTABLE, False),
        pytest.param(
            Attribute.UNIQUE_ID, b"7", marks=spec_departure("SoftHSMv2", clause="3.0 4.4: CKA_UNIQUE_ID")
        ),
        (Attribute.CLASS, ObjectClass.DATA),
        (Attribute.KEY_TYPE, KeyType.EC),
        (Attribute.VALUE, b"\x00" * 16),
        (Attribute.TOKEN, True),
        (Attribute.PRIVATE, False),
        (Attribute.MODIFIABLE, False),
    ],
    ids=[
        "local",
        "keygen",
        "always-sensitive",
        "never-extractable",
        "unique-id",
        "class",
        "key-type",
        "value",
        "token",
        "private",
        "modifiable",
    ],
)
def test_read_only_on_set(module: Module, attr: int, value: Any) -> None:
    """Attributes without footnote 8 cannot be changed by C_SetAttributeValue (4.1.1, 4.4)."""
    c = user_ctx(module)
    key = _aes(module, c.h, sensitive=True, extractable=False)
    assert set_rv(module, c.h, key, {attr: value}) == "ATTRIBUTE_READ_ONLY"


def test_trusted_set_by_user_is_read_only(module: Module) -> None:
    c = user_ctx(module)
    pub = create(module, c.h, ec_templates("P-256")[0])
    assert set_rv(module, c.h, pub, {Attribute.TRUSTED: True}) == "ATTRIBUTE_READ_ONLY"


@spec_departure("SoftHSMv2", clause="3.0 4.1.2 (4.1.1 applies): a failed C_SetAttributeValue changes nothing")
def test_set_is_all_or_nothing(module: Module) -> None:
    c = user_ctx(module)
    obj = create(module, c.h, data_template("before"))
    rv = set_rv(module, c.h, obj, {Attribute.LABEL: "after", Attribute32.PUBLIC_CRC64_VALUE: b"\x01"})
    assert rv == "ATTRIBUTE_TYPE_INVALID"
    rv = set_rv(module, c.h, obj, {Attribute.LABEL: "after", Attribute.TOKEN: b"\x01\x01"})
    assert rv in ("ATTRIBUTE_VALUE_INVALID", "ATTRIBUTE_READ_ONLY")
    assert get1(module, c.h, obj, Attribute.LABEL) == b"before"
    assert set_rv(module, c.h, obj, {Attribute.LABEL: "after"}) == "OK"
    assert get1(module, c.h, obj, Attribute.LABEL) == b"after"


# ------------------------------------------------------------------------------- guards
def test_destroyable_false(module: Module) -> None:
    """CKA_DESTROYABLE FALSE: C_DestroyObject is CKR_ACTION_PROHIBITED (4.4, 5.7.3).

    softhsm-py keeps CKA_DESTROYABLE sticky once FALSE: setting it back to TRUE (with
    C_SetAttributeValue or in a C_CopyObject template) is CKR_ATTRIBUTE_READ_ONLY. 4.1.3 lets a
    copy change it; an HSM that let anyone re-enable deletion would make the flag meaningless, so
    softhsm-py treats it like CKA_COPYABLE ("can't be set to TRUE once it is set to FALSE") - a
    deliberate, stricter choice, not checked on other modules."""
    c = user_ctx(module)
    for template in (data_template(token=True, private=True), secret_template(token=True)):
        obj = create(module, c.h, {**template, Attribute.DESTROYABLE: False})
        assert destroy_rv(module, c.h, obj) == "ACTION_PROHIBITED"
        assert get1(module, c.h, obj, Attribute.DESTROYABLE) is False
        assert set_rv(module, c.h, obj, {Attribute.DESTROYABLE: True}) == "ATTRIBUTE_READ_ONLY"
        if not module.softhsm2:  # softhsm-py choice, not a spec rule
            assert copy_rv(module, c.h, obj, {Attribute.DESTROYABLE: True})[0] == "ATTRIBUTE_READ_ONLY"
        assert destroy_rv(module, c.h, obj) == "ACTION_PROHIBITED"
        clone = copy(module, c.h, obj, {Attribute.TOKEN: False})
        assert destroy_rv(module, c.h, clone) == "ACTION_PROHIBITED"  # the flag is copied
    keep = copy(module, c.h, create(module, c.h, secret_template()), {Attribute.DESTROYABLE: False})  # 4.1.3
    assert destroy_rv(module, c.h, keep) == "ACTION_PROHIBITED"


def test_clearing_copyable_or_destroyable_with_set(module: Module) -> None:
    """4.4: "Only the CKA_LABEL attribute can be modified after the object is created", so a
    strict token refuses C_SetAttributeValue of CKA_COPYABLE / CKA_DESTROYABLE (SoftHSMv2 does).
    softhsm-py lets them go TRUE -> FALSE (never back): a change that only removes rights, so
    that a host can protect an object it generated. Each module is checked on its own rule."""
    c = user_ctx(module)
    for attr, function in ((Attribute.COPYABLE, "copy"), (Attribute.DESTROYABLE, "destroy")):
        obj = create(module, c.h, secret_template())
        rv = set_rv(module, c.h, obj, {attr: False})
        assert rv == ("ATTRIBUTE_READ_ONLY" if module.softhsm2 else "OK")
        if rv == "OK":
            assert get1(module, c.h, obj, attr) is False
            got = copy_rv(module, c.h, obj)[0] if function == "copy" else destroy_rv(module, c.h, obj)
            assert got == "ACTION_PROHIBITED"


def test_modifiable_false(module: Module) -> None:
    c = user_ctx(module)
    obj = create(module, c.h, {**secret_template(), Attribute.MODIFIABLE: False, Attribute.LABEL: "fixed"})
    assert set_rv(module, c.h, obj, {Attribute.LABEL: "changed"}) == "ACTION_PROHIBITED"
    assert set_rv(module, c.h, obj, {Attribute.ID: b"1"}) == "ACTION_PROHIBITED"
    assert get1(module, c.h, obj, Attribute.LABEL) == b"fixed"
    assert destroy_rv(module, c.h, obj) == "OK"  # MODIFIABLE does not guard destruction


@spec_departure("SoftHSMv2", clause="3.0 4.1.3: a copy may change CKA_TOKEN/PRIVATE/MODIFIABLE of any object")
def test_copy_of_unmodifiable_object(module: Module) -> None:
    """CKA_MODIFIABLE guards the object, not its copies: 4.1.3 lets C_CopyObject change CKA_TOKEN,
    CKA_PRIVATE, CKA_MODIFIABLE and CKA_DESTROYABLE whatever the source's CKA_MODIFIABLE."""
    c = user_ctx(module)
    obj = create(module, c.h, {**secret_template(), Attribute.MODIFIABLE: False})
    new = copy(module, c.h, obj, {Attribute.TOKEN: True, Attribute.MODIFIABLE: True})
    assert get(module, c.h, new, [Attribute.TOKEN, Attribute.MODIFIABLE]) == {
        Attribute.TOKEN: True,
        Attribute.MODIFIABLE: True,
    }


def test_copyable_false(module: Module) -> None:
    """4.1.3 / 5.7.2: CKA_COPYABLE FALSE makes C_CopyObject CKR_ACTION_PROHIBITED."""
    c = user_ctx(module)
    obj = create(module, c.h, {**secret_template(), Attribute.COPYABLE: False})
    assert copy_rv(module, c.h, obj)[0] == "ACTION_PROHIBITED"
    assert copy_rv(module, c.h, obj, {Attribute.TOKEN: True})[0] == "ACTION_PROHIBITED"
    assert (
        set_rv(module, c.h, obj, {Attribute.COPYABLE: True}) == "ATTRIBUTE_READ_ONLY"
    )  # 4.4: sticky once FALSE


# ------------------------------------------------------------------------------- CKA_ID, copies
def test_id_settable_after_generation(module: Module) -> None:
    """NSS generates a key pair with no CKA_ID / CKA_LABEL and then sets CKA_ID on both halves."""
    c = user_ctx(module)
    pub, priv = generate_key_pair(
        module,
        c.h,
        Mechanism.EC_KEY_PAIR_GEN,
        {
            Attribute.CLASS: ObjectClass.PUBLIC_KEY,
            Attribute.TOKEN: True,
            Attribute.EC_PARAMS: EC_OIDS["P-256"],
        },
        {Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.TOKEN: True},
    )
    for obj in (pub, priv):
        assert set_rv(module, c.h, obj, {Attribute.ID: b"\xca\xfe"}) == "OK"
    assert sorted(find(module, c.h, {Attribute.ID: b"\xca\xfe"})) == sorted([pub, priv])


def test_generate_without_class(module: Module) -> None:
    """NSS's key-generation templates carry no CKA_CLASS: the mechanism contributes it (3.0,
    6.3.4 "contributes the CKA_CLASS, CKA_KEY_TYPE, and CKA_EC_POINT attributes to the new
    public key"; 6.8.3 AES_KEY_GEN "contributes the CKA_CLASS, CKA_KEY_TYPE, and CKA_VALUE")."""
    c = user_ctx(module)
    public = {Attribute.EC_PARAMS: EC_OIDS["P-256"], Attribute.TOKEN: False}
    pub, priv = generate_key_pair(module, c.h, Mechanism.EC_KEY_PAIR_GEN, public, {Attribute.SIGN: True})
    assert get1(module, c.h, pub, Attribute.CLASS) == ObjectClass.PUBLIC_KEY
    assert get1(module, c.h, priv, Attribute.CLASS) == ObjectClass.PRIVATE_KEY
    rv, key = generate_key(module, c.h, Mechanism.AES_KEY_GEN, {Attribute.VALUE_LEN: 32})
    assert rv == "OK" and get1(module, c.h, key, Attribute.CLASS) == ObjectClass.SECRET_KEY


def test_id_settable_after_creation(module: Module) -> None:
    c = user_ctx(module)
    cert = create(module, c.h, certificate())
    key = create(module, c.h, ec_templates("P-256")[1])
    for obj in (cert, key):
        assert set_rv(module, c.h, obj, {Attribute.ID: b"\x01\x02"}) == "OK"
        assert get1(module, c.h, obj, Attribute.ID) == b"\x01\x02"


@pytest.mark.parametrize("start", [False, True], ids=["session-to-token", "token-to-session"])
def test_copy_changes_token(module: Module, start: bool) -> None:
    """Java copies a session key to the token; pkcs11-provider caches a sensitive,
    non-extractable token key as a session object (CLIENTS.md, 5.7 C_CopyObject)."""
    c = user_ctx(module)
    key = _aes(module, c.h, token=start, sensitive=True, extractable=False, label="src")
    moved = copy(module, c.h, key, {Attribute.TOKEN: not start})
    assert moved != key
    got = get(
        module, c.h, moved, [Attribute.TOKEN, Attribute.LABEL, Attribute.SENSITIVE, Attribute.EXTRACTABLE]
    )
    assert got == {
        Attribute.TOKEN: not start,
        Attribute.LABEL: b"src",
        Attribute.SENSITIVE: True,
        Attribute.EXTRACTABLE: False,
    }
    assert _history(module, c.h, moved) == (True, True)
    assert get1(module, c.h, key, Attribute.TOKEN) is start  # the source is untouched
    rv, values = get_rv(module, c.h, moved, [Attribute.VALUE])
    assert rv == "ATTRIBUTE_SENSITIVE" and values[Attribute.VALUE] is None


@spec_departure("SoftHSMv2", clause="3.0 4.4, 4.1.3: CKA_PRIVATE can be changed in the process of copying")
def test_copy_changes_private_and_label(module: Module) -> None:
    c = user_ctx(module)
    obj = create(module, c.h, data_template("one", b"v", private=True))
    new = copy(
        module, c.h, obj, {Attribute.PRIVATE: False, Attribute.LABEL: "two", Attribute.MODIFIABLE: False}
    )
    assert get(
        module, c.h, new, [Attribute.PRIVATE, Attribute.LABEL, Attribute.VALUE, Attribute.MODIFIABLE]
    ) == {
        Attribute.PRIVATE: False,
        Attribute.LABEL: b"two",
        Attribute.VALUE: b"v",
        Attribute.MODIFIABLE: False,
    }


def test_copy_changes_label_and_modifiable(module: Module) -> None:
    c = user_ctx(module)
    obj = create(module, c.h, data_template("one", b"v", private=True))
    new = copy(module, c.h, obj, {Attribute.LABEL: "two", Attribute.MODIFIABLE: False})
    assert get(
        module, c.h, new, [Attribute.PRIVATE, Attribute.LABEL, Attribute.VALUE, Attribute.MODIFIABLE]
    ) == {
        Attribute.PRIVATE: True,
        Attribute.LABEL: b"two",
        Attribute.VALUE: b"v",
        Attribute.MODIFIABLE: False,
    }
    assert set_rv(module, c.h, new, {Attribute.LABEL: "three"}) == "ACTION_PROHIBITED"


@spec_departure("SoftHSMv2", clause="3.0 4.4: CKA_UNIQUE_ID, unique to every object, copies included")
def test_copy_gets_new_unique_id(module: Module) -> None:
    c = user_ctx(module)
    obj = create(module, c.h, data_template())
    new = copy(module, c.h, obj)
    assert get1(module, c.h, obj, Attribute.UNIQUE_ID) != get1(module, c.h, new, Attribute.UNIQUE_ID)


def test_copy_rejects_other_changes(module: Module) -> None:
    c = user_ctx(module)
    obj = create(module, c.h, secret_template())
    rv, _ = copy_rv(module, c.h, obj, {Attribute.CLASS: ObjectClass.DATA})
    assert rv in ("ATTRIBUTE_READ_ONLY", "TEMPLATE_INCONSISTENT")
    assert copy_rv(module, c.h, obj, {Attribute32.PUBLIC_CRC64_VALUE: b"\x01"})[0] == "ATTRIBUTE_TYPE_INVALID"


def test_copy_into_ro_session(module: Module) -> None:
    slot = module.ready_token()
    rw, ro = module.open(slot), module.open(slot, rw=False)
    module.login(rw)
    obj = create(module, rw, data_template(private=True))
    assert copy_rv(module, ro, obj, {Attribute.TOKEN: True})[0] == "SESSION_READ_ONLY"
    assert copy_rv(module, ro, obj)[0] == "OK"


# ------------------------------------------------------------------------------- sessions
def test_token_objects_read_only_in_ro_session(module: Module) -> None:
    slot = module.ready_token()
    rw, ro = module.open(slot), module.open(slot, rw=False)
    module.login(rw)
    token_obj = create(module, rw, data_template(token=True, private=False))
    session_obj = create(module, rw, data_template(token=False, private=False))
    assert set_rv(module, ro, token_obj, {Attribute.LABEL: "x"}) == "SESSION_READ_ONLY"
    assert destroy_rv(module, ro, token_obj) == "SESSION_READ_ONLY"
    assert set_rv(module, ro, session_obj, {Attribute.LABEL: "x"}) == "OK"
    assert destroy_rv(module, ro, session_obj) == "OK"


def test_private_handles_invalid_after_logout(module: Module) -> None:
    """5.6 C_Logout: "any of the application's handles to private objects become invalid (even if
    a user is later logged back into the token, those handles remain invalid)"."""
    c = user_ctx(module)
    token_obj = create(module, c.h, data_template("p", token=True, private=True))
    public = create(module, c.h, data_template("q", token=True, private=False))
    module.check("C_Logout", c.h)
    for function in ("C_GetAttributeValue",):
        q = Query([Attribute.LABEL], 16)
        assert q.run(module, c.h, token_obj) == "OBJECT_HANDLE_INVALID", function
    assert get1(module, c.h, public, Attribute.LABEL) == b"q"
    module.login(c.h, UserType.USER, USER_PIN)
    assert Query([Attribute.LABEL], 16).run(module, c.h, token_obj) == "OBJECT_HANDLE_INVALID"
    again = find(module, c.h, {Attribute.LABEL: "p"})
    assert len(again) == 1 and get1(module, c.h, again[0], Attribute.LABEL) == b"p"


def test_session_objects_vanish_with_their_session(module: Module) -> None:
    slot = module.ready_token()
    a, b = module.open(slot), module.open(slot)
    obj = create(module, a, data_template("gone", token=False, private=False))
    assert get1(module, b, obj, Attribute.LABEL) == b"gone"  # visible to every session of the app
    module.close(a)
    assert Query([Attribute.LABEL], 16).run(module, b, obj) == "OBJECT_HANDLE_INVALID"
    assert find(module, b, {Attribute.LABEL: "gone"}) == []


# ------------------------------------------------------------------------------- sizes, handles, NULL
def test_object_size(module: Module) -> None:
    c = user_ctx(module)
    obj = create(module, c.h, data_template(value=b"x" * 1000))
    rv, size = size_rv(module, c.h, obj)
    assert rv == "OK" and size > 0  # 5.7: the size is token-specific (or UNAVAILABLE)
    assert module.expect("ARGUMENTS_BAD", "C_GetObjectSize", c.h, obj, ffi.NULL)


def test_bad_object_handles(module: Module) -> None:
    c = user_ctx(module)
    dead = create(module, c.h, data_template())
    assert destroy_rv(module, c.h, dead) == "OK"
    for bad in (0, dead, 0xDEADBEEF):
        assert Query([Attribute.CLASS], 8).run(module, c.h, bad) == "OBJECT_HANDLE_INVALID", bad
        assert set_rv(module, c.h, bad, {Attribute.LABEL: "x"}) == "OBJECT_HANDLE_INVALID"
        assert copy_rv(module, c.h, bad)[0] == "OBJECT_HANDLE_INVALID"
        assert destroy_rv(module, c.h, bad) == "OBJECT_HANDLE_INVALID"
        assert size_rv(module, c.h, bad)[0] == "OBJECT_HANDLE_INVALID"


@spec_departure("SoftHSMv2", clause="3.0 5.7: an object handle names an object of the session's token")
def test_handle_of_another_token(module: Module) -> None:
    c = user_ctx(module)
    other = module.open(module.ready_token("other"))
    elsewhere = create(module, other, data_template(private=False))
    assert Query([Attribute.CLASS], 8).run(module, c.h, elsewhere) == "OBJECT_HANDLE_INVALID"
    assert set_rv(module, c.h, elsewhere, {Attribute.LABEL: "x"}) == "OBJECT_HANDLE_INVALID"
    assert copy_rv(module, c.h, elsewhere)[0] == "OBJECT_HANDLE_INVALID"
    assert destroy_rv(module, c.h, elsewhere) == "OBJECT_HANDLE_INVALID"
    assert get1(module, other, elsewhere, Attribute.CLASS) == ObjectClass.DATA


def test_null_arguments(module: Module) -> None:
    c = user_ctx(module)
    obj = create(module, c.h, data_template())
    module.expect("ARGUMENTS_BAD", "C_GetAttributeValue", c.h, obj, ffi.NULL, 1)
    module.expect("ARGUMENTS_BAD", "C_SetAttributeValue", c.h, obj, ffi.NULL, 1)
    t = Template({})
    module.expect("ARGUMENTS_BAD", "C_CopyObject", c.h, obj, t.ptr, 0, ffi.NULL)
