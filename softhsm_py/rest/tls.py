"""The service's TLS certificate: the configured one, or a self-signed one made on first start and
kept in ``<token_dir>/rest-tls/`` (key file mode 0600). Its SHA-256 fingerprint is printed so a
client can pin it. This is the web server's own key, not an HSM key: it lives in a file, as any
web server's does, and never in a partition."""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path

from softhsm_py.config import ConfigError

CERT_NAME = "server.crt"
KEY_NAME = "server.key"
VALID_DAYS = 825  # the longest validity browsers accept for a server certificate


def fingerprint(cert_pem: bytes) -> str:
    from softhsm_py.engine.x509 import pem_certificate_der
    from softhsm_py.rest.auth.clientcert import fingerprint as sha256_fingerprint

    try:
        der = pem_certificate_der(cert_pem)
    except ValueError:
        raise ConfigError("the TLS certificate is not a PEM X.509 certificate") from None
    return sha256_fingerprint(der)


def _names(host: str) -> tuple[list[str], list[str]]:
    """(DNS names, IP addresses) the certificate is good for."""
    dns, addresses = ["localhost"], ["127.0.0.1", "::1"]
    try:
        address = ipaddress.ip_address(host)
        if not address.is_unspecified and not address.is_loopback:
            addresses.append(str(address))
    except ValueError:
        dns.append(host)
    hostname = socket.gethostname()
    if hostname and hostname != "localhost":
        dns.append(hostname)
    return dns, addresses


def make_self_signed(directory: Path, host: str) -> tuple[Path, Path]:
    from softhsm_py.engine.x509 import server_certificate

    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    dns, addresses = _names(host)
    cert, key = server_certificate("softhsm-py serve (self-signed)", dns, addresses, VALID_DAYS)
    key_path, cert_path = directory / KEY_NAME, directory / CERT_NAME
    write_private(key_path, key)
    cert_path.write_bytes(cert)
    return cert_path, key_path


def write_private(path: Path, data: bytes) -> None:
    """Write a private key file, mode 0600 from its creation on."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


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
