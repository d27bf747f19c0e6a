"""ECDSA and ECDH on the prime curves of ``engine.curves`` (family EC).

CKA_EC_PARAMS is the DER OBJECT IDENTIFIER of a named curve; CKA_EC_POINT the DER OCTET STRING of
the uncompressed point (a raw point is accepted on input); CKA_VALUE the private scalar,
big-endian. Signatures are raw r || s, each half as long as the curve order.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes as _hashes
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils

from softhsm_py import errors
from softhsm_py.engine import asn1, curves
from softhsm_py.engine.errmap import mapped

PrivateKey = ec.EllipticCurvePrivateKey
PublicKey = ec.EllipticCurvePublicKey
Curve = curves.Curve

# cryptography's curve object of each prime curve in the table (stateless, so shared).
CURVE_OBJECTS: dict[str, ec.EllipticCurve] = {
    c.name: getattr(ec, c.engine)() for c in curves.of_family(curves.EC)
}


def curve_for(ec_params: bytes) -> Curve:
    """The prime curve named by CKA_EC_PARAMS (its OID or explicit parameters equal to its own);
    other curves are refused."""
    curve = curves.lookup(ec_params)
    if curve is None or curve.family != curves.EC:
        if curves.is_other_prime_curve(ec_params):
            raise errors.CurveNotSupported()
        raise errors.DomainParamsInvalid()
    return curve


def point_bytes(ec_point: bytes, curve: Curve) -> bytes:
    """The raw point inside CKA_EC_POINT / a peer's public data; DER-wrapped or raw."""
    raw_len = 2 * curve.key_len + 1
    if len(ec_point) == raw_len and ec_point[0] == 0x04:
        return bytes(ec_point)
    if len(ec_point) == curve.key_len + 1 and ec_point[0] in (2, 3):
        return bytes(ec_point)
    return asn1.decode(bytes(ec_point), asn1.TAG_OCTET_STRING, errors.PublicKeyInvalid)


def load_public(ec_params: bytes, ec_point: bytes) -> PublicKey:
    curve = curve_for(ec_params)
    raw = point_bytes(ec_point, curve)
    with mapped(errors.PublicKeyInvalid):
        return ec.EllipticCurvePublicKey.from_encoded_point(CURVE_OBJECTS[curve.name], raw)


def load_private(ec_params: bytes, value: bytes) -> PrivateKey:
    curve = curve_for(ec_params)
    with mapped(errors.GeneralError):
        return ec.derive_private_key(int.from_bytes(value, "big"), CURVE_OBJECTS[curve.name])


def generate(ec_params: bytes) -> tuple[bytes, bytes, bytes]:
    """(CKA_EC_POINT as DER OCTET STRING, CKA_VALUE fixed-length, CKA_PUBLIC_KEY_INFO) of a
    fresh key."""
    curve = curve_for(ec_params)
    key = ec.generate_private_key(CURVE_OBJECTS[curve.name])
    value = key.private_numbers().private_value.to_bytes(curve.key_len, "big")
    info = spki(key.public_key())
    # The SPKI ends with its BIT STRING, whose content is the uncompressed point: one encoding
    # instead of two (each costs as much as a quarter of the generation).
    point = info[-(2 * curve.key_len + 1) :]
    assert point[0] == 0x04
    return asn1.octet_string(point), value, info


def spki(key: PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


class _RawHash(_hashes.HashAlgorithm):
    """Stands in for 'whatever hash the caller used' so CKM_ECDSA takes any digest length.

    OpenSSL truncates the digest to the order length itself (SEC 1 4.1.3 step 5), which is the
    truncation PKCS#11 asks for; cryptography only checks the length against digest_size.
    """

    name = "softhsm-raw"
    block_size = None

    def __init__(self, size: int) -> None:
        self._size = size

    @property
    def digest_size(self) -> int:
        return self._size


# ECDSA over a caller's digest, one per digest length (they hold no state); bounded, since the
# length is the caller's choice.
_ECDSA: dict[int, ec.ECDSA] = {}


def _ecdsa(length: int) -> ec.ECDSA:
    alg = _ECDSA.get(length)
    if alg is None:
        alg = ec.ECDSA(utils.Prehashed(_RawHash(length)))
        if length <= 128:
            _ECDSA[length] = alg
    return alg


_FIELD_LEN = {c.name: c.key_len for c in curves.of_family(curves.EC)}  # by cryptography curve name


def sign_digest(key: PrivateKey, digest: bytes) -> bytes:
    if not digest:
        raise errors.DataLenRange()
    n = _FIELD_LEN[key.curve.name]
    # mapped(errors.DataLenRange) only when something went wrong: a context manager costs more
    # than the rest of this function.
    try:
        der = key.sign(digest, _ecdsa(len(digest)))
    except Exception:
        with mapped(errors.DataLenRange):
            raise
    r, s = utils.decode_dss_signature(der)
    return r.to_bytes(n, "big") + s.to_bytes(n, "big")


def verify_digest(key: PublicKey, digest: bytes, signature: bytes) -> None:
    n = _FIELD_LEN[key.curve.name]
    if len(signature) != 2 * n:
        raise errors.SignatureLenRange()
    if not digest:
        raise errors.DataLenRange()
    r, s = int.from_bytes(signature[:n], "big"), int.from_bytes(signature[n:], "big")
    der = utils.encode_dss_signature(r, s)
    try:  # mapped(errors.SignatureInvalid), entered only on failure (see sign_digest)
        key.verify(der, digest, _ecdsa(len(digest)))
    except Exception:
        with mapped(errors.SignatureInvalid):
            raise


def ecdh(key: PrivateKey, peer_point: bytes) -> bytes:
    """Shared secret Z (the x coordinate, field length). Cofactor is 1 on every curve offered,
    so ECDH1_COFACTOR_DERIVE gives the same Z."""
    curve = curves.BY_NAME[key.curve.name]
    raw = point_bytes(peer_point, curve)
    with mapped(errors.MechanismParamInvalid):
        peer = ec.EllipticCurvePublicKey.from_encoded_point(CURVE_OBJECTS[curve.name], raw)
        return key.exchange(ec.ECDH(), peer)
