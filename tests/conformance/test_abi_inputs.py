"""What a caller can put in the C arguments: lengths with the high bit set (CK_ULONG is 64-bit),
NULL pointers with non-zero lengths, mechanism parameter structs with odd inner pointers and
lengths, array attributes, short output buffers, vendor mechanism and attribute types, the
discovery functions, calls before C_Initialize. Every answer is the spec's code: never
CKR_GENERAL_ERROR, a crash, a traceback or a changed object.

The sweeps call every function of the table in a child process, so that a module that crashes
fails the test instead of killing the run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from typing import Any

import pytest

from support.constants import (
    DONT_BLOCK,
    Attribute,
    HkdfSaltType,
    KeyType,
    Mechanism,
    ObjectClass,
    UserType,
    rv_name,
)
from support.keys import P256, ec_key, ec_point, import_ec, import_okp, import_rsa, rsa_key
from support.mechanisms import Mech, chacha_poly, ecdh, gcm, hkdf, oaep
from support.pkcs11 import TESTS, USER_PIN, Module, ffi, spec_departure
from support.templates import Template, cbytes
from support.token import Token

NULL = ffi.NULL
HIGH = [2**63, 2**64 - 1]  # a CK_ULONG with the high bit set: no buffer is that long
ATTRIBUTE_SIZE = ffi.sizeof("CK_ATTRIBUTE")


@pytest.fixture
def t(module: Module) -> Token:
    return Token(module)


def label_of(t: Token, obj: int) -> bytes:
    return t.get(obj, Attribute.LABEL)


def data_object(t: Token, label: bytes = b"kept") -> int:
    return t.create(
        {
            Attribute.CLASS: ObjectClass.DATA,
            Attribute.TOKEN: False,
            Attribute.LABEL: label,
            Attribute.VALUE: b"hello",
        }
    )


# ------------------------------------------------------------------------------- the sweeps
# A child process: a token, a logged-in R/W session ``h``, a session data object ``obj`` labelled
# "kept"; the body fills ``out`` (CKR names), printed as JSON when the child survives.
CHILD = textwrap.dedent(
    """
    import json, sys
    sys.path.insert(0, {tests!r})
    from support.constants import UserType, rv_name
    from support.pkcs11 import FUNCTIONS, Module, ffi
    path, arg = sys.argv[1], sys.argv[2]
    m = Module(path)
    m.initialize()
    slot = m.ready_token("child")
    h = m.open(slot)
    m.login(h)
    cls, tok = ffi.new("CK_ULONG *", 0), ffi.new("CK_BBOOL *", 0)
    label = ffi.new("CK_BYTE[]", b"kept")
    tpl = ffi.new("CK_ATTRIBUTE[3]", [[0x0, cls, 8], [0x1, tok, 1], [0x3, label, 4]])
    obj = ffi.new("CK_OBJECT_HANDLE *")
    m.check("C_CreateObject", h, tpl, 3, obj)
    obj = int(obj[0])
    out = {{}}
    {body}
    # Nothing was lost: the session works, the object is as it was.
    out["after:random"] = rv_name(m.rv("C_GenerateRandom", h, ffi.new("CK_BYTE[16]"), 16))
    a = ffi.new("CK_ATTRIBUTE *", [0x3, ffi.new("CK_BYTE[16]"), 16])
    out["after:label"] = rv_name(m.rv("C_GetAttributeValue", h, obj, a, 1))
    out["after:label_value"] = ffi.buffer(a.pValue, min(a.ulValueLen, 16))[:].decode("latin-1")
    m.finalize()
    print(json.dumps(out))
    """
)


def in_child(module: Module, body: str, arg: object = "") -> dict[str, str]:
    """Run ``body`` (Python source) in a child process on the test's token directory."""
    code = CHILD.format(tests=str(TESTS), body=textwrap.dedent(body))
    proc = subprocess.run(
        [sys.executable, "-c", code, module.path, str(arg)],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ),
    )
    assert proc.returncode == 0, f"the child died ({proc.returncode}):\n{proc.stderr[-3000:]}"
    assert "Traceback" not in proc.stderr, proc.stderr
    got = json.loads(proc.stdout)
    assert got.pop("after:random") == "OK"
    assert got.pop("after:label") == "OK"
    assert got.pop("after:label_value") == "kept"
    return got


