"""Ed25519 / Ed448 signatures and X25519 / X448 key agreement.

CKA_EC_PARAMS names the curve by OID or by PrintableString (SoftHSMv2 writes "edwards25519");
CKA_EC_POINT is the DER OCTET STRING of the raw public key (raw accepted on input); CKA_VALUE the
raw private key (RFC 8032 seed / RFC 7748 scalar).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives import serialization

from softhsm_py import errors
from softhsm_py.engine import asn1, curves
from softhsm_py.engine.errmap import mapped

Curve = curves.Curve


def _key_classes(curve: Curve) -> tuple[Any, Any]:
    # cryptography's naming: module ed25519 holds Ed25519PrivateKey and Ed25519PublicKey.
    module = importlib.import_module(f"cryptography.hazmat.primitives.asymmetric.{curve.engine.lower()}")
    return getattr(module, f"{curve.engine}PrivateKey"), getattr(module, f"{curve.engine}PublicKey")


# curve name -> (private key class, public key class), for the Edwards and Montgomery rows.
KEY_CLASSES: dict[str, tuple[Any, Any]] = {
    c.name: _key_classes(c) for c in (*curves.of_family(curves.EDWARDS), *curves.of_family(curves.MONTGOMERY))
}


def curve_for(ec_params: bytes, montgomery: bool) -> Curve:
    curve = curves.lookup(ec_params)
    if curve is None or curve.family == curves.EC:
        if curves.names_a_curve(ec_params):
            raise errors.CurveNotSupported()
        raise errors.DomainParamsInvalid()
    if (curve.family == curves.MONTGOMERY) != montgomery:
        raise errors.KeyTypeInconsistent()
    return curve


def signature_len(curve: Curve) -> int:
    return curve.signature_len  # 64 for Ed25519, 114 for Ed448


def _raw_point(curve: Curve, ec_point: bytes) -> bytes:
    if len(ec_point) == curve.key_len:
        return bytes(ec_point)
    return asn1.decode(bytes(ec_point), asn1.TAG_OCTET_STRING, errors.PublicKeyInvalid)


def load_public(curve: Curve, ec_point: bytes) -> Any:
    with mapped(errors.PublicKeyInvalid):
        return KEY_CLASSES[curve.name][1].from_public_bytes(_raw_point(curve, ec_point))


def load_private(curve: Curve, value: bytes) -> Any:
    with mapped(errors.GeneralError):
        return KEY_CLASSES[curve.name][0].from_private_bytes(bytes(value))


def _raw_public(key: Any) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def generate(curve: Curve) -> tuple[bytes, bytes, bytes]:
    """(CKA_EC_POINT as DER OCTET STRING, CKA_VALUE raw, CKA_PUBLIC_KEY_INFO) of a fresh key."""
    key = KEY_CLASSES[curve.name][0].generate()
    value = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    public = key.public_key()
    spki = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return asn1.octet_string(_raw_public(public)), value, spki


def sign(key: Any, data: bytes) -> bytes:
    """Pure Ed25519 / Ed448 (empty context); ph and ctx variants are refused by the caller."""
    return key.sign(data)


def verify(key: Any, curve: Curve, data: bytes, signature: bytes) -> None:
    if len(signature) != signature_len(curve):
        raise errors.SignatureLenRange()
    with mapped(errors.SignatureInvalid):
        key.verify(signature, data)


def derive(key: Any, curve: Curve, peer: bytes) -> bytes:
    """X25519 / X448 shared secret; an all-zero result (small-order peer) is refused."""
    loader: Callable[[bytes], Any] = KEY_CLASSES[curve.name][1].from_public_bytes
    with mapped(errors.MechanismParamInvalid):
        return key.exchange(loader(_raw_point(curve, peer)))
