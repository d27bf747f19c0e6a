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

from support.constants import (
    UNAVAILABLE_INFORMATION,
    Attribute,
    KeyType,
    Mechanism,
    ObjectClass,
    UserType,
    rv_name,
)
from support.keys import P256, ec_key, import_ec, import_rsa, rsa_key
from support.mechanisms import Mech, hkdf, mac_general
from support.pkcs11 import SO_PIN, USER_PIN, Module, ffi, spec_departure
from support.templates import Query, Template
from support.token import Token

SECRET = bytes(range(0x40, 0x60))  # an AES-256 key value the attacker wants
# 4.1.1: a template naming an attribute the caller may not set; modules answer either code.
REFUSED = ("ATTRIBUTE_READ_ONLY", "TEMPLATE_INCONSISTENT")


@pytest.fixture
def t(module: Module) -> Token:
    return Token(module)


def aes(t: Token, value: bytes = SECRET, **extra: Any) -> int:
    """A session AES key, usable for everything, sensitive and not extractable unless told."""
    return t.secret(value, KeyType.AES, SENSITIVE=True, EXTRACTABLE=False, **extra)


def generated_aes(t: Token, destroyable: bool = True, **extra: Any) -> int:
    attrs = {
        Attribute.TOKEN: False,
        Attribute.VALUE_LEN: 32,
        Attribute.SENSITIVE: True,
        Attribute.EXTRACTABLE: False,
        Attribute.DERIVE: True,
        **{Attribute[k]: v for k, v in extra.items()},
    }
    if not destroyable:
        attrs[Attribute.DESTROYABLE] = False
    return t.generate_key(Mechanism.AES_KEY_GEN, attrs)


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
    return {Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.KEY_TYPE: KeyType.AES, Attribute.TOKEN: False,
            **{Attribute[k]: v for k, v in extra.items()}}  # fmt: skip


def as_so(t: Token) -> None:
    t.ok("C_Logout")
    t.m.login(t.h, UserType.SO, SO_PIN)


def as_user(t: Token) -> None:
    t.ok("C_Logout")
    t.m.login(t.h, UserType.USER, USER_PIN)


# ------------------------------------------------------------------------------- C_CopyObject
@pytest.mark.parametrize(
    "change",
    [
        {Attribute.SENSITIVE: False},
        {Attribute.EXTRACTABLE: True},
        {Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: True},
        {Attribute.CLASS: ObjectClass.DATA},
        {Attribute.KEY_TYPE: KeyType.GENERIC_SECRET},
        {Attribute.VALUE: bytes(32)},
        {Attribute.ALWAYS_SENSITIVE: False},
        {Attribute.NEVER_EXTRACTABLE: False},
        {Attribute.LOCAL: False},
        {Attribute.KEY_GEN_MECHANISM: Mechanism.AES_KEY_GEN},
        {Attribute.WRAP_WITH_TRUSTED: False},
        {Attribute.DESTROYABLE: True},
        {Attribute.ALLOWED_MECHANISMS: [Mechanism.AES_ECB, Mechanism.AES_KEY_WRAP]},
        {Attribute.TRUSTED: True},
        pytest.param(
            {Attribute.UNIQUE_ID: b"0" * 32},
            marks=spec_departure("SoftHSMv2", clause="3.0 4.4: CKA_UNIQUE_ID"),
        ),
    ],
    ids=lambda c: "+".join(hex(k) for k in c),
)
def test_copy_cannot_weaken(t: Token, change: dict[int, Any]) -> None:
    if t.softhsm2 and Attribute.DESTROYABLE in change:
        pytest.skip("DESTROYABLE sticky once FALSE is softhsm-py's choice (docs/conformance.md)")
    key = generated_aes(t, False, WRAP_WITH_TRUSTED=True, ALLOWED_MECHANISMS=[Mechanism.AES_ECB])
    assert copy_rv(t, key, change) in ("ATTRIBUTE_READ_ONLY", "TEMPLATE_INCONSISTENT")


