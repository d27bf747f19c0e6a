"""C_CreateObject (PKCS#11 3.0, 5.7) and the template rules of 4.1.1: every class softhsm-py
stores, key material imported from pyca/cryptography, and the error codes for bad templates."""

from __future__ import annotations

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
    UserType,
)
from support.keys import certificate, ec_templates, off_curve_point, rsa_key, rsa_templates
from support.objects import create, create_rv, data_template, get, get1, secret_template, user_ctx
from support.pkcs11 import SO_PIN, Module, ffi, spec_departure
from support.templates import Template


# ------------------------------------------------------------------------------- classes
def test_create_data_object(module: Module) -> None:
    c = user_ctx(module)
    obj = create(module, c.h, data_template("d1", b"\x00\x01payload", token=True, private=False))
    values = get(
        module,
        c.h,
        obj,
        [
            Attribute.CLASS,
            Attribute.LABEL,
            Attribute.VALUE,
            Attribute.APPLICATION,
            Attribute.TOKEN,
            Attribute.PRIVATE,
        ],
    )
    assert values == {
        Attribute.CLASS: ObjectClass.DATA, Attribute.LABEL: b"d1", Attribute.VALUE: b"\x00\x01payload",
        Attribute.APPLICATION: b"softhsm-py tests", Attribute.TOKEN: True, Attribute.PRIVATE: False,
    }  # fmt: skip


def test_create_empty_data_object(module: Module) -> None:
    """CKA_CLASS alone is a complete data object (4.5: every other attribute has a default)."""
    c = user_ctx(module)
    obj = create(module, c.h, {Attribute.CLASS: ObjectClass.DATA})
    assert get(module, c.h, obj, [Attribute.VALUE, Attribute.LABEL]) == {
        Attribute.VALUE: b"",
        Attribute.LABEL: b"",
    }


def test_create_certificate(module: Module) -> None:
    c = user_ctx(module)
    template = {**certificate(), Attribute.TOKEN: True, Attribute.ID: b"\x01", Attribute.LABEL: "cert"}
    obj = create(module, c.h, template)
    got = get(module, c.h, obj, [*template, Attribute.TRUSTED, Attribute.PRIVATE])
    for kind, value in template.items():
        expected = value.encode() if isinstance(value, str) else value
        assert got[kind] == expected, hex(kind)
    assert got[Attribute.TRUSTED] is False


def test_certificate_trusted_by_so_only(module: Module) -> None:
    """CKA_TRUSTED: "can only be set to CK_TRUE by the SO user" (4.6.2, footnote 10)."""
    slot = module.ready_token()
    user = module.open(slot)
    module.login(user)
    rv, _ = create_rv(module, user, {**certificate(), Attribute.TRUSTED: True})
    assert rv == "ATTRIBUTE_READ_ONLY"
    assert create_rv(module, user, {**certificate(), Attribute.TRUSTED: False})[0] == "OK"
    module.check("C_Logout", user)
    so = module.open(slot)
    module.login(so, UserType.SO, SO_PIN)
    obj = create(module, so, {**certificate(), Attribute.TOKEN: True, Attribute.TRUSTED: True})
    assert get1(module, so, obj, Attribute.TRUSTED) is True


@pytest.mark.parametrize("bits", [1024, 2048, 3072])
def test_import_rsa(module: Module, bits: int) -> None:
    """Java's keytool: all CRT parts, no CKA_SENSITIVE in the template (CLIENTS.md)."""
    c = user_ctx(module)
    public, private = rsa_templates(bits)
    pub = create(module, c.h, {**public, Attribute.TOKEN: True, Attribute.ID: b"rsa"})
    priv = create(module, c.h, {**private, Attribute.TOKEN: True, Attribute.ID: b"rsa"})
    assert get1(module, c.h, pub, Attribute.MODULUS) == public[Attribute.MODULUS]
    assert get1(module, c.h, priv, Attribute.MODULUS) == private[Attribute.MODULUS]
    assert get1(module, c.h, pub, 0x121) == bits  # CKA_MODULUS_BITS, computed by the token


def test_import_rsa_without_crt_parts(module: Module) -> None:
    """Only n, e (optional) and d are required [1]: the CRT parts are [4,6] without [1]."""
    c = user_ctx(module)
    _, private = rsa_templates()
    minimal = {
        k: private[k]
        for k in (Attribute.CLASS, Attribute.KEY_TYPE, Attribute.MODULUS, 0x122, Attribute.PRIVATE_EXPONENT)
    }
    create(module, c.h, minimal)


