"""Attacks on the key-protection promises through the C ABI (PKCS#11 3.0, 4.1-4.10, 5.7, 5.14):
a sensitive key never leaves in clear, a non-extractable key is never wrapped, a non-destroyable
key stays, sticky attributes move one way, CKA_TRUSTED is the SO's, private objects are invisible
without login, CKA_ALLOWED_MECHANISMS and the *_TEMPLATE attributes apply.

What the specification itself allows is not an attack here and is not tested as one: C_DigestKey of
a sensitive key, wrapping a sensitive but extractable key under any wrapping key (and so reading it
back through C_Decrypt or an unwrap as a non-sensitive key), a verify-only MAC key answering
truncated _GENERAL MACs, C_InitToken wiping non-destroyable keys.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import pytest
from cryptography.hazmat.primitives.keywrap import aes_key_wrap

from .mech_support import (
    CKA,
    CKK,
    CKM,
    CKO,
    P256,
    Mech,
    Token,
    ec_key,
    ffi,
    hkdf,
    import_ec,
    import_rsa,
    mac_general,
    rsa_key,
)
from .objects_support import Query, Template
from .objects_support import rv_name as obj_rv_name
from .pkcs11 import CK_UNAVAILABLE_INFORMATION, CKU_SO, CKU_USER, SO_PIN, USER_PIN, Module, spec_departure

CKA_UNIQUE_ID, CKA_COPYABLE, CKA_DESTROYABLE, CKA_CHECK_VALUE = 0x4, 0x171, 0x172, 0x90
SECRET = bytes(range(0x40, 0x60))  # an AES-256 key value the attacker wants
# 4.1.1: a template naming an attribute the caller may not set; modules answer either code.
REFUSED = ("ATTRIBUTE_READ_ONLY", "TEMPLATE_INCONSISTENT")


@pytest.fixture
def t(module: Module) -> Token:
    return Token(module)


def aes(t: Token, value: bytes = SECRET, **extra: Any) -> int:
    """A session AES key, usable for everything, sensitive and not extractable unless told."""
    return t.secret(value, CKK.AES, SENSITIVE=True, EXTRACTABLE=False, **extra)


def generated_aes(t: Token, destroyable: bool = True, **extra: Any) -> int:
    attrs = {CKA.TOKEN: False, CKA.VALUE_LEN: 32, CKA.SENSITIVE: True, CKA.EXTRACTABLE: False,
             CKA.DERIVE: True, **{getattr(CKA, k): v for k, v in extra.items()}}  # fmt: skip
    if not destroyable:
        attrs[CKA_DESTROYABLE] = False
    return t.generate_key(CKM.AES_KEY_GEN, attrs)


def needs_derive_template(t: Token) -> None:
    if t.softhsm2:
        pytest.skip("SoftHSMv2 2.6.1 has no CKA_DERIVE_TEMPLATE (a 3.0 attribute)")


def copy_rv(t: Token, obj: int, attrs: dict[int, Any] | Template) -> str:
    tpl = attrs if isinstance(attrs, Template) else Template(list(attrs.items()))
    out = ffi.new("CK_OBJECT_HANDLE *")
    return t.rv("C_CopyObject", obj, tpl.ptr, len(tpl), out)


def set_rv(t: Token, obj: int, attrs: dict[int, Any] | Template) -> str:
    tpl = attrs if isinstance(attrs, Template) else Template(list(attrs.items()))
    return t.rv("C_SetAttributeValue", obj, tpl.ptr, len(tpl))


def create_rv(t: Token, attrs: list[tuple[int, Any]]) -> str:
    tpl = Template(attrs)
    out = ffi.new("CK_OBJECT_HANDLE *")
    return t.rv("C_CreateObject", tpl.ptr, len(tpl), out)


def find(t: Token, h: int, attrs: dict[int, Any]) -> list[int]:
    tpl = Template(list(attrs.items()))
    t.m.check("C_FindObjectsInit", h, tpl.ptr, len(tpl))
    out, n = ffi.new("CK_OBJECT_HANDLE[]", 64), ffi.new("CK_ULONG *")
    t.m.check("C_FindObjects", h, out, 64, n)
    t.m.check("C_FindObjectsFinal", h)
    return [int(out[i]) for i in range(n[0])]


def secret_template(**extra: Any) -> dict[int, Any]:
    return {CKA.CLASS: CKO.SECRET_KEY, CKA.KEY_TYPE: CKK.AES, CKA.TOKEN: False,
            **{getattr(CKA, k): v for k, v in extra.items()}}  # fmt: skip


def as_so(t: Token) -> None:
    t.ok("C_Logout")
    t.m.login(t.h, CKU_SO, SO_PIN)


def as_user(t: Token) -> None:
    t.ok("C_Logout")
    t.m.login(t.h, CKU_USER, USER_PIN)


# ------------------------------------------------------------------------------- C_CopyObject
@pytest.mark.parametrize(
    "change",
    [
        {CKA.SENSITIVE: False},
        {CKA.EXTRACTABLE: True},
        {CKA.SENSITIVE: True, CKA.EXTRACTABLE: True},
        {CKA.CLASS: CKO.DATA},
        {CKA.KEY_TYPE: CKK.GENERIC_SECRET},
        {CKA.VALUE: bytes(32)},
        {CKA.ALWAYS_SENSITIVE: False},
        {CKA.NEVER_EXTRACTABLE: False},
        {CKA.LOCAL: False},
        {CKA.KEY_GEN_MECHANISM: CKM.AES_KEY_GEN},
        {CKA.WRAP_WITH_TRUSTED: False},
        {CKA_DESTROYABLE: True},
        {CKA.ALLOWED_MECHANISMS: [CKM.AES_ECB, CKM.AES_KEY_WRAP]},
        {CKA.TRUSTED: True},
        pytest.param(
            {CKA_UNIQUE_ID: b"0" * 32}, marks=spec_departure("SoftHSMv2", clause="3.0 4.4: CKA_UNIQUE_ID")
        ),
    ],
    ids=lambda c: "+".join(hex(k) for k in c),
)
def test_copy_cannot_weaken(t: Token, change: dict[int, Any]) -> None:
    if t.softhsm2 and CKA_DESTROYABLE in change:
        pytest.skip("DESTROYABLE sticky once FALSE is softhsm-py's choice (docs/conformance.md)")
    key = generated_aes(t, False, WRAP_WITH_TRUSTED=True, ALLOWED_MECHANISMS=[CKM.AES_ECB])
    assert copy_rv(t, key, change) in ("ATTRIBUTE_READ_ONLY", "TEMPLATE_INCONSISTENT")


def test_copy_keeps_the_protection(t: Token) -> None:
    key = generated_aes(t)
    new = ffi.new("CK_OBJECT_HANDLE *")
    tpl = Template([(CKA.LABEL, b"copy")])
    t.ok("C_CopyObject", key, tpl.ptr, len(tpl), new)
    copy = int(new[0])
    assert t.get_rv(copy, CKA.VALUE) == "ATTRIBUTE_SENSITIVE"
    assert t.get_bool(copy, CKA.SENSITIVE) is True
    assert t.get_bool(copy, CKA.EXTRACTABLE) is False
    assert t.get_bool(copy, CKA.ALWAYS_SENSITIVE) is True
    assert t.get_bool(copy, CKA.NEVER_EXTRACTABLE) is True


# ------------------------------------------------------------------------------- C_SetAttributeValue
@pytest.mark.parametrize(
    "change",
    [
        {CKA.VALUE: bytes(32)},
        {CKA.SENSITIVE: False},
        {CKA.EXTRACTABLE: True},
        {CKA.ALWAYS_SENSITIVE: False},
        {CKA.NEVER_EXTRACTABLE: False},
        {CKA.LOCAL: False},
        {CKA.KEY_GEN_MECHANISM: CKM.AES_KEY_GEN},
        {CKA_UNIQUE_ID: b"0" * 32},
        {CKA.WRAP_WITH_TRUSTED: False},
        {CKA.TRUSTED: True},
        {CKA.ALLOWED_MECHANISMS: [CKM.AES_ECB, CKM.AES_KEY_WRAP]},
        {CKA.ALWAYS_AUTHENTICATE: True},
        {CKA.WRAP_TEMPLATE: {}},
        {CKA.UNWRAP_TEMPLATE: {}},
        {CKA.DERIVE_TEMPLATE: {}},
        {CKA_DESTROYABLE: True},
        {CKA.CLASS: CKO.DATA},
        {CKA.KEY_TYPE: CKK.GENERIC_SECRET},
    ],
    ids=lambda c: "+".join(hex(k) for k in c),
)
def test_set_cannot_weaken(t: Token, change: dict[int, Any]) -> None:
    needs_derive_template(t)
    key = generated_aes(
        t,
        False,
        WRAP_WITH_TRUSTED=True,
        ALLOWED_MECHANISMS=[CKM.AES_ECB],
        WRAP_TEMPLATE={CKA.KEY_TYPE: CKK.AES},
        UNWRAP_TEMPLATE={CKA.SENSITIVE: True},
        DERIVE_TEMPLATE={CKA.SENSITIVE: True},
    )
    assert set_rv(t, key, change) in ("ATTRIBUTE_READ_ONLY", "TEMPLATE_INCONSISTENT")


@spec_departure("SoftHSMv2", clause="3.0 4.1.2 (4.1.1 applies): a failed C_SetAttributeValue changes nothing")
def test_set_all_or_nothing_with_a_forbidden_change(t: Token) -> None:
    """A template that makes the key extractable and changes the label is refused as a whole."""
    key = generated_aes(t)
    assert set_rv(t, key, {CKA.LABEL: b"x", CKA.EXTRACTABLE: True}) in REFUSED
    assert t.get(key, CKA.LABEL) == b""
    assert t.get_bool(key, CKA.EXTRACTABLE) is False


# ------------------------------------------------------------------------------- duplicates
@spec_departure("SoftHSMv2", clause="3.0 4.1.1 item 5: two different values for one attribute")
@pytest.mark.parametrize("order", [(True, False), (False, True)], ids=["true-false", "false-true"])
def test_duplicate_sensitive_on_create(t: Token, order: tuple[bool, bool]) -> None:
    attrs = [*secret_template(VALUE=SECRET).items(), (CKA.SENSITIVE, order[0]), (CKA.SENSITIVE, order[1])]
    assert create_rv(t, attrs) == "TEMPLATE_INCONSISTENT"


@pytest.mark.parametrize("order", [(True, False), (False, True)], ids=["true-false", "false-true"])
def test_duplicate_sensitive_on_set_and_copy(t: Token, order: tuple[bool, bool]) -> None:
    key = aes(t)
    dup = Template([(CKA.SENSITIVE, order[0]), (CKA.SENSITIVE, order[1])])
    assert set_rv(t, key, dup) in ("TEMPLATE_INCONSISTENT", "ATTRIBUTE_READ_ONLY")
    assert copy_rv(t, key, dup) in ("TEMPLATE_INCONSISTENT", "ATTRIBUTE_READ_ONLY")
    assert t.get_bool(key, CKA.SENSITIVE) is True
    assert t.get_rv(key, CKA.VALUE) == "ATTRIBUTE_SENSITIVE"


@spec_departure("SoftHSMv2", clause="3.0 4.1.1 item 5: two different values for one attribute")
def test_duplicate_in_nested_template(t: Token) -> None:
    inner = Template([(CKA.SENSITIVE, True), (CKA.SENSITIVE, False)])
    outer = Template(list(secret_template(VALUE=bytes(16)).items()))
    tpl = ffi.new("CK_ATTRIBUTE[]", len(outer) + 1)
    for i in range(len(outer)):
        tpl[i] = outer.array[i]
    tpl[len(outer)].type = CKA.UNWRAP_TEMPLATE
    tpl[len(outer)].pValue = inner.array
    tpl[len(outer)].ulValueLen = len(inner) * ffi.sizeof("CK_ATTRIBUTE")
    out = ffi.new("CK_OBJECT_HANDLE *")
    assert t.rv("C_CreateObject", tpl, len(outer) + 1, out) == "TEMPLATE_INCONSISTENT"


# ------------------------------------------------------------------------------- C_GetAttributeValue
def _rsa_private(t: Token, **extra: Any) -> int:
    return import_rsa(t, rsa_key(2048), **extra)[1]


PRIVATE_PARTS = [
    CKA.PRIVATE_EXPONENT, CKA.PRIME_1, CKA.PRIME_2, CKA.EXPONENT_1, CKA.EXPONENT_2, CKA.COEFFICIENT,
]  # fmt: skip


@pytest.mark.parametrize("flags", [{"SENSITIVE": True}, {"SENSITIVE": False, "EXTRACTABLE": False}])
def test_rsa_private_parts_hidden(t: Token, flags: dict[str, bool]) -> None:
    priv = _rsa_private(t, **flags)
    for part in PRIVATE_PARTS:
        assert t.get_rv(priv, part) == "ATTRIBUTE_SENSITIVE", hex(part)
    q = Query([CKA.MODULUS, *PRIVATE_PARTS, CKA.LABEL], 1024)
    rv = obj_rv_name(t.m.rv("C_GetAttributeValue", t.h, priv, q.array, len(q.types)))
    assert rv == "ATTRIBUTE_SENSITIVE"
    assert q.value(0)  # the modulus is public
    for i in range(1, 1 + len(PRIVATE_PARTS)):
        assert q.length(i) == CK_UNAVAILABLE_INFORMATION
        assert q.value(i) is None


@pytest.mark.parametrize("flags", [{"SENSITIVE": True}, {"SENSITIVE": False, "EXTRACTABLE": False}])
def test_ec_and_secret_value_hidden(t: Token, flags: dict[str, bool]) -> None:
    _, priv = import_ec(t, ec_key(P256), P256, **flags)
    assert t.get_rv(priv, CKA.VALUE) == "ATTRIBUTE_SENSITIVE"
    key = t.secret(SECRET, CKK.AES, **flags)
    assert t.get_rv(key, CKA.VALUE) == "ATTRIBUTE_SENSITIVE"


def test_find_cannot_probe_a_hidden_value(t: Token) -> None:
    """softhsm-py's choice: a value C_GetAttributeValue would not reveal never matches in a search
    (SoftHSMv2 matches it, which lets a caller confirm a guessed key value)."""
    if t.softhsm2:
        pytest.skip("softhsm-py's choice, not the specification's (SoftHSMv2 matches it)")
    key = aes(t)
    assert key not in find(t, t.h, {CKA.VALUE: SECRET})
    _, priv = import_ec(t, ec_key(P256), P256)
    value = ec_key(P256).private_numbers().private_value.to_bytes(32, "big")
    assert priv not in find(t, t.h, {CKA.VALUE: value})


# ------------------------------------------------------------------------------- C_WrapKey
def test_wrap_unextractable_private_key(t: Token) -> None:
    t.require(CKM.AES_KEY_WRAP_KWP)
    kek = t.secret(bytes(32), CKK.AES)
    _, priv = import_ec(t, ec_key(P256), P256, EXTRACTABLE=False)
    assert t.wrap_rv(Mech(CKM.AES_KEY_WRAP_KWP), kek, priv) == "KEY_UNEXTRACTABLE"
    generated = generated_aes(t)
    assert t.wrap_rv(Mech(CKM.AES_KEY_WRAP), kek, generated) == "KEY_UNEXTRACTABLE"


def test_wrap_unextractable_key_with_itself(t: Token) -> None:
    key = aes(t)
    assert t.wrap_rv(Mech(CKM.AES_KEY_WRAP), key, key) == "KEY_UNEXTRACTABLE"


def test_wrap_with_a_key_lacking_wrap(t: Token) -> None:
    kek = t.secret(bytes(32), CKK.AES, WRAP=False)
    key = t.secret(SECRET, CKK.AES, SENSITIVE=True)
    assert t.wrap_rv(Mech(CKM.AES_KEY_WRAP), kek, key) == "KEY_FUNCTION_NOT_PERMITTED"
    # Nor with a private key (no CKA_WRAP at all) or a data object.
    _, priv = import_rsa(t, rsa_key(2048))
    rv = t.wrap_rv(Mech(CKM.RSA_PKCS), priv, key)
    assert rv in ("KEY_FUNCTION_NOT_PERMITTED", "WRAPPING_KEY_TYPE_INCONSISTENT")


def test_wrap_with_trusted_refuses_a_user_made_trusted_key(t: Token) -> None:
    """The user can make no key CKA_TRUSTED: not by create, generate, copy, set or unwrap."""
    rv = create_rv(t, list(secret_template(VALUE=bytes(16), TRUSTED=True).items()))
    assert rv in REFUSED
    out = ffi.new("CK_OBJECT_HANDLE *")
    tpl = Template(
        [(CKA.CLASS, CKO.SECRET_KEY), (CKA.TOKEN, False), (CKA.VALUE_LEN, 16), (CKA.TRUSTED, True)]
    )
    gen = Mech(CKM.AES_KEY_GEN)
    assert t.rv("C_GenerateKey", gen.ptr, tpl.ptr, len(tpl), out) in REFUSED
    kek = t.secret(bytes(16), CKK.AES)
    assert copy_rv(t, kek, {CKA.TRUSTED: True}) in REFUSED
    assert set_rv(t, kek, {CKA.TRUSTED: True}) in REFUSED
    wrapped = aes_key_wrap(bytes(16), SECRET)
    kw = Mech(CKM.AES_KEY_WRAP)
    assert t.unwrap_rv(kw, kek, wrapped, secret_template(TRUSTED=True)) in REFUSED
    sneaky = t.secret(bytes(16), CKK.AES, UNWRAP_TEMPLATE={CKA.TRUSTED: True})
    assert t.unwrap_rv(kw, sneaky, wrapped, secret_template()) in REFUSED
    t.require(CKM.HKDF_DERIVE)
    needs_derive_template(t)
    base = t.secret(bytes(32), CKK.GENERIC_SECRET, DERIVE_TEMPLATE={CKA.TRUSTED: True})
    out_t = {CKA.CLASS: CKO.SECRET_KEY, CKA.KEY_TYPE: CKK.AES, CKA.TOKEN: False, CKA.VALUE_LEN: 16}
    assert t.derive_rv(hkdf(), base, out_t) in REFUSED
    target = t.secret(SECRET, CKK.AES, WRAP_WITH_TRUSTED=True)
    assert t.wrap_rv(Mech(CKM.AES_KEY_WRAP), kek, target) == "KEY_NOT_WRAPPABLE"


def test_trusted_copy_made_by_the_so_keeps_its_value(t: Token) -> None:
    """A user copy of an SO's trusted wrapping key is still that key: no way to put another value
    under CKA_TRUSTED."""
    as_so(t)
    kek = t.create(secret_template(VALUE=bytes(16), PRIVATE=False, WRAP=True, TRUSTED=True))
    as_user(t)
    assert copy_rv(t, kek, {CKA.VALUE: b"\x01" * 16}) in REFUSED
    assert copy_rv(t, kek, {CKA.WRAP_TEMPLATE: {}}) in REFUSED


# ------------------------------------------------------------------------------- C_UnwrapKey
def test_unwrap_of_a_sensitive_key_as_non_sensitive_has_no_history(t: Token) -> None:
    """3.0 4.9 / 4.10: allowed because the key was extractable, but the new key must not claim
    ALWAYS_SENSITIVE / NEVER_EXTRACTABLE, nor LOCAL."""
    kek = t.secret(bytes(16), CKK.AES)
    key = t.generate_key(CKM.AES_KEY_GEN, {CKA.TOKEN: False, CKA.VALUE_LEN: 32, CKA.SENSITIVE: True,
                                           CKA.EXTRACTABLE: True})  # fmt: skip
    assert t.get_bool(key, CKA.ALWAYS_SENSITIVE) is True
    wrapped = t.wrap(Mech(CKM.AES_KEY_WRAP), kek, key)
    back = t.unwrap(Mech(CKM.AES_KEY_WRAP), kek, wrapped, secret_template(SENSITIVE=False, EXTRACTABLE=True))
    assert t.get_bool(back, CKA.ALWAYS_SENSITIVE) is False
    assert t.get_bool(back, CKA.NEVER_EXTRACTABLE) is False
    assert t.get_bool(back, CKA.LOCAL) is False
    again = t.unwrap(Mech(CKM.AES_KEY_WRAP), kek, wrapped, secret_template(SENSITIVE=True, EXTRACTABLE=False))
    assert t.get_bool(again, CKA.ALWAYS_SENSITIVE) is False
    assert t.get_bool(again, CKA.NEVER_EXTRACTABLE) is False


@pytest.mark.parametrize("attr", [CKA.ALWAYS_SENSITIVE, CKA.NEVER_EXTRACTABLE, CKA.LOCAL])
def test_unwrap_cannot_claim_history(t: Token, attr: int) -> None:
    kek = t.secret(bytes(16), CKK.AES)
    wrapped = aes_key_wrap(bytes(16), SECRET)
    kw = Mech(CKM.AES_KEY_WRAP)
    assert t.unwrap_rv(kw, kek, wrapped, {**secret_template(), attr: True}) in REFUSED
    via_template = t.secret(bytes(16), CKK.AES, UNWRAP_TEMPLATE={attr: True})
    assert t.unwrap_rv(kw, via_template, wrapped, secret_template()) in REFUSED
    rv = create_rv(t, [*secret_template(VALUE=SECRET).items(), (attr, True)])
    assert rv in REFUSED


# ------------------------------------------------------------------------------- C_DeriveKey
OUT = {CKA.CLASS: CKO.SECRET_KEY, CKA.KEY_TYPE: CKK.AES, CKA.TOKEN: False, CKA.VALUE_LEN: 32}
GENERIC_GEN = {CKA.KEY_TYPE: CKK.GENERIC_SECRET, CKA.TOKEN: False, CKA.VALUE_LEN: 32, CKA.DERIVE: True,
               CKA.SENSITIVE: True, CKA.EXTRACTABLE: False}  # fmt: skip


def test_derive_history_follows_the_base(t: Token) -> None:
    t.require(CKM.HKDF_DERIVE)
    base = t.generate_key(CKM.GENERIC_SECRET_KEY_GEN, GENERIC_GEN)
    strong = t.derive(hkdf(), base, {**OUT, CKA.SENSITIVE: True, CKA.EXTRACTABLE: False})
    assert t.get_bool(strong, CKA.ALWAYS_SENSITIVE) is True
    assert t.get_bool(strong, CKA.NEVER_EXTRACTABLE) is True
    weak = t.derive(hkdf(), base, {**OUT, CKA.SENSITIVE: False, CKA.EXTRACTABLE: True})
    assert t.get_bool(weak, CKA.ALWAYS_SENSITIVE) is False
    assert t.get_bool(weak, CKA.NEVER_EXTRACTABLE) is False
    imported = t.secret(bytes(32), CKK.GENERIC_SECRET, SENSITIVE=True, EXTRACTABLE=False)
    child = t.derive(hkdf(), imported, {**OUT, CKA.SENSITIVE: True, CKA.EXTRACTABLE: False})
    assert t.get_bool(child, CKA.ALWAYS_SENSITIVE) is False
    assert t.get_bool(child, CKA.NEVER_EXTRACTABLE) is False


@pytest.mark.parametrize("attr", [CKA.ALWAYS_SENSITIVE, CKA.NEVER_EXTRACTABLE, CKA.LOCAL, CKA.VALUE])
def test_derive_cannot_set_token_attributes(t: Token, attr: int) -> None:
    t.require(CKM.HKDF_DERIVE)
    base = t.secret(bytes(32), CKK.GENERIC_SECRET)
    value: Any = bytes(32) if attr == CKA.VALUE else True
    assert t.derive_rv(hkdf(), base, {**OUT, attr: value}) in REFUSED


def test_derive_template_cannot_be_escaped(t: Token) -> None:
    t.require(CKM.HKDF_DERIVE, CKM.HKDF_DATA)
    needs_derive_template(t)
    required = {CKA.SENSITIVE: True, CKA.EXTRACTABLE: False}
    base = t.secret(bytes(32), CKK.GENERIC_SECRET, DERIVE_TEMPLATE=required)
    assert t.derive_rv(hkdf(), base, {**OUT, CKA.SENSITIVE: False}) == "TEMPLATE_INCONSISTENT"
    key = t.derive(hkdf(), base, OUT)
    assert t.get_rv(key, CKA.VALUE) == "ATTRIBUTE_SENSITIVE"
    # HKDF_DATA makes a data object, which has no CKA_SENSITIVE: the template forbids it.
    data = {CKA.CLASS: CKO.DATA, CKA.TOKEN: False, CKA.VALUE_LEN: 32}
    assert t.derive_rv(hkdf(CKM.HKDF_DATA), base, data) in ("TEMPLATE_INCONSISTENT", "ATTRIBUTE_TYPE_INVALID")


def test_derive_needs_derive(t: Token) -> None:
    t.require(CKM.HKDF_DERIVE)
    base = t.secret(bytes(32), CKK.GENERIC_SECRET, DERIVE=False)
    assert t.derive_rv(hkdf(), base, OUT) == "KEY_FUNCTION_NOT_PERMITTED"
    limited = t.secret(bytes(32), CKK.GENERIC_SECRET, ALLOWED_MECHANISMS=[CKM.SHA256_HMAC])
    assert t.derive_rv(hkdf(), limited, OUT) == "MECHANISM_INVALID"


def test_hkdf_salt_key_is_checked_like_a_key(t: Token) -> None:
    """The salt key of CKF_HKDF_SALT_KEY is a key used by the mechanism: its
    CKA_ALLOWED_MECHANISMS applies, and it must be one of the session's objects."""
    t.require(CKM.HKDF_DERIVE)
    base = t.secret(bytes(32), CKK.GENERIC_SECRET)
    limited = t.secret(SECRET, CKK.GENERIC_SECRET, ALLOWED_MECHANISMS=[CKM.SHA256_HMAC])
    assert t.derive_rv(hkdf(salt_key=limited), base, OUT) in ("MECHANISM_INVALID", "MECHANISM_PARAM_INVALID")


