"""X.509 certificates and requests: the attestation root and chain, and the certificates a key's
owner asks for (CSR, self-signed, CA-signed). Keys come in as pyca/cryptography private keys the
core loaded after its gate; nothing here decides who may sign.

Names are lists of (attribute, value) with the attribute one of ``NAME_ATTRIBUTES``; key usages
and extended key usages are the names of ``KEY_USAGES`` / ``EXTENDED_KEY_USAGES``.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Sequence
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from softhsm_py import errors

NAME_ATTRIBUTES = {
    "CN": NameOID.COMMON_NAME,
    "C": NameOID.COUNTRY_NAME,
    "ST": NameOID.STATE_OR_PROVINCE_NAME,
    "L": NameOID.LOCALITY_NAME,
    "O": NameOID.ORGANIZATION_NAME,
    "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "emailAddress": NameOID.EMAIL_ADDRESS,
    "title": NameOID.TITLE,
    "SN": NameOID.SURNAME,
    "GN": NameOID.GIVEN_NAME,
    "initials": NameOID.INITIALS,
    "pseudonym": NameOID.PSEUDONYM,
    "generationQualifier": NameOID.GENERATION_QUALIFIER,
    "organizationIdentifier": NameOID.ORGANIZATION_IDENTIFIER,
}
KEY_USAGES = (
    "digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
    "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only",
)  # fmt: skip
EXTENDED_KEY_USAGES = {
    "any": ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,
    "server_auth": ExtendedKeyUsageOID.SERVER_AUTH,
    "client_auth": ExtendedKeyUsageOID.CLIENT_AUTH,
    "code_signing": ExtendedKeyUsageOID.CODE_SIGNING,
    "email_protection": ExtendedKeyUsageOID.EMAIL_PROTECTION,
    "time_stamping": ExtendedKeyUsageOID.TIME_STAMPING,
    "ocsp_signing": ExtendedKeyUsageOID.OCSP_SIGNING,
}
SigningHash = hashes.SHA224 | hashes.SHA256 | hashes.SHA384 | hashes.SHA512
_HASHES: dict[str, type[SigningHash]] = {
    "sha224": hashes.SHA224,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}

PrivateKey = Any  # an rsa / ec / ed25519 / ed448 private key of pyca/cryptography


def _name(parts: Sequence[tuple[str, str]]) -> x509.Name:
    try:
        return x509.Name([x509.NameAttribute(NAME_ATTRIBUTES[kind], value) for kind, value in parts])
    except (KeyError, ValueError):
        raise errors.ArgumentsBad() from None


def _algorithm(key: PrivateKey, hash_name: str | None) -> SigningHash | None:
    if isinstance(key, (ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey)):
        return None  # EdDSA signs the message itself
    if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        raise errors.KeyTypeInconsistent()
    try:
        return _HASHES[hash_name or "sha256"]()
    except KeyError:
        raise errors.MechanismInvalid() from None


def _usages(builder: Any, key_usage: Iterable[str], extended: Iterable[str]) -> Any:
    """``builder`` (a certificate's or a request's) with KeyUsage (critical, as the TSB marks it)
    and ExtendedKeyUsage for the names given; ArgumentsBad for a name we do not know."""
    usages = set(key_usage)
    if usages:
        if not usages <= set(KEY_USAGES):
            raise errors.ArgumentsBad()
        try:  # e.g. encipher_only without key_agreement: a caller's combination X.509 refuses
            usage = x509.KeyUsage(**{n: n in usages for n in KEY_USAGES})
        except ValueError:
            raise errors.ArgumentsBad() from None
        builder = builder.add_extension(usage, critical=True)
    ekus = list(dict.fromkeys(extended))
    if ekus:
        try:
            builder = builder.add_extension(
                x509.ExtendedKeyUsage([EXTENDED_KEY_USAGES[e] for e in ekus]), critical=False
            )
        except KeyError:
            raise errors.ArgumentsBad() from None
    return builder


def _validity(days: int) -> tuple[datetime.datetime, datetime.datetime]:
    if not 1 <= days <= 36500:
        raise errors.ArgumentsBad()
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    return now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=days)


def certificate(
    *,
    subject: Sequence[tuple[str, str]],
    public_key_der: bytes,
    issuer_key: PrivateKey,
    issuer: x509.Name | None = None,
    days: int,
    hash_name: str | None = None,
    is_ca: bool = False,
    key_usage: Iterable[str] = (),
    extended_key_usage: Iterable[str] = (),
    issuer_public_der: bytes | None = None,
) -> bytes:
    """A DER certificate for ``public_key_der`` (SPKI) signed by ``issuer_key``; self-signed when
    ``issuer`` is None."""
    name = _name(subject)
    public = serialization.load_der_public_key(public_key_der)
    not_before, not_after = _validity(days)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer if issuer is not None else name)
        .public_key(public)  # type: ignore[arg-type]
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)  # type: ignore[arg-type]
    )
    if issuer_public_der is not None:
        issuer_public = serialization.load_der_public_key(issuer_public_der)
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_public),  # type: ignore[arg-type]
            critical=False,
        )
    builder = builder.add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
    builder = _usages(builder, key_usage, extended_key_usage)
    cert = builder.sign(issuer_key, _algorithm(issuer_key, hash_name))
    return cert.public_bytes(serialization.Encoding.DER)


def sign_request(
    *,
    csr_der: bytes,
    issuer_cert_der: bytes | None,
    issuer_key: PrivateKey,
    issuer_public_der: bytes,
    days: int,
    hash_name: str | None = None,
    is_ca: bool = False,
    key_usage: Iterable[str] = (),
    extended_key_usage: Iterable[str] = (),
    issuer_subject: Sequence[tuple[str, str]] = (),
) -> bytes:
    """Issue a certificate for a CSR (its signature checked first). The issuer is the key's own
    certificate's subject if it has one, else ``issuer_subject``."""
    try:
        csr = x509.load_der_x509_csr(csr_der)
    except ValueError:
        raise errors.ArgumentsBad() from None
    if not csr.is_signature_valid:
        raise errors.SignatureInvalid()
    if issuer_cert_der is not None:
        issuer = x509.load_der_x509_certificate(issuer_cert_der).subject
    else:
        issuer = _name(issuer_subject)
    public_der = csr.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    subject = [
        (kind, str(attr.value))
        for attr in csr.subject
        for kind, oid in NAME_ATTRIBUTES.items()
        if attr.oid == oid
    ]
    return certificate(
        subject=subject,
        public_key_der=public_der,
        issuer_key=issuer_key,
        issuer=issuer,
        days=days,
        hash_name=hash_name,
        is_ca=is_ca,
        key_usage=key_usage,
        extended_key_usage=extended_key_usage,
        issuer_public_der=issuer_public_der,
    )