@spec_departure("SoftHSMv2", clause="3.0 4.1.1 item 2: RSA parts that make no key are invalid values")
def test_import_rsa_inconsistent_is_value_invalid(module: Module) -> None:
    """p*q != n: not a key (4.1.1 "invalid value for a valid attribute")."""
    c = user_ctx(module)
    _, private = rsa_templates()
    other = rsa_key(2048, 1).private_numbers()
    bad = {**private, Attribute.PRIME_1: other.p.to_bytes((other.p.bit_length() + 7) // 8, "big")}
    assert create_rv(module, c.h, bad)[0] == "ATTRIBUTE_VALUE_INVALID"


CURVES = ["P-256", "P-384", "P-521", "secp256k1", "Ed25519", "Ed448", "X25519", "X448"]
_MONTGOMERY = spec_departure("SoftHSMv2", clause="3.0 6.3.7-8: CKK_EC_MONTGOMERY objects")


def _curve_param(curve: str, params: str = "oid") -> Any:
    marks = []
    if curve.startswith("X"):
        marks.append(_MONTGOMERY)
    return pytest.param(curve, params, marks=marks, id=f"{curve}-{params}")


@pytest.mark.parametrize(
    ("curve", "params"),
    [_curve_param(c) for c in CURVES]
    + [_curve_param(c, "printable") for c in ("Ed25519", "Ed448", "X25519", "X448")],
)
def test_import_ec_family(module: Module, curve: str, params: str) -> None:
    c = user_ctx(module)
    public, private = ec_templates(curve, params)
    pub = create(module, c.h, {**public, Attribute.TOKEN: True, Attribute.ID: b"k"})
    priv = create(module, c.h, {**private, Attribute.TOKEN: True, Attribute.ID: b"k"})
    assert get1(module, c.h, pub, Attribute.EC_POINT) == public[Attribute.EC_POINT]
    got = get(module, c.h, priv, [Attribute.KEY_TYPE, Attribute.ID])
    assert got == {Attribute.KEY_TYPE: private[Attribute.KEY_TYPE], Attribute.ID: b"k"}


@spec_departure("SoftHSMv2", clause="3.0 4.1.1: an off-curve EC point is an invalid value")
def test_import_ec_point_off_curve(module: Module) -> None:
    c = user_ctx(module)
    public, _ = ec_templates("P-256")
    assert (
        create_rv(module, c.h, {**public, Attribute.EC_POINT: off_curve_point()})[0]
        == "ATTRIBUTE_VALUE_INVALID"
    )


@pytest.mark.parametrize("key_type", [KeyType.AES, KeyType.GENERIC_SECRET])
def test_import_secret(module: Module, key_type: int) -> None:
    c = user_ctx(module)
    value = bytes(range(32))
    obj = create(module, c.h, secret_template(key_type, value, sensitive=False, extractable=True))
    assert get(module, c.h, obj, [Attribute.VALUE, Attribute.VALUE_LEN]) == {
        Attribute.VALUE: value,
        Attribute.VALUE_LEN: 32,
    }


@spec_departure("SoftHSMv2", clause="3.0 6.8.2: an AES key is 16, 24 or 32 bytes")
def test_import_aes_bad_length(module: Module) -> None:
    c = user_ctx(module)
    assert create_rv(module, c.h, secret_template(KeyType.AES, b"x" * 15))[0] == "ATTRIBUTE_VALUE_INVALID"


# ------------------------------------------------------------------------------- defaults hosts rely on
def test_private_key_defaults(module: Module) -> None:
    """Java sends an empty private-key template and expects a usable key (CLIENTS.md). The
    usage defaults are token-specific (footnote 9)."""
    c = user_ctx(module)
    _, private = ec_templates("P-256")
    obj = create(module, c.h, private)
    got = get(module, c.h, obj, [Attribute.SIGN, Attribute.DECRYPT, Attribute.UNWRAP, Attribute.PRIVATE])
    assert got == {
        Attribute.SIGN: True,
        Attribute.DECRYPT: True,
        Attribute.UNWRAP: True,
        Attribute.PRIVATE: True,
    }


def test_private_key_derive_default(module: Module) -> None:
    """CKA_DERIVE defaults CK_FALSE (3.0, 4.7), on SoftHSMv2 too. (softhsm-py defaulted it TRUE
    before: a key made with a minimal template could derive what its owner never asked for.)"""
    c = user_ctx(module)
    _, private = ec_templates("P-256")
    assert get1(module, c.h, create(module, c.h, private), Attribute.DERIVE) is False


def test_public_key_defaults(module: Module) -> None:
    """ssh-keygen -D lists public keys without logging in: CKA_PRIVATE defaults to FALSE."""
    c = user_ctx(module)
    public, _ = ec_templates("P-256")
    obj = create(module, c.h, {**public, Attribute.TOKEN: True})
    assert get(module, c.h, obj, [Attribute.PRIVATE, Attribute.VERIFY, Attribute.ENCRYPT]) == {
        Attribute.PRIVATE: False, Attribute.VERIFY: True, Attribute.ENCRYPT: True}  # fmt: skip


def test_token_set_attributes_on_import(module: Module) -> None:
    """4.7: CKA_LOCAL is FALSE for a key that was not generated on the token."""
    c = user_ctx(module)
    obj = create(module, c.h, secret_template())
    assert get1(module, c.h, obj, Attribute.LOCAL) is False


# ------------------------------------------------------------------------------- template rules
def test_incomplete_without_class(module: Module) -> None:
    c = user_ctx(module)
    assert create_rv(module, c.h, {Attribute.LABEL: "no class"})[0] == "TEMPLATE_INCOMPLETE"


@pytest.mark.parametrize(
    "drop",
    [Attribute.KEY_TYPE, Attribute.VALUE],
    ids=["no-key-type", "no-value"],
)
def test_incomplete_secret_key(module: Module, drop: int) -> None:
    c = user_ctx(module)
    template = secret_template()
    del template[drop]
    assert create_rv(module, c.h, template)[0] == "TEMPLATE_INCOMPLETE"


def test_incomplete_rsa_private_without_modulus(module: Module) -> None:
    c = user_ctx(module)
    _, private = rsa_templates()
    del private[Attribute.MODULUS]
    assert create_rv(module, c.h, private)[0] == "TEMPLATE_INCOMPLETE"


def test_incomplete_certificate_without_value(module: Module) -> None:
    c = user_ctx(module)
    template = dict(certificate())
    del template[Attribute.VALUE]
    assert create_rv(module, c.h, template)[0] == "TEMPLATE_INCOMPLETE"


@spec_departure("SoftHSMv2", clause="3.0 4.1.1 item 5: two different values for one attribute")
def test_inconsistent_duplicate_attribute(module: Module) -> None:
    """4.1.1: "a template which specifies two different values for the same attribute"."""
    c = user_ctx(module)
    items = [(Attribute.CLASS, ObjectClass.DATA), (Attribute.TOKEN, False), (Attribute.TOKEN, True)]
    assert create_rv(module, c.h, items)[0] == "TEMPLATE_INCONSISTENT"


@spec_departure("SoftHSMv2", clause="3.0 4.1.1 item 5: a key attribute of another class is inconsistent")
def test_inconsistent_attribute_of_another_class(module: Module) -> None:
    """4.1.1 names this case: "trying to create a secret key object with an attribute which is
    appropriate for various types of public keys or private keys, but not for secret keys"."""
    c = user_ctx(module)
    rv, _ = create_rv(module, c.h, {**secret_template(), Attribute.MODULUS: b"\x01\x00\x01"})
    assert rv == "TEMPLATE_INCONSISTENT"


@pytest.mark.parametrize("kind", [Attribute32.PUBLIC_CRC64_VALUE, 0x80001234], ids=["3.2-crc64", "vendor"])
def test_unknown_attribute_type(module: Module, kind: int) -> None:
    c = user_ctx(module)
    assert create_rv(module, c.h, {**data_template(), kind: b"\x01"})[0] == "ATTRIBUTE_TYPE_INVALID"


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        (Attribute.TOKEN, b"\x01\x00"),
        pytest.param(Attribute.CLASS, b"\x00", marks=spec_departure("SoftHSMv2", clause="3.0 4.1.1 item 2")),
        (Attribute.CLASS, 0x7FFF),
        (Attribute.KEY_TYPE, 0x7FFF),
    ],
    ids=["bool-2-bytes", "ulong-1-byte", "unknown-class", "unknown-key-type"],
)
def test_invalid_values(module: Module, kind: int, value: Any) -> None:
    c = user_ctx(module)
    template = {**secret_template(), kind: value}
    assert create_rv(module, c.h, template)[0] == "ATTRIBUTE_VALUE_INVALID"


