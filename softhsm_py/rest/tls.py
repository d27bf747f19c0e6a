"""The service's TLS certificate: the configured one, or a self-signed one made on first start and
kept in ``<token_dir>/rest-tls/`` (key file mode 0600). Its SHA-256 fingerprint is printed so a
client can pin it. This is the web server's own key, not an HSM key: it lives in a file, as any
web server's does, and never in a partition."""

from __future__ import annotations

import datetime
import ipaddress
import os
import socket
from pathlib import Path

from softhsm_py.config import ConfigError

CERT_NAME = "server.crt"
KEY_NAME = "server.key"
VALID_DAYS = 825  # the longest validity browsers accept for a server certificate


def fingerprint(cert_pem: bytes) -> str:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError:
        raise ConfigError("the TLS certificate is not a PEM X.509 certificate") from None
    digest = cert.fingerprint(hashes.SHA256())
    return ":".join(f"{b:02X}" for b in digest)


def _names(host: str) -> list[object]:
    from cryptography import x509

    names: list[object] = [
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("::1")),
    ]
    try:
        address = ipaddress.ip_address(host)
        if not address.is_unspecified and not address.is_loopback:
            names.append(x509.IPAddress(address))
    except ValueError:
        names.append(x509.DNSName(host))
    hostname = socket.gethostname()
    if hostname and hostname != "localhost":
        names.append(x509.DNSName(hostname))
    return names


def make_self_signed(directory: Path, host: str) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "softhsm-py serve (self-signed)")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(_names(host)), critical=False)  # type: ignore[arg-type]
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_path, cert_path = directory / KEY_NAME, directory / CERT_NAME
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def ensure(
    certificate: str | None, key: str | None, tls_dir: str | None, host: str
) -> tuple[Path, Path, bool]:
    """(certificate, key, made now): the configured pair, else the kept or a new self-signed one."""
    if certificate is not None and key is not None:
        cert_path, key_path = Path(certificate), Path(key)
        for p, what in ((cert_path, "tls_certificate"), (key_path, "tls_key")):
            if not p.is_file():
                raise ConfigError(f"[rest] {what}: {p} does not exist")
        return cert_path, key_path, False
    if tls_dir is None:
        raise ConfigError("no TLS certificate configured and nowhere to keep a self-signed one")
    directory = Path(tls_dir)
    cert_path, key_path = directory / CERT_NAME, directory / KEY_NAME
    if cert_path.is_file() and key_path.is_file():
        return cert_path, key_path, False
    cert_path, key_path = make_self_signed(directory, host)
    return cert_path, key_path, True