def request(
    *,
    subject: Sequence[tuple[str, str]],
    key: PrivateKey,
    hash_name: str | None = None,
    key_usage: Iterable[str] = (),
    extended_key_usage: Iterable[str] = (),
) -> bytes:
    """A DER PKCS#10 request signed by ``key`` (KeyUsage marked critical, as the TSB does)."""
    builder = x509.CertificateSigningRequestBuilder().subject_name(_name(subject))
    builder = _usages(builder, key_usage, extended_key_usage)
    csr = builder.sign(key, _algorithm(key, hash_name))
    return csr.public_bytes(serialization.Encoding.DER)


def check_certificate(der: bytes) -> tuple[bytes, str]:
    """(SPKI DER, subject as RFC 4514 text) of a DER certificate; ArgumentsBad if it is none."""
    try:
        cert = x509.load_der_x509_certificate(der)
        spki = cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    except (ValueError, TypeError):
        raise errors.ArgumentsBad() from None
    return spki, cert.subject.rfc4514_string()


def subject_der(der: bytes) -> tuple[bytes, bytes, bytes]:
    """(subject, issuer, serial number) DER of a certificate, for CKA_SUBJECT/ISSUER/SERIAL_NUMBER."""
    cert = x509.load_der_x509_certificate(der)
    serial = cert.serial_number
    body = serial.to_bytes((serial.bit_length() + 8) // 8, "big", signed=False)
    serial_der = bytes([0x02, len(body)]) + body  # short form: serials are at most 20 bytes
    return cert.subject.public_bytes(), cert.issuer.public_bytes(), serial_der


def pem(der: bytes, kind: str = "CERTIFICATE") -> bytes:
    import base64
    import textwrap

    body = "\n".join(textwrap.wrap(base64.b64encode(der).decode(), 64))
    return f"-----BEGIN {kind}-----\n{body}\n-----END {kind}-----\n".encode()


# -- the installation's attestation root ----------------------------------------------------------


def new_root(common_name: str) -> tuple[bytes, bytes]:
    """(PKCS#8 DER private key, DER self-signed CA certificate) of a fresh RSA-3072 root."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    spki = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    cert = certificate(
        subject=[("CN", common_name), ("O", "softhsm-py")],
        public_key_der=spki,
        issuer_key=key,
        days=36500,
        is_ca=True,
        key_usage=("key_cert_sign", "crl_sign"),
    )
    der = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return der, cert


def load_private_der(der: bytes) -> PrivateKey:
    return serialization.load_der_private_key(der, password=None)


def certificate_subject(der: bytes) -> x509.Name:
    return x509.load_der_x509_certificate(der).subject


# -- the REST service's own TLS certificates --------------------------------------------------------
# Web-server keys, not HSM keys: they live in files, as any web server's do (softhsm_py.rest.tls).


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _new_certificate(
    *,
    common_name: str,
    key: ec.EllipticCurvePrivateKey,
    issuer_name: x509.Name | None,
    issuer_key: ec.EllipticCurvePrivateKey,
    days: int,
    is_ca: bool,
    key_usage: Iterable[str] = (),
    extended_key_usage: Iterable[str] = (),
    extensions: Sequence[x509.ExtensionType] = (),
) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name or name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    for extension in extensions:  # SAN, AKI: not critical
        builder = builder.add_extension(extension, critical=False)
    builder = _usages(builder, key_usage, extended_key_usage)
    return builder.sign(issuer_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def server_certificate(
    common_name: str, dns_names: Sequence[str], addresses: Sequence[str], days: int
) -> tuple[bytes, bytes]:
    """(PEM certificate, PEM PKCS#8 key) of a self-signed P-256 TLS server certificate."""
    import ipaddress

    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [x509.DNSName(n) for n in dict.fromkeys(dns_names)]
    names += [x509.IPAddress(ipaddress.ip_address(a)) for a in dict.fromkeys(addresses)]
    cert = _new_certificate(
        common_name=common_name,
        key=key,
        issuer_name=None,
        issuer_key=key,
        days=days,
        is_ca=False,
        extended_key_usage=("server_auth",),
        extensions=[x509.SubjectAlternativeName(names)],
    )
    return cert, _pem_key(key)


def client_ca(common_name: str, days: int) -> tuple[bytes, bytes]:
    """(PEM certificate, PEM PKCS#8 key) of a P-256 CA for mutual-TLS client certificates."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _new_certificate(
        common_name=common_name,
        key=key,
        issuer_name=None,
        issuer_key=key,
        days=days,
        is_ca=True,
        key_usage=("key_cert_sign", "crl_sign"),
    )
    return cert, _pem_key(key)


def client_certificate(
    ca_cert_pem: bytes, ca_key_pem: bytes, common_name: str, days: int
) -> tuple[bytes, bytes]:
    """(PEM certificate, PEM PKCS#8 key) of a P-256 TLS client certificate issued by the CA;
    ValueError when the CA files are not a P-256 certificate and its key."""
    ca_cert = x509.load_pem_x509_certificate(ca_cert_pem)
    ca_key = serialization.load_pem_private_key(ca_key_pem, password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ValueError("the CA key is not an EC key")
    if ca_key.public_key().public_numbers() != ca_cert.public_key().public_numbers():  # type: ignore[union-attr]
        raise ValueError("the CA key does not belong to the CA certificate")
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _new_certificate(
        common_name=common_name,
        key=key,
        issuer_name=ca_cert.subject,
        issuer_key=ca_key,
        days=days,
        is_ca=False,
        extended_key_usage=("client_auth",),
        extensions=[x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key())],
    )
    return cert, _pem_key(key)


def pem_certificate_der(cert_pem: bytes) -> bytes:
    """The DER of a PEM certificate; ValueError when it is not one."""
    return x509.load_pem_x509_certificate(cert_pem).public_bytes(serialization.Encoding.DER)


def subject_text(der: bytes) -> str:
    """A DER certificate's subject as RFC 4514 text (``CN=alice,O=Example``); ValueError if none."""
    return x509.load_der_x509_certificate(der).subject.rfc4514_string()