def test_copy_keeps_the_protection(t: Token) -> None:
    key = generated_aes(t)
    new = ffi.new("CK_OBJECT_HANDLE *")
    tpl = Template([(Attribute.LABEL, b"copy")])
    t.ok("C_CopyObject", key, tpl.ptr, len(tpl), new)
    copy = int(new[0])
    assert t.get_rv(copy, Attribute.VALUE) == "ATTRIBUTE_SENSITIVE"
    assert t.get_bool(copy, Attribute.SENSITIVE) is True
    assert t.get_bool(copy, Attribute.EXTRACTABLE) is False
    assert t.get_bool(copy, Attribute.ALWAYS_SENSITIVE) is True
    assert t.get_bool(copy, Attribute.NEVER_EXTRACTABLE) is True


# ------------------------------------------------------------------------------- C_SetAttributeValue
@pytest.mark.parametrize(
    "change",
    [
        {Attribute.VALUE: bytes(32)},
        {Attribute.SENSITIVE: False},
        {Attribute.EXTRACTABLE: True},
        {Attribute.ALWAYS_SENSITIVE: False},
        {Attribute.NEVER_EXTRACTABLE: False},
        {Attribute.LOCAL: False},
        {Attribute.KEY_GEN_MECHANISM: Mechanism.AES_KEY_GEN},
        {Attribute.UNIQUE_ID: b"0" * 32},
        {Attribute.WRAP_WITH_TRUSTED: False},
        {Attribute.TRUSTED: True},
        {Attribute.ALLOWED_MECHANISMS: [Mechanism.AES_ECB, Mechanism.AES_KEY_WRAP]},
        {Attribute.ALWAYS_AUTHENTICATE: True},
        {Attribute.WRAP_TEMPLATE: {}},
        {Attribute.UNWRAP_TEMPLATE: {}},
        {Attribute.DERIVE_TEMPLATE: {}},
        {Attribute.DESTROYABLE: True},
        {Attribute.CLASS: ObjectClass.DATA},
        {Attribute.KEY_TYPE: KeyType.GENERIC_SECRET},
    ],
    ids=lambda c: "+".join(hex(k) for k in c),
)
def test_set_cannot_weaken(t: Token, change: dict[int, Any]) -> None:
    needs_derive_template(t)
    key = generated_aes(
        t,
        False,
        WRAP_WITH_TRUSTED=True,
        ALLOWED_MECHANISMS=[Mechanism.AES_ECB],
        WRAP_TEMPLATE={Attribute.KEY_TYPE: KeyType.AES},
        UNWRAP_TEMPLATE={Attribute.SENSITIVE: True},
        DERIVE_TEMPLATE={Attribute.SENSITIVE: True},
    )
    assert set_rv(t, key, change) in ("ATTRIBUTE_READ_ONLY", "TEMPLATE_INCONSISTENT")


@spec_departure("SoftHSMv2", clause="3.0 4.1.2 (4.1.1 applies): a failed C_SetAttributeValue changes nothing")
def test_set_all_or_nothing_with_a_forbidden_change(t: Token) -> None:
    """A template that makes the key extractable and changes the label is refused as a whole."""
    key = generated_aes(t)
    assert set_rv(t, key, {Attribute.LABEL: b"x", Attribute.EXTRACTABLE: True}) in REFUSED
    assert t.get(key, Attribute.LABEL) == b""
    assert t.get_bool(key, Attribute.EXTRACTABLE) is False


# ------------------------------------------------------------------------------- duplicates
@spec_departure("SoftHSMv2", clause="3.0 4.1.1 item 5: two different values for one attribute")
@pytest.mark.parametrize("order", [(True, False), (False, True)], ids=["true-false", "false-true"])
def test_duplicate_sensitive_on_create(t: Token, order: tuple[bool, bool]) -> None:
    attrs = [
        *secret_template(VALUE=SECRET).items(),
        (Attribute.SENSITIVE, order[0]),
        (Attribute.SENSITIVE, order[1]),
    ]
    assert create_rv(t, attrs) == "TEMPLATE_INCONSISTENT"


@pytest.mark.parametrize("order", [(True, False), (False, True)], ids=["true-false", "false-true"])
def test_duplicate_sensitive_on_set_and_copy(t: Token, order: tuple[bool, bool]) -> None:
    key = aes(t)
    dup = Template([(Attribute.SENSITIVE, order[0]), (Attribute.SENSITIVE, order[1])])
    assert set_rv(t, key, dup) in ("TEMPLATE_INCONSISTENT", "ATTRIBUTE_READ_ONLY")
    assert copy_rv(t, key, dup) in ("TEMPLATE_INCONSISTENT", "ATTRIBUTE_READ_ONLY")
    assert t.get_bool(key, Attribute.SENSITIVE) is True
    assert t.get_rv(key, Attribute.VALUE) == "ATTRIBUTE_SENSITIVE"