SWEEP = """
variant, big = arg.split(":")
big = int(big)
SKIP = {"C_Initialize", "C_Finalize", "C_CloseSession", "C_CloseAllSessions", "C_Logout", "C_DestroyObject"}
keep = []

def value(ptype):
    if ptype == "CK_NOTIFY":
        return ffi.NULL
    if ptype.endswith("_PTR") or "*" in ptype:
        if variant == "null":
            return ffi.NULL
        buf = ffi.new("char[4096]")  # zeroed: any struct the function writes fits
        keep.append(buf)
        return ffi.cast(ptype, buf)
    return {"CK_SESSION_HANDLE": h, "CK_SLOT_ID": slot, "CK_OBJECT_HANDLE": obj, "CK_BBOOL": 1,
            "CK_USER_TYPE": UserType.USER}.get(ptype, big)

for name, params, v3 in FUNCTIONS:
    if name in SKIP or (v3 and m.fl3 is None):
        continue
    types = [p.strip().rsplit(" ", 1)[0] for p in params.strip("()").split(",")] if params != "(void)" else []
    out[name] = rv_name(m.rv(name, *[value(p) for p in types]))
"""


def sweep(module: Module, variant: str, big: int) -> dict[str, str]:
    got = in_child(module, SWEEP, f"{variant}:{big}")
    bad = {name: rv for name, rv in got.items() if rv == "GENERAL_ERROR" or rv.startswith("0x")}
    assert not bad, f"no spec code: {bad}"
    return got


@pytest.mark.parametrize("big", HIGH, ids=["2**63", "2**64-1"])
def test_sweep_null_pointers_huge_lengths(bare: Module, big: int) -> None:
    """Every function, every pointer NULL, every CK_ULONG (lengths, counts, flags, mechanism
    types) with the high bit set: a spec code for each, and nothing lost."""
    got = sweep(bare, "null", big)
    for name in ("C_GetInfo", "C_GetSlotList", "C_SeedRandom", "C_GenerateRandom", "C_Login"):
        assert got[name] == "ARGUMENTS_BAD", name
    assert got["C_InitToken"] in ("ARGUMENTS_BAD", "SESSION_EXISTS")  # the session on it may come first


@spec_departure("SoftHSMv2", clause="3.0 5.2: lengths with the high bit set (it allocates them and aborts)")
@pytest.mark.parametrize("big", HIGH, ids=["2**63", "2**64-1"])
def test_sweep_real_buffers_huge_lengths(bare: Module, big: int) -> None:
    """The same with a real (small) buffer behind every pointer: a length no buffer can have is
    refused before anything is read or allocated."""
    got = sweep(bare, "buffers", big)
    for name in (
        "C_SeedRandom",
        "C_GenerateRandom",
        "C_CreateObject",
        "C_GetAttributeValue",
        "C_FindObjectsInit",
    ):
        assert got[name] == "ARGUMENTS_BAD", name
    assert got["C_SetPIN"] == "PIN_INCORRECT"
    assert got["C_InitPIN"] == "PIN_LEN_RANGE"


# ------------------------------------------------------------------------------- PINs
@spec_departure("SoftHSMv2", clause="3.0 5.6 C_Login: a PIN longer than any token's (it aborts)", run=False)
@pytest.mark.parametrize("length", [256, 2**40, *HIGH])
def test_login_pin_length_beyond_any_pin(t: Token, length: int) -> None:
    """A PIN longer than the longest a token accepts cannot be right: PIN_INCORRECT, without
    reading (or allocating) ulPinLen bytes; the session stays as it was."""
    t.ok("C_Logout")
    assert t.rv("C_Login", UserType.USER, cbytes(USER_PIN), length) == "PIN_INCORRECT"
    assert t.rv("C_Login", UserType.USER, NULL, length) == "ARGUMENTS_BAD"
    t.m.login(t.h)


@spec_departure("SoftHSMv2", clause="3.0 5.5 C_InitPIN/C_SetPIN: CKR_PIN_LEN_RANGE (it aborts)", run=False)
@pytest.mark.parametrize("length", [2**40, *HIGH])
def test_set_pin_length_beyond_any_pin(t: Token, length: int) -> None:
    pin = cbytes(USER_PIN)
    assert t.rv("C_SetPIN", pin, length, pin, len(USER_PIN)) == "PIN_INCORRECT"
    assert t.rv("C_SetPIN", pin, len(USER_PIN), pin, length) == "PIN_LEN_RANGE"
    t.ok("C_Logout")
    t.m.login(t.h)  # the PIN did not change


