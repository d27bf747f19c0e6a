"""Validate key material given to C_CreateObject / C_UnwrapKey (and generated material) and
compute what follows from it: missing RSA CRT parts, the DER-wrapped EC point, the
SubjectPublicKeyInfo, secret key check values; and read key material out of a
SubjectPublicKeyInfo (a front end importing a public key).

Called by the key-type specs (``core.keytypes``). Every failure is AttributeValueInvalid
(TemplateIncomplete when the parts given cannot define a usable key, CurveNotSupported for a named
curve we do not implement, KeyTypeInconsistent for an SPKI of another algorithm).
Callers pass plain values; this module knows nothing of attribute tables.
"""

from __future__ import annotations

from collections.abc import Callable
from hashlib import sha1
from math import gcd
from typing import Any

from softhsm_py.engine import asn1, curves
from softhsm_py.engine.curves import Curve
from softhsm_py.errors import (
    AttributeValueInvalid,
    CurveNotSupported,
    KeyTypeInconsistent,
    PKCS11Error,
    TemplateIncomplete,
)

# cryptography is imported inside the functions that use it, not here: loading it costs 30-300 ms
# and the key-type specs (hence the object factory, which may load at module start) import this module.

RSA_MIN_BITS = 512  # smaller moduli are not keys anyone should import
RSA_MAX_BITS = 16384


# --- curves ------------------------------------------------------------------------------------


def curve_of(family: str, params: bytes) -> Curve:
    """The curve named by CKA_EC_PARAMS, which must belong to the key type's ``family``."""
    curve = curves.lookup(params)
    if curve is None and curves.is_other_prime_curve(params):
        raise CurveNotSupported()  # a well-formed OID or ECParameters of a curve we do not implement
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


class RsaParts:
    """A complete RSA private key (not a dataclass: this module loads at module start)."""

    __slots__ = ("d", "dmp1", "dmq1", "e", "iqmp", "n", "p", "q", "spki")

    def __init__(
        self, n: int, e: int, d: int, p: int, q: int, dmp1: int, dmq1: int, iqmp: int, spki: bytes
    ) -> None:
        self.n, self.e, self.d, self.p, self.q = n, e, d, p, q
        self.dmp1, self.dmq1, self.iqmp, self.spki = dmp1, dmq1, iqmp, spki


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


def _load_point(curve: Curve, point: bytes) -> Any:
    from cryptography.hazmat.primitives.asymmetric import ec

    from softhsm_py.engine import ec as engine_ec
    from softhsm_py.engine import edwards

    try:
        if curve.family == curves.EC:
            return ec.EllipticCurvePublicKey.from_encoded_point(engine_ec.CURVE_OBJECTS[curve.name], point)
        if len(point) != curve.key_len:
            return None
        return edwards.KEY_CLASSES[curve.name][1].from_public_bytes(point)
    except (ValueError, TypeError):
        return None


