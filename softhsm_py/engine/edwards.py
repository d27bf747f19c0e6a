"""Ed25519 / Ed448 signatures and X25519 / X448 key agreement.

CKA_EC_PARAMS names the curve by OID or by PrintableString (SoftHSMv2 writes "edwards25519");
CKA_EC_POINT is the DER OCTET STRING of the raw public key (raw accepted on input); CKA_VALUE the
raw private key (RFC 8032 seed / RFC 7748 scalar).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed448, ed25519, x448, x25519

from softhsm_py import errors
from softhsm_py.engine import asn1
from softhsm_py.engine.errmap import mapped


@dataclass(frozen=True)
class Curve:
    name: str
    oid_der: bytes
    printable: bytes
    bits: int  # CK_MECHANISM_INFO key size: 255 or 448
    key_len: int  # raw public and private key length
    private_cls: Any
    public_cls: Any
    montgomery: bool

    @property
    def params_der(self) -> bytes:
        return self.oid_der


CURVES: tuple[Curve, ...] = (
    Curve(
        "ed25519",
        bytes.fromhex("06032b6570"),
        b"edwards25519",
        255,
        32,
        ed25519.Ed25519PrivateKey,
        ed25519.Ed25519PublicKey,
        False,
    ),
    Curve(
        "ed448",
        bytes.fromhex("06032b6571"),
        b"edwards448",
        448,
        57,
        ed448.Ed448PrivateKey,
        ed448.Ed448PublicKey,
        False,
    ),
    Curve(
        "x25519",
        bytes.fromhex("06032b656e"),
        b"curve25519",
        255,
        32,
        x25519.X25519PrivateKey,
        x25519.X25519PublicKey,
        True,
    ),
    Curve(
        "x448",
        bytes.fromhex("06032b656f"),
        b"curve448",
        448,
        56,
        x448.X448PrivateKey,
        x448.X448PublicKey,
        True,
    ),
)
_BY_PARAMS: dict[bytes, Curve] = {}
for _c in CURVES:
    _BY_PARAMS[_c.oid_der] = _c
    _BY_PARAMS[asn1.encode(asn1.TAG_PRINTABLE_STRING, _c.printable)] = _c


def curve_for(ec_params: bytes, montgomery: bool) -> Curve:
    curve = _BY_PARAMS.get(bytes(ec_params))
    if curve is None:
        if ec_params[:1] in (bytes([asn1.TAG_OID]), bytes([asn1.TAG_PRINTABLE_STRING])):
            raise errors.CurveNotSupported()
        raise errors.DomainParamsInvalid()
    if curve.montgomery != montgomery:
        raise errors.KeyTypeInconsistent()
    return curve


def signature_len(curve: Curve) -> int:
    return 2 * curve.key_len  # 64 for Ed25519, 114 for Ed448


def _raw_point(curve: Curve, ec_point: bytes) -> bytes:
    if len(ec_point) == curve.key_len:
        return bytes(ec_point)
    return asn1.decode(bytes(ec_point), asn1.TAG_OCTET_STRING, errors.PublicKeyInvalid)


def load_public(curve: Curve, ec_point: bytes) -> Any:
    with mapped(errors.PublicKeyInvalid):
        return curve.public_cls.from_public_bytes(_raw_point(curve, ec_point))


def load_private(curve: Curve, value: bytes) -> Any:
    with mapped(errors.GeneralError):
        return curve.private_cls.from_private_bytes(bytes(value))


def _raw_public(key: Any) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def generate(curve: Curve) -> tuple[bytes, bytes, bytes]:
    """(CKA_EC_POINT as DER OCTET STRING, CKA_VALUE raw, CKA_PUBLIC_KEY_INFO) of a fresh key."""
    key = curve.private_cls.generate()
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
    loader: Callable[[bytes], Any] = curve.public_cls.from_public_bytes
    with mapped(errors.MechanismParamInvalid):
        return key.exchange(loader(_raw_point(curve, peer)))