def test_login_user_name_length(t: Token) -> None:
    t.m.require_3_0()
    t.ok("C_Logout")
    pin = cbytes(USER_PIN)
    assert t.rv("C_LoginUser", UserType.USER, pin, len(USER_PIN), cbytes(b"x"), 2**63) == "ARGUMENTS_BAD"
    assert t.rv("C_LoginUser", UserType.USER, pin, len(USER_PIN), NULL, 3) == "ARGUMENTS_BAD"


# ------------------------------------------------------------------------------- random numbers
@spec_departure("SoftHSMv2", clause="3.0 5.15: a length no buffer has (it aborts)", run=False)
@pytest.mark.parametrize("length", HIGH, ids=["2**63", "2**64-1"])
def test_random_high_bit_lengths(t: Token, length: int) -> None:
    buf = ffi.new("CK_BYTE[16]")
    assert t.rv("C_GenerateRandom", buf, length) in ("ARGUMENTS_BAD", "HOST_MEMORY")
    assert t.rv("C_SeedRandom", buf, length) in ("ARGUMENTS_BAD", "HOST_MEMORY", "RANDOM_SEED_NOT_SUPPORTED")
    assert len(t.m.random(t.h, 16)) == 16


# ------------------------------------------------------------------------------- templates in
@spec_departure("SoftHSMv2", clause="3.0 5.7: attribute lengths with the high bit set (it aborts)", run=False)
@pytest.mark.parametrize("length", HIGH, ids=["2**63", "2**64-1"])
def test_template_value_high_bit_length(t: Token, length: int) -> None:
    obj = data_object(t)
    buf = ffi.new("CK_BYTE[16]")
    one = ffi.new("CK_ATTRIBUTE *", [Attribute.LABEL, buf, length])
    ok = ("ARGUMENTS_BAD", "ATTRIBUTE_VALUE_INVALID")
    assert t.rv("C_SetAttributeValue", obj, one, 1) in ok
    assert t.rv("C_FindObjectsInit", one, 1) in ok
    cls = ffi.new("CK_ULONG *", ObjectClass.DATA)
    create = ffi.new("CK_ATTRIBUTE[2]", [[Attribute.CLASS, cls, 8], [Attribute.LABEL, buf, length]])
    assert t.rv("C_CreateObject", create, 2, ffi.new("CK_OBJECT_HANDLE *")) in ok
    assert t.rv("C_CopyObject", obj, one, 1, ffi.new("CK_OBJECT_HANDLE *")) in ok
    assert label_of(t, obj) == b"kept"


@spec_departure("SoftHSMv2", clause="3.0 5.7: template counts no memory holds (it crashes)")
@pytest.mark.parametrize("count", [2**63, 2**64 - 1, 2**62])
def test_template_count_beyond_memory(bare: Module, count: int) -> None:
    """A count whose array would not fit in the address space is refused before reading it
    (the 1-entry array behind it is all there is: reading on is a crash)."""
    got = in_child(
        bare,
        """
        count = int(arg)
        one = ffi.new("CK_ATTRIBUTE[1]", [[0x3, ffi.NULL, 0]])
        for name, args in (("C_GetAttributeValue", (h, obj, one, count)),
                           ("C_SetAttributeValue", (h, obj, one, count)),
                           ("C_FindObjectsInit", (h, one, count)),
                           ("C_CreateObject", (h, one, count, ffi.new("CK_OBJECT_HANDLE *")))):
            out[name] = rv_name(m.rv(name, *args))
        """,
        count,
    )
    assert got == dict.fromkeys(
        ("C_GetAttributeValue", "C_SetAttributeValue", "C_FindObjectsInit", "C_CreateObject"), "ARGUMENTS_BAD"
    )


@spec_departure("SoftHSMv2", clause="3.0 4.1.3: an array attribute of a size no memory has", run=False)
def test_nested_template_length_beyond_memory(t: Token) -> None:
    inner = ffi.new("CK_ATTRIBUTE[2]")
    wrap = ffi.new("CK_ATTRIBUTE *", [Attribute.WRAP_TEMPLATE, inner, ATTRIBUTE_SIZE * 2**59])
    assert t.rv("C_FindObjectsInit", wrap, 1) in ("ATTRIBUTE_VALUE_INVALID", "ARGUMENTS_BAD")
    wrap.ulValueLen = 7  # not a whole number of CK_ATTRIBUTEs
    assert t.rv("C_FindObjectsInit", wrap, 1) in ("ATTRIBUTE_VALUE_INVALID", "ARGUMENTS_BAD")


