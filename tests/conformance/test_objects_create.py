"""C_CreateObject (PKCS#11 3.0, 5.7) and the template rules of 4.1.1: every class softhsm-py
stores, key material imported from pyca/cryptography, and the error codes for bad templates."""

from __future__ import annotations

from typing import Any

import pytest

from .objects_support import (
    CKA_ALWAYS_SENSITIVE,
    CKA_APPLICATION,
    CKA_CERT_MD5_HASH,
    CKA_CERT_SHA1_HASH,
    CKA_CLASS,
    CKA_DECRYPT,
    CKA_DERIVE,
    CKA_EC_POINT,
    CKA_ENCAPSULATE,
    CKA_ENCRYPT,
    CKA_ID,
    CKA_ISSUER,
    CKA_KEY_GEN_MECHANISM,
    CKA_KEY_TYPE,
    CKA_LABEL,
    CKA_LOCAL,
    CKA_MODULUS,
    CKA_NEVER_EXTRACTABLE,
    CKA_PRIME_1,
    CKA_PRIVATE,
    CKA_PRIVATE_EXPONENT,
    CKA_SERIAL_NUMBER,
    CKA_SIGN,
    CKA_TOKEN,
    CKA_TRUST_CLIENT_AUTH,
    CKA_TRUST_CODE_SIGNING,
    CKA_TRUST_EMAIL_PROTECTION,
    CKA_TRUST_SERVER_AUTH,
    CKA_TRUST_STEP_UP_APPROVED,
    CKA_TRUSTED,
    CKA_UNIQUE_ID,
    CKA_UNWRAP,
    CKA_VALUE,
    CKA_VALUE_LEN,
    CKA_VERIFY,
    CKK_AES,
    CKK_GENERIC_SECRET,
    CKO_DATA,
    CKO_NSS_TRUST,
    CKT_NSS_MUST_VERIFY_TRUST,
    CKT_NSS_TRUSTED_DELEGATOR,
    Template,
    certificate,
    create,
    create_rv,
    data_template,
    ec_templates,
    get,
    get1,
    off_curve_point,
    rsa_key,
    rsa_templates,
    secret_template,
    user_ctx,
)
from .pkcs11 import CKU_SO, SO_PIN, Module, ffi, spec_departure


# ------------------------------------------------------------------------------- classes
def test_create_data_object(module: Module) -> None:
    c = user_ctx(module)
    obj = create(module, c.h, data_template("d1", b"\x00\x01payload", token=True, private=False))
    values = get(module, c.h, obj, [CKA_CLASS, CKA_LABEL, CKA_VALUE, CKA_APPLICATION, CKA_TOKEN, CKA_PRIVATE])
    assert values == {
        CKA_CLASS: CKO_DATA, CKA_LABEL: b"d1", CKA_VALUE: b"\x00\x01payload",
        CKA_APPLICATION: b"softhsm-py tests", CKA_TOKEN: True, CKA_PRIVATE: False,
    }  # fmt: skip


def test_create_empty_data_object(module: Module) -> None:
    """CKA_CLASS alone is a complete data object (4.5: every other attribute has a default)."""
    c = user_ctx(module)
    obj = create(module, c.h, {CKA_CLASS: CKO_DATA})
    assert get(module, c.h, obj, [CKA_VALUE, CKA_LABEL]) == {CKA_VALUE: b"", CKA_LABEL: b""}


def test_create_certificate(module: Module) -> None:
    c = user_ctx(module)
    template = {**certificate(), CKA_TOKEN: True, CKA_ID: b"\x01", CKA_LABEL: "cert"}
    obj = create(module, c.h, template)
    got = get(module, c.h, obj, [*template, CKA_TRUSTED, CKA_PRIVATE])
    for kind, value in template.items():
        expected = value.encode() if isinstance(value, str) else value
        assert got[kind] == expected, hex(kind)
    assert got[CKA_TRUSTED] is False


