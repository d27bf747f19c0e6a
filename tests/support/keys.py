"""Key material made by pyca/cryptography (the independent side of every key test): curve OIDs,
one cached key per size or curve, the CKA templates of a key for C_CreateObject, their import into a
token, and the way back (a token's public attributes as a cryptography key).

    pub, priv = rsa_templates()                  # {Attribute.CLASS: ..., Attribute.MODULUS: ...}
    h_pub, h_priv = import_rsa(t, rsa_key(2048))  # t: a support.token.Token
"""

from __future__ import annotations

import datetime
import functools
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa, x448, x25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.x509.oid import NameOID

from .constants import Attribute, CertificateType, KeyType, ObjectClass

if TYPE_CHECKING:
    from .token import Token

A = Attribute

# ------------------------------------------------------------------------------- curves
# DER of the curve OIDs (CKA_EC_PARAMS), as `openssl ecparam -name NAME -outform DER` writes them.
P256 = bytes.fromhex("06082a8648ce3d030107")
P384 = bytes.fromhex("06052b81040022")
P521 = bytes.fromhex("06052b81040023")
SECP256K1 = bytes.fromhex("06052b8104000a")
P192 = bytes.fromhex("06082a8648ce3d030101")
P224 = bytes.fromhex("06052b81040021")
BRAINPOOL_P256 = bytes.fromhex("06092b2403030208010107")
BRAINPOOL_P384 = bytes.fromhex("06092b240303020801010b")
BRAINPOOL_P512 = bytes.fromhex("06092b240303020801010d")
ED25519_OID = bytes.fromhex("06032b6570")
ED448_OID = bytes.fromhex("06032b6571")
X25519_OID = bytes.fromhex("06032b656e")
X448_OID = bytes.fromhex("06032b656f")

# Weierstrass curves: OID -> (name, cryptography curve)
_WEIERSTRASS: dict[bytes, tuple[str, ec.EllipticCurve]] = {
    P256: ("P-256", ec.SECP256R1()), P384: ("P-384", ec.SECP384R1()), P521: ("P-521", ec.SECP521R1()),
    SECP256K1: ("secp256k1", ec.SECP256K1()), P192: ("P-192", ec.SECP192R1()),
    P224: ("P-224", ec.SECP224R1()), BRAINPOOL_P256: ("brainpoolP256r1", ec.BrainpoolP256R1()),
    BRAINPOOL_P384: ("brainpoolP384r1", ec.BrainpoolP384R1()),
    BRAINPOOL_P512: ("brainpoolP512r1", ec.BrainpoolP512R1()),
}  # fmt: skip
CURVES = {oid: curve for oid, (_, curve) in _WEIERSTRASS.items()}
CURVE_IDS = {oid: name for oid, (name, _) in _WEIERSTRASS.items()}

# Edwards and Montgomery curves: name -> (cryptography key class, OID, key type, curve-name string)
OKP: dict[str, tuple[Any, bytes, KeyType, str]] = {
    "ed25519": (ed25519.Ed25519PrivateKey, ED25519_OID, KeyType.EC_EDWARDS, "edwards25519"),
    "ed448": (ed448.Ed448PrivateKey, ED448_OID, KeyType.EC_EDWARDS, "edwards448"),
    "x25519": (x25519.X25519PrivateKey, X25519_OID, KeyType.EC_MONTGOMERY, "curve25519"),
    "x448": (x448.X448PrivateKey, X448_OID, KeyType.EC_MONTGOMERY, "curve448"),
}
# Every curve by the name the object tests use.
EC_OIDS = {
    "P-256": P256, "P-384": P384, "P-521": P521, "secp256k1": SECP256K1,
    "Ed25519": ED25519_OID, "Ed448": ED448_OID, "X25519": X25519_OID, "X448": X448_OID,
}  # fmt: skip


def printable(name: str) -> bytes:
    """A curve name as a DER PrintableString (CKA_EC_PARAMS as SoftHSMv2 and pkcs11-tool write
    Edwards and Montgomery curves)."""
    return bytes([0x13, len(name)]) + name.encode()


# ------------------------------------------------------------------------------- DER bits
def _int(value: int) -> bytes:
    return value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")


def der_octet_string(data: bytes) -> bytes:
    n = len(data)
    if n < 0x80:
        return b"\x04" + bytes([n]) + data
    size = _int(n)
    return b"\x04" + bytes([0x80 | len(size)]) + size + data


def der_unwrap_octet_string(data: bytes) -> bytes:
    """CKA_EC_POINT is an OCTET STRING (as SoftHSMv2 writes it); accept a raw point too."""
    if data[:1] != b"\x04" or len(data) < 2:
        return data
    n, off = data[1], 2
    if n & 0x80:
        k = n & 0x7F
        n, off = int.from_bytes(data[2 : 2 + k], "big"), 2 + k
    return data[off:] if off + n == len(data) else data


