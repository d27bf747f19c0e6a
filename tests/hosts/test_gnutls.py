"""GnuTLS 3.7 tools with the module given by ``--provider``: ``p11tool`` lists tokens and objects and
generates keys; ``certtool`` makes a self-signed CA with a token key and issues a certificate for a
second token key; the issued certificate is written back to the token with ``p11tool --write``.
Certificates are checked with pyca/cryptography. PINs go through GNUTLS_PIN / GNUTLS_SO_PIN."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from support.hosts import Token, assert_no_traceback, make_token, require


@pytest.fixture
def token(tmp_path: Path) -> Token:
    require("p11tool", "certtool")
    token = make_token(tmp_path / "hsm", label="gnutls")
    token.extra.update(GNUTLS_PIN=token.pin, GNUTLS_SO_PIN=token.so_pin)
    return token


def p11tool(token: Token, *args: str, **kwargs):
    env = {"GNUTLS_PIN": token.pin, "GNUTLS_SO_PIN": token.so_pin}
    return token.run(["p11tool", "--provider", token.module, "--batch", *args], env=env, **kwargs)


def certtool(token: Token, *args: str):
    env = {"GNUTLS_PIN": token.pin}
    return token.run(["certtool", "--provider", token.module, *args], env=env)


def test_p11tool_list_and_generate(token: Token, tmp_path: Path) -> None:
    out = p11tool(token, "--list-tokens").stdout.decode()
    assert "Label: gnutls" in out, out
    assert "Manufacturer: softhsm-py" in out, out
    urls = p11tool(token, "--list-token-urls").stdout.decode()
    assert "token=gnutls" in urls, urls

    turi = f"pkcs11:token={token.label}"
    p11tool(
        token,
        "--login",
        "--generate-privkey",
        "ecdsa",
        "--curve",
        "secp256r1",
        "--label",
        "gen-ec",
        "--id",
        "a1",
        "--outfile",
        str(tmp_path / "ec.pub"),
        turi,
    )
    p11tool(
        token,
        "--login",
        "--generate-privkey",
        "rsa",
        "--bits",
        "2048",
        "--label",
        "gen-rsa",
        "--id",
        "a2",
        "--outfile",
        str(tmp_path / "rsa.pub"),
        turi,
    )
    ec_pub = serialization.load_pem_public_key((tmp_path / "ec.pub").read_bytes())
    assert ec_pub.key_size == 256

    privs = p11tool(token, "--login", "--list-all-privkeys", turi).stdout.decode()
    assert "gen-ec" in privs and "gen-rsa" in privs, privs
    # public keys are listed without a login (CKA_PRIVATE defaults to FALSE for them)
    public = p11tool(token, "--list-all", turi).stdout.decode()
    assert "gen-ec" in public and "Public key" in public, public
    assert "Private key" not in public, public
    mechs = p11tool(token, "--list-mechanisms", turi).stdout.decode()
    assert "CKM_ECDSA" in mechs and "CKM_RSA_PKCS" in mechs, mechs

    # the token signs and verifies with the generated key (p11tool's own self test)
    p11tool(token, "--login", "--test-sign", f"{turi};object=gen-ec")
    p11tool(token, "--login", "--test-sign", f"{turi};object=gen-rsa")
    assert_no_traceback(token)


def test_certtool_issues_certificate_with_token_ca_key(token: Token, tmp_path: Path) -> None:
    turi = f"pkcs11:token={token.label}"
    p11tool(
        token,
        "--login",
        "--generate-privkey",
        "ecdsa",
        "--curve",
        "secp256r1",
        "--label",
        "ca",
        "--id",
        "c0",
        turi,
    )
    p11tool(
        token, "--login", "--generate-privkey", "rsa", "--bits", "2048", "--label", "leaf", "--id", "c1", turi
    )
    ca_key = f"{turi};object=ca;type=private"
    leaf_key = f"{turi};object=leaf;type=private"

    (tmp_path / "ca.tmpl").write_text(
        'cn = "softhsm-py test CA"\nca\ncert_signing_key\nexpiration_days = 2\n'
    )
    certtool(
        token,
        "--generate-self-signed",
        "--load-privkey",
        ca_key,
        "--load-pubkey",
        f"{turi};object=ca;type=public",
        "--template",
        str(tmp_path / "ca.tmpl"),
        "--outfile",
        str(tmp_path / "ca.pem"),
    )
    (tmp_path / "leaf.tmpl").write_text(
        'cn = "leaf.example"\ndns_name = "leaf.example"\ntls_www_server\nsigning_key\nexpiration_days = 2\n'
    )
    certtool(
        token,
        "--generate-certificate",
        "--load-privkey",
        leaf_key,
        "--load-pubkey",
        f"{turi};object=leaf;type=public",
        "--load-ca-privkey",
        ca_key,
        "--load-ca-certificate",
        str(tmp_path / "ca.pem"),
        "--template",
        str(tmp_path / "leaf.tmpl"),
        "--outfile",
        str(tmp_path / "leaf.pem"),
    )

    ca = x509.load_pem_x509_certificate((tmp_path / "ca.pem").read_bytes())
    leaf = x509.load_pem_x509_certificate((tmp_path / "leaf.pem").read_bytes())
    ca.verify_directly_issued_by(ca)
    leaf.verify_directly_issued_by(ca)
    assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "leaf.example"
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca

    # write both certificates back to the token, paired with their keys by CKA_ID
    p11tool(
        token,
        "--login",
        "--write",
        "--load-certificate",
        str(tmp_path / "ca.pem"),
        "--label",
        "ca",
        "--id",
        "c0",
        "--mark-ca",
        turi,
    )
    p11tool(
        token,
        "--login",
        "--write",
        "--load-certificate",
        str(tmp_path / "leaf.pem"),
        "--label",
        "leaf",
        "--id",
        "c1",
        turi,
    )
    certs = p11tool(token, "--list-all-certs", turi).stdout.decode()
    assert "Label: ca" in certs and "Label: leaf" in certs, certs
    # GnuTLS pairs the certificate with its private key by CKA_ID
    paired = p11tool(token, "--login", "--list-certs", turi).stdout.decode()
    assert "Label: leaf" in paired, paired
    exported = p11tool(token, "--export", f"{turi};object=leaf;type=cert").stdout
    assert x509.load_pem_x509_certificate(exported) == leaf
    assert_no_traceback(token)