def test_find_objects_init_null_template(t: Token) -> None:
    assert t.rv("C_FindObjectsInit", NULL, 1) == "ARGUMENTS_BAD"
    assert t.rv("C_FindObjectsInit", NULL, 2**63) == "ARGUMENTS_BAD"
    t.ok("C_FindObjectsInit", NULL, 0)  # the refused calls started nothing
    t.ok("C_FindObjectsFinal")


def test_vendor_and_array_attribute_types(t: Token) -> None:
    obj = data_object(t)
    buf = ffi.new("CK_BYTE[8]")
    for kind in (0x80000001, 0x40000999, 0xC0000001, 2**63, 2**64 - 1):
        a = ffi.new("CK_ATTRIBUTE *", [kind, buf, 8])
        assert t.rv("C_GetAttributeValue", obj, a, 1) == "ATTRIBUTE_TYPE_INVALID", hex(kind)
        assert a.ulValueLen == 2**64 - 1
        cls = ffi.new("CK_ULONG *", ObjectClass.DATA)
        tpl = ffi.new("CK_ATTRIBUTE[2]", [[Attribute.CLASS, cls, 8], [kind, buf, 4]])
        assert t.rv("C_CreateObject", tpl, 2, ffi.new("CK_OBJECT_HANDLE *")) == "ATTRIBUTE_TYPE_INVALID"


# ------------------------------------------------------------------------------- C_GetAttributeValue out
@pytest.mark.parametrize("length", HIGH, ids=["2**63", "2**64-1"])
def test_get_attribute_huge_value_len(t: Token, length: int) -> None:
    """ulValueLen only says how much room there is: a huge one takes the value and is set to
    its length; with pValue NULL it is only a length query."""
    obj = data_object(t)
    buf = ffi.new("CK_BYTE[16]")
    a = ffi.new("CK_ATTRIBUTE *", [Attribute.VALUE, buf, length])
    t.ok("C_GetAttributeValue", obj, a, 1)
    assert a.ulValueLen == 5 and bytes(buf[0:5]) == b"hello"
    a.pValue, a.ulValueLen = NULL, length
    t.ok("C_GetAttributeValue", obj, a, 1)
    assert a.ulValueLen == 5


def test_get_attribute_short_buffer(t: Token) -> None:
    obj = data_object(t)
    buf = ffi.new("CK_BYTE[16]")
    tpl = ffi.new("CK_ATTRIBUTE[2]", [[Attribute.VALUE, buf, 2], [Attribute.LABEL, NULL, 0]])
    assert t.rv("C_GetAttributeValue", obj, tpl, 2) == "BUFFER_TOO_SMALL"
    assert tpl[0].ulValueLen == 2**64 - 1  # CK_UNAVAILABLE_INFORMATION
    assert tpl[1].ulValueLen == 4  # the other entries are still answered


def _key_with_wrap_template(t: Token) -> int:
    return t.secret(
        bytes(16),
        KeyType.AES,
        WRAP_TEMPLATE={Attribute.EXTRACTABLE: False, Attribute.CLASS: ObjectClass.SECRET_KEY},
    )


def test_array_attribute_short_outer_buffer(t: Token) -> None:
    key = _key_with_wrap_template(t)
    a = ffi.new("CK_ATTRIBUTE *", [Attribute.WRAP_TEMPLATE, NULL, 0])
    t.ok("C_GetAttributeValue", key, a, 1)
    assert a.ulValueLen == 2 * ATTRIBUTE_SIZE
    inner = ffi.new("CK_ATTRIBUTE[1]")
    a.pValue, a.ulValueLen = inner, ATTRIBUTE_SIZE  # room for one of two entries
    assert t.rv("C_GetAttributeValue", key, a, 1) == "BUFFER_TOO_SMALL"
    assert a.ulValueLen == 2**64 - 1