@spec_departure("SoftHSMv2", clause="3.0 4.1.1 item 5: two different values for one attribute")
def test_duplicate_in_nested_template(t: Token) -> None:
    inner = Template([(Attribute.SENSITIVE, True), (Attribute.SENSITIVE, False)])
    outer = Template(list(secret_template(VALUE=bytes(16)).items()))
    tpl = ffi.new("CK_ATTRIBUTE[]", len(outer) + 1)
    for i in range(len(outer)):
        tpl[i] = outer.array[i]
    tpl[len(outer)].type = Attribute.UNWRAP_TEMPLATE
    tpl[len(outer)].pValue = inner.array
    tpl[len(outer)].ulValueLen = len(inner) * ffi.sizeof("CK_ATTRIBUTE")
    out = ffi.new("CK_OBJECT_HANDLE *")
    assert t.rv("C_CreateObject", tpl, len(outer) + 1, out) == "TEMPLATE_INCONSISTENT"


# ------------------------------------------------------------------------------- C_GetAttributeValue
def _rsa_private(t: Token, **extra: Any) -> int:
    return import_rsa(t, rsa_key(2048), **extra)[1]


PRIVATE_PARTS = [
    Attribute.PRIVATE_EXPONENT,
    Attribute.PRIME_1,
    Attribute.PRIME_2,
    Attribute.EXPONENT_1,
    Attribute.EXPONENT_2,
    Attribute.COEFFICIENT,
]


@pytest.mark.parametrize("flags", [{"SENSITIVE": True}, {"SENSITIVE": False, "EXTRACTABLE": False}])
def test_rsa_private_parts_hidden(t: Token, flags: dict[str, bool]) -> None:
    priv = _rsa_private(t, **flags)
    for part in PRIVATE_PARTS:
        assert t.get_rv(priv, part) == "ATTRIBUTE_SENSITIVE", hex(part)
    q = Query([Attribute.MODULUS, *PRIVATE_PARTS, Attribute.LABEL], 1024)
    rv = rv_name(t.m.rv("C_GetAttributeValue", t.h, priv, q.array, len(q.types)))
    assert rv == "ATTRIBUTE_SENSITIVE"
    assert q.value(0)  # the modulus is public
    for i in range(1, 1 + len(PRIVATE_PARTS)):
        assert q.length(i) == UNAVAILABLE_INFORMATION
        assert q.value(i) is None


@pytest.mark.parametrize("flags", [{"SENSITIVE": True}, {"SENSITIVE": False, "EXTRACTABLE": False}])
def test_ec_and_secret_value_hidden(t: Token, flags: dict[str, bool]) -> None:
    _, priv = import_ec(t, ec_key(P256), P256, **flags)
    assert t.get_rv(priv, Attribute.VALUE) == "ATTRIBUTE_SENSITIVE"
    key = t.secret(SECRET, KeyType.AES, **flags)
    assert t.get_rv(key, Attribute.VALUE) == "ATTRIBUTE_SENSITIVE"


def test_find_cannot_probe_a_hidden_value(t: Token) -> None:
    """softhsm-py's choice: a value C_GetAttributeValue would not reveal never matches in a search
    (SoftHSMv2 matches it, which lets a caller confirm a guessed key value)."""
    if t.softhsm2:
        pytest.skip("softhsm-py's choice, not the specification's (SoftHSMv2 matches it)")
    key = aes(t)
    assert key not in find(t, t.h, {Attribute.VALUE: SECRET})
    _, priv = import_ec(t, ec_key(P256), P256)
    value = ec_key(P256).private_numbers().private_value.to_bytes(32, "big")
    assert priv not in find(t, t.h, {Attribute.VALUE: value})