def test_certificate_trusted_by_so_only(module: Module) -> None:
    """CKA_TRUSTED: "can only be set to CK_TRUE by the SO user" (4.6.2, footnote 10)."""
    slot = module.ready_token()
    user = module.open(slot)
    module.login(user)
    rv, _ = create_rv(module, user, {**certificate(), CKA_TRUSTED: True})
    assert rv == "ATTRIBUTE_READ_ONLY"
    assert create_rv(module, user, {**certificate(), CKA_TRUSTED: False})[0] == "OK"
    module.check("C_Logout", user)
    so = module.open(slot)
    module.login(so, CKU_SO, SO_PIN)
    obj = create(module, so, {**certificate(), CKA_TOKEN: True, CKA_TRUSTED: True})
    assert get1(module, so, obj, CKA_TRUSTED) is True


@pytest.mark.parametrize("bits", [1024, 2048, 3072])
def test_import_rsa(module: Module, bits: int) -> None:
    """Java's keytool: all CRT parts, no CKA_SENSITIVE in the template (CLIENTS.md)."""
    c = user_ctx(module)
    public, private = rsa_templates(bits)
    pub = create(module, c.h, {**public, CKA_TOKEN: True, CKA_ID: b"rsa"})
    priv = create(module, c.h, {**private, CKA_TOKEN: True, CKA_ID: b"rsa"})
    assert get1(module, c.h, pub, CKA_MODULUS) == public[CKA_MODULUS]
    assert get1(module, c.h, priv, CKA_MODULUS) == private[CKA_MODULUS]
    assert get1(module, c.h, pub, 0x121) == bits  # CKA_MODULUS_BITS, computed by the token


def test_import_rsa_without_crt_parts(module: Module) -> None:
    """Only n, e (optional) and d are required [1]: the CRT parts are [4,6] without [1]."""
    c = user_ctx(module)
    _, private = rsa_templates()
    minimal = {k: private[k] for k in (CKA_CLASS, CKA_KEY_TYPE, CKA_MODULUS, 0x122, CKA_PRIVATE_EXPONENT)}
    create(module, c.h, minimal)