def test_hkdf_salt_key_needs_derive(t: Token) -> None:
    """Broke before: the salt key of CKF_HKDF_SALT_KEY was used whatever its CKA_DERIVE, so an
    extract-only HKDF from a known base was an HMAC oracle under a key that may neither sign nor
    derive (PRK = HMAC(salt key, known base), read back as a non-sensitive key). The salt key is
    keying material of the derivation: it needs CKA_DERIVE, as the base key does (kryoptic checks
    both with the same function), and must be a generic secret or HKDF key."""
    t.require(CKM.HKDF_DERIVE)
    victim = t.secret(SECRET, CKK.GENERIC_SECRET, SENSITIVE=True, EXTRACTABLE=False, DERIVE=False, SIGN=False)
    known = t.secret(b"known input", CKK.GENERIC_SECRET)
    out = {CKA.CLASS: CKO.SECRET_KEY, CKA.KEY_TYPE: CKK.GENERIC_SECRET, CKA.TOKEN: False,
           CKA.SENSITIVE: False, CKA.EXTRACTABLE: True}  # fmt: skip
    assert t.derive_rv(hkdf(salt_key=victim, expand=False), known, out) == "KEY_FUNCTION_NOT_PERMITTED"
    aes_salt = t.secret(bytes(32), CKK.AES, DERIVE=True)
    rv = t.derive_rv(hkdf(salt_key=aes_salt, expand=False), known, out)
    assert rv in ("KEY_TYPE_INCONSISTENT", "MECHANISM_PARAM_INVALID")
    # A salt key that may derive still works.
    salt = t.secret(SECRET, CKK.GENERIC_SECRET, DERIVE=True)
    key = t.derive(hkdf(salt_key=salt, expand=False), known, out)
    assert t.get(key, CKA.VALUE) == hmac.new(SECRET, b"known input", hashlib.sha256).digest()