def test_array_attribute_short_inner_buffer(t: Token) -> None:
    key = _key_with_wrap_template(t)
    inner = ffi.new("CK_ATTRIBUTE[2]")
    a = ffi.new("CK_ATTRIBUTE *", [Attribute.WRAP_TEMPLATE, inner, 2 * ATTRIBUTE_SIZE])
    t.ok("C_GetAttributeValue", key, a, 1)  # inner pValues NULL: types and lengths
    lengths = {int(inner[i].type): int(inner[i].ulValueLen) for i in range(2)}
    assert lengths == {Attribute.EXTRACTABLE: 1, Attribute.CLASS: 8}
    bufs = [ffi.new("CK_BYTE[1]") for _ in range(2)]
    for i in range(2):
        inner[i].pValue, inner[i].ulValueLen = bufs[i], 1  # CKA_CLASS needs 8
    assert t.rv("C_GetAttributeValue", key, a, 1) == "BUFFER_TOO_SMALL"
    for i in range(2):
        expected = 1 if inner[i].type == Attribute.EXTRACTABLE else 2**64 - 1
        assert inner[i].ulValueLen == expected


def test_array_attribute_inner_types_name_their_values(t: Token) -> None:
    """Whatever types the caller left in the inner entries, each entry's type names the value
    written into it (a value is never handed out under another attribute's type)."""
    key = _key_with_wrap_template(t)
    inner = ffi.new("CK_ATTRIBUTE[2]")
    a = ffi.new("CK_ATTRIBUTE *", [Attribute.WRAP_TEMPLATE, inner, 2 * ATTRIBUTE_SIZE])
    t.ok("C_GetAttributeValue", key, a, 1)
    order = [int(inner[i].type) for i in range(2)]
    bufs = [ffi.new("CK_BYTE[8]") for _ in range(2)]
    for i in range(2):  # the caller swaps the types it was told
        inner[i].type, inner[i].pValue, inner[i].ulValueLen = order[1 - i], bufs[i], 8
    t.ok("C_GetAttributeValue", key, a, 1)
    got = {int(inner[i].type): bytes(ffi.buffer(bufs[i], inner[i].ulValueLen)) for i in range(2)}
    assert got[Attribute.EXTRACTABLE] == b"\x00"
    assert got[Attribute.CLASS] == ObjectClass.SECRET_KEY.to_bytes(8, sys.byteorder)


# ------------------------------------------------------------------------------- lists out
def test_slot_list_short_buffer_writes_needed_count(module: Module) -> None:
    module.ready_token()
    count = ffi.new("CK_ULONG *")
    module.check("C_GetSlotList", False, NULL, count)
    needed = int(count[0])
    assert needed >= 2
    slots = ffi.new("CK_SLOT_ID[]", needed)
    for short in (0, needed - 1):
        count[0] = short
        assert rv_name(module.rv("C_GetSlotList", False, slots, count)) == "BUFFER_TOO_SMALL"
        assert count[0] == needed
    count[0] = 2**64 - 1  # plenty of room said: the real count comes back
    module.check("C_GetSlotList", False, slots, count)
    assert count[0] == needed


def test_mechanism_list_short_buffer_writes_needed_count(module: Module) -> None:
    slot = module.ready_token()
    count = ffi.new("CK_ULONG *")
    module.check("C_GetMechanismList", slot, NULL, count)
    needed = int(count[0])
    mechs = ffi.new("CK_MECHANISM_TYPE[]", needed)
    count[0] = needed - 1
    assert rv_name(module.rv("C_GetMechanismList", slot, mechs, count)) == "BUFFER_TOO_SMALL"
    assert count[0] == needed
    assert rv_name(module.rv("C_GetMechanismList", slot, NULL, NULL)) == "ARGUMENTS_BAD"
    assert rv_name(module.rv("C_GetMechanismList", 2**63, NULL, count)) == "SLOT_ID_INVALID"


@pytest.mark.parametrize("mechanism", [0x80000001, 0xFFFFFFFF, 2**63, 2**64 - 1])
def test_vendor_mechanism_types(t: Token, mechanism: int) -> None:
    info = ffi.new("CK_MECHANISM_INFO *")
    assert rv_name(t.m.rv("C_GetMechanismInfo", t.slot, mechanism, info)) == "MECHANISM_INVALID"
    key, _ = t.aes(16)
    assert t.rv("C_EncryptInit", Mech(mechanism).ptr, key) == "MECHANISM_INVALID"
    assert t.rv("C_DigestInit", Mech(mechanism).ptr) == "MECHANISM_INVALID"


