"""Signatures and MACs at the C ABI, both ways against pyca/cryptography (and once against the
``openssl`` CLI): every signature the token makes is verified outside, every signature made
outside is verified by the token, a changed one is CKR_SIGNATURE_INVALID, and multi-part
(C_SignUpdate / C_SignFinal) equals single-part wherever the spec allows parts."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import cmac, hashes, hmac, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils
from cryptography.hazmat.primitives.asymmetric import padding as rsa_padding
from cryptography.hazmat.primitives.ciphers import algorithms

from support.constants import KeyType, Mechanism
from support.keys import (
    P256,
    P384,
    P521,
    SECP256K1,
    der_to_raw_ecdsa,
    ec_key,
    import_ec,
    import_okp,
    import_rsa,
    raw_to_der_ecdsa,
    rsa_key,
)
from support.mechanisms import DIGEST_INFO, crypto_hash, digest, mac_general, pss
from support.pkcs11 import Module
from support.token import Token, split

DATA = b"The quick brown fox jumps over the lazy dog" * 5


@pytest.fixture
def t(module: Module) -> Token:
    return Token(module)


def flip(sig: bytes) -> bytes:
    return sig[:-1] + bytes([sig[-1] ^ 1])


# ------------------------------------------------------------------------------- RSA
@pytest.mark.parametrize("hash_name", ["sha1", "sha256", "sha384", "sha512"])
def test_rsa_pkcs_digest_info(t: Token, hash_name: str) -> None:
    """CKM_RSA_PKCS over a DigestInfo the host built (libp11, Java, OpenSSH)."""
    key = rsa_key(2048)
    pub, priv = import_rsa(t, key)
    info = DIGEST_INFO[hash_name] + digest(hash_name, DATA)
    sig = t.sign(Mechanism.RSA_PKCS, priv, info)
    key.public_key().verify(sig, DATA, rsa_padding.PKCS1v15(), crypto_hash(hash_name))
    outside = key.sign(DATA, rsa_padding.PKCS1v15(), crypto_hash(hash_name))
    assert t.verify(Mechanism.RSA_PKCS, pub, info, outside) == "OK"
    assert t.verify(Mechanism.RSA_PKCS, pub, info, flip(outside)) == "SIGNATURE_INVALID"


def test_rsa_x_509(t: Token) -> None:
    key = rsa_key(2048)
    pub, priv = import_rsa(t, key)
    n = key.private_numbers().public_numbers.n
    d = key.private_numbers().d
    block = b"\x00" + bytes(range(1, 200))  # below the modulus
    sig = t.sign(Mechanism.RSA_X_509, priv, block)
    assert int.from_bytes(sig, "big") == pow(int.from_bytes(block, "big"), d, n)
    assert len(sig) == 256
    outside = pow(int.from_bytes(block, "big"), d, n).to_bytes(256, "big")
    assert t.verify(Mechanism.RSA_X_509, pub, block, outside) == "OK"
    assert t.verify(Mechanism.RSA_X_509, pub, block, flip(outside)) == "SIGNATURE_INVALID"


RSA_PKCS_HASHED = {
    Mechanism.SHA1_RSA_PKCS: "sha1",
    Mechanism.SHA224_RSA_PKCS: "sha224",
    Mechanism.SHA256_RSA_PKCS: "sha256",
    Mechanism.SHA384_RSA_PKCS: "sha384",
    Mechanism.SHA512_RSA_PKCS: "sha512",
    Mechanism.SHA3_256_RSA_PKCS: "sha3-256",
}


@pytest.mark.parametrize("mechanism", list(RSA_PKCS_HASHED), ids=list(RSA_PKCS_HASHED.values()))
def test_sha_rsa_pkcs(t: Token, mechanism: int) -> None:
    t.require(mechanism)
    h = RSA_PKCS_HASHED[mechanism]
    key = rsa_key(2048)
    pub, priv = import_rsa(t, key)
    sig = t.sign(mechanism, priv, DATA)
    key.public_key().verify(sig, DATA, rsa_padding.PKCS1v15(), crypto_hash(h))
    assert t.sign_parts(mechanism, priv, split(DATA, 1, 50)) == sig  # deterministic
    outside = key.sign(DATA, rsa_padding.PKCS1v15(), crypto_hash(h))
    assert t.verify(mechanism, pub, DATA, outside) == "OK"
    assert t.verify_parts(mechanism, pub, split(DATA, 7), outside) == "OK"
    assert t.verify(mechanism, pub, DATA + b"!", outside) == "SIGNATURE_INVALID"


def _pss_padding(h: str, salt: int) -> rsa_padding.PSS:
    return rsa_padding.PSS(mgf=rsa_padding.MGF1(crypto_hash(h)), salt_length=salt)


@pytest.mark.parametrize("hash_name", ["sha1", "sha256", "sha512"])
def test_rsa_pkcs_pss(t: Token, hash_name: str) -> None:
    """RSA_PKCS_PSS signs a hash the host computed (single-part only)."""
    key = rsa_key(2048)
    pub, priv = import_rsa(t, key)
    size = len(digest(hash_name, b""))
    m = pss(Mechanism.RSA_PKCS_PSS, hash_name, size)
    sig = t.sign(m, priv, digest(hash_name, DATA))
    key.public_key().verify(
        sig, digest(hash_name, DATA), _pss_padding(hash_name, size), utils.Prehashed(crypto_hash(hash_name))
    )
    outside = key.sign(DATA, _pss_padding(hash_name, size), crypto_hash(hash_name))
    assert t.verify(m, pub, digest(hash_name, DATA), outside) == "OK"
    assert t.verify(m, pub, digest(hash_name, DATA), flip(outside)) == "SIGNATURE_INVALID"


RSA_PSS_HASHED = {
    Mechanism.SHA1_RSA_PKCS_PSS: "sha1",
    Mechanism.SHA224_RSA_PKCS_PSS: "sha224",
    Mechanism.SHA256_RSA_PKCS_PSS: "sha256",
    Mechanism.SHA384_RSA_PKCS_PSS: "sha384",
    Mechanism.SHA512_RSA_PKCS_PSS: "sha512",
}


@pytest.mark.parametrize("mechanism", list(RSA_PSS_HASHED), ids=list(RSA_PSS_HASHED.values()))
def test_sha_rsa_pkcs_pss(t: Token, mechanism: int) -> None:
    h = RSA_PSS_HASHED[mechanism]
    key = rsa_key(2048)
    pub, priv = import_rsa(t, key)
    for salt in (0, len(digest(h, b""))):
        m = pss(mechanism, h, salt)
        for sig in (t.sign(m, priv, DATA), t.sign_parts(m, priv, split(DATA, 10, 10))):
            key.public_key().verify(sig, DATA, _pss_padding(h, salt), crypto_hash(h))
        outside = key.sign(DATA, _pss_padding(h, salt), crypto_hash(h))
        assert t.verify(m, pub, DATA, outside) == "OK"
        assert t.verify_parts(m, pub, split(DATA, 3), outside) == "OK"
        assert t.verify(m, pub, DATA[1:], outside) == "SIGNATURE_INVALID"


# ------------------------------------------------------------------------------- ECDSA
CURVE_IDS = {P256: "P-256", P384: "P-384", P521: "P-521", SECP256K1: "secp256k1"}


@pytest.mark.parametrize("params", list(CURVE_IDS), ids=list(CURVE_IDS.values()))
def test_ecdsa_raw(t: Token, params: bytes) -> None:
    """CKM_ECDSA: the host hashes, the token signs r||s (libp11, pkcs11-provider, OpenSSH)."""
    key = ec_key(params)
    pub, priv = import_ec(t, key, params)
    size = (key.curve.key_size + 7) // 8
    h = digest("sha256", DATA)
    sig = t.sign(Mechanism.ECDSA, priv, h)
    assert len(sig) == 2 * size
    key.public_key().verify(raw_to_der_ecdsa(sig), h, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
    outside = der_to_raw_ecdsa(key.sign(h, ec.ECDSA(utils.Prehashed(hashes.SHA256()))), size)
    assert t.verify(Mechanism.ECDSA, pub, h, outside) == "OK"
    assert t.verify(Mechanism.ECDSA, pub, flip(h), outside) == "SIGNATURE_INVALID"


ECDSA_HASHED = {
    Mechanism.ECDSA_SHA1: "sha1", Mechanism.ECDSA_SHA224: "sha224", Mechanism.ECDSA_SHA256: "sha256",
    Mechanism.ECDSA_SHA384: "sha384", Mechanism.ECDSA_SHA512: "sha512", Mechanism.ECDSA_SHA3_256: "sha3-256",
}  # fmt: skip


@pytest.mark.parametrize("mechanism", list(ECDSA_HASHED), ids=list(ECDSA_HASHED.values()))
def test_ecdsa_sha(t: Token, mechanism: int) -> None:
    t.require(mechanism)
    h = ECDSA_HASHED[mechanism]
    key = ec_key(P384)
    pub, priv = import_ec(t, key, P384)
    for sig in (t.sign(mechanism, priv, DATA), t.sign_parts(mechanism, priv, split(DATA, 5, 100))):
        key.public_key().verify(raw_to_der_ecdsa(sig), DATA, ec.ECDSA(crypto_hash(h)))
    outside = der_to_raw_ecdsa(key.sign(DATA, ec.ECDSA(crypto_hash(h))), 48)
    assert t.verify(mechanism, pub, DATA, outside) == "OK"
    assert t.verify_parts(mechanism, pub, split(DATA, 0, 1), outside) == "OK"
    assert t.verify(mechanism, pub, DATA, flip(outside)) == "SIGNATURE_INVALID"


@pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl CLI")
def test_ecdsa_verified_by_openssl_cli(t: Token, tmp_path: Path) -> None:
    key = ec_key(P256)
    _, priv = import_ec(t, key, P256)
    sig = t.sign(Mechanism.ECDSA, priv, digest("sha256", DATA))
    (tmp_path / "data").write_bytes(DATA)
    (tmp_path / "sig.der").write_bytes(raw_to_der_ecdsa(sig))
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    (tmp_path / "pub.pem").write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM, spki))
    run = subprocess.run(
        ["openssl", "dgst", "-sha256", "-verify", "pub.pem", "-signature", "sig.der", "data"],
        cwd=tmp_path, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert run.returncode == 0 and "Verified OK" in run.stdout, run.stdout + run.stderr


# ------------------------------------------------------------------------------- EdDSA
@pytest.mark.parametrize("name", ["ed25519", "ed448"])
def test_eddsa(t: Token, name: str) -> None:
    t.require(Mechanism.EDDSA)
    pub, priv, key = import_okp(t, name)
    sig = t.sign(Mechanism.EDDSA, priv, DATA)
    key.public_key().verify(sig, DATA)
    outside = key.sign(DATA)
    assert sig == outside  # pure EdDSA is deterministic
    assert t.verify(Mechanism.EDDSA, pub, DATA, outside) == "OK"
    assert t.verify(Mechanism.EDDSA, pub, DATA + b"x", outside) == "SIGNATURE_INVALID"


# ------------------------------------------------------------------------------- MACs
HMACS = {
    Mechanism.SHA_1_HMAC: "sha1",
    Mechanism.SHA224_HMAC: "sha224",
    Mechanism.SHA256_HMAC: "sha256",
    Mechanism.SHA384_HMAC: "sha384",
    Mechanism.SHA512_HMAC: "sha512",
    Mechanism.SHA3_224_HMAC: "sha3-224",
    Mechanism.SHA3_256_HMAC: "sha3-256",
    Mechanism.SHA3_384_HMAC: "sha3-384",
    Mechanism.SHA3_512_HMAC: "sha3-512",
}


def _hmac(h: str, key: bytes, data: bytes) -> bytes:
    mac = hmac.HMAC(key, crypto_hash(h))
    mac.update(data)
    return mac.finalize()


@pytest.mark.parametrize("mechanism", list(HMACS), ids=list(HMACS.values()))
def test_hmac(t: Token, mechanism: int) -> None:
    t.require(mechanism)
    h = HMACS[mechanism]
    value = bytes(range(64))  # SoftHSMv2 wants at least the hash size
    key = t.secret(value, KeyType.GENERIC_SECRET)
    expected = _hmac(h, value, DATA)
    assert t.sign(mechanism, key, DATA) == expected
    assert t.sign_parts(mechanism, key, split(DATA, 3, 64)) == expected
    assert t.verify(mechanism, key, DATA, expected) == "OK"
    assert t.verify_parts(mechanism, key, split(DATA, 100), expected) == "OK"
    assert t.verify(mechanism, key, DATA, flip(expected)) == "SIGNATURE_INVALID"


def test_hmac_general(t: Token) -> None:
    t.require(Mechanism.SHA256_HMAC_GENERAL)
    value = bytes(range(32))
    key = t.secret(value, KeyType.GENERIC_SECRET)
    m = mac_general(Mechanism.SHA256_HMAC_GENERAL, 12)
    expected = _hmac("sha256", value, DATA)[:12]
    assert t.sign(m, key, DATA) == expected
    assert t.verify(m, key, DATA, expected) == "OK"


def _cmac(key: bytes, data: bytes) -> bytes:
    c = cmac.CMAC(algorithms.AES(key))
    c.update(data)
    return c.finalize()


@pytest.mark.parametrize("size", [16, 24, 32])
def test_aes_cmac(t: Token, size: int) -> None:
    t.require(Mechanism.AES_CMAC)
    key, value = t.aes(size)
    expected = _cmac(value, DATA)
    assert t.sign(Mechanism.AES_CMAC, key, DATA) == expected
    assert t.sign_parts(Mechanism.AES_CMAC, key, split(DATA, 16, 5)) == expected
    assert t.verify(Mechanism.AES_CMAC, key, DATA, expected) == "OK"
    assert t.verify(Mechanism.AES_CMAC, key, DATA, flip(expected)) == "SIGNATURE_INVALID"


def test_aes_cmac_general(t: Token) -> None:
    t.require(Mechanism.AES_CMAC_GENERAL)
    key, value = t.aes(16)
    m = mac_general(Mechanism.AES_CMAC_GENERAL, 8)
    assert t.sign(m, key, DATA) == _cmac(value, DATA)[:8]
    assert t.verify(m, key, DATA, _cmac(value, DATA)[:8]) == "OK"


def test_token_signature_is_not_accepted_by_cryptography_when_changed(t: Token) -> None:
    """The outside verifier really checks (guards against a vacuous verify helper)."""
    key = rsa_key(2048)
    _, priv = import_rsa(t, key)
    sig = t.sign(Mechanism.SHA256_RSA_PKCS, priv, DATA)
    with pytest.raises(InvalidSignature):
        key.public_key().verify(flip(sig), DATA, rsa_padding.PKCS1v15(), hashes.SHA256())
