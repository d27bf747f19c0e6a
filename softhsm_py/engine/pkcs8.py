"""Private keys as PKCS#8 (what C_WrapKey wraps and C_UnwrapKey unwraps, 3.0, 5.14 and 6.x).

``encode`` turns a private key object's attributes into a PKCS#8 PrivateKeyInfo; ``decode`` turns
PKCS#8 bytes back into the key-material attributes the object factory expects.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from softhsm_py.constants import Attribute as A
from softhsm_py.constants import KeyType
from softhsm_py.engine.keycheck import EC_PARAMS_OF, curve_of, raw_key_classes
from softhsm_py.errors import KeyNotWrappable, KeyTypeInconsistent, WrappedKeyInvalid

# cryptography is imported inside the functions that use it, not here: loading it costs 30-300 ms
# and api/keys.py (hence C_Initialize, pkcs11-tool -L) imports this module.
_RAW_NAMES = ("Ed25519", "Ed448", "X25519", "X448")
_FAMILY = {KeyType.EC: "ec", KeyType.EC_EDWARDS: "edwards", KeyType.EC_MONTGOMERY: "montgomery"}
_EC_NAMES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521", "secp256k1": "secp256k1"}


def _int(attrs: Mapping[int, Any], kind: int) -> int:
    return int.from_bytes(attrs[kind], "big")


def _big(value: int) -> bytes:
    return value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")


def _private_key(attrs: Mapping[int, Any]) -> Any:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    key_type = attrs.get(A.KEY_TYPE)
    try:
        if key_type == KeyType.RSA:
            public = rsa.RSAPublicNumbers(_int(attrs, A.PUBLIC_EXPONENT), _int(attrs, A.MODULUS))
            return rsa.RSAPrivateNumbers(
                _int(attrs, A.PRIME_1), _int(attrs, A.PRIME_2), _int(attrs, A.PRIVATE_EXPONENT),
                _int(attrs, A.EXPONENT_1), _int(attrs, A.EXPONENT_2), _int(attrs, A.COEFFICIENT), public,
            ).private_key()  # fmt: skip
        family = _FAMILY.get(key_type)
        if family is None:
            raise KeyNotWrappable()
        curve = curve_of(family, attrs[A.EC_PARAMS])
        ec_curve = curve.ec_curve
        if ec_curve is not None:
            return ec.derive_private_key(_int(attrs, A.VALUE), ec_curve)
        return raw_key_classes(curve.name)[1].from_private_bytes(bytes(attrs[A.VALUE]))
    except KeyError:
        raise KeyNotWrappable() from None


def encode(attrs: Mapping[int, Any]) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return _private_key(attrs).private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def decode(der: bytes, key_type: int) -> dict[int, Any]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    try:
        key = serialization.load_der_private_key(der, password=None)
    except (ValueError, TypeError):
        raise WrappedKeyInvalid() from None
    if isinstance(key, rsa.RSAPrivateKey) and key_type == KeyType.RSA:
        n = key.private_numbers()
        return {
            A.MODULUS: _big(n.public_numbers.n), A.PUBLIC_EXPONENT: _big(n.public_numbers.e),
            A.PRIVATE_EXPONENT: _big(n.d), A.PRIME_1: _big(n.p), A.PRIME_2: _big(n.q),
            A.EXPONENT_1: _big(n.dmp1), A.EXPONENT_2: _big(n.dmq1), A.COEFFICIENT: _big(n.iqmp),
        }  # fmt: skip
    if isinstance(key, ec.EllipticCurvePrivateKey) and key_type == KeyType.EC:
        name = _EC_NAMES.get(key.curve.name)
        if name is None:
            raise WrappedKeyInvalid()
        size = (key.curve.key_size + 7) // 8
        return {
            A.EC_PARAMS: EC_PARAMS_OF[name],
            A.VALUE: key.private_numbers().private_value.to_bytes(size, "big"),
        }
    for name in _RAW_NAMES:
        if isinstance(key, raw_key_classes(name)[1]) and _FAMILY.get(key_type) == curve_of_name(name):
            raw = key.private_bytes(
                serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
            )
            return {A.EC_PARAMS: EC_PARAMS_OF[name], A.VALUE: raw}
    raise KeyTypeInconsistent()


def curve_of_name(name: str) -> str:
    return "edwards" if name.startswith("Ed") else "montgomery"


def _key_type(key: Any) -> int:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    if isinstance(key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
        return KeyType.RSA
    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        return KeyType.EC
    for name in _RAW_NAMES:
        public_cls, private_cls = raw_key_classes(name)
        if isinstance(key, (public_cls, private_cls)):
            return KeyType.EC_EDWARDS if name.startswith("Ed") else KeyType.EC_MONTGOMERY
    raise KeyTypeInconsistent()


def decode_any(der: bytes) -> dict[int, Any]:
    """A PKCS#8 private key of any type we know: its key-material attributes and CKA_KEY_TYPE."""
    from cryptography.hazmat.primitives import serialization

    try:
        key = serialization.load_der_private_key(der, password=None)
    except (ValueError, TypeError):
        raise WrappedKeyInvalid() from None
    key_type = _key_type(key)
    return {A.KEY_TYPE: key_type, **decode(der, key_type)}


def public_of(der: bytes) -> bytes:
    """The SubjectPublicKeyInfo of a PKCS#8 private key."""
    from cryptography.hazmat.primitives import serialization

    try:
        key = serialization.load_der_private_key(der, password=None)
    except (ValueError, TypeError):
        raise WrappedKeyInvalid() from None
    return key.public_key().public_bytes(  # type: ignore[union-attr]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def public_attributes(spki: bytes) -> dict[int, Any]:
    """A public key's attributes (CKA_KEY_TYPE and its parts) from its SubjectPublicKeyInfo."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    try:
        key = serialization.load_der_public_key(spki)
    except (ValueError, TypeError):
        raise WrappedKeyInvalid() from None
    key_type = _key_type(key)
    if isinstance(key, rsa.RSAPublicKey):
        numbers = key.public_numbers()
        return {A.KEY_TYPE: key_type, A.MODULUS: _big(numbers.n), A.PUBLIC_EXPONENT: _big(numbers.e)}
    if isinstance(key, ec.EllipticCurvePublicKey):
        name = _EC_NAMES.get(key.curve.name)
        if name is None:
            raise WrappedKeyInvalid()
        point = key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        return {A.KEY_TYPE: key_type, A.EC_PARAMS: EC_PARAMS_OF[name], A.EC_POINT: point}
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    for name in _RAW_NAMES:
        if isinstance(key, raw_key_classes(name)[0]):
            return {A.KEY_TYPE: key_type, A.EC_PARAMS: EC_PARAMS_OF[name], A.EC_POINT: raw}
    raise WrappedKeyInvalid()