# ------------------------------------------------------------------------------- mechanism parameters
_PARAMS = spec_departure(
    "SoftHSMv2", clause="3.0 5.8: CKR_MECHANISM_PARAM_INVALID for inner lengths (it crashes)", run=False
)


def _set(m: Mech, struct: str, **fields: Any) -> Mech:
    p = ffi.cast(f"{struct} *", m.ptr.pParameter)
    for name, value in fields.items():
        setattr(p, name, value)
    return m


@_PARAMS
@pytest.mark.parametrize("length", HIGH, ids=["2**63", "2**64-1"])
@pytest.mark.parametrize("field", ["ulIvLen", "ulAADLen"])
def test_gcm_inner_lengths(t: Token, field: str, length: int) -> None:
    key, _ = t.aes(16)
    m = _set(gcm(bytes(12), b"aad"), "CK_GCM_PARAMS", **{field: length})
    assert t.rv("C_EncryptInit", m.ptr, key) == "MECHANISM_PARAM_INVALID"
    t.ok("C_EncryptInit", gcm(bytes(12)).ptr, key)  # nothing was left active


@_PARAMS
@pytest.mark.parametrize("field", ["ulNonceLen", "ulAADLen"])
def test_chacha20_poly1305_inner_lengths(t: Token, field: str) -> None:
    t.require(Mechanism.CHACHA20_POLY1305)
    key = t.secret(bytes(32), KeyType.CHACHA20)
    m = _set(chacha_poly(bytes(12), b"aad"), "CK_SALSA20_CHACHA20_POLY1305_PARAMS", **{field: 2**63})
    assert t.rv("C_EncryptInit", m.ptr, key) == "MECHANISM_PARAM_INVALID"


@_PARAMS
@pytest.mark.parametrize("mechanism", [Mechanism.AES_KEY_WRAP, Mechanism.AES_KEY_WRAP_KWP, Mechanism.AES_CBC])
def test_iv_parameter_length_high_bit(t: Token, mechanism: int) -> None:
    t.require(mechanism)
    key, _ = t.aes(16)
    m = Mech(mechanism, bytes(16))
    m.ptr.ulParameterLen = 2**63
    assert t.rv("C_EncryptInit", m.ptr, key) == "MECHANISM_PARAM_INVALID"
    m.ptr.pParameter, m.ptr.ulParameterLen = NULL, 16  # NULL with a length
    assert t.rv("C_EncryptInit", m.ptr, key) == "MECHANISM_PARAM_INVALID"


@spec_departure("SoftHSMv2", clause="3.0 2.1.8: OAEP pSourceData (ARGUMENTS_BAD, or read)")
@pytest.mark.parametrize(
    "fields", [{"ulSourceDataLen": 2**63}, {"ulSourceDataLen": 4}], ids=["2**63", "NULL+4"]
)
def test_oaep_source_data(t: Token, fields: dict[str, int]) -> None:
    pub, _ = import_rsa(t, rsa_key(2048))
    m = _set(oaep("sha256"), "CK_RSA_PKCS_OAEP_PARAMS", **fields)  # pSourceData stays NULL (no label)
    assert t.rv("C_EncryptInit", m.ptr, pub) == "MECHANISM_PARAM_INVALID"


def _derive(t: Token, m: Mech, base: int) -> str:
    tpl = Template(
        {
            Attribute.CLASS: ObjectClass.SECRET_KEY,
            Attribute.KEY_TYPE: KeyType.GENERIC_SECRET,
            Attribute.VALUE_LEN: 32,
            Attribute.TOKEN: False,
        }
    )
    return t.rv("C_DeriveKey", m.ptr, base, tpl.ptr, tpl.count, ffi.new("CK_OBJECT_HANDLE *"))


@_PARAMS
@pytest.mark.parametrize(
    "fields",
    [{"ulPublicDataLen": 2**63}, {"ulSharedDataLen": 2**63}, {"pPublicData": NULL}, {"ulPublicDataLen": 0}],
    ids=["public-2**63", "shared-2**63", "public-NULL", "public-empty"],
)
def test_ecdh_params(t: Token, fields: dict[str, Any]) -> None:
    _, priv = import_ec(t, ec_key(P256), P256)
    m = _set(ecdh(ec_point(ec_key(P256).public_key())), "CK_ECDH1_DERIVE_PARAMS", **fields)
    assert _derive(t, m, priv) == "MECHANISM_PARAM_INVALID"


