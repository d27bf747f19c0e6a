"""Encryption, decryption and digests at the C ABI, both ways against pyca/cryptography; multi-part
equal to single-part; the dual-function calls (3.0, 5.13)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives import padding as sym_padding
from cryptography.hazmat.primitives.asymmetric import padding as rsa_padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from support.constants import Attribute, KeyType, Mechanism
from support.keys import import_rsa, rsa_key
from support.mechanisms import HASH_MECH, chacha_poly, crypto_hash, ctr, digest, gcm, mech, oaep
from support.pkcs11 import Module, ffi, spec_departure
from support.templates import cbytes
from support.token import Token, split

DATA = bytes(range(256)) * 2 + b"tail bytes"  # 522 bytes: not a block multiple
BLOCKS = DATA[:512]
IV = bytes.fromhex("000102030405060708090a0b0c0d0e0f")


@pytest.fixture
def t(module: Module) -> Token:
    return Token(module)


def _aes(value: bytes, mode: modes.Mode, data: bytes, encrypt: bool = True) -> bytes:
    c = Cipher(algorithms.AES(value), mode)
    ctx = c.encryptor() if encrypt else c.decryptor()
    return ctx.update(data) + ctx.finalize()


def _pad(data: bytes) -> bytes:
    p = sym_padding.PKCS7(128).padder()
    return p.update(data) + p.finalize()


# ------------------------------------------------------------------------------- AES modes
@pytest.mark.parametrize("size", [16, 24, 32])
def test_aes_ecb(t: Token, size: int) -> None:
    key, value = t.aes(size)
    expected = _aes(value, modes.ECB(), BLOCKS)
    assert t.encrypt(Mechanism.AES_ECB, key, BLOCKS) == expected
    assert t.encrypt_parts(Mechanism.AES_ECB, key, split(BLOCKS, 5, 27, 100)) == expected
    assert t.decrypt(Mechanism.AES_ECB, key, expected) == BLOCKS
    assert t.decrypt_parts(Mechanism.AES_ECB, key, split(expected, 16, 1)) == BLOCKS


def test_aes_cbc(t: Token) -> None:
    key, value = t.aes(32)
    m = mech(Mechanism.AES_CBC, IV)
    expected = _aes(value, modes.CBC(IV), BLOCKS)
    assert t.encrypt(m, key, BLOCKS) == expected
    assert t.encrypt_parts(m, key, split(BLOCKS, 3, 29)) == expected
    assert t.decrypt(m, key, expected) == BLOCKS
    assert t.decrypt_parts(m, key, split(expected, 17, 15, 32)) == BLOCKS


@pytest.mark.parametrize("length", [0, 1, 15, 16, 17, 522])
def test_aes_cbc_pad(t: Token, length: int) -> None:
    key, value = t.aes(16)
    m = mech(Mechanism.AES_CBC_PAD, IV)
    data = DATA[:length]
    expected = _aes(value, modes.CBC(IV), _pad(data))
    assert t.encrypt(m, key, data) == expected
    assert t.encrypt_parts(m, key, split(data, 7, 16)) == expected
    assert t.decrypt(m, key, expected) == data
    assert t.decrypt_parts(m, key, split(expected, 16)) == data
    assert t.decrypt_parts(m, key, split(expected, 5, 11)) == data


def test_aes_ctr(t: Token) -> None:
    key, value = t.aes(16)
    cb = bytes.fromhex("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff")
    expected = _aes(value, modes.CTR(cb), DATA)
    assert t.encrypt(ctr(cb), key, DATA) == expected
    assert t.encrypt_parts(ctr(cb), key, split(DATA, 1, 30, 100)) == expected
    assert t.decrypt(ctr(cb), key, expected) == DATA
    assert t.decrypt_parts(ctr(cb), key, split(expected, 33)) == DATA


@pytest.mark.parametrize(
    ("iv_len", "aad", "tag_bits"),
    [(12, b"", 128), (12, b"header", 96), (16, b"x" * 40, 128), (8, b"a", 64), (60, b"", 120)],
    ids=["iv12", "iv12-aad-t96", "iv16-aad40", "iv8-t64", "iv60-t120"],
)
def test_aes_gcm(t: Token, iv_len: int, aad: bytes, tag_bits: int) -> None:
    key, value = t.aes(32)
    iv = bytes(range(100, 100 + iv_len))
    enc = Cipher(algorithms.AES(value), modes.GCM(iv)).encryptor()
    enc.authenticate_additional_data(aad)
    ct = enc.update(DATA) + enc.finalize()
    expected = ct + enc.tag[: tag_bits // 8]
    assert t.encrypt(gcm(iv, aad, tag_bits), key, DATA) == expected
    assert t.encrypt_parts(gcm(iv, aad, tag_bits), key, split(DATA, 17, 100)) == expected
    assert t.decrypt(gcm(iv, aad, tag_bits), key, expected) == DATA
    assert t.decrypt_parts(gcm(iv, aad, tag_bits), key, split(expected, 3, 500)) == DATA


@spec_departure("SoftHSMv2", clause="3.0 5.9 C_Decrypt: ENCRYPTED_DATA_INVALID for a bad tag (GENERAL_ERROR)")
@pytest.mark.parametrize("tag_bits", [128, 96])
def test_aes_gcm_bad_tag(t: Token, tag_bits: int) -> None:
    key, _ = t.aes(16)
    iv = b"\x05" * 12
    sealed = t.encrypt(gcm(iv, b"aad", tag_bits), key, DATA)
    bad = sealed[:-1] + bytes([sealed[-1] ^ 0x80])
    assert t.decrypt_rv(gcm(iv, b"aad", tag_bits), key, bad) == "ENCRYPTED_DATA_INVALID"
    assert t.decrypt_rv(gcm(iv, b"aaD", tag_bits), key, sealed) == "ENCRYPTED_DATA_INVALID"
    flipped = bytes([sealed[0] ^ 1]) + sealed[1:]
    assert t.decrypt_rv(gcm(iv, b"aad", tag_bits), key, flipped) == "ENCRYPTED_DATA_INVALID"


def test_aes_gcm_outside_ciphertext(t: Token) -> None:
    key, value = t.aes(16)
    iv = b"\x01" * 12
    enc = Cipher(algorithms.AES(value), modes.GCM(iv)).encryptor()
    enc.authenticate_additional_data(b"aad")
    sealed = enc.update(b"secret") + enc.finalize() + enc.tag
    assert t.decrypt(gcm(iv, b"aad"), key, sealed) == b"secret"


def test_chacha20_poly1305(t: Token) -> None:
    """Imports a CKK_CHACHA20 key (3.0 2.42.2: CKA_VALUE, 32 bytes)."""
    t.require(Mechanism.CHACHA20_POLY1305)
    value = bytes(range(32))
    key = t.secret(value, KeyType.CHACHA20)
    nonce, aad = b"\x07" * 12, b"associated"
    expected = ChaCha20Poly1305(value).encrypt(nonce, DATA, aad)
    assert t.encrypt(chacha_poly(nonce, aad), key, DATA) == expected
    assert t.encrypt_parts(chacha_poly(nonce, aad), key, split(DATA, 64, 1)) == expected
    assert t.decrypt(chacha_poly(nonce, aad), key, expected) == DATA
    assert t.decrypt_parts(chacha_poly(nonce, aad), key, split(expected, 300)) == DATA
    bad = expected[:-1] + bytes([expected[-1] ^ 1])
    assert t.decrypt_rv(chacha_poly(nonce, aad), key, bad) == "ENCRYPTED_DATA_INVALID"


def test_chacha20_generated_key(t: Token) -> None:
    """A key from CKM_CHACHA20_KEY_GEN (listed with CKF_GENERATE) seals and opens."""
    t.require(Mechanism.CHACHA20_KEY_GEN, Mechanism.CHACHA20_POLY1305)
    key = t.generate_key(
        Mechanism.CHACHA20_KEY_GEN,
        {
            Attribute.TOKEN: False,
            Attribute.KEY_TYPE: KeyType.CHACHA20,
            Attribute.ENCRYPT: True,
            Attribute.DECRYPT: True,
            Attribute.SENSITIVE: False,
            Attribute.EXTRACTABLE: True,
        },
    )
    value = t.get(key, Attribute.VALUE)
    assert len(value) == 32
    nonce = b"\x09" * 12
    assert t.encrypt(chacha_poly(nonce), key, b"msg") == ChaCha20Poly1305(value).encrypt(nonce, b"msg", None)


# ------------------------------------------------------------------------------- RSA
def test_rsa_pkcs_encrypt(t: Token) -> None:
    key = rsa_key(2048)
    pub, priv = import_rsa(t, key)
    ct = t.encrypt(Mechanism.RSA_PKCS, pub, b"session key bytes")
    assert len(ct) == 256
    assert key.decrypt(ct, rsa_padding.PKCS1v15()) == b"session key bytes"
    outside = key.public_key().encrypt(b"from outside", rsa_padding.PKCS1v15())
    assert t.decrypt(Mechanism.RSA_PKCS, priv, outside) == b"from outside"


def test_rsa_x_509_encrypt(t: Token) -> None:
    key = rsa_key(2048)
    pub, priv = import_rsa(t, key)
    n, e = key.public_key().public_numbers().n, key.public_key().public_numbers().e
    block = b"\x00\x01" + b"\x55" * 254
    ct = t.encrypt(Mechanism.RSA_X_509, pub, block)
    assert int.from_bytes(ct, "big") == pow(int.from_bytes(block, "big"), e, n)
    assert t.decrypt(Mechanism.RSA_X_509, priv, ct) == block


_OAEP_SHA2 = "3.0 2.1.8: CKM_RSA_PKCS_OAEP hashAlg/MGF other than SHA-1 (SoftHSMv2 2.6.1: PARAM_INVALID)"
OAEP_CASES = [
    pytest.param("sha1", "sha1", b"", id="sha1"),
    pytest.param(
        "sha1",
        "sha1",
        b"label",
        id="sha1-label",
        marks=spec_departure("SoftHSMv2", clause="3.0 2.1.8: OAEP pSourceData label (ARGUMENTS_BAD)"),
    ),
    *(
        pytest.param(h, h, lab, id=f"{h}-{len(lab)}", marks=spec_departure("SoftHSMv2", clause=_OAEP_SHA2))
        for h in ("sha224", "sha256", "sha384", "sha512")
        for lab in (b"", b"a label")
    ),
    pytest.param("sha256", "sha1", b"", id="mixed", marks=spec_departure("SoftHSMv2", clause=_OAEP_SHA2)),
]


@pytest.mark.parametrize(("h", "mgf", "label"), OAEP_CASES)
def test_rsa_oaep(t: Token, h: str, mgf: str, label: bytes) -> None:
    key = rsa_key(2048)
    pub, priv = import_rsa(t, key)
    mgf1 = rsa_padding.MGF1(crypto_hash(mgf))
    pad = rsa_padding.OAEP(mgf=mgf1, algorithm=crypto_hash(h), label=label or None)
    ct = t.encrypt(oaep(h, mgf, label), pub, b"a secret")
    assert key.decrypt(ct, pad) == b"a secret"
    outside = key.public_key().encrypt(b"another secret", pad)
    assert t.decrypt(oaep(h, mgf, label), priv, outside) == b"another secret"


# ------------------------------------------------------------------------------- digests
DIGESTS = ["sha1", "sha224", "sha256", "sha384", "sha512", "sha3-224", "sha3-256", "sha3-384", "sha3-512"]


@pytest.mark.parametrize("name", DIGESTS)
def test_digest(t: Token, name: str) -> None:
    t.require(HASH_MECH[name])
    m = HASH_MECH[name]
    assert t.digest(m, DATA) == digest(name, DATA)
    assert t.digest(m, b"") == digest(name, b"")
    assert t.digest_parts(m, split(DATA, 0, 1, 200)) == digest(name, DATA)


def test_digest_key(t: Token) -> None:
    key, value = t.aes(32)
    t.ok("C_DigestInit", mech(Mechanism.SHA256).ptr)
    t.ok("C_DigestUpdate", cbytes(b"before"), 6)
    t.ok("C_DigestKey", key)
    t.ok("C_DigestUpdate", cbytes(b"after"), 5)
    assert t.out("C_DigestFinal") == digest("sha256", b"before" + value + b"after")


# ------------------------------------------------------------------------------- dual functions
# SoftHSMv2 keeps one operation per session: the second Init is CKR_OPERATION_ACTIVE.
dual = spec_departure("SoftHSMv2", clause="3.0 5.13: dual-function calls need two active operations")


def _pieces(t: Token, name: str, parts: list[bytes]) -> bytes:
    return b"".join(t.out(name, cbytes(p), len(p)) for p in parts)


@dual
def test_digest_encrypt_update(t: Token) -> None:
    key, value = t.aes(16)
    t.ok("C_DigestInit", mech(Mechanism.SHA256).ptr)
    t.ok("C_EncryptInit", mech(Mechanism.AES_CBC_PAD, IV).ptr, key)
    ct = _pieces(t, "C_DigestEncryptUpdate", split(DATA, 20, 100))
    ct += t.out("C_EncryptFinal")
    assert ct == _aes(value, modes.CBC(IV), _pad(DATA))
    assert t.out("C_DigestFinal") == digest("sha256", DATA)


@dual
def test_decrypt_digest_update(t: Token) -> None:
    key, value = t.aes(16)
    ct = _aes(value, modes.CBC(IV), _pad(DATA))
    t.ok("C_DecryptInit", mech(Mechanism.AES_CBC_PAD, IV).ptr, key)
    t.ok("C_DigestInit", mech(Mechanism.SHA384).ptr)
    plain = _pieces(t, "C_DecryptDigestUpdate", split(ct, 16, 256))
    tail = t.out("C_DecryptFinal")
    assert plain + tail == DATA
    # The digest saw what the decrypt side released; the padding block comes out at final.
    t.ok("C_DigestUpdate", cbytes(tail), len(tail))
    assert t.out("C_DigestFinal") == digest("sha384", DATA)


def _hmac256(key: bytes, data: bytes) -> bytes:
    mac = hmac.HMAC(key, hashes.SHA256())
    mac.update(data)
    return mac.finalize()


@dual
def test_sign_encrypt_update(t: Token) -> None:
    key, value = t.aes(32)
    mac_value = bytes(range(32))
    mac_key = t.secret(mac_value, KeyType.GENERIC_SECRET)
    t.ok("C_SignInit", mech(Mechanism.SHA256_HMAC).ptr, mac_key)
    t.ok("C_EncryptInit", mech(Mechanism.AES_CBC, IV).ptr, key)
    ct = _pieces(t, "C_SignEncryptUpdate", split(BLOCKS, 48, 100))
    ct += t.out("C_EncryptFinal")
    assert ct == _aes(value, modes.CBC(IV), BLOCKS)
    assert t.out("C_SignFinal") == _hmac256(mac_value, BLOCKS)


@dual
def test_decrypt_verify_update(t: Token) -> None:
    key, value = t.aes(32)
    mac_value = bytes(range(32))
    mac_key = t.secret(mac_value, KeyType.GENERIC_SECRET)
    ct = _aes(value, modes.CTR(IV), DATA)
    t.ok("C_DecryptInit", ctr(IV).ptr, key)
    t.ok("C_VerifyInit", mech(Mechanism.SHA256_HMAC).ptr, mac_key)
    plain = _pieces(t, "C_DecryptVerifyUpdate", split(ct, 100, 1))
    plain += t.out("C_DecryptFinal")
    assert plain == DATA
    tag = _hmac256(mac_value, DATA)
    assert t.rv("C_VerifyFinal", cbytes(tag), len(tag)) == "OK"


@dual
def test_dual_size_query_feeds_digest_once(t: Token) -> None:
    """A NULL-buffer length query on a dual call must not feed the digest side twice."""
    key, value = t.aes(16)
    t.ok("C_DigestInit", mech(Mechanism.SHA256).ptr)
    t.ok("C_EncryptInit", mech(Mechanism.AES_ECB).ptr, key)
    n = ffi.new("CK_ULONG *")
    t.ok("C_DigestEncryptUpdate", cbytes(BLOCKS[:32]), 32, ffi.NULL, n)
    assert int(n[0]) == 32
    buf = ffi.new("CK_BYTE[]", 32)
    t.ok("C_DigestEncryptUpdate", cbytes(BLOCKS[:32]), 32, buf, n)
    assert bytes(buf) == _aes(value, modes.ECB(), BLOCKS[:32])
    t.out("C_EncryptFinal")
    assert t.out("C_DigestFinal") == digest("sha256", BLOCKS[:32])
