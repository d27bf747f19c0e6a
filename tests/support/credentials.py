"""Credentials for the REST service's authentication tests, made independently of softhsm_py
(pyca/cryptography, PyJWT, hashlib): API keys and their hashes, JWT signing keys, JWKS files,
signed and forged tokens, and certificate authorities issuing mutual-TLS client certificates.

    key, key_hash = api_key()
    issuer = Signer.new("ed25519"); token = issuer.token(claims)
    ca = CertAuthority.new("test CA"); cert_pem, key_pem = ca.client("alice")
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ROLES = (
    "keyManagementToken",
    "keyOperationToken",
    "approverToken",
    "serviceToken",
    "approverKeyManagementToken",
)


def api_key() -> tuple[str, str]:
    """A fresh API key and the ``sha256:<hex>`` the configuration takes."""
    key = secrets.token_urlsafe(32)
    return key, "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


ALGORITHM = {"ed25519": "EdDSA", "p256": "ES256", "rsa": "RS256", "p384": "ES384"}


@dataclass
class Signer:
    """A JWT issuer's key pair."""

    kind: str
    private_pem: bytes
    public_pem: bytes
    kid: str | None = None

    @classmethod
    def new(cls, kind: str = "ed25519", kid: str | None = None) -> Signer:
        key: Any
        if kind == "ed25519":
            key = ed25519.Ed25519PrivateKey.generate()
        elif kind == "p256":
            key = ec.generate_private_key(ec.SECP256R1())
        elif kind == "p384":
            key = ec.generate_private_key(ec.SECP384R1())
        elif kind == "rsa":
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        else:
            raise ValueError(kind)
        private = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        public = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return cls(kind, private, public, kid)

    @property
    def algorithm(self) -> str:
        return ALGORITHM[self.kind]

    def jwk(self) -> dict[str, Any]:
        alg = jwt.get_algorithm_by_name(self.algorithm)
        data = json.loads(alg.to_jwk(alg.prepare_key(self.public_pem)))
        data["use"] = "sig"
        if self.kid:
            data["kid"] = self.kid
        return data

    def token(self, claims: dict[str, Any], headers: dict[str, Any] | None = None) -> str:
        head = dict(headers or {})
        if self.kid and "kid" not in head:
            head["kid"] = self.kid
        return jwt.encode(claims, self.private_pem, algorithm=self.algorithm, headers=head or None)


def write_jwks(path: Path, signers: list[Signer]) -> Path:
    path.write_text(json.dumps({"keys": [s.jwk() for s in signers]}))
    return path


def claims(
    partition: str,
    *,
    issuer: str = "https://issuer.test",
    audience: str = "softhsm-py-test",
    subject: str = "tester",
    lifetime: int = 600,
    roles: list[str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    now = int(time.time())
    out: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        "iat": now,
        "nbf": now,
        "exp": now + lifetime,
        "partition": partition,
    }
    if roles is not None:
        out["roles"] = roles
    out.update(extra)
    return out


def unsigned_token(payload: dict[str, Any]) -> str:
    """``alg: none``: a token with no signature at all."""
    head = b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{head}.{b64url(json.dumps(payload).encode())}."


def hmac_token(secret: bytes, payload: dict[str, Any]) -> str:
    """HS256 keyed with ``secret`` (the algorithm-confusion attack: the issuer's public key)."""
    import hmac

    head = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64url(json.dumps(payload).encode())
    mac = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64url(mac)}"


CA_USAGE = x509.KeyUsage(
    digital_signature=False, content_commitment=False, key_encipherment=False,
    data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
    encipher_only=False, decipher_only=False,
)  # fmt: skip


def _pem_key(key: Any) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@dataclass
class CertAuthority:
    """A CA for mutual-TLS client certificates."""

    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @classmethod
    def new(cls, name: str) -> CertAuthority:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(CA_USAGE, critical=True)
            .sign(key, hashes.SHA256())
        )
        return cls(key, cert)

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def client(self, common_name: str, organisation: str | None = None) -> tuple[bytes, bytes]:
        """(certificate PEM, key PEM) of a client certificate for ``common_name``."""
        key = ec.generate_private_key(ec.SECP256R1())
        attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
        if organisation:  # the usual order, O before CN: RFC 4514 text "CN=...,O=..."
            attrs.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation))
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name(attrs))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        return cert.public_bytes(serialization.Encoding.PEM), _pem_key(key)

    def write_client(self, directory: Path, common_name: str) -> tuple[Path, Path, str]:
        """Write NAME.crt / NAME.key; returns their paths and the SHA-256 fingerprint (hex)."""
        cert_pem, key_pem = self.client(common_name)
        directory.mkdir(parents=True, exist_ok=True)
        cert_path, key_path = directory / f"{common_name}.crt", directory / f"{common_name}.key"
        cert_path.write_bytes(cert_pem)
        key_path.write_bytes(key_pem)
        der = x509.load_pem_x509_certificate(cert_pem).public_bytes(serialization.Encoding.DER)
        return cert_path, key_path, hashlib.sha256(der).hexdigest().upper()