def der_octets(value: bytes) -> bytes:
    """The content of a DER OCTET STRING, which ``value`` must be (CKA_EC_POINT as SoftHSMv2 and
    softhsm-py return it)."""
    assert value[0] == 0x04, value.hex()
    length, offset = value[1], 2
    if length & 0x80:
        n = length & 0x7F
        length, offset = int.from_bytes(value[2 : 2 + n], "big"), 2 + n
    assert len(value) == offset + length, value.hex()
    return value[offset:]


def raw_to_der_ecdsa(signature: bytes) -> bytes:
    """CKM_ECDSA's r||s as the DER signature cryptography verifies."""
    half = len(signature) // 2
    return encode_dss_signature(
        int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big")
    )


def der_to_raw_ecdsa(signature: bytes, size: int) -> bytes:
    r, s = decode_dss_signature(signature)
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


# ------------------------------------------------------------------------------- keys
@functools.cache
def rsa_key(bits: int = 2048, which: int = 0) -> rsa.RSAPrivateKey:
    """One RSA key per (size, ``which``) for the whole run: generation is the slow part."""
    return rsa.generate_private_key(65537, bits)


@functools.cache
def ec_key(params: bytes) -> ec.EllipticCurvePrivateKey:
    """One key per Weierstrass curve (by OID) for the whole run."""
    return ec.generate_private_key(CURVES[params])