# ------------------------------------------------------------------------------- C_WrapKey
def test_wrap_unextractable_private_key(t: Token) -> None:
    t.require(Mechanism.AES_KEY_WRAP_KWP)
    kek = t.secret(bytes(32), KeyType.AES)
    _, priv = import_ec(t, ec_key(P256), P256, EXTRACTABLE=False)
    assert t.wrap_rv(Mech(Mechanism.AES_KEY_WRAP_KWP), kek, priv) == "KEY_UNEXTRACTABLE"
    generated = generated_aes(t)
    assert t.wrap_rv(Mech(Mechanism.AES_KEY_WRAP), kek, generated) == "KEY_UNEXTRACTABLE"


def test_wrap_unextractable_key_with_itself(t: Token) -> None:
    key = aes(t)
    assert t.wrap_rv(Mech(Mechanism.AES_KEY_WRAP), key, key) == "KEY_UNEXTRACTABLE"


def test_wrap_with_a_key_lacking_wrap(t: Token) -> None:
    kek = t.secret(bytes(32), KeyType.AES, WRAP=False)
    key = t.secret(SECRET, KeyType.AES, SENSITIVE=True)
    assert t.wrap_rv(Mech(Mechanism.AES_KEY_WRAP), kek, key) == "KEY_FUNCTION_NOT_PERMITTED"
    # Nor with a private key (no CKA_WRAP at all) or a data object.
    _, priv = import_rsa(t, rsa_key(2048))
    rv = t.wrap_rv(Mech(Mechanism.RSA_PKCS), priv, key)
    assert rv in ("KEY_FUNCTION_NOT_PERMITTED", "WRAPPING_KEY_TYPE_INCONSISTENT")


def test_wrap_with_trusted_refuses_a_user_made_trusted_key(t: Token) -> None:
    """The user can make no key CKA_TRUSTED: not by create, generate, copy, set or unwrap."""
    rv = create_rv(t, list(secret_template(VALUE=bytes(16), TRUSTED=True).items()))
    assert rv in REFUSED
    out = ffi.new("CK_OBJECT_HANDLE *")
    tpl = Template(
        [
            (Attribute.CLASS, ObjectClass.SECRET_KEY),
            (Attribute.TOKEN, False),
            (Attribute.VALUE_LEN, 16),
            (Attribute.TRUSTED, True),
        ]
    )
    gen = Mech(Mechanism.AES_KEY_GEN)
    assert t.rv("C_GenerateKey", gen.ptr, tpl.ptr, len(tpl), out) in REFUSED
    kek = t.secret(bytes(16), KeyType.AES)
    assert copy_rv(t, kek, {Attribute.TRUSTED: True}) in REFUSED
    assert set_rv(t, kek, {Attribute.TRUSTED: True}) in REFUSED
    wrapped = aes_key_wrap(bytes(16), SECRET)
    kw = Mech(Mechanism.AES_KEY_WRAP)
    assert t.unwrap_rv(kw, kek, wrapped, secret_template(TRUSTED=True)) in REFUSED
    sneaky = t.secret(bytes(16), KeyType.AES, UNWRAP_TEMPLATE={Attribute.TRUSTED: True})
    assert t.unwrap_rv(kw, sneaky, wrapped, secret_template()) in REFUSED
    t.require(Mechanism.HKDF_DERIVE)
    needs_derive_template(t)
    base = t.secret(bytes(32), KeyType.GENERIC_SECRET, DERIVE_TEMPLATE={Attribute.TRUSTED: True})
    out_t = {
        Attribute.CLASS: ObjectClass.SECRET_KEY,
        Attribute.KEY_TYPE: KeyType.AES,
        Attribute.TOKEN: False,
        Attribute.VALUE_LEN: 16,
    }
    assert t.derive_rv(hkdf(), base, out_t) in REFUSED
    target = t.secret(SECRET, KeyType.AES, WRAP_WITH_TRUSTED=True)
    assert t.wrap_rv(Mech(Mechanism.AES_KEY_WRAP), kek, target) == "KEY_NOT_WRAPPABLE"


def test_trusted_copy_made_by_the_so_keeps_its_value(t: Token) -> None:
    """A user copy of an SO's trusted wrapping key is still that key: no way to put another value
    under CKA_TRUSTED."""
    as_so(t)
    kek = t.create(secret_template(VALUE=bytes(16), PRIVATE=False, WRAP=True, TRUSTED=True))
    as_user(t)
    assert copy_rv(t, kek, {Attribute.VALUE: b"\x01" * 16}) in REFUSED
    assert copy_rv(t, kek, {Attribute.WRAP_TEMPLATE: {}}) in REFUSED