@spec_departure("SoftHSMv2", clause="3.0 4.1.1 item 2: RSA parts that make no key are invalid values")
def test_import_rsa_inconsistent_is_value_invalid(module: Module) -> None:
    """p*q != n: not a key (4.1.1 "invalid value for a valid attribute")."""
    c = user_ctx(module)
    _, private = rsa_templates()
    other = rsa_key(2048, 1).private_numbers()
    bad = {**private, CKA_PRIME_1: other.p.to_bytes((other.p.bit_length() + 7) // 8, "big")}
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
    pub = create(module, c.h, {**public, CKA_TOKEN: True, CKA_ID: b"k"})
    priv = create(module, c.h, {**private, CKA_TOKEN: True, CKA_ID: b"k"})
    assert get1(module, c.h, pub, CKA_EC_POINT) == public[CKA_EC_POINT]
    got = get(module, c.h, priv, [CKA_KEY_TYPE, CKA_ID])
    assert got == {CKA_KEY_TYPE: private[CKA_KEY_TYPE], CKA_ID: b"k"}


@spec_departure("SoftHSMv2", clause="3.0 4.1.1: an off-curve EC point is an invalid value")
def test_import_ec_point_off_curve(module: Module) -> None:
    c = user_ctx(module)
    public, _ = ec_templates("P-256")
    assert create_rv(module, c.h, {**public, CKA_EC_POINT: off_curve_point()})[0] == "ATTRIBUTE_VALUE_INVALID"


@pytest.mark.parametrize("key_type", [CKK_AES, CKK_GENERIC_SECRET])
def test_import_secret(module: Module, key_type: int) -> None:
    c = user_ctx(module)
    value = bytes(range(32))
    obj = create(module, c.h, secret_template(key_type, value, sensitive=False, extractable=True))
    assert get(module, c.h, obj, [CKA_VALUE, CKA_VALUE_LEN]) == {CKA_VALUE: value, CKA_VALUE_LEN: 32}


@spec_departure("SoftHSMv2", clause="3.0 6.8.2: an AES key is 16, 24 or 32 bytes")
def test_import_aes_bad_length(module: Module) -> None:
    c = user_ctx(module)
    assert create_rv(module, c.h, secret_template(CKK_AES, b"x" * 15))[0] == "ATTRIBUTE_VALUE_INVALID"


# ------------------------------------------------------------------------------- defaults hosts rely on
def test_private_key_defaults(module: Module) -> None:
    """Java sends an empty private-key template and expects a usable key (CLIENTS.md). The
    usage defaults are token-specific (footnote 9)."""
    c = user_ctx(module)
    _, private = ec_templates("P-256")
    obj = create(module, c.h, private)
    got = get(module, c.h, obj, [CKA_SIGN, CKA_DECRYPT, CKA_UNWRAP, CKA_PRIVATE])
    assert got == {CKA_SIGN: True, CKA_DECRYPT: True, CKA_UNWRAP: True, CKA_PRIVATE: True}


def test_private_key_derive_default(module: Module) -> None:
    """CKA_DERIVE defaults CK_FALSE (3.0, 4.7), on SoftHSMv2 too. (softhsm-py defaulted it TRUE
    before: a key made with a minimal template could derive what its owner never asked for.)"""
    c = user_ctx(module)
    _, private = ec_templates("P-256")
    assert get1(module, c.h, create(module, c.h, private), CKA_DERIVE) is False


def test_public_key_defaults(module: Module) -> None:
    """ssh-keygen -D lists public keys without logging in: CKA_PRIVATE defaults to FALSE."""
    c = user_ctx(module)
    public, _ = ec_templates("P-256")
    obj = create(module, c.h, {**public, CKA_TOKEN: True})
    assert get(module, c.h, obj, [CKA_PRIVATE, CKA_VERIFY, CKA_ENCRYPT]) == {
        CKA_PRIVATE: False, CKA_VERIFY: True, CKA_ENCRYPT: True}  # fmt: skip


def test_token_set_attributes_on_import(module: Module) -> None:
    """4.7: CKA_LOCAL is FALSE for a key that was not generated on the token."""
    c = user_ctx(module)
    obj = create(module, c.h, secret_template())
    assert get1(module, c.h, obj, CKA_LOCAL) is False


# ------------------------------------------------------------------------------- template rules
def test_incomplete_without_class(module: Module) -> None:
    c = user_ctx(module)
    assert create_rv(module, c.h, {CKA_LABEL: "no class"})[0] == "TEMPLATE_INCOMPLETE"


@pytest.mark.parametrize(
    "drop",
    [CKA_KEY_TYPE, CKA_VALUE],
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
    del private[CKA_MODULUS]
    assert create_rv(module, c.h, private)[0] == "TEMPLATE_INCOMPLETE"


def test_incomplete_certificate_without_value(module: Module) -> None:
    c = user_ctx(module)
    template = dict(certificate())
    del template[CKA_VALUE]
    assert create_rv(module, c.h, template)[0] == "TEMPLATE_INCOMPLETE"


@spec_departure("SoftHSMv2", clause="3.0 4.1.1 item 5: two different values for one attribute")
def test_inconsistent_duplicate_attribute(module: Module) -> None:
    """4.1.1: "a template which specifies two different values for the same attribute"."""
    c = user_ctx(module)
    items = [(CKA_CLASS, CKO_DATA), (CKA_TOKEN, False), (CKA_TOKEN, True)]
    assert create_rv(module, c.h, items)[0] == "TEMPLATE_INCONSISTENT"


@spec_departure("SoftHSMv2", clause="3.0 4.1.1 item 5: a key attribute of another class is inconsistent")
def test_inconsistent_attribute_of_another_class(module: Module) -> None:
    """4.1.1 names this case: "trying to create a secret key object with an attribute which is
    appropriate for various types of public keys or private keys, but not for secret keys"."""
    c = user_ctx(module)
    rv, _ = create_rv(module, c.h, {**secret_template(), CKA_MODULUS: b"\x01\x00\x01"})
    assert rv == "TEMPLATE_INCONSISTENT"


@pytest.mark.parametrize("kind", [CKA_ENCAPSULATE, 0x80001234], ids=["3.2-encapsulate", "vendor"])
def test_unknown_attribute_type(module: Module, kind: int) -> None:
    c = user_ctx(module)
    assert create_rv(module, c.h, {**data_template(), kind: b"\x01"})[0] == "ATTRIBUTE_TYPE_INVALID"


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        (CKA_TOKEN, b"\x01\x00"),
        pytest.param(CKA_CLASS, b"\x00", marks=spec_departure("SoftHSMv2", clause="3.0 4.1.1 item 2")),
        (CKA_CLASS, 0x7FFF),
        (CKA_KEY_TYPE, 0x7FFF),
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
        (CKA_LOCAL, True),
        (CKA_KEY_GEN_MECHANISM, 0x1080),
        (CKA_ALWAYS_SENSITIVE, True),
        (CKA_NEVER_EXTRACTABLE, True),
        pytest.param(CKA_UNIQUE_ID, b"42", marks=_UNIQUE_ID),
    ],
    ids=["local", "key-gen-mechanism", "always-sensitive", "never-extractable", "unique-id"],
)
def test_token_set_attributes_are_read_only(module: Module, kind: int, value: Any) -> None:
    """Footnote [2]: "must not be specified when the object is created with C_CreateObject"."""
    c = user_ctx(module)
    assert create_rv(module, c.h, {**secret_template(), kind: value})[0] == "ATTRIBUTE_READ_ONLY"


def test_value_len_on_create_is_read_only(module: Module) -> None:
    c = user_ctx(module)
    assert create_rv(module, c.h, {**secret_template(), CKA_VALUE_LEN: 16})[0] == "ATTRIBUTE_READ_ONLY"


def test_nss_trust_object_refused(module: Module) -> None:
    """NSS creates CKO_NSS_TRUST objects with its vendor attributes; refusing the class cleanly
    (CKR_ATTRIBUTE_VALUE_INVALID) makes NSS keep trust in its own database (CLIENTS.md)."""
    c = user_ctx(module)
    cert = certificate()
    template = {
        CKA_CLASS: CKO_NSS_TRUST, CKA_TOKEN: True, CKA_LABEL: "trust",
        CKA_CERT_SHA1_HASH: b"\x11" * 20, CKA_CERT_MD5_HASH: b"\x22" * 16,
        CKA_ISSUER: cert[CKA_ISSUER], CKA_SERIAL_NUMBER: cert[CKA_SERIAL_NUMBER],
        CKA_TRUST_SERVER_AUTH: CKT_NSS_TRUSTED_DELEGATOR,
        CKA_TRUST_CLIENT_AUTH: CKT_NSS_TRUSTED_DELEGATOR,
        CKA_TRUST_CODE_SIGNING: CKT_NSS_MUST_VERIFY_TRUST,
        CKA_TRUST_EMAIL_PROTECTION: CKT_NSS_TRUSTED_DELEGATOR,
        CKA_TRUST_STEP_UP_APPROVED: False,
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
    module.login(so, CKU_SO, SO_PIN)
    assert create_rv(module, so, data_template(token=True, private=False))[0] == "OK"
    assert create_rv(module, so, data_template(token=True, private=True))[0] == "USER_NOT_LOGGED_IN"


def test_create_null_arguments(module: Module) -> None:
    c = user_ctx(module)
    out = ffi.new("CK_OBJECT_HANDLE *")
    assert module.expect("ARGUMENTS_BAD", "C_CreateObject", c.h, ffi.NULL, 1, out)
    t = Template({CKA_CLASS: CKO_DATA})
    assert module.expect("ARGUMENTS_BAD", "C_CreateObject", c.h, t.ptr, 1, ffi.NULL)


def test_created_key_readable_when_not_sensitive(module: Module) -> None:
    c = user_ctx(module)
    obj = create(module, c.h, {**secret_template(value=b"k" * 16), 0x103: False, 0x162: True})
    assert get1(module, c.h, obj, CKA_VALUE) == b"k" * 16
