"""NSS 3.87 tools: ``modutil -add`` registers the module in a temporary NSS database (the command from
softhsm_py.cli.hostconfig.nss_modutil_args), ``certutil -K`` lists the token's keys, ``certutil -R``
generates a new key pair on the token and a certificate request, ``certutil -S`` a self-signed
certificate stored on the token. The request and the certificate are checked with
pyca/cryptography. NSS generates keys without CKA_ID and sets it afterwards, stores its trust
objects (CKO_NSS_TRUST) in its own db when the token refuses them, and searches by vendor
attributes: CLIENTS.md."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from softhsm_py.cli import hostconfig
from support.hosts import Token, assert_no_traceback, make_token, require


@pytest.fixture
def nss(tmp_path: Path) -> tuple[Token, Path, Path]:
    """(token, db dir, password file) with the module added to a fresh NSS db."""
    require("modutil", "certutil", "pkcs11-tool")
    token = make_token(tmp_path / "hsm", label="nss")
    db = tmp_path / "nssdb"
    db.mkdir()
    token.run(["certutil", "-N", "-d", f"sql:{db}", "--empty-password"])
    token.run(hostconfig.nss_modutil_args(db, token.module, name="softhsm-py"), input=b"\n")
    pwfile = tmp_path / "pin.txt"
    pwfile.write_text(token.pin + "\n")
    (tmp_path / "noise").write_bytes(os.urandom(64))
    return token, db, pwfile


def certutil(token: Token, db: Path, pwfile: Path, *args: str, **kwargs):
    return token.run(["certutil", "-d", f"sql:{db}", "-h", token.label, "-f", str(pwfile), *args], **kwargs)


def test_modutil_add_and_certutil_list_keys(nss: tuple[Token, Path, Path]) -> None:
    token, db, pwfile = nss
    listing = token.run(["modutil", "-dbdir", f"sql:{db}", "-list", "softhsm-py"]).stdout.decode()
    assert "softhsm-py" in listing and "nss" in listing, listing

    token.tool("--keypairgen", "--key-type", "EC:prime256v1", "--id", "01", "--label", "made-by-opensc")
    out = certutil(token, db, pwfile, "-K").stdout.decode()
    assert "made-by-opensc" in out, out
    assert "ec" in out.lower(), out
    assert_no_traceback(token)


def test_certutil_request_with_new_token_key(nss: tuple[Token, Path, Path], tmp_path: Path) -> None:
    token, db, pwfile = nss
    req = tmp_path / "req.der"
    certutil(
        token,
        db,
        pwfile,
        "-R",
        "-s",
        "CN=nss request,O=softhsm-py",
        "-k",
        "rsa",
        "-g",
        "2048",
        "-z",
        str(tmp_path / "noise"),
        "-o",
        str(req),
    )
    csr = x509.load_der_x509_csr(req.read_bytes())
    assert csr.is_signature_valid
    assert isinstance(csr.public_key(), rsa.RSAPublicKey) and csr.public_key().key_size == 2048
    keys = certutil(token, db, pwfile, "-K").stdout.decode()
    assert "rsa" in keys.lower(), keys
    # NSS set CKA_ID on both halves after generating them: pkcs11-tool sees a paired key
    objects = token.tool("--list-objects").stdout.decode()
    assert objects.count("RSA 2048 bits") + objects.count("Private Key Object; RSA") >= 2, objects
    assert_no_traceback(token)


def test_certutil_self_signed_certificate_on_token(nss: tuple[Token, Path, Path], tmp_path: Path) -> None:
    token, db, pwfile = nss
    certutil(
        token,
        db,
        pwfile,
        "-S",
        "-n",
        "self",
        "-s",
        "CN=nss self-signed",
        "-x",
        "-t",
        "CT,,",
        "-k",
        "ec",
        "-q",
        "nistp256",
        "-v",
        "12",
        "-z",
        str(tmp_path / "noise"),
    )
    pem = certutil(token, db, pwfile, "-L", "-n", f"{token.label}:self", "-a").stdout
    cert = x509.load_pem_x509_certificate(pem)
    cert.verify_directly_issued_by(cert)
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    assert cert.subject.rfc4514_string() == "CN=nss self-signed"

    # the certificate and its key are on the token, paired by CKA_ID
    objects = token.tool("--list-objects").stdout.decode()
    assert "Certificate Object" in objects, objects
    keys = certutil(token, db, pwfile, "-K").stdout.decode()
    assert "self" in keys, keys
    # and a second NSS process finds it again
    certs = certutil(token, db, pwfile, "-L").stdout.decode()
    assert "self" in certs, certs
    assert_no_traceback(token)
