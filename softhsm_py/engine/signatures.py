"""Signatures the way a Java ``Signature`` makes them, for Smart Key Attributes: approvers sign
timestamps and approval tokens with SHA*withECDSA (DER), SHA*withRSA (PKCS#1 v1.5) or Ed25519 /
Ed448 (TSB.md 6.3, 6.5), and a signature travels with its algorithm as the JCE's
``derifyOidAndSig`` writes it: SEQUENCE { AlgorithmIdentifier, BIT STRING signature }.

Also the approver side (a command-line approver, tests): key pairs, signing, and the onboarding of
approvers (an RSA key and a self-signed certificate in a PKCS#12, sent under AES-GCM)."""

from __future__ import annotations

import datetime
import os
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from softhsm_py import errors
from softhsm_py.engine import asn1

#: the JDK's MessageDigest names the TSB's DTOs allow -> cryptography's hash class
DIGESTS: dict[str, type[hashes.HashAlgorithm]] = {
    "SHA-224": hashes.SHA224,
    "SHA-256": hashes.SHA256,
    "SHA-384": hashes.SHA384,
    "SHA-512": hashes.SHA512,
    "SHA3-224": hashes.SHA3_224,
    "SHA3-256": hashes.SHA3_256,
    "SHA3-384": hashes.SHA3_384,
    "SHA3-512": hashes.SHA3_512,
}
#: names that mean "the key's own algorithm" (Ed25519 / Ed448 hash inside; the docs send EdDSA)
EDDSA_NAMES = frozenset({"EdDSA", "Ed25519", "Ed448", "NONE"})

# AlgorithmIdentifier OIDs of a signature (family, digest) and back
_ALGORITHMS: dict[tuple[str, str], str] = {
    ("EC", "SHA-224"): "1.2.840.10045.4.3.1",
    ("EC", "SHA-256"): "1.2.840.10045.4.3.2",
    ("EC", "SHA-384"): "1.2.840.10045.4.3.3",
    ("EC", "SHA-512"): "1.2.840.10045.4.3.4",
    ("EC", "SHA3-224"): "2.16.840.1.101.3.4.3.9",
    ("EC", "SHA3-256"): "2.16.840.1.101.3.4.3.10",
    ("EC", "SHA3-384"): "2.16.840.1.101.3.4.3.11",
    ("EC", "SHA3-512"): "2.16.840.1.101.3.4.3.12",
    ("RSA", "SHA-224"): "1.2.840.113549.1.1.14",
    ("RSA", "SHA-256"): "1.2.840.113549.1.1.11",
    ("RSA", "SHA-384"): "1.2.840.113549.1.1.12",
    ("RSA", "SHA-512"): "1.2.840.113549.1.1.13",
    ("RSA", "SHA3-224"): "2.16.840.1.101.3.4.3.13",
    ("RSA", "SHA3-256"): "2.16.840.1.101.3.4.3.14",
    ("RSA", "SHA3-384"): "2.16.840.1.101.3.4.3.15",
    ("RSA", "SHA3-512"): "2.16.840.1.101.3.4.3.16",
    ("Ed25519", "EdDSA"): "1.3.101.112",
    ("Ed448", "EdDSA"): "1.3.101.113",
}
_BY_OID = {oid: key for key, oid in _ALGORITHMS.items()}
_TAG_BIT_STRING = 0x03


# -- public keys and certificates -------------------------------------------------------------


def _public(spki: bytes) -> Any:
    try:
        key = serialization.load_der_public_key(spki)
    except Exception:  # any parse failure of the caller's bytes
        raise errors.PublicKeyInvalid() from None
    if not isinstance(
        key, (ec.EllipticCurvePublicKey, rsa.RSAPublicKey, ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)
    ):
        raise errors.PublicKeyInvalid()  # DSA, X25519...: no approver signs with those
    return key


def family(spki: bytes) -> str:
    """ "EC", "RSA", "Ed25519" or "Ed448"; PublicKeyInvalid for anything else."""
    key = _public(spki)
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "EC"
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA"
    return "Ed25519" if isinstance(key, ed25519.Ed25519PublicKey) else "Ed448"