def _stored_point(curve: Curve, key: Any) -> bytes:
    """CKA_EC_POINT as stored: the DER OCTET STRING of the uncompressed (or raw) point."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    if curve.family == curves.EC:
        raw = key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    else:
        raw = key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return der_octet_string(bytes(raw))


def ec_public(curve: Curve, point: bytes) -> tuple[bytes, bytes]:
    """Check CKA_EC_POINT (DER OCTET STRING, or the raw point some hosts send) lies on the
    curve; return (the DER-wrapped point as stored, SubjectPublicKeyInfo). Weierstrass points
    are stored uncompressed whatever form was given: that is what hosts read back."""
    point = bytes(point)
    inner = der_octet_string_content(point)
    key = _load_point(curve, inner) if inner is not None else None
    if key is None:
        key = _load_point(curve, point)
    if key is None:
        raise AttributeValueInvalid()
    return _stored_point(curve, key), _spki(key)


def ec_private(curve: Curve, value: bytes) -> bytes:
    """Check CKA_VALUE of an EC (scalar, 0 < d < order), Edwards or Montgomery private key;
    return the SubjectPublicKeyInfo of its public half."""
    from cryptography.hazmat.primitives.asymmetric import ec

    from softhsm_py.engine import ec as engine_ec
    from softhsm_py.engine import edwards

    value = bytes(value)
    try:
        if curve.family == curves.EC:
            if not value:
                raise ValueError
            key = ec.derive_private_key(int.from_bytes(value, "big"), engine_ec.CURVE_OBJECTS[curve.name])
        else:
            if len(value) != curve.key_len:
                raise ValueError
            key = edwards.KEY_CLASSES[curve.name][0].from_private_bytes(value)
    except (ValueError, TypeError):
        raise AttributeValueInvalid() from None
    return _spki(key.public_key())


# --- SubjectPublicKeyInfo in (a front end importing a public key) -------------------------------


def _load_spki(der: bytes, unsupported: type[PKCS11Error]) -> Any:
    """``unsupported``: what an algorithm (or curve) cryptography does not know means here."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    from softhsm_py.engine.errmap import quiet_legacy_warnings

    quiet_legacy_warnings()  # the key may be DSA or DH
    try:
        return load_der_public_key(bytes(der))
    except (ValueError, TypeError):
        raise AttributeValueInvalid() from None
    except UnsupportedAlgorithm:
        raise unsupported() from None


def load_spki(der: bytes) -> Any:
    """cryptography's public key in a SubjectPublicKeyInfo; KeyTypeInconsistent for an algorithm
    it does not know (the key-type specs check which kind it is)."""
    return _load_spki(der, KeyTypeInconsistent)


def rsa_from_spki(der: bytes) -> tuple[int, int]:
    """(n, e) of an RSA SubjectPublicKeyInfo; KeyTypeInconsistent for another algorithm."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = _load_spki(der, KeyTypeInconsistent)
    if not isinstance(key, rsa.RSAPublicKey):
        raise KeyTypeInconsistent()
    numbers = key.public_numbers()
    return numbers.n, numbers.e


def curve_from_spki(family: str, der: bytes) -> tuple[Curve, bytes]:
    """(curve, CKA_EC_POINT as stored) of an EC / Edwards / Montgomery SubjectPublicKeyInfo."""
    from cryptography.hazmat.primitives.asymmetric import ec

    from softhsm_py.engine import edwards

    # cryptography refuses an EC key on a curve it lacks as an unsupported algorithm
    key = _load_spki(der, CurveNotSupported if family == curves.EC else KeyTypeInconsistent)
    if isinstance(key, ec.EllipticCurvePublicKey):
        curve = curves.BY_NAME.get(key.curve.name)
        if curve is None:
            raise CurveNotSupported()
    else:
        names = [name for name, (_, public) in edwards.KEY_CLASSES.items() if isinstance(key, public)]
        if not names:
            raise KeyTypeInconsistent()
        curve = curves.BY_NAME[names[0]]
    if curve.family != family:
        raise KeyTypeInconsistent()
    return curve, _stored_point(curve, key)


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


def des_check_value(length: int) -> Callable[[bytes], bytes]:
    """The check of a DES2 (16 bytes) or DES3 (24 bytes) key: its length and the parity of every
    byte (3.0, 6.x: a DES key with wrong parity must not be created or unwrapped); the check
    value is the first 3 bytes of the encryption of a zero block."""

    def check(value: bytes) -> bytes:
        from softhsm_py.engine import blockciphers

        if len(value) != length or not blockciphers.has_odd_parity(value):
            raise AttributeValueInvalid()
        return blockciphers.check_value(blockciphers.DES3, bytes(value))

    return check


def camellia_check_value(value: bytes) -> bytes:
    """A Camellia key is 16, 24 or 32 bytes; its check value that of every block cipher."""
    from softhsm_py.engine import blockciphers

    if len(value) not in blockciphers.key_sizes(blockciphers.CAMELLIA):
        raise AttributeValueInvalid()
    return blockciphers.check_value(blockciphers.CAMELLIA, bytes(value))
