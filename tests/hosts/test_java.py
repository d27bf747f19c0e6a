"""Java 17 SunPKCS11 with softhsm_py.cli.hostconfig.java_sunpkcs11's config: ``keytool`` lists the token
and generates RSA and EC key pairs (with their self-signed certificates) on it; a small program
(tests/hosts/java/P11Host.java, compiled with javac in the test's directory) signs with
SHA256withRSA and SHA256withECDSA, decrypts and encrypts with RSA/ECB/PKCS1Padding and
AES/CBC/PKCS5Padding. Signatures and ciphertexts are checked with pyca/cryptography."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives import padding as sympadding
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from softhsm_py.cli import hostconfig
from support.hosts import Token, assert_no_traceback, make_token, require

pytestmark = pytest.mark.slow  # a JVM per test

SOURCE = Path(__file__).resolve().parent / "java" / "P11Host.java"
MESSAGE = b"signed and encrypted through Java SunPKCS11\n"


@pytest.fixture
def token(tmp_path: Path) -> Token:
    require("java", "javac", "keytool")
    token = make_token(tmp_path / "hsm", label="java")
    cfg = tmp_path / "sunpkcs11.cfg"
    cfg.write_text(hostconfig.java_sunpkcs11(token.module, slot=token.slot, name="softhsmpy"))
    token.extra["cfg"] = str(cfg)
    return token


def keytool(token: Token, *args: str, **kwargs):
    return token.run(
        [
            "keytool",
            *args,
            "-keystore",
            "NONE",
            "-storetype",
            "PKCS11",
            "-providerClass",
            "sun.security.pkcs11.SunPKCS11",
            "-providerArg",
            token.extra["cfg"],
            "-storepass",
            token.pin,
        ],
        **kwargs,
    )


def genkeypair(token: Token, alias: str, *alg: str) -> None:
    keytool(token, "-genkeypair", "-alias", alias, *alg, "-dname", f"CN={alias}", "-validity", "2")


def test_keytool_list_and_genkeypair(token: Token) -> None:
    out = keytool(token, "-list").stdout.decode()
    assert "Your keystore contains 0 entries" in out, out
    genkeypair(token, "jrsa", "-keyalg", "RSA", "-keysize", "2048", "-sigalg", "SHA256withRSA")
    genkeypair(token, "jec", "-keyalg", "EC", "-groupname", "secp256r1", "-sigalg", "SHA256withECDSA")
    out = keytool(token, "-list").stdout.decode()
    assert "Your keystore contains 2 entries" in out, out
    assert "jrsa, PrivateKeyEntry" in out and "jec, PrivateKeyEntry" in out, out
    # the certificates keytool made are self-signed by the token keys
    for alias in ("jrsa", "jec"):
        pem = keytool(token, "-exportcert", "-rfc", "-alias", alias).stdout
        cert = x509.load_pem_x509_certificate(pem)
        cert.verify_directly_issued_by(cert)
        assert cert.subject.rfc4514_string() == f"CN={alias}"
    # and other hosts see them: pkcs11-tool lists the keys and certificates paired by CKA_ID
    if os.path.exists("/usr/bin/pkcs11-tool"):
        objects = token.tool("--list-objects").stdout.decode()
        assert objects.count("Certificate Object") == 2, objects
    assert_no_traceback(token)


def test_java_signature_and_cipher(token: Token, tmp_path: Path) -> None:
    genkeypair(token, "jrsa", "-keyalg", "RSA", "-keysize", "2048", "-sigalg", "SHA256withRSA")
    genkeypair(token, "jec", "-keyalg", "EC", "-groupname", "secp256r1", "-sigalg", "SHA256withECDSA")
    certs = {
        a: x509.load_pem_x509_certificate(keytool(token, "-exportcert", "-rfc", "-alias", a).stdout)
        for a in ("jrsa", "jec")
    }

    work = tmp_path / "work"
    work.mkdir()
    classes = tmp_path / "classes"
    token.run(["javac", "-d", str(classes), str(SOURCE)])
    secret = os.urandom(24)
    aes_key, iv = os.urandom(32), os.urandom(16)
    (work / "message.bin").write_bytes(MESSAGE)
    (work / "rsa.ct").write_bytes(certs["jrsa"].public_key().encrypt(secret, padding.PKCS1v15()))
    (work / "aes.key").write_bytes(aes_key)
    (work / "aes.iv").write_bytes(iv)

    proc = token.run(["java", "-cp", str(classes), "P11Host", token.extra["cfg"], token.pin, str(work)])
    assert b"P11Host: done" in proc.stdout, proc.stdout

    certs["jrsa"].public_key().verify(
        (work / "jrsa.sig").read_bytes(), MESSAGE, padding.PKCS1v15(), hashes.SHA256()
    )
    certs["jec"].public_key().verify((work / "jec.sig").read_bytes(), MESSAGE, ec.ECDSA(hashes.SHA256()))
    assert (work / "rsa.pt").read_bytes() == secret
    padder = sympadding.PKCS7(128).padder()
    enc = Cipher(algorithms.AES(aes_key), modes.CBC(iv)).encryptor()
    expected = enc.update(padder.update(MESSAGE) + padder.finalize()) + enc.finalize()
    assert (work / "aes.ct").read_bytes() == expected
    ec_pub = serialization.load_der_public_key((work / "session-ec.pub").read_bytes())
    ec_pub.verify((work / "session-ec.sig").read_bytes(), MESSAGE, ec.ECDSA(hashes.SHA256()))
    rsa_pub = serialization.load_der_public_key((work / "session-rsa.pub").read_bytes())
    rsa_pub.verify((work / "session-rsa.sig").read_bytes(), MESSAGE, padding.PKCS1v15(), hashes.SHA256())
    assert_no_traceback(token)