def canonical_spki(spki: bytes) -> bytes:
    """The DER SubjectPublicKeyInfo of ``spki`` as cryptography writes it (one form per key)."""
    return bytes(
        _public(spki).public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def certificate_key(der: bytes) -> tuple[bytes, str | None]:
    """(SubjectPublicKeyInfo, subject CN) of a DER certificate; PublicKeyInvalid if it is none.
    Validity dates are not looked at: the certificate only carries the approver's key."""
    try:
        cert = x509.load_der_x509_certificate(der)
        spki = cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    except Exception:
        raise errors.PublicKeyInvalid() from None
    _public(spki)
    cn = names[0].value if names else None
    return bytes(spki), cn if isinstance(cn, str) else None


def certificate_der(data: bytes) -> bytes:
    """A certificate file's content (PEM or DER) as DER; ValueError if it is none."""
    try:
        if data.lstrip().startswith(b"-----"):
            cert = x509.load_pem_x509_certificate(data)
        else:
            cert = x509.load_der_x509_certificate(data)
    except Exception:
        raise ValueError("not an X.509 certificate") from None
    return bytes(cert.public_bytes(serialization.Encoding.DER))


# -- signatures ---------------------------------------------------------------------------------


def verify(spki: bytes, data: bytes, signature: bytes, digest: str | None) -> None:
    """A JDK-style signature by ``spki`` over ``data``; SignatureInvalid otherwise. ``digest`` is
    the JDK digest name (SHA-256...), ignored for EdDSA keys, which hash themselves."""
    key = _public(spki)
    try:
        if isinstance(key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
            key.verify(signature, data)
            return
        algorithm = DIGESTS.get(digest or "")
        if algorithm is None:
            raise errors.SignatureInvalid()  # no digest named, or one the TSB does not allow
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(algorithm()))
        else:
            key.verify(signature, data, padding.PKCS1v15(), algorithm())
    except InvalidSignature:
        raise errors.SignatureInvalid() from None
    except (ValueError, TypeError):
        raise errors.SignatureInvalid() from None


def with_algorithm(spki: bytes, digest: str | None, signature: bytes) -> bytes:
    """``derifyOidAndSig``: SEQUENCE { SEQUENCE { OID, NULL }, BIT STRING signature } (Edwards
    keys: no parameters, RFC 8410)."""
    kind = family(spki)
    name = "EdDSA" if kind.startswith("Ed") else (digest or "")
    oid = _ALGORITHMS.get((kind, name))
    if oid is None:
        raise errors.SignatureInvalid()
    params = b"" if kind.startswith("Ed") else asn1.NULL
    algorithm = asn1.sequence(asn1.oid(oid), params)
    return asn1.sequence(algorithm, asn1.encode(_TAG_BIT_STRING, b"\x00" + signature))


def split_algorithm(der: bytes) -> tuple[str, str, bytes]:
    """(key family, digest name, signature) of a ``with_algorithm`` value; SignatureInvalid if
    it is not one (or names an algorithm no approver uses)."""
    try:
        outer = _children(asn1.decode(der, asn1.TAG_SEQUENCE, errors.SignatureInvalid))
        if len(outer) != 2:
            raise errors.SignatureInvalid()
        inner = _children(asn1.decode(outer[0], asn1.TAG_SEQUENCE, errors.SignatureInvalid))
        if not 1 <= len(inner) <= 2 or (len(inner) == 2 and inner[1] != asn1.NULL):
            raise errors.SignatureInvalid()
        oid = asn1.oid_dotted(inner[0])
        bits = asn1.decode(outer[1], _TAG_BIT_STRING, errors.SignatureInvalid)
    except errors.DomainParamsInvalid:
        raise errors.SignatureInvalid() from None
    if not bits or bits[0] != 0 or oid not in _BY_OID:
        raise errors.SignatureInvalid()
    kind, digest = _BY_OID[oid]
    return kind, digest, bytes(bits[1:])


def _children(body: bytes) -> list[bytes]:
    """The DER elements of a constructed value's body."""
    out, pos = [], 0
    while pos < len(body):
        if len(body) - pos < 2:
            raise errors.SignatureInvalid()
        first = body[pos + 1]
        if first < 0x80:
            head, length = 2, first
        else:
            count = first & 0x7F
            if count == 0 or count > 4 or len(body) - pos < 2 + count:
                raise errors.SignatureInvalid()
            head, length = 2 + count, int.from_bytes(body[pos + 2 : pos + 2 + count], "big")
        end = pos + head + length
        if end > len(body):
            raise errors.SignatureInvalid()
        out.append(body[pos:end])
        pos = end
    return out


def ecdsa_der(raw: bytes) -> bytes:
    """r || s (PKCS#11's ECDSA output) -> the DER ECDSA-Sig-Value a JDK verifier takes."""
    half = len(raw) // 2
    if not raw or len(raw) % 2:
        raise errors.SignatureLenRange()

    def integer(value: bytes) -> bytes:
        value = value.lstrip(b"\x00") or b"\x00"
        if value[0] & 0x80:
            value = b"\x00" + value
        return asn1.encode(0x02, value)

    return asn1.sequence(integer(raw[:half]), integer(raw[half:]))


# -- the approver's side --------------------------------------------------------------------------

APPROVER_KEY_TYPES = ("ec", "rsa", "ed25519")


def new_approver_key(kind: str = "ec") -> tuple[bytes, bytes]:
    """(PKCS#8 PEM, SubjectPublicKeyInfo DER) of a new approver key: "ec" (P-256), "rsa" (2048)
    or "ed25519"."""
    key: Any
    if kind == "ec":
        key = ec.generate_private_key(ec.SECP256R1())
    elif kind == "rsa":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif kind == "ed25519":
        key = ed25519.Ed25519PrivateKey.generate()
    else:
        raise ValueError(f"approver key type must be one of {', '.join(APPROVER_KEY_TYPES)}")
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    spki = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return bytes(pem), bytes(spki)


def load_approver_key(pem: bytes, password: bytes | None = None) -> tuple[Any, bytes]:
    """(private key, SPKI DER) of a PEM (or DER) private key file's content."""
    try:
        if pem.lstrip().startswith(b"-----"):
            key = serialization.load_pem_private_key(pem, password)
        else:
            key = serialization.load_der_private_key(pem, password)
    except (ValueError, TypeError) as exc:
        raise ValueError("not a private key (PKCS#8 or traditional PEM/DER, unencrypted)") from exc
    spki = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return key, bytes(spki)


def approver_sign(key: Any, data: bytes, digest: str = "SHA-256") -> bytes:
    """What ``Signature.sign()`` returns for ``key`` (SHA*withECDSA DER, SHA*withRSA, EdDSA)."""
    if isinstance(key, (ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey)):
        return bytes(key.sign(data))
    algorithm = DIGESTS[digest]()
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return bytes(key.sign(data, ec.ECDSA(algorithm)))
    if isinstance(key, rsa.RSAPrivateKey):
        return bytes(key.sign(data, padding.PKCS1v15(), algorithm))
    raise ValueError("an approver key is EC, RSA or Ed25519/Ed448")


# -- onboarded approvers (TSB.md 3.7) -----------------------------------------------------------


def new_onboarded_approver(name: str, key_size: int, days: int) -> tuple[bytes, bytes]:
    """(PKCS#8 DER of a new RSA key, DER of its self-signed certificate, CN = ``name``)."""
    if key_size not in (2048, 3072, 4096):
        raise errors.KeySizeRange()
    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pkcs8 = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return bytes(pkcs8), bytes(cert.public_bytes(serialization.Encoding.DER))


def pkcs12_of(name: str, pkcs8: bytes, certificate: bytes, password: bytes) -> bytes:
    """A PKCS#12 of the approver's key and certificate, encrypted under ``password``."""
    key = serialization.load_der_private_key(pkcs8, None)
    cert = x509.load_der_x509_certificate(certificate)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise errors.KeyTypeInconsistent()
    return bytes(
        pkcs12.serialize_key_and_certificates(
            name.encode("utf-8"), key, cert, None, serialization.BestAvailableEncryption(password)
        )
    )


def gcm_transport(key: bytes, data: bytes) -> tuple[bytes, bytes]:
    """(IV, ciphertext || 128-bit tag): Java's AES/GCM/NoPadding with a 12-byte IV."""
    if len(key) not in (16, 24, 32):
        raise errors.KeySizeRange()
    iv = os.urandom(12)
    return iv, bytes(AESGCM(key).encrypt(iv, data, None))


def gcm_open(key: bytes, iv: bytes, data: bytes) -> bytes:
    """Inverse of ``gcm_transport`` (an approver's side)."""
    try:
        return bytes(AESGCM(key).decrypt(iv, data, None))
    except Exception:
        raise errors.EncryptedDataInvalid() from None


def read_pkcs12(data: bytes, password: bytes) -> tuple[Any, bytes]:
    """(private key, certificate DER) of a PKCS#12 (an onboarded approver's side)."""
    try:
        key, cert, _ = pkcs12.load_key_and_certificates(data, password)
    except (ValueError, TypeError):
        raise errors.EncryptedDataInvalid() from None
    if key is None or cert is None:
        raise errors.EncryptedDataInvalid()
    return key, bytes(cert.public_bytes(serialization.Encoding.DER))


__all__ = [
    "APPROVER_KEY_TYPES",
    "DIGESTS",
    "EDDSA_NAMES",
    "approver_sign",
    "canonical_spki",
    "certificate_der",
    "certificate_key",
    "ecdsa_der",
    "family",
    "gcm_open",
    "gcm_transport",
    "load_approver_key",
    "new_approver_key",
    "new_onboarded_approver",
    "pkcs12_of",
    "read_pkcs12",
    "split_algorithm",
    "verify",
    "with_algorithm",
]