# ------------------------------------------------------------------------------- usage attributes
def _one(t: Token, init: str, mechanism: Mech | int, key: int) -> str:
    mm = Mech(mechanism) if isinstance(mechanism, int) else mechanism
    return t.rv(init, mm.ptr, key)


@pytest.mark.parametrize(
    ("init", "mechanism", "flag"),
    [
        ("C_EncryptInit", CKM.AES_ECB, "ENCRYPT"),
        ("C_DecryptInit", CKM.AES_ECB, "DECRYPT"),
        ("C_SignInit", CKM.AES_CMAC, "SIGN"),
        ("C_SignInit", CKM.AES_MAC, "SIGN"),
        ("C_VerifyInit", CKM.AES_CMAC, "VERIFY"),
    ],
)
def test_usage_flags(t: Token, init: str, mechanism: int, flag: str) -> None:
    if t.softhsm2 and mechanism == CKM.AES_MAC:
        pytest.skip("SoftHSMv2 has no CKM_AES_MAC")
    key = aes(t, **{flag: False})
    assert _one(t, init, mechanism, key) == "KEY_FUNCTION_NOT_PERMITTED"


def test_sign_false_through_general_macs(t: Token) -> None:
    key = t.secret(SECRET, CKK.GENERIC_SECRET, SIGN=False)
    for m in (CKM.SHA256_HMAC, CKM.SHA_1_HMAC, CKM.SHA512_HMAC):
        assert _one(t, "C_SignInit", m, key) == "KEY_FUNCTION_NOT_PERMITTED"
    general = mac_general(CKM.SHA256_HMAC_GENERAL, 16)
    assert _one(t, "C_SignInit", general, key) == "KEY_FUNCTION_NOT_PERMITTED"
    aes_key = aes(t, SIGN=False)
    cmac = mac_general(CKM.AES_CMAC_GENERAL, 8)
    assert _one(t, "C_SignInit", cmac, aes_key) == "KEY_FUNCTION_NOT_PERMITTED"