@pytest.mark.parametrize(
    "fields",
    [
        {"ulInfoLen": 2**63},
        {"ulSaltType": HkdfSaltType.DATA, "ulSaltLen": 2**63},
        {"ulInfoLen": 4, "pInfo": NULL},
    ],
    ids=["info-2**63", "salt-2**63", "info-NULL+4"],
)
def test_hkdf_params(t: Token, fields: dict[str, Any]) -> None:
    t.require(Mechanism.HKDF_DERIVE)
    base = t.secret(bytes(32), KeyType.GENERIC_SECRET)
    m = _set(hkdf(salt=b"salt", info=b"info"), "CK_HKDF_PARAMS", **fields)
    assert _derive(t, m, base) == "MECHANISM_PARAM_INVALID"


@spec_departure("SoftHSMv2", clause="3.0 2.3.14 CK_EDDSA_PARAMS: MECHANISM_PARAM_INVALID (it ignores them)")
def test_eddsa_params(t: Token) -> None:
    t.require(Mechanism.EDDSA)
    _, priv, _ = import_okp(t, "ed25519")
    ctx = ffi.new("CK_BYTE[4]")
    p = ffi.new("CK_EDDSA_PARAMS *", {"phFlag": 0, "pContextData": ctx, "ulContextDataLen": 2**63})
    assert t.rv("C_SignInit", Mech(Mechanism.EDDSA, p, keep=[ctx]).ptr, priv) == "MECHANISM_PARAM_INVALID"
    p.pContextData, p.ulContextDataLen = NULL, 4
    assert t.rv("C_SignInit", Mech(Mechanism.EDDSA, p).ptr, priv) == "MECHANISM_PARAM_INVALID"
    # The parameter is optional: a length of 0 is no parameter, whatever the pointer.
    m = Mech(Mechanism.EDDSA)
    m.ptr.pParameter = ctx
    t.ok("C_SignInit", m.ptr, priv)
    sig, n = ffi.new("CK_BYTE[64]"), ffi.new("CK_ULONG *", 64)
    t.ok("C_Sign", cbytes(b"data"), 4, sig, n)


# ------------------------------------------------------------------------------- general functions
def test_operation_state_arguments(t: Token) -> None:
    """3.0 5.6: nothing to save is OPERATION_NOT_INITIALIZED; a state that is not one is
    SAVED_STATE_INVALID; NULL pointers are ARGUMENTS_BAD; the session is checked first.
    (SoftHSMv2 answers FUNCTION_NOT_SUPPORTED to all of it.)"""
    if t.softhsm2:
        pytest.skip("SoftHSMv2 2.6.1 has no operation state")
    n = ffi.new("CK_ULONG *")
    assert t.rv("C_GetOperationState", NULL, n) == "OPERATION_NOT_INITIALIZED"
    assert t.rv("C_GetOperationState", NULL, NULL) == "ARGUMENTS_BAD"
    assert t.rv("C_SetOperationState", cbytes(b"x"), 1, 0, 0) == "SAVED_STATE_INVALID"
    assert t.rv("C_SetOperationState", NULL, 1, 0, 0) == "ARGUMENTS_BAD"
    assert rv_name(t.m.rv("C_GetOperationState", 0xDEAD, NULL, n)) == "SESSION_HANDLE_INVALID"
    assert rv_name(t.m.rv("C_SetOperationState", 0xDEAD, cbytes(b"x"), 1, 0, 0)) == "SESSION_HANDLE_INVALID"


@spec_departure("SoftHSMv2", clause="3.0 5.5 C_WaitForSlotEvent: pSlot NULL is ARGUMENTS_BAD")
def test_wait_for_slot_event_flags(module: Module) -> None:
    slot = ffi.new("CK_SLOT_ID *")
    for flags in (DONT_BLOCK, DONT_BLOCK | 2**63, 2**64 - 1):
        assert rv_name(module.rv("C_WaitForSlotEvent", flags, slot, NULL)) == "NO_EVENT"
    assert rv_name(module.rv("C_WaitForSlotEvent", DONT_BLOCK, NULL, NULL)) == "ARGUMENTS_BAD"