_UNIQUE_ID = spec_departure("SoftHSMv2", clause="3.0 4.4: CKA_UNIQUE_ID [2,4,6]")


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        (Attribute.LOCAL, True),
        (Attribute.KEY_GEN_MECHANISM, 0x1080),
        (Attribute.ALWAYS_SENSITIVE, True),
        (Attribute.NEVER_EXTRACTABLE, True),
        pytest.param(Attribute.UNIQUE_ID, b"42", marks=_UNIQUE_ID),
    ],
    ids=["local", "key-gen-mechanism", "always-sensitive", "never-extractable", "unique-id"],
)
def test_token_set_attributes_are_read_only(module: Module, kind: int, value: Any) -> None:
    """Footnote [2]: "must not be specified when the object is created with C_CreateObject"."""
    c = user_ctx(module)
    assert create_rv(module, c.h, {**secret_template(), kind: value})[0] == "ATTRIBUTE_READ_ONLY"


def test_value_len_on_create_is_read_only(module: Module) -> None:
    c = user_ctx(module)
    assert create_rv(module, c.h, {**secret_template(), Attribute.VALUE_LEN: 16})[0] == "ATTRIBUTE_READ_ONLY"


def test_nss_trust_object_refused(module: Module) -> None:
    """NSS creates CKO_NSS_TRUST objects with its vendor attributes; refusing the class cleanly
    (CKR_ATTRIBUTE_VALUE_INVALID) makes NSS keep trust in its own database (CLIENTS.md)."""
    c = user_ctx(module)
    cert = certificate()
    template = {
        Attribute.CLASS: NssObjectClass.TRUST, Attribute.TOKEN: True, Attribute.LABEL: "trust",
        NssAttribute.CERT_SHA1_HASH: b"\x11" * 20, NssAttribute.CERT_MD5_HASH: b"\x22" * 16,
        Attribute.ISSUER: cert[Attribute.ISSUER], Attribute.SERIAL_NUMBER: cert[Attribute.SERIAL_NUMBER],
        NssAttribute.TRUST_SERVER_AUTH: NssTrust.TRUSTED_DELEGATOR,
        NssAttribute.TRUST_CLIENT_AUTH: NssTrust.TRUSTED_DELEGATOR,
        NssAttribute.TRUST_CODE_SIGNING: NssTrust.MUST_VERIFY_TRUST,
        NssAttribute.TRUST_EMAIL_PROTECTION: NssTrust.TRUSTED_DELEGATOR,
        NssAttribute.TRUST_STEP_UP_APPROVED: False,
    }  # fmt: skip
    assert create_rv(module, c.h, template)[0] == "ATTRIBUTE_VALUE_INVALID"