def test_sign_recover_needs_sign_recover(t: Token) -> None:
    if t.softhsm2:
        pytest.skip("SoftHSMv2 2.6.1 has no C_SignRecover")
    _, priv = import_rsa(t, rsa_key(2048), SIGN_RECOVER=False)
    assert _one(t, "C_SignRecoverInit", CKM.RSA_X_509, priv) == "KEY_FUNCTION_NOT_PERMITTED"


def test_allowed_mechanisms(t: Token) -> None:
    key = aes(t, ALLOWED_MECHANISMS=[CKM.AES_GCM])
    assert _one(t, "C_EncryptInit", CKM.AES_ECB, key) == "MECHANISM_INVALID"
    assert _one(t, "C_SignInit", CKM.AES_CMAC, key) == "MECHANISM_INVALID"
    wrapped = aes_key_wrap(SECRET, bytes(16))
    assert t.unwrap_rv(Mech(CKM.AES_KEY_WRAP), key, wrapped, secret_template()) == "MECHANISM_INVALID"
    other = t.secret(bytes(16), CKK.AES)
    assert t.wrap_rv(Mech(CKM.AES_KEY_WRAP), key, other) == "MECHANISM_INVALID"


# ------------------------------------------------------------------------------- destroyable
def test_non_destroyable(t: Token) -> None:
    key = generated_aes(t, False)
    assert t.rv("C_DestroyObject", key) == "ACTION_PROHIBITED"
    assert set_rv(t, key, {CKA_DESTROYABLE: True}) in REFUSED
    out = ffi.new("CK_OBJECT_HANDLE *")
    tpl = Template([])
    t.ok("C_CopyObject", key, tpl.ptr, 0, out)
    assert t.rv("C_DestroyObject", int(out[0])) == "ACTION_PROHIBITED"