def test_before_initialize(bare: Module) -> None:
    count = ffi.new("CK_ULONG *")
    for name, args in (
        ("C_GetSlotList", (False, NULL, NULL)),
        ("C_GetSlotList", (False, NULL, count)),
        ("C_GetMechanismList", (0, NULL, NULL)),
        ("C_GetInfo", (ffi.new("CK_INFO *"),)),
        ("C_Finalize", (NULL,)),
        ("C_GetOperationState", (1, NULL, count)),
        ("C_WaitForSlotEvent", (DONT_BLOCK, ffi.new("CK_SLOT_ID *"), NULL)),
    ):
        assert rv_name(bare.rv(name, *args)) == "CRYPTOKI_NOT_INITIALIZED", name


def test_after_finalize(bare: Module) -> None:
    bare.initialize()
    assert bare.finalize() == 0
    count = ffi.new("CK_ULONG *")
    assert rv_name(bare.rv("C_GetSlotList", False, NULL, count)) == "CRYPTOKI_NOT_INITIALIZED"
    assert rv_name(bare.rv("C_Finalize", NULL)) == "CRYPTOKI_NOT_INITIALIZED"


def test_init_token_label(module: Module) -> None:
    slot = module.empty_slot()
    pin = ffi.new("CK_UTF8CHAR[]", b"12345678")
    assert rv_name(module.rv("C_InitToken", slot, pin, 8, NULL)) == "ARGUMENTS_BAD"
    assert rv_name(module.rv("C_InitToken", slot, NULL, 8, b" " * 32)) == "ARGUMENTS_BAD"
    assert module.empty_slot() == slot  # nothing was created


# ------------------------------------------------------------------------------- discovery (pure C)
def test_get_function_list_null(loaded: Module) -> None:
    assert rv_name(loaded.lib.C_GetFunctionList(NULL)) == "ARGUMENTS_BAD"


def test_get_interface_list(loaded: Module) -> None:
    loaded.require_3_0()
    lib = loaded.lib
    count = ffi.new("CK_ULONG *")
    assert rv_name(lib.C_GetInterfaceList(NULL, NULL)) == "ARGUMENTS_BAD"
    assert rv_name(lib.C_GetInterfaceList(ffi.new("CK_INTERFACE[4]"), NULL)) == "ARGUMENTS_BAD"
    lib.C_GetInterfaceList(NULL, count)
    needed = int(count[0])
    assert needed >= 1
    interfaces = ffi.new("CK_INTERFACE[]", needed + 1)
    for short in range(needed):
        count[0] = short
        assert rv_name(lib.C_GetInterfaceList(interfaces, count)) == "BUFFER_TOO_SMALL"
        assert count[0] == needed
        assert interfaces[0].pInterfaceName == NULL  # nothing written
    count[0] = 2**64 - 1
    assert rv_name(lib.C_GetInterfaceList(interfaces, count)) == "OK"
    assert count[0] == needed
    assert all(ffi.string(interfaces[i].pInterfaceName) == b"PKCS 11" for i in range(needed))


@pytest.mark.parametrize(
    ("name", "version", "flags", "expected"),
    [
        (None, None, 0, "OK"),
        (b"PKCS 11", (3, 0), 0, "OK"),
        (b"PKCS 11", (2, 40), 0, "OK"),
        (b"PKCS 11 ", None, 0, "ARGUMENTS_BAD"),
        (b"", None, 0, "ARGUMENTS_BAD"),
        (b"Vendor NCipher", None, 0, "ARGUMENTS_BAD"),
        (None, (3, 1), 0, "ARGUMENTS_BAD"),
        (None, (255, 255), 0, "ARGUMENTS_BAD"),
        (None, (2, 20), 0, "ARGUMENTS_BAD"),
        (None, None, 2**63, "ARGUMENTS_BAD"),
    ],
)
def test_get_interface(loaded: Module, name: bytes | None, version: Any, flags: int, expected: str) -> None:
    loaded.require_3_0()
    pp = ffi.new("CK_INTERFACE **")
    v = ffi.new("CK_VERSION *", {"major": version[0], "minor": version[1]}) if version else NULL
    n = ffi.new("char[]", name) if name is not None else NULL
    assert rv_name(loaded.lib.C_GetInterface(n, v, pp, flags)) == expected
    assert rv_name(loaded.lib.C_GetInterface(n, v, NULL, flags)) == "ARGUMENTS_BAD"
    if expected == "OK":
        have = ffi.cast("CK_VERSION *", pp[0].pFunctionList)
        assert version is None or (have.major, have.minor) == version
        assert version is not None or (have.major, have.minor) == (3, 0)  # the default is the newest