def ec_point(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


RAW = (serialization.Encoding.Raw, serialization.PublicFormat.Raw)
RAW_PRIV = (serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())


# ------------------------------------------------------------------------------- templates
def rsa_attrs(key: rsa.RSAPrivateKey) -> tuple[dict[int, Any], dict[int, Any]]:
    """(public, private) templates of ``key``, all CRT parts given."""
    pn = key.private_numbers()
    pub = pn.public_numbers
    common = {A.KEY_TYPE: KeyType.RSA, A.MODULUS: _int(pub.n), A.PUBLIC_EXPONENT: _int(pub.e)}
    public = {A.CLASS: ObjectClass.PUBLIC_KEY, **common}
    private = {
        A.CLASS: ObjectClass.PRIVATE_KEY, **common, A.PRIVATE_EXPONENT: _int(pn.d), A.PRIME_1: _int(pn.p),
        A.PRIME_2: _int(pn.q), A.EXPONENT_1: _int(pn.dmp1), A.EXPONENT_2: _int(pn.dmq1),
        A.COEFFICIENT: _int(pn.iqmp),
    }  # fmt: skip
    return public, private


def ec_attrs(key: ec.EllipticCurvePrivateKey, params: bytes) -> tuple[dict[int, Any], dict[int, Any]]:
    """(public, private) templates of a Weierstrass key; ``params`` its CKA_EC_PARAMS."""
    size = (key.curve.key_size + 7) // 8
    value = key.private_numbers().private_value.to_bytes(size, "big")
    common = {A.KEY_TYPE: KeyType.EC, A.EC_PARAMS: params}
    public = {
        A.CLASS: ObjectClass.PUBLIC_KEY,
        **common,
        A.EC_POINT: der_octet_string(ec_point(key.public_key())),
    }
    return public, {A.CLASS: ObjectClass.PRIVATE_KEY, **common, A.VALUE: value}


def okp_attrs(name: str, key: Any, params: bytes | None = None) -> tuple[dict[int, Any], dict[int, Any]]:
    """(public, private) templates of an Edwards / Montgomery key (``name`` a key of OKP);
    ``params`` its CKA_EC_PARAMS, the curve's OID unless given."""
    _, oid, key_type, _ = OKP[name]
    common = {A.KEY_TYPE: key_type, A.EC_PARAMS: oid if params is None else params}
    point = der_octet_string(key.public_key().public_bytes(*RAW))
    public = {A.CLASS: ObjectClass.PUBLIC_KEY, **common, A.EC_POINT: point}
    return public, {A.CLASS: ObjectClass.PRIVATE_KEY, **common, A.VALUE: key.private_bytes(*RAW_PRIV)}


def rsa_templates(bits: int = 2048, which: int = 0) -> tuple[dict[int, Any], dict[int, Any]]:
    """(public, private) templates of the cached RSA key (``bits``, ``which``)."""
    return rsa_attrs(rsa_key(bits, which))


def ec_templates(curve: str, params: str = "oid") -> tuple[dict[int, Any], dict[int, Any]]:
    """(public, private) templates of a fresh key on ``curve`` (a key of EC_OIDS); ``params``
    "oid" or "printable" (the curve-name PrintableString, Edwards and Montgomery curves only)."""
    oid = EC_OIDS[curve]
    if oid in CURVES:
        assert params == "oid", "Weierstrass curves are named by OID"
        return ec_attrs(ec.generate_private_key(CURVES[oid]), oid)
    cls, _, _, string_name = OKP[curve.lower()]
    return okp_attrs(curve.lower(), cls.generate(), None if params == "oid" else printable(string_name))


def off_curve_point(curve: str = "P-256") -> bytes:
    """An uncompressed point (CKA_EC_POINT) of the right length whose y does not satisfy the curve
    equation."""
    key = ec.generate_private_key(CURVES[EC_OIDS[curve]])
    point = bytearray(ec_point(key.public_key()))
    point[-1] ^= 0x01  # y+-1: (x, y') is not on the curve (y is the only root pair)
    return der_octet_string(bytes(point))


@functools.cache
def certificate(common_name: str = "softhsm-py test") -> dict[int, Any]:
    """An X.509 certificate template (self-signed P-256, made with cryptography)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(0x1234)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    return {
        A.CLASS: ObjectClass.CERTIFICATE, A.CERTIFICATE_TYPE: CertificateType.X_509,
        A.SUBJECT: name.public_bytes(), A.ISSUER: name.public_bytes(),
        A.SERIAL_NUMBER: bytes.fromhex("021212"), A.VALUE: cert.public_bytes(serialization.Encoding.DER),
    }  # fmt: skip


# ------------------------------------------------------------------------------- into a token
BASE_PUBLIC = {A.TOKEN: False, A.VERIFY: True, A.ENCRYPT: True, A.WRAP: True}
BASE_PRIVATE = {A.TOKEN: False, A.SIGN: True, A.DECRYPT: True, A.UNWRAP: True, A.DERIVE: True,
                A.SENSITIVE: True, A.EXTRACTABLE: True}  # fmt: skip


def _import(
    t: Token,
    pair: tuple[dict[int, Any], dict[int, Any]],
    public: dict[int, Any] | None,
    extra: dict[str, Any],
) -> tuple[int, int]:
    pub, priv = pair
    h_pub = t.create({**pub, **BASE_PUBLIC, **(public or {})})
    return h_pub, t.create({**priv, **BASE_PRIVATE, **{A[k]: v for k, v in extra.items()}})


def import_rsa(
    t: Token, key: rsa.RSAPrivateKey, public: dict[int, Any] | None = None, **extra: Any
) -> tuple[int, int]:
    """Session objects (public, private) usable for everything; ``public`` adds to the public
    template, ``extra`` (Attribute names) to the private one."""
    return _import(t, rsa_attrs(key), public, extra)


def import_ec(t: Token, key: ec.EllipticCurvePrivateKey, params: bytes, **extra: Any) -> tuple[int, int]:
    return _import(t, ec_attrs(key, params), None, extra)


def import_okp(t: Token, name: str, key: Any = None) -> tuple[int, int, Any]:
    """An Edwards / Montgomery key (made by cryptography unless given) as (pub, priv, key)."""
    key = key or OKP[name][0].generate()
    h_pub, h_priv = _import(t, okp_attrs(name, key), None, {})
    return h_pub, h_priv, key


# ------------------------------------------------------------------------------- out of a token
def public_rsa(t: Token, h_pub: int) -> rsa.RSAPublicKey:
    n = int.from_bytes(t.get(h_pub, A.MODULUS), "big")
    e = int.from_bytes(t.get(h_pub, A.PUBLIC_EXPONENT), "big")
    return rsa.RSAPublicNumbers(e, n).public_key()


def public_ec(t: Token, h_pub: int, params: bytes) -> ec.EllipticCurvePublicKey:
    point = der_unwrap_octet_string(t.get(h_pub, A.EC_POINT))
    return ec.EllipticCurvePublicKey.from_encoded_point(CURVES[params], point)


def public_key_from_attributes(key_type: str, **attrs: bytes) -> Any:
    """A cryptography public key from a token's public attributes as a host printed them (hex
    decoded by the caller): rsa(modulus, exponent), ec(ec_params, ec_point), ed25519(ec_point)."""
    if key_type == "rsa":
        n, e = (int.from_bytes(attrs[k], "big") for k in ("modulus", "exponent"))
        return rsa.RSAPublicNumbers(e, n).public_key()
    if key_type == "ec":
        return ec.EllipticCurvePublicKey.from_encoded_point(
            CURVES[attrs["ec_params"]], der_octets(attrs["ec_point"])
        )
    if key_type == "ed25519":
        point = attrs["ec_point"]
        return ed25519.Ed25519PublicKey.from_public_bytes(point if len(point) == 32 else der_octets(point))
    raise ValueError(key_type)