# ------------------------------------------------------------------------------- private objects
def test_private_objects_invisible_without_login(t: Token) -> None:
    token_key = t.create({**secret_template(VALUE=SECRET, TOKEN=True, PRIVATE=True, LABEL=b"p")})
    session_key = t.create({**secret_template(VALUE=SECRET, PRIVATE=True, LABEL=b"p")})
    public = t.create({**secret_template(VALUE=bytes(16), PRIVATE=False, LABEL=b"p", SENSITIVE=False)})
    assert set(find(t, t.h, {CKA.LABEL: b"p"})) == {token_key, session_key, public}
    t.ok("C_Logout")
    other = t.m.open(t.slot, rw=False)
    for h in (t.h, other):
        assert find(t, h, {CKA.LABEL: b"p"}) == [public]
        assert find(t, h, {}) == [public]
        for handle in (token_key, session_key):
            rv = obj_rv_name(t.m.rv("C_GetAttributeValue", h, handle, Query([CKA.CLASS]).array, 1))
            assert rv == "OBJECT_HANDLE_INVALID"
            mm = Mech(CKM.AES_ECB)
            rv = obj_rv_name(t.m.rv("C_EncryptInit", h, mm.ptr, handle))
            assert rv in ("KEY_HANDLE_INVALID", "OBJECT_HANDLE_INVALID")
        size = ffi.new("CK_ULONG *")
        assert obj_rv_name(t.m.rv("C_GetObjectSize", h, token_key, size)) == "OBJECT_HANDLE_INVALID"
    # A public object cannot be used to reach a private one through HKDF's salt key either.
    if CKM.HKDF_DERIVE in t.mechanisms():
        public_base = secret_template(
            KEY_TYPE=CKK.GENERIC_SECRET, VALUE=bytes(32), PRIVATE=False, DERIVE=True
        )
        base = t.create(public_base)
        rv = t.derive_rv(hkdf(salt_key=token_key), base, OUT)
        assert rv in ("KEY_HANDLE_INVALID", "OBJECT_HANDLE_INVALID", "MECHANISM_PARAM_INVALID")


