"""C_DeriveKey (3.0, 5.14): ECDH1_DERIVE / ECDH1_COFACTOR_DERIVE on prime curves and X25519/X448
with the NULL and X9.63 SHA KDFs, checked against cryptography's exchange(); HKDF_DERIVE and
HKDF_DATA against cryptography's HKDF."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.x963kdf import X963KDF

from support.constants import KDF, Attribute, KeyType, Mechanism, ObjectClass
from support.keys import (
    CURVE_IDS,
    CURVES,
    OKP,
    P256,
    P384,
    RAW,
    der_octet_string,
    ec_point,
    import_ec,
    import_okp,
)
from support.mechanisms import crypto_hash, ecdh, hkdf
from support.pkcs11 import Module
from support.token import Token


@pytest.fixture
def t(module: Module) -> Token:
    return Token(module)


def out_template(length: int | None = None, **extra: Any) -> dict[int, Any]:
    attrs = {
        Attribute.CLASS: ObjectClass.SECRET_KEY,
        Attribute.KEY_TYPE: KeyType.GENERIC_SECRET,
        Attribute.TOKEN: False,
        Attribute.SENSITIVE: False,
        Attribute.EXTRACTABLE: True,
    }
    if length is not None:
        attrs[Attribute.VALUE_LEN] = length
    attrs.update({Attribute[k]: v for k, v in extra.items()})
    return attrs


KDFS = {KDF.NULL: None, KDF.SHA1_KDF: "sha1", KDF.SHA256_KDF: "sha256", KDF.SHA512_KDF: "sha512"}


def null_only(t: Token, kdf: int) -> None:
    if t.softhsm2 and kdf != KDF.NULL:
        pytest.skip("SoftHSMv2 2.6.1 implements only CKD_NULL (MECHANISM_PARAM_INVALID: allowed)")


def _expected(z: bytes, kdf: int, shared: bytes, length: int) -> bytes:
    if KDFS[kdf] is None:
        return z[:length]
    return X963KDF(crypto_hash(KDFS[kdf]), length, shared or None).derive(z)


@pytest.mark.parametrize(
    "mechanism", [Mechanism.ECDH1_DERIVE, Mechanism.ECDH1_COFACTOR_DERIVE], ids=["ecdh", "cofactor"]
)
@pytest.mark.parametrize("params", list(CURVES), ids=list(CURVE_IDS.values()))
@pytest.mark.parametrize("kdf", list(KDFS), ids=["null", "sha1", "sha256", "sha512"])
def test_ecdh_prime_curves(t: Token, mechanism: int, params: bytes, kdf: int) -> None:
    t.require(mechanism)
    null_only(t, kdf)
    ours = ec.generate_private_key(CURVES[params])
    _, priv = import_ec(t, ours, params)
    peer = ec.generate_private_key(CURVES[params])
    z = peer.exchange(ec.ECDH(), ours.public_key())
    shared = b"" if kdf == KDF.NULL else b"shared info"
    length = 32 if kdf != KDF.NULL else len(z)
    m = ecdh(ec_point(peer.public_key()), kdf, shared, mechanism)
    key = t.derive(m, priv, out_template(length))
    assert t.get(key, Attribute.VALUE) == _expected(z, kdf, shared, length)
    assert t.get_bool(key, Attribute.LOCAL) is False


def test_ecdh_der_public_data(t: Token) -> None:
    """pPublicData as a DER OCTET STRING (what some hosts pass from CKA_EC_POINT)."""
    ours, peer = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    _, priv = import_ec(t, ours, P256)
    m = ecdh(der_octet_string(ec_point(peer.public_key())), KDF.NULL)
    key = t.derive(m, priv, out_template(32))
    assert t.get(key, Attribute.VALUE) == peer.exchange(ec.ECDH(), ours.public_key())


def test_ecdh_into_aes_key(t: Token) -> None:
    null_only(t, KDF.SHA256_KDF)
    ours, peer = ec.generate_private_key(ec.SECP384R1()), ec.generate_private_key(ec.SECP384R1())
    _, priv = import_ec(t, ours, P384)
    m = ecdh(ec_point(peer.public_key()), KDF.SHA256_KDF)
    key = t.derive(m, priv, out_template(16, KEY_TYPE=KeyType.AES, ENCRYPT=True))
    z = peer.exchange(ec.ECDH(), ours.public_key())
    assert t.get(key, Attribute.VALUE) == X963KDF(crypto_hash("sha256"), 16, None).derive(z)
    assert t.get_ulong(key, Attribute.VALUE_LEN) == 16


@pytest.mark.parametrize("name", ["x25519", "x448"])
@pytest.mark.parametrize("kdf", [KDF.NULL, KDF.SHA256_KDF], ids=["null", "sha256"])
def test_ecdh_montgomery(t: Token, name: str, kdf: int) -> None:
    t.require(Mechanism.ECDH1_DERIVE, Mechanism.EC_MONTGOMERY_KEY_PAIR_GEN)
    _, priv, ours = import_okp(t, name)
    peer = OKP[name][0].generate()
    z = peer.exchange(ours.public_key())
    length = len(z) if kdf == KDF.NULL else 24
    shared = b"" if kdf == KDF.NULL else b"x"
    key = t.derive(ecdh(peer.public_key().public_bytes(*RAW), kdf, shared), priv, out_template(length))
    assert t.get(key, Attribute.VALUE) == _expected(z, kdf, shared, length)


def test_ecdh_cofactor_montgomery(t: Token) -> None:
    t.require(Mechanism.ECDH1_COFACTOR_DERIVE, Mechanism.EC_MONTGOMERY_KEY_PAIR_GEN)
    _, priv, ours = import_okp(t, "x25519")
    peer = OKP["x25519"][0].generate()
    m = ecdh(peer.public_key().public_bytes(*RAW), KDF.NULL, mechanism=Mechanism.ECDH1_COFACTOR_DERIVE)
    key = t.derive(m, priv, out_template(32))
    assert t.get(key, Attribute.VALUE) == peer.exchange(ours.public_key())


def test_derived_key_sensitivity_follows_base(t: Token) -> None:
    """4.9: a derived key is ALWAYS_SENSITIVE only if the base was and it is sensitive."""
    ours, peer = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    _, priv = import_ec(t, ours, P256)  # imported: ALWAYS_SENSITIVE FALSE
    m = ecdh(ec_point(peer.public_key()), KDF.NULL)
    key = t.derive(m, priv, out_template(32, SENSITIVE=True, EXTRACTABLE=False))
    assert t.get_bool(key, Attribute.ALWAYS_SENSITIVE) is False
    assert t.get_bool(key, Attribute.NEVER_EXTRACTABLE) is False


# ------------------------------------------------------------------------------- HKDF
IKM = bytes(range(22))
SALT = bytes(range(13))
INFO = b"context info"


def _hkdf(h: str, salt: bytes | None, info: bytes, length: int, ikm: bytes = IKM) -> bytes:
    return HKDF(crypto_hash(h), length, salt, info).derive(ikm)


@pytest.mark.parametrize(
    ("prf", "h"), [(Mechanism.SHA256, "sha256"), (Mechanism.SHA384, "sha384"), (Mechanism.SHA_1, "sha1")]
)
@pytest.mark.parametrize("salt", [SALT, None], ids=["salt", "nosalt"])
def test_hkdf_derive(t: Token, prf: int, h: str, salt: bytes | None) -> None:
    t.require(Mechanism.HKDF_DERIVE)
    base = t.secret(IKM, KeyType.GENERIC_SECRET)
    key = t.derive(hkdf(prf=prf, salt=salt, info=INFO), base, out_template(42))
    assert t.get(key, Attribute.VALUE) == _hkdf(h, salt, INFO, 42)


def test_hkdf_derive_aes_key(t: Token) -> None:
    t.require(Mechanism.HKDF_DERIVE)
    base = t.secret(IKM, KeyType.GENERIC_SECRET)
    key = t.derive(hkdf(salt=SALT, info=INFO), base, out_template(32, KEY_TYPE=KeyType.AES))
    assert t.get(key, Attribute.VALUE) == _hkdf("sha256", SALT, INFO, 32)


def test_hkdf_salt_key(t: Token) -> None:
    t.require(Mechanism.HKDF_DERIVE)
    base = t.secret(IKM, KeyType.GENERIC_SECRET)
    salt_key = t.secret(SALT, KeyType.GENERIC_SECRET)
    key = t.derive(hkdf(salt_key=salt_key, info=INFO), base, out_template(20))
    assert t.get(key, Attribute.VALUE) == _hkdf("sha256", SALT, INFO, 20)


def test_hkdf_data(t: Token) -> None:
    """CKM_HKDF_DATA makes a CKO_DATA object holding the output (3.0 2.43)."""
    t.require(Mechanism.HKDF_DATA)
    base = t.secret(IKM, KeyType.GENERIC_SECRET)
    obj = t.derive(
        hkdf(Mechanism.HKDF_DATA, salt=SALT, info=INFO),
        base,
        {Attribute.CLASS: ObjectClass.DATA, Attribute.TOKEN: False, Attribute.VALUE_LEN: 50},
    )
    assert t.get_ulong(obj, Attribute.CLASS) == ObjectClass.DATA
    assert t.get(obj, Attribute.VALUE) == _hkdf("sha256", SALT, INFO, 50)


def test_hkdf_too_long(t: Token) -> None:
    t.require(Mechanism.HKDF_DERIVE)
    base = t.secret(IKM, KeyType.GENERIC_SECRET)
    rv = t.derive_rv(hkdf(salt=SALT, info=INFO), base, out_template(255 * 32 + 1))
    assert rv in ("TEMPLATE_INCONSISTENT", "ATTRIBUTE_VALUE_INVALID", "KEY_SIZE_RANGE"), rv