# ------------------------------------------------------------------------------- C_UnwrapKey
def test_unwrap_of_a_sensitive_key_as_non_sensitive_has_no_history(t: Token) -> None:
    """3.0 4.9 / 4.10: allowed because the key was extractable, but the new key must not claim
    ALWAYS_SENSITIVE / NEVER_EXTRACTABLE, nor LOCAL."""
    kek = t.secret(bytes(16), KeyType.AES)
    key = t.generate_key(
        Mechanism.AES_KEY_GEN,
        {
            Attribute.TOKEN: False,
            Attribute.VALUE_LEN: 32,
            Attribute.SENSITIVE: True,
            Attribute.EXTRACTABLE: True,
        },
    )
    assert t.get_bool(key, Attribute.ALWAYS_SENSITIVE) is True
    wrapped = t.wrap(Mech(Mechanism.AES_KEY_WRAP), kek, key)
    back = t.unwrap(
        Mech(Mechanism.AES_KEY_WRAP), kek, wrapped, secret_template(SENSITIVE=False, EXTRACTABLE=True)
    )
    assert t.get_bool(back, Attribute.ALWAYS_SENSITIVE) is False
    assert t.get_bool(back, Attribute.NEVER_EXTRACTABLE) is False
    assert t.get_bool(back, Attribute.LOCAL) is False
    again = t.unwrap(
        Mech(Mechanism.AES_KEY_WRAP), kek, wrapped, secret_template(SENSITIVE=True, EXTRACTABLE=False)
    )
    assert t.get_bool(again, Attribute.ALWAYS_SENSITIVE) is False
    assert t.get_bool(again, Attribute.NEVER_EXTRACTABLE) is False


@pytest.mark.parametrize("attr", [Attribute.ALWAYS_SENSITIVE, Attribute.NEVER_EXTRACTABLE, Attribute.LOCAL])
def test_unwrap_cannot_claim_history(t: Token, attr: int) -> None:
    kek = t.secret(bytes(16), KeyType.AES)
    wrapped = aes_key_wrap(bytes(16), SECRET)
    kw = Mech(Mechanism.AES_KEY_WRAP)
    assert t.unwrap_rv(kw, kek, wrapped, {**secret_template(), attr: True}) in REFUSED
    via_template = t.secret(bytes(16), KeyType.AES, UNWRAP_TEMPLATE={attr: True})
    assert t.unwrap_rv(kw, via_template, wrapped, secret_template()) in REFUSED
    rv = create_rv(t, [*secret_template(VALUE=SECRET).items(), (attr, True)])
    assert rv in REFUSED


# ------------------------------------------------------------------------------- C_DeriveKey
OUT = {
    Attribute.CLASS: ObjectClass.SECRET_KEY,
    Attribute.KEY_TYPE: KeyType.AES,
    Attribute.TOKEN: False,
    Attribute.VALUE_LEN: 32,
}
GENERIC_GEN = {
    Attribute.KEY_TYPE: KeyType.GENERIC_SECRET,
    Attribute.TOKEN: False,
    Attribute.VALUE_LEN: 32,
    Attribute.DERIVE: True,
    Attribute.SENSITIVE: True,
    Attribute.EXTRACTABLE: False,
}


def test_derive_history_follows_the_base(t: Token) -> None:
    t.require(Mechanism.HKDF_DERIVE)
    base = t.generate_key(Mechanism.GENERIC_SECRET_KEY_GEN, GENERIC_GEN)
    strong = t.derive(hkdf(), base, {**OUT, Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False})
    assert t.get_bool(strong, Attribute.ALWAYS_SENSITIVE) is True
    assert t.get_bool(strong, Attribute.NEVER_EXTRACTABLE) is True
    weak = t.derive(hkdf(), base, {**OUT, Attribute.SENSITIVE: False, Attribute.EXTRACTABLE: True})
    assert t.get_bool(weak, Attribute.ALWAYS_SENSITIVE) is False
    assert t.get_bool(weak, Attribute.NEVER_EXTRACTABLE) is False
    imported = t.secret(bytes(32), KeyType.GENERIC_SECRET, SENSITIVE=True, EXTRACTABLE=False)
    child = t.derive(hkdf(), imported, {**OUT, Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False})
    assert t.get_bool(child, Attribute.ALWAYS_SENSITIVE) is False
    assert t.get_bool(child, Attribute.NEVER_EXTRACTABLE) is False


