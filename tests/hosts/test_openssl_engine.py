"""OpenSSL 3 through libp11's pkcs11 engine (libengine-pkcs11-openssl 0.4.12): ``pkeyutl`` signs with
RSA and EC token keys named by pkcs11: URI, ``req -x509`` makes a self-signed certificate. The config
is softhsm_py.cli.hostconfig.openssl_engine's. Signatures and certificates are checked with
pyca/cryptography; every openssl process must exit 0 (the engine calls C_Finalize at exit).
libp11 0.4.12 reads no EdDSA keys: the token holds only RSA and EC keys."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, utils

from softhsm_py.cli import hostconfig
from support.hosts import Token, assert_no_traceback, engine_path, make_token, require

DATA = b"signed through the OpenSSL pkcs11 engine\n"


@pytest.fixture
def token(tmp_path: Path) -> Token:
    require("openssl", "pkcs11-tool")
    engine = engine_path()
    token = make_token(tmp_path / "hsm", label="engine")
    conf = tmp_path / "openssl-engine.cnf"
    conf.write_text(hostconfig.openssl_engine(token.module, engine_path=engine, pin=token.pin))
    token.extra["OPENSSL_CONF"] = str(conf)
    token.tool("--keypairgen", "--key-type", "rsa:2048", "--id", "01", "--label", "rsa")
    token.tool("--keypairgen", "--key-type", "EC:prime256v1", "--id", "02", "--label", "ec")
    return token


def openssl(token: Token, *args: str):
    return token.run(["openssl", *args], env={"OPENSSL_CONF": token.extra["OPENSSL_CONF"]})


def public_key(token: Token, label: str, tmp_path: Path):
    out = tmp_path / f"{label}.pub.pem"
    openssl(
        token,
        "pkey",
        "-engine",
        "pkcs11",
        "-inform",
        "engine",
        "-pubin",
        "-in",
        f"pkcs11:token={token.label};object={label};type=public",
        "-pubout",
        "-out",
        str(out),
    )
    return serialization.load_pem_public_key(out.read_bytes())


def test_engine_pkeyutl_sign_rsa_and_ec(token: Token, tmp_path: Path) -> None:
    digest = hashlib.sha256(DATA).digest()
    (tmp_path / "digest.bin").write_bytes(digest)
    for label in ("rsa", "ec"):
        sig = tmp_path / f"{label}.sig"
        proc = openssl(
            token,
            "pkeyutl",
            "-engine",
            "pkcs11",
            "-keyform",
            "engine",
            "-sign",
            "-inkey",
            f"pkcs11:token={token.label};object={label};type=private",
            "-pkeyopt",
            "digest:sha256",
            "-in",
            str(tmp_path / "digest.bin"),
            "-out",
            str(sig),
        )
        assert proc.returncode == 0
        pub = public_key(token, label, tmp_path)
        if label == "rsa":
            pub.verify(sig.read_bytes(), digest, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))
        else:
            pub.verify(sig.read_bytes(), digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
    assert_no_traceback(token)


@pytest.mark.parametrize("label", ["rsa", "ec"])
def test_engine_req_x509_self_signed(token: Token, tmp_path: Path, label: str) -> None:
    cert_path = tmp_path / "cert.pem"
    openssl(
        token,
        "req",
        "-engine",
        "pkcs11",
        "-keyform",
        "engine",
        "-new",
        "-x509",
        "-sha256",
        "-days",
        "2",
        "-subj",
        f"/CN=softhsm-py engine {label}",
        "-key",
        f"pkcs11:token={token.label};object={label};type=private",
        "-out",
        str(cert_path),
    )
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    pub = public_key(token, label, tmp_path)
    assert cert.public_key() == pub
    cert.verify_directly_issued_by(cert)  # the token's signature over the certificate is valid
    assert cert.subject.rfc4514_string() == f"CN=softhsm-py engine {label}"
    assert_no_traceback(token)