def test_private_object_handle_of_another_session_after_relogin(t: Token) -> None:
    """3.0 5.6 C_Logout: handles to private objects stay invalid even after a new login."""
    key = t.create(secret_template(VALUE=SECRET, TOKEN=True, PRIVATE=True))
    as_user(t)
    assert t.get_rv(key, CKA.CLASS) == "OBJECT_HANDLE_INVALID"


# ------------------------------------------------------------------------------- so
def test_so_cannot_read_or_make_private_keys(t: Token) -> None:
    key = t.create(secret_template(VALUE=SECRET, TOKEN=True, PRIVATE=True, LABEL=b"k"))
    as_so(t)
    assert find(t, t.h, {CKA.LABEL: b"k"}) == []
    assert t.get_rv(key, CKA.CLASS) == "OBJECT_HANDLE_INVALID"
    out = ffi.new("CK_OBJECT_HANDLE *")
    tpl = Template(list(secret_template(VALUE=SECRET, PRIVATE=True).items()))
    assert t.rv("C_CreateObject", tpl.ptr, len(tpl), out) == "USER_NOT_LOGGED_IN"


# ------------------------------------------------------------------------------- C_DigestKey
def test_digest_key_of_a_sensitive_key_is_allowed(t: Token) -> None:
    """3.0 5.11: C_DigestKey digests a secret key's value whatever its CKA_SENSITIVE (spec)."""
    key = aes(t)
    mm = Mech(CKM.SHA256)
    t.ok("C_DigestInit", mm.ptr)
    t.ok("C_DigestKey", key)
    n = ffi.new("CK_ULONG *", 64)
    buf = ffi.new("CK_BYTE[]", 64)
    t.ok("C_DigestFinal", buf, n)
    assert int(n[0]) == 32