@pytest.mark.parametrize(
    "attr", [Attribute.ALWAYS_SENSITIVE, Attribute.NEVER_EXTRACTABLE, Attribute.LOCAL, Attribute.VALUE]
)
def test_derive_cannot_set_token_attributes(t: Token, attr: int) -> None:
    t.require(Mechanism.HKDF_DERIVE)
    base = t.secret(bytes(32), KeyType.GENERIC_SECRET)
    value: Any = bytes(32) if attr == Attribute.VALUE else True
    assert t.derive_rv(hkdf(), base, {**OUT, attr: value}) in REFUSED


def test_derive_template_cannot_be_escaped(t: Token) -> None:
    t.require(Mechanism.HKDF_DERIVE, Mechanism.HKDF_DATA)
    needs_derive_template(t)
    required = {Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False}
    base = t.secret(bytes(32), KeyType.GENERIC_SECRET, DERIVE_TEMPLATE=required)
    assert t.derive_rv(hkdf(), base, {**OUT, Attribute.SENSITIVE: False}) == "TEMPLATE_INCONSISTENT"
    key = t.derive(hkdf(), base, OUT)
    assert t.get_rv(key, Attribute.VALUE) == "ATTRIBUTE_SENSITIVE"
    # HKDF_DATA makes a data object, which has no CKA_SENSITIVE: the template forbids it.
    data = {Attribute.CLASS: ObjectClass.DATA, Attribute.TOKEN: False, Attribute.VALUE_LEN: 32}
    assert t.derive_rv(hkdf(Mechanism.HKDF_DATA), base, data) in (
        "TEMPLATE_INCONSISTENT",
        "ATTRIBUTE_TYPE_INVALID",
    )


def test_derive_needs_derive(t: Token) -> None:
    t.require(Mechanism.HKDF_DERIVE)
    base = t.secret(bytes(32), KeyType.GENERIC_SECRET, DERIVE=False)
    assert t.derive_rv(hkdf(), base, OUT) == "KEY_FUNCTION_NOT_PERMITTED"
    limited = t.secret(bytes(32), KeyType.GENERIC_SECRET, ALLOWED_MECHANISMS=[Mechanism.SHA256_HMAC])
    assert t.derive_rv(hkdf(), limited, OUT) == "MECHANISM_INVALID"


def test_hkdf_salt_key_is_checked_like_a_key(t: Token) -> None:
    """The salt key of CKF_HKDF_SALT_KEY is a key used by the mechanism: its
    CKA_ALLOWED_MECHANISMS applies, and it must be one of the session's objects."""
    t.require(Mechanism.HKDF_DERIVE)
    base = t.secret(bytes(32), KeyType.GENERIC_SECRET)
    limited = t.secret(SECRET, KeyType.GENERIC_SECRET, ALLOWED_MECHANISMS=[Mechanism.SHA256_HMAC])
    assert t.derive_rv(hkdf(salt_key=limited), base, OUT) in ("MECHANISM_INVALID", "MECHANISM_PARAM_INVALID")


def test_hkdf_salt_key_needs_derive(t: Token) -> None:
    """Broke before: the salt key of CKF_HKDF_SALT_KEY was used whatever its CKA_DERIVE, so an
    extract-only HKDF from a known base was an HMAC oracle under a key that may neither sign nor
    derive (PRK = HMAC(salt key, known base), read back as a non-sensitive key). The salt key is
    keying material of the derivation: it needs CKA_DERIVE, as the base key does (kryoptic checks
    both with the same function), and must be a generic secret or HKDF key."""
    t.require(Mechanism.HKDF_DERIVE)
    victim = t.secret(
        SECRET, KeyType.GENERIC_SECRET, SENSITIVE=True, EXTRACTABLE=False, DERIVE=False, SIGN=False
    )
    known = t.secret(b"known input", KeyType.GENERIC_SECRET)
    out = {
        Attribute.CLASS: ObjectClass.SECRET_KEY,
        Attribute.KEY_TYPE: KeyType.GENERIC_SECRET,
        Attribute.TOKEN: False,
        Attribute.SENSITIVE: False,
        Attribute.EXTRACTABLE: True,
    }
    assert t.derive_rv(hkdf(salt_key=victim, expand=False), known, out) == "KEY_FUNCTION_NOT_PERMITTED"
    aes_salt = t.secret(bytes(32), KeyType.AES, DERIVE=True)
    rv = t.derive_rv(hkdf(salt_key=aes_salt, expand=False), known, out)
    assert rv in ("KEY_TYPE_INCONSISTENT", "MECHANISM_PARAM_INVALID")
    # A salt key that may derive still works.
    salt = t.secret(SECRET, KeyType.GENERIC_SECRET, DERIVE=True)
    key = t.derive(hkdf(salt_key=salt, expand=False), known, out)
    assert t.get(key, Attribute.VALUE) == hmac.new(SECRET, b"known input", hashlib.sha256).digest()


