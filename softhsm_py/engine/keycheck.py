"""Validate key material given to C_CreateObject / C_UnwrapKey (and generated material) and
compute what follows from it: missing RSA CRT parts, the DER-wrapped EC point, the
SubjectPublicKeyInfo, secret key check values.

The only module of the object layer that imports cryptography. Every failure is
AttributeValueInvalid (TemplateIncomplete when the parts given cannot define a usable key,
CurveNotSupported for a named curve we do not implement).
Callers pass plain values; this module knows nothing of attribute tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from hashlib import sha1
from math import gcd
from typing import TYPE_CHECKING, Any

from softhsm_py.engine import asn1
from softhsm_py.errors import (
    AttributeValueInvalid,
    CurveNotSupported,
    TemplateIncomplete,
)

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec

# cryptography is imported inside the functions that use it, not here: loading it costs 30-300 ms
# and the object factory (hence C_Initialize, pkcs11-tool -L) imports this module.

RSA_MIN_BITS = 512  # smaller moduli are not keys anyone should import
RSA_MAX_BITS = 16384


# --- curves ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Curve:
    name: str  # "P-256", "Ed25519", "X25519", ...
    family: str  # "ec", "edwards" or "montgomery": the key type it belongs to
    key_len: int  # Edwards/Montgomery: raw public/private length; 0 for Weierstrass curves
    ec_class: str | None = None  # Weierstrass curves: the class name in cryptography's ``ec``

    @property
    def ec_curve(self) -> ec.EllipticCurve | None:
        if self.ec_class is None:
            return None
        from cryptography.hazmat.primitives.asymmetric import ec

        return getattr(ec, self.ec_class)()


_P256 = Curve("P-256", "ec", 0, "SECP256R1")
_P384 = Curve("P-384", "ec", 0, "SECP384R1")
_P521 = Curve("P-521", "ec", 0, "SECP521R1")
_K256 = Curve("secp256k1", "ec", 0, "SECP256K1")
_ED25519 = Curve("Ed25519", "edwards", 32)
_ED448 = Curve("Ed448", "edwards", 57)
_X25519 = Curve("X25519", "montgomery", 32)
_X448 = Curve("X448", "montgomery", 56)


def _printable(name: str) -> bytes:
    return bytes([0x13, len(name)]) + name.encode()


# CKA_EC_PARAMS: DER namedCurve OID; for Edwards/Montgomery also the DER PrintableString curve
# name that SoftHSMv2 and pkcs11-tool write (CLIENTS.md).
CURVES: dict[bytes, Curve] = {
    bytes.fromhex("06082a8648ce3d030107"): _P256,
    bytes.fromhex("06052b81040022"): _P384,
    bytes.fromhex("06052b81040023"): _P521,
    bytes.fromhex("06052b8104000a"): _K256,
    bytes.fromhex("06032b6570"): _ED25519,
    bytes.fromhex("06032b6571"): _ED448,
    bytes.fromhex("06032b656e"): _X25519,
    bytes.fromhex("06032b656f"): _X448,
    _printable("edwards25519"): _ED25519,
    _printable("edwards448"): _ED448,
    _printable("curve25519"): _X25519,
    _printable("curve448"): _X448,
}

# The preferred (OID) encoding of each curve's parameters, for generation and SPKI callers.
EC_PARAMS_OF: dict[str, bytes] = {}
for _der, _curve in CURVES.items():
    EC_PARAMS_OF.setdefault(_curve.name, _der)


def curve_of(family: str, params: bytes) -> Curve:
    """The curve named by CKA_EC_PARAMS, which must belong to the key type's ``family``."""
    curve = CURVES.get(bytes(params))
    if curve is None and params[:1] == b"\x06":
        raise CurveNotSupported()  # a well-formed OID of a curve we do not implement
    if curve is None or curve.family != family:
        raise AttributeValueInvalid()
    return curve


# --- DER OCTET STRING --------------------------------------------------------------------------


def der_octet_string(data: bytes) -> bytes:
    return asn1.octet_string(data)


class _NotOctetString(Exception):
    pass


def der_octet_string_content(der: bytes) -> bytes | None:
    """The content of a complete DER OCTET STRING, or None when ``der`` is not one."""
    try:
        return asn1.decode(der, asn1.TAG_OCTET_STRING, _NotOctetString)  # type: ignore[arg-type]
    except _NotOctetString:
        return None


def _spki(key: Any) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return bytes(key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo))


# --- RSA ---------------------------------------------------------------------------------------


def _check_public(n: int, e: int) -> None:
    if not RSA_MIN_BITS <= n.bit_length() <= RSA_MAX_BITS or n % 2 == 0:
        raise AttributeValueInvalid()
    if e < 3 or e % 2 == 0 or e >= n:
        raise AttributeValueInvalid()