# ------------------------------------------------------------------------------- sessions and login
def test_token_object_in_ro_session(module: Module) -> None:
    slot = module.ready_token()
    ro = module.open(slot, rw=False)
    rv, _ = create_rv(module, ro, data_template(token=True, private=False))
    assert rv == "SESSION_READ_ONLY"
    module.login(ro)
    assert create_rv(module, ro, data_template(token=True, private=True))[0] == "SESSION_READ_ONLY"
    # session objects are fine in a read-only session
    assert create_rv(module, ro, data_template(token=False, private=True))[0] == "OK"


def test_private_object_needs_login(module: Module) -> None:
    slot = module.ready_token()
    h = module.open(slot)
    assert create_rv(module, h, data_template(token=False, private=True))[0] == "USER_NOT_LOGGED_IN"
    assert create_rv(module, h, data_template(token=True, private=True))[0] == "USER_NOT_LOGGED_IN"
    assert create_rv(module, h, data_template(token=True, private=False))[0] == "OK"


def test_so_cannot_create_private_objects(module: Module) -> None:
    """The SO session state (CKS_RW_SO_FUNCTIONS) has access to public objects only (4.3)."""
    slot = module.ready_token()
    so = module.open(slot)
    module.login(so, UserType.SO, SO_PIN)
    assert create_rv(module, so, data_template(token=True, private=False))[0] == "OK"
    assert create_rv(module, so, data_template(token=True, private=True))[0] == "USER_NOT_LOGGED_IN"


def test_create_null_arguments(module: Module) -> None:
    c = user_ctx(module)
    out = ffi.new("CK_OBJECT_HANDLE *")
    assert module.expect("ARGUMENTS_BAD", "C_CreateObject", c.h, ffi.NULL, 1, out)
    t = Template({Attribute.CLASS: ObjectClass.DATA})
    assert module.expect("ARGUMENTS_BAD", "C_CreateObject", c.h, t.ptr, 1, ffi.NULL)


def test_created_key_readable_when_not_sensitive(module: Module) -> None:
    c = user_ctx(module)
    obj = create(module, c.h, {**secret_template(value=b"k" * 16), 0x103: False, 0x162: True})
    assert get1(module, c.h, obj, Attribute.VALUE) == b"k" * 16