# ------------------------------------------------------------------------------- usage attributes
def _one(t: Token, init: str, mechanism: Mech | int, key: int) -> str:
    mm = Mech(mechanism) if isinstance(mechanism, int) else mechanism
    return t.rv(init, mm.ptr, key)


@pytest.mark.parametrize(
    ("init", "mechanism", "flag"),
    [
        ("C_EncryptInit", Mechanism.AES_ECB, "ENCRYPT"),
        ("C_DecryptInit", Mechanism.AES_ECB, "DECRYPT"),
        ("C_SignInit", Mechanism.AES_CMAC, "SIGN"),
        ("C_SignInit", Mechanism.AES_MAC, "SIGN"),
        ("C_VerifyInit", Mechanism.AES_CMAC, "VERIFY"),
    ],
)
def test_usage_flags(t: Token, init: str, mechanism: int, flag: str) -> None:
    if t.softhsm2 and mechanism == Mechanism.AES_MAC:
        pytest.skip("SoftHSMv2 has no CKM_AES_MAC")
    key = aes(t, **{flag: False})
    assert _one(t, init, mechanism, key) == "KEY_FUNCTION_NOT_PERMITTED"


def test_sign_false_through_general_macs(t: Token) -> None:
    key = t.secret(SECRET, KeyType.GENERIC_SECRET, SIGN=False)
    for m in (Mechanism.SHA256_HMAC, Mechanism.SHA_1_HMAC, Mechanism.SHA512_HMAC):
        assert _one(t, "C_SignInit", m, key) == "KEY_FUNCTION_NOT_PERMITTED"
    general = mac_general(Mechanism.SHA256_HMAC_GENERAL, 16)
    assert _one(t, "C_SignInit", general, key) == "KEY_FUNCTION_NOT_PERMITTED"
    aes_key = aes(t, SIGN=False)
    cmac = mac_general(Mechanism.AES_CMAC_GENERAL, 8)
    assert _one(t, "C_SignInit", cmac, aes_key) == "KEY_FUNCTION_NOT_PERMITTED"


def test_sign_recover_needs_sign_recover(t: Token) -> None:
    if t.softhsm2:
        pytest.skip("SoftHSMv2 2.6.1 has no C_SignRecover")
    _, priv = import_rsa(t, rsa_key(2048), SIGN_RECOVER=False)
    assert _one(t, "C_SignRecoverInit", Mechanism.RSA_X_509, priv) == "KEY_FUNCTION_NOT_PERMITTED"


def test_allowed_mechanisms(t: Token) -> None:
    key = aes(t, ALLOWED_MECHANISMS=[Mechanism.AES_GCM])
    assert _one(t, "C_EncryptInit", Mechanism.AES_ECB, key) == "MECHANISM_INVALID"
    assert _one(t, "C_SignInit", Mechanism.AES_CMAC, key) == "MECHANISM_INVALID"
    wrapped = aes_key_wrap(SECRET, bytes(16))
    assert t.unwrap_rv(Mech(Mechanism.AES_KEY_WRAP), key, wrapped, secret_template()) == "MECHANISM_INVALID"
    other = t.secret(bytes(16), KeyType.AES)
    assert t.wrap_rv(Mech(Mechanism.AES_KEY_WRAP), key, other) == "MECHANISM_INVALID"