def rsa_public(n: int, e: int) -> bytes:
    """Check an RSA public key; return its SubjectPublicKeyInfo."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    _check_public(n, e)
    try:
        key = rsa.RSAPublicNumbers(e, n).public_key()
    except ValueError:
        raise AttributeValueInvalid() from None
    return _spki(key)


@dataclass(frozen=True)
class RsaParts:
    n: int
    e: int
    d: int
    p: int
    q: int
    dmp1: int
    dmq1: int
    iqmp: int
    spki: bytes


def rsa_private(
    n: int,
    d: int,
    e: int | None = None,
    p: int | None = None,
    q: int | None = None,
    dmp1: int | None = None,
    dmq1: int | None = None,
    iqmp: int | None = None,
) -> RsaParts:
    """Check an RSA private key and complete it (the spec lets an importer omit the CRT parts
    [4,6,7 are optional]; a working key needs them, so we compute them)."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    if (p is None) != (q is None):  # one prime given: the other follows from n
        known = p if p is not None else q
        assert known is not None
        if known <= 1 or n % known:
            raise AttributeValueInvalid()
        p, q = (known, n // known) if p is not None else (n // known, known)
    if p is not None and q is not None:
        if p <= 1 or q <= 1 or p * q != n:
            raise AttributeValueInvalid()
        if e is None:  # e = d^-1 mod lcm(p-1, q-1)
            lam = (p - 1) * (q - 1) // gcd(p - 1, q - 1)
            try:
                e = pow(d, -1, lam)
            except ValueError:
                raise AttributeValueInvalid() from None
    elif e is None:
        raise TemplateIncomplete()  # n and d alone cannot be turned into a usable key
    _check_public(n, e)
    if not 1 < d < n:
        raise AttributeValueInvalid()
    if p is None or q is None:
        try:
            p, q = rsa.rsa_recover_prime_factors(n, e, d)
        except (ValueError, ArithmeticError):
            raise AttributeValueInvalid() from None
    if dmp1 is None:
        dmp1 = rsa.rsa_crt_dmp1(d, p)
    if dmq1 is None:
        dmq1 = rsa.rsa_crt_dmq1(d, q)
    if iqmp is None:
        try:
            iqmp = rsa.rsa_crt_iqmp(p, q)
        except ValueError:
            raise AttributeValueInvalid() from None
    numbers = rsa.RSAPrivateNumbers(p, q, d, dmp1, dmq1, iqmp, rsa.RSAPublicNumbers(e, n))
    try:
        key = numbers.private_key()  # full consistency check (p*q == n, CRT values, e*d)
    except (ValueError, TypeError):
        raise AttributeValueInvalid() from None
    return RsaParts(n, e, d, p, q, dmp1, dmq1, iqmp, _spki(key.public_key()))


# --- EC, Edwards, Montgomery -------------------------------------------------------------------


def raw_key_classes(name: str) -> tuple[Any, Any]:
    """(public key class, private key class) of an Edwards or Montgomery curve."""
    from cryptography.hazmat.primitives.asymmetric import ed448, ed25519, x448, x25519

    return {
        "Ed25519": (ed25519.Ed25519PublicKey, ed25519.Ed25519PrivateKey),
        "Ed448": (ed448.Ed448PublicKey, ed448.Ed448PrivateKey),
        "X25519": (x25519.X25519PublicKey, x25519.X25519PrivateKey),
        "X448": (x448.X448PublicKey, x448.X448PrivateKey),
    }[name]


def _load_point(curve: Curve, point: bytes) -> Any:
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        ec_curve = curve.ec_curve
        if ec_curve is not None:
            return ec.EllipticCurvePublicKey.from_encoded_point(ec_curve, point)
        if len(point) != curve.key_len:
            return None
        return raw_key_classes(curve.name)[0].from_public_bytes(point)
    except (ValueError, TypeError):
        return None


def ec_public(curve: Curve, point: bytes) -> tuple[bytes, bytes]:
    """Check CKA_EC_POINT (DER OCTET STRING, or the raw point some hosts send) lies on the
    curve; return (the DER-wrapped point as stored, SubjectPublicKeyInfo). Weierstrass points
    are stored uncompressed whatever form was given: that is what hosts read back."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    point = bytes(point)
    inner = der_octet_string_content(point)
    key = _load_point(curve, inner) if inner is not None else None
    if key is None:
        key = _load_point(curve, point)
    if key is None:
        raise AttributeValueInvalid()
    if curve.ec_class is not None:
        raw = key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    else:
        raw = key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return der_octet_string(bytes(raw)), _spki(key)


def ec_private(curve: Curve, value: bytes) -> bytes:
    """Check CKA_VALUE of an EC (scalar, 0 < d < order), Edwards or Montgomery private key;
    return the SubjectPublicKeyInfo of its public half."""
    from cryptography.hazmat.primitives.asymmetric import ec

    value = bytes(value)
    try:
        ec_curve = curve.ec_curve
        if ec_curve is not None:
            if not value:
                raise ValueError
            key = ec.derive_private_key(int.from_bytes(value, "big"), ec_curve)
        else:
            if len(value) != curve.key_len:
                raise ValueError
            key = raw_key_classes(curve.name)[1].from_private_bytes(value)
    except (ValueError, TypeError):
        raise AttributeValueInvalid() from None
    return _spki(key.public_key())


# --- secret keys -------------------------------------------------------------------------------

AES_LENGTHS = (16, 24, 32)


def aes_check_value(value: bytes) -> bytes:
    """Check an AES key length; return its CKA_CHECK_VALUE (first 3 bytes of E_k(0^128))."""
    if len(value) not in AES_LENGTHS:
        raise AttributeValueInvalid()
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    enc = Cipher(algorithms.AES(bytes(value)), modes.ECB()).encryptor()
    return (enc.update(bytes(16)) + enc.finalize())[:3]


def chacha20_check_value(value: bytes) -> bytes:
    """A ChaCha20 key is 32 bytes; the spec defines no check value, so it is the generic one."""
    if len(value) != 32:
        raise AttributeValueInvalid()
    return generic_check_value(value)


def generic_check_value(value: bytes) -> bytes:
    """Check a generic secret (at least one byte); CKA_CHECK_VALUE is SHA-1(value)[:3]."""
    if len(value) < 1:
        raise AttributeValueInvalid()
    return sha1(bytes(value)).digest()[:3]