# ------------------------------------------------------------------------------- destroyable
def test_non_destroyable(t: Token) -> None:
    key = generated_aes(t, False)
    assert t.rv("C_DestroyObject", key) == "ACTION_PROHIBITED"
    assert set_rv(t, key, {Attribute.DESTROYABLE: True}) in REFUSED
    out = ffi.new("CK_OBJECT_HANDLE *")
    tpl = Template([])
    t.ok("C_CopyObject", key, tpl.ptr, 0, out)
    assert t.rv("C_DestroyObject", int(out[0])) == "ACTION_PROHIBITED"


# ------------------------------------------------------------------------------- private objects
def test_private_objects_invisible_without_login(t: Token) -> None:
    token_key = t.create({**secret_template(VALUE=SECRET, TOKEN=True, PRIVATE=True, LABEL=b"p")})
    session_key = t.create({**secret_template(VALUE=SECRET, PRIVATE=True, LABEL=b"p")})
    public = t.create({**secret_template(VALUE=bytes(16), PRIVATE=False, LABEL=b"p", SENSITIVE=False)})
    assert set(find(t, t.h, {Attribute.LABEL: b"p"})) == {token_key, session_key, public}
    t.ok("C_Logout")
    other = t.m.open(t.slot, rw=False)
    for h in (t.h, other):
        assert find(t, h, {Attribute.LABEL: b"p"}) == [public]
        assert find(t, h, {}) == [public]
        for handle in (token_key, session_key):
            rv = rv_name(t.m.rv("C_GetAttributeValue", h, handle, Query([Attribute.CLASS]).array, 1))
            assert rv == "OBJECT_HANDLE_INVALID"
            mm = Mech(Mechanism.AES_ECB)
            rv = rv_name(t.m.rv("C_EncryptInit", h, mm.ptr, handle))
            assert rv in ("KEY_HANDLE_INVALID", "OBJECT_HANDLE_INVALID")
        size = ffi.new("CK_ULONG *")
        assert rv_name(t.m.rv("C_GetObjectSize", h, token_key, size)) == "OBJECT_HANDLE_INVALID"
    # A public object cannot be used to reach a private one through HKDF's salt key either.
    if Mechanism.HKDF_DERIVE in t.mechanisms():
        public_base = secret_template(
            KEY_TYPE=KeyType.GENERIC_SECRET, VALUE=bytes(32), PRIVATE=False, DERIVE=True
        )
        base = t.create(public_base)
        rv = t.derive_rv(hkdf(salt_key=token_key), base, OUT)
        assert rv in ("KEY_HANDLE_INVALID", "OBJECT_HANDLE_INVALID", "MECHANISM_PARAM_INVALID")


def test_private_object_handle_of_another_session_after_relogin(t: Token) -> None:
    """3.0 5.6 C_Logout: handles to private objects stay invalid even after a new login."""
    key = t.create(secret_template(VALUE=SECRET, TOKEN=True, PRIVATE=True))
    as_user(t)
    assert t.get_rv(key, Attribute.CLASS) == "OBJECT_HANDLE_INVALID"


# ------------------------------------------------------------------------------- so
def test_so_cannot_read_or_make_private_keys(t: Token) -> None:
    key = t.create(secret_template(VALUE=SECRET, TOKEN=True, PRIVATE=True, LABEL=b"k"))
    as_so(t)
    assert find(t, t.h, {Attribute.LABEL: b"k"}) == []
    assert t.get_rv(key, Attribute.CLASS) == "OBJECT_HANDLE_INVALID"
    out = ffi.new("CK_OBJECT_HANDLE *")
    tpl = Template(list(secret_template(VALUE=SECRET, PRIVATE=True).items()))
    assert t.rv("C_CreateObject", tpl.ptr, len(tpl), out) == "USER_NOT_LOGGED_IN"


# ------------------------------------------------------------------------------- C_DigestKey
def test_digest_key_of_a_sensitive_key_is_allowed(t: Token) -> None:
    """3.0 5.11: C_DigestKey digests a secret key's value whatever its CKA_SENSITIVE (spec)."""
    key = aes(t)
    mm = Mech(Mechanism.SHA256)
    t.ok("C_DigestInit", mm.ptr)
    t.ok("C_DigestKey", key)
    n = ffi.new("CK_ULONG *", 64)
    buf = ffi.new("CK_BYTE[]", 64)
    t.ok("C_DigestFinal", buf, n)
    assert int(n[0]) == 32
