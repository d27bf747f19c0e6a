"""Review of mechanism edge cases against PKCS#11 3.0 at the C ABI."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from support.constants import KDF, Attribute, KeyType, Mechanism, ObjectClass
from support.keys import P256, P521, ec_key, ec_point, import_ec, import_rsa, rsa_key
from support.mechanisms import ctr, digest, ecdh, gcm, hkdf, mac_general, mech, oaep, pss
from support.pkcs11 import Module, ffi, spec_departure
from support.templates import cbytes
from support.token import Token

IV = bytes(range(16))
NONCE = bytes(range(12))


@pytest.fixture
def t(module: Module) -> Token:
    return Token(module)


@spec_departure(
    "SoftHSMv2",
    clause="3.0 5.9 C_Decrypt: a failed GCM tag is ENCRYPTED_DATA_INVALID (GENERAL_ERROR)",
)
def test_gcm_wrong_tag(t: Token) -> None:
    key, _ = t.aes(16)
    ct = t.encrypt(gcm(NONCE, b"aad"), key, b"hello world")
    bad = ct[:-1] + bytes([ct[-1] ^ 1])
    assert t.decrypt_rv(gcm(NONCE, b"aad"), key, bad) == "ENCRYPTED_DATA_INVALID"
    assert t.decrypt_rv(gcm(NONCE, b"aaX"), key, ct) == "ENCRYPTED_DATA_INVALID"


def test_gcm_multipart_decrypt_holds_plaintext(t: Token) -> None:
    key, _ = t.aes(16)
    data = bytes(100)
    ct = t.encrypt(gcm(NONCE), key, data)
    t.ok("C_DecryptInit", gcm(NONCE).ptr, key)
    assert t.out("C_DecryptUpdate", cbytes(ct[:50]), 50) == b""
    assert t.out("C_DecryptUpdate", cbytes(ct[50:]), len(ct) - 50) == b""
    assert t.out("C_DecryptFinal") == data


@pytest.mark.parametrize("bits", [96, 104, 112, 120, 128, 64, 32])
def test_gcm_tag_bits(t: Token, bits: int) -> None:
    key, _ = t.aes(16)
    ct = t.encrypt(gcm(NONCE, tag_bits=bits), key, b"x" * 20)
    assert len(ct) == 20 + bits // 8
    assert t.decrypt(gcm(NONCE, tag_bits=bits), key, ct) == b"x" * 20


@pytest.mark.parametrize("bits", [129, 136, 127, 1])
@spec_departure(
    "SoftHSMv2",
    clause="3.0 5.9 C_EncryptInit: bad ulTagBits is MECHANISM_PARAM_INVALID (ARGUMENTS_BAD)",
)
def test_gcm_tag_bits_bad(t: Token, bits: int) -> None:
    key, _ = t.aes(16)
    assert t.rv("C_EncryptInit", gcm(NONCE, tag_bits=bits).ptr, key) == "MECHANISM_PARAM_INVALID"


@spec_departure(
    "SoftHSMv2",
    clause="3.0 5.9 C_Decrypt: GCM input shorter than the tag (GENERAL_ERROR)",
)
def test_gcm_short_ciphertext(t: Token) -> None:
    key, _ = t.aes(16)
    assert t.decrypt_rv(gcm(NONCE), key, b"abc") in ("ENCRYPTED_DATA_LEN_RANGE", "ENCRYPTED_DATA_INVALID")


@spec_departure(
    "SoftHSMv2",
    clause="3.0 5.9 C_Decrypt: bad CBC_PAD padding is ENCRYPTED_DATA_INVALID (GENERAL_ERROR)",
)
def test_cbc_pad_bad_padding(t: Token) -> None:
    key, value = t.aes(16)
    c = Cipher(algorithms.AES(value), modes.CBC(IV)).encryptor()
    ct = c.update(b"a" * 15 + b"\x02") + c.finalize()
    assert t.decrypt_rv(mech(Mechanism.AES_CBC_PAD, IV), key, ct) == "ENCRYPTED_DATA_INVALID"
    c = Cipher(algorithms.AES(value), modes.CBC(IV)).encryptor()
    ct = c.update(b"a" * 15 + b"\x00") + c.finalize()
    assert t.decrypt_rv(mech(Mechanism.AES_CBC_PAD, IV), key, ct) == "ENCRYPTED_DATA_INVALID"
    assert t.decrypt_rv(mech(Mechanism.AES_CBC_PAD, IV), key, ct[:15]) == "ENCRYPTED_DATA_LEN_RANGE"
    assert t.decrypt_rv(mech(Mechanism.AES_CBC_PAD, IV), key, b"") == "ENCRYPTED_DATA_LEN_RANGE"


def test_cbc_pad_multipart_hold_back(t: Token) -> None:
    key, _ = t.aes(16)
    data = b"z" * 32
    ct = t.encrypt(mech(Mechanism.AES_CBC_PAD, IV), key, data)
    assert len(ct) == 48
    t.ok("C_DecryptInit", mech(Mechanism.AES_CBC_PAD, IV).ptr, key)
    out = t.out("C_DecryptUpdate", cbytes(ct[:16]), 16)
    assert out == b""
    out += t.out("C_DecryptUpdate", cbytes(ct[16:48]), 32)
    assert len(out) == 32
    assert t.out("C_DecryptFinal") == b""


@pytest.mark.parametrize("m", [Mechanism.AES_ECB, Mechanism.AES_CBC])
def test_block_not_multiple(t: Token, m: int) -> None:
    key, _ = t.aes(16)
    mm = mech(m, IV) if m == Mechanism.AES_CBC else mech(m)
    t.ok("C_EncryptInit", mm.ptr, key)
    n = ffi.new("CK_ULONG *", 64)
    buf = ffi.new("CK_BYTE[]", 64)
    assert t.rv("C_Encrypt", cbytes(b"x" * 17), 17, buf, n) == "DATA_LEN_RANGE"
    assert t.decrypt_rv(mm, key, b"x" * 17) == "ENCRYPTED_DATA_LEN_RANGE"
    t.ok("C_EncryptInit", mm.ptr, key)
    t.out("C_EncryptUpdate", cbytes(b"x" * 17), 17)
    n = ffi.new("CK_ULONG *", 64)
    assert t.rv("C_EncryptFinal", buf, n) == "DATA_LEN_RANGE"
    t.ok("C_DecryptInit", mm.ptr, key)
    t.out("C_DecryptUpdate", cbytes(b"x" * 17), 17)
    n = ffi.new("CK_ULONG *", 64)
    assert t.rv("C_DecryptFinal", buf, n) == "ENCRYPTED_DATA_LEN_RANGE"


def test_ctr_counter_bits(t: Token) -> None:
    key, _ = t.aes(16)
    cb = bytes(15) + b"\xfe"
    assert len(t.encrypt(ctr(cb, 8), key, b"a" * 32)) == 32
    t.ok("C_EncryptInit", ctr(cb, 8).ptr, key)
    n = ffi.new("CK_ULONG *", 64)
    buf = ffi.new("CK_BYTE[]", 64)
    assert t.rv("C_Encrypt", cbytes(b"a" * 33), 33, buf, n) == "DATA_LEN_RANGE"
    assert t.rv("C_EncryptInit", ctr(cb, 0).ptr, key) == "MECHANISM_PARAM_INVALID"
    assert t.rv("C_EncryptInit", ctr(cb, 129).ptr, key) == "MECHANISM_PARAM_INVALID"


@pytest.mark.parametrize("m,full", [(Mechanism.SHA256_HMAC, 32), (Mechanism.AES_CMAC, 16)])
def test_mac_verify_lengths(t: Token, m: int, full: int) -> None:
    if m == Mechanism.AES_CMAC:
        key, _ = t.aes(16)
    else:
        key = t.secret(b"k" * 32, KeyType.GENERIC_SECRET)
    sig = t.sign(m, key, b"data")
    assert len(sig) == full
    assert t.verify(m, key, b"data", sig) == "OK"
    assert t.verify(m, key, b"data", sig[:-1]) == "SIGNATURE_LEN_RANGE"
    assert t.verify(m, key, b"data", sig + b"\0") == "SIGNATURE_LEN_RANGE"
    assert t.verify(m, key, b"datX", sig) == "SIGNATURE_INVALID"


@pytest.mark.parametrize("m,full", [(Mechanism.SHA256_HMAC_GENERAL, 32), (Mechanism.AES_CMAC_GENERAL, 16)])
def test_mac_general_lengths(t: Token, m: int, full: int) -> None:
    t.require(m)
    if m == Mechanism.AES_CMAC_GENERAL:
        key, _ = t.aes(16)
    else:
        key = t.secret(b"k" * 32, KeyType.GENERIC_SECRET)
    for n in (1, 8, full):
        sig = t.sign(mac_general(m, n), key, b"data")
        assert len(sig) == n
        assert t.verify(mac_general(m, n), key, b"data", sig) == "OK"
        assert t.verify(mac_general(m, n), key, b"data", sig + b"\0") == "SIGNATURE_LEN_RANGE"
    assert t.rv("C_SignInit", mac_general(m, full + 1).ptr, key) == "MECHANISM_PARAM_INVALID"


@spec_departure(
    "SoftHSMv2",
    clause="3.0 2.1.6: RSA_PKCS sign input over k-11 is DATA_LEN_RANGE (GENERAL_ERROR)",
)
def test_rsa_pkcs_sign_too_long(t: Token) -> None:
    _, priv = import_rsa(t, rsa_key(2048))
    t.ok("C_SignInit", mech(Mechanism.RSA_PKCS).ptr, priv)
    n = ffi.new("CK_ULONG *", 512)
    buf = ffi.new("CK_BYTE[]", 512)
    assert t.rv("C_Sign", cbytes(b"a" * 246), 246, buf, n) == "DATA_LEN_RANGE"
    assert len(t.sign(Mechanism.RSA_PKCS, priv, b"a" * 245)) == 256


def test_rsa_sig_len(t: Token) -> None:
    pub, priv = import_rsa(t, rsa_key(2048))
    for m in (mech(Mechanism.SHA256_RSA_PKCS), pss(Mechanism.SHA256_RSA_PKCS_PSS, "sha256")):
        sig = t.sign(m, priv, b"data")
        assert t.verify(m, pub, b"data", sig[:-1]) == "SIGNATURE_LEN_RANGE"
        assert t.verify(m, pub, b"datX", sig) == "SIGNATURE_INVALID"


@spec_departure(
    "SoftHSMv2",
    clause="3.0 2.1.14: a PSS sLen the key cannot hold is MECHANISM_PARAM_INVALID (MECHANISM_INVALID)",
)
def test_pss_salt_too_long(t: Token) -> None:
    _, priv = import_rsa(t, rsa_key(2048))
    # emLen = 256, hLen 32: max salt 222
    assert (
        t.rv("C_SignInit", pss(Mechanism.SHA256_RSA_PKCS_PSS, "sha256", 223).ptr, priv)
        == "MECHANISM_PARAM_INVALID"
    )
    assert len(t.sign(pss(Mechanism.SHA256_RSA_PKCS_PSS, "sha256", 222), priv, b"data")) == 256


@pytest.mark.parametrize("params,size", [(P256, 64), (P521, 132)])
def test_ecdsa_lengths(t: Token, params: bytes, size: int) -> None:
    k = ec_key(params)
    pub, priv = import_ec(t, k, params)
    long_digest = digest("sha512", b"m") + b"\x01" * 16
    sig = t.sign(Mechanism.ECDSA, priv, long_digest)
    assert len(sig) == size
    assert t.verify(Mechanism.ECDSA, pub, long_digest, sig) == "OK"
    assert t.verify(Mechanism.ECDSA, pub, long_digest, sig[:-1]) == "SIGNATURE_LEN_RANGE"
    assert t.verify(Mechanism.ECDSA, pub, long_digest, bytes(size)) == "SIGNATURE_INVALID"


def test_ecdsa_long_digest_truncated_like_x962(t: Token) -> None:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import utils

    k = ec_key(P256)
    _, priv = import_ec(t, k, P256)
    h = digest("sha512", b"message")
    sig = t.sign(Mechanism.ECDSA, priv, h)
    der = utils.encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    k.public_key().verify(der, h, ec.ECDSA(utils.Prehashed(hashes.SHA512())))


def test_ctr_decrypt_counter_exhausted(t: Token) -> None:
    key, _ = t.aes(16)
    cb = bytes(15) + b"\xfe"
    t.ok("C_DecryptInit", ctr(cb, 8).ptr, key)
    n = ffi.new("CK_ULONG *", 64)
    buf = ffi.new("CK_BYTE[]", 64)
    assert t.rv("C_Decrypt", cbytes(b"a" * 33), 33, buf, n) == "ENCRYPTED_DATA_LEN_RANGE"


@spec_departure(
    "SoftHSMv2",
    clause="3.0 5.9 C_Decrypt: RSA ciphertext not k bytes is ENCRYPTED_DATA_LEN_RANGE (GENERAL_ERROR)",
)
def test_rsa_encrypt_lengths(t: Token) -> None:
    pub, priv = import_rsa(t, rsa_key(2048))
    ct = t.encrypt(Mechanism.RSA_PKCS, pub, b"a" * 245)
    assert t.decrypt(Mechanism.RSA_PKCS, priv, ct) == b"a" * 245
    assert t.decrypt_rv(Mechanism.RSA_PKCS, priv, ct[:-1]) == "ENCRYPTED_DATA_LEN_RANGE"
    t.ok("C_EncryptInit", mech(Mechanism.RSA_PKCS).ptr, pub)
    n = ffi.new("CK_ULONG *", 512)
    buf = ffi.new("CK_BYTE[]", 512)
    assert t.rv("C_Encrypt", cbytes(b"a" * 246), 246, buf, n) == "DATA_LEN_RANGE"
    t.ok("C_EncryptInit", oaep("sha256").ptr, pub)
    assert t.rv("C_Encrypt", cbytes(b"a" * 191), 191, buf, n) == "DATA_LEN_RANGE"
    ct = t.encrypt(oaep("sha256"), pub, b"a" * 190)
    assert t.decrypt_rv(oaep("sha256", label=b"L"), priv, ct) == "ENCRYPTED_DATA_INVALID"


def test_key_wrap_lengths(t: Token) -> None:
    if t.softhsm2:
        pytest.skip("SoftHSMv2 2.6.1 offers AES key wrap through C_WrapKey only")
    kek, _ = t.aes(16)
    assert t.decrypt_rv(mech(Mechanism.AES_KEY_WRAP), kek, bytes(20)) == "ENCRYPTED_DATA_LEN_RANGE"
    assert t.decrypt_rv(mech(Mechanism.AES_KEY_WRAP), kek, bytes(24)) == "ENCRYPTED_DATA_INVALID"
    assert t.decrypt_rv(mech(Mechanism.AES_KEY_WRAP_KWP), kek, bytes(16)) == "ENCRYPTED_DATA_INVALID"
    assert t.decrypt_rv(mech(Mechanism.AES_KEY_WRAP_KWP), kek, bytes(12)) == "ENCRYPTED_DATA_LEN_RANGE"
    assert len(t.encrypt(mech(Mechanism.AES_KEY_WRAP_KWP), kek, b"x")) == 16
    t.ok("C_EncryptInit", mech(Mechanism.AES_KEY_WRAP).ptr, kek)
    n = ffi.new("CK_ULONG *", 64)
    buf = ffi.new("CK_BYTE[]", 64)
    assert t.rv("C_Encrypt", cbytes(b"x" * 20), 20, buf, n) == "DATA_LEN_RANGE"


def test_mech_info_key_sizes_accepted(t: Token) -> None:
    if t.softhsm2:
        pytest.skip("softhsm-py's own table (SoftHSMv2 lists other maxima)")
    for m in (
        Mechanism.AES_GCM,
        Mechanism.AES_CBC_PAD,
        Mechanism.AES_CTR,
        Mechanism.AES_CMAC,
        Mechanism.AES_KEY_WRAP,
    ):
        info = t.mechanism_info(m)
        assert (int(info.ulMinKeySize), int(info.ulMaxKeySize)) == (16, 32)
    info = t.mechanism_info(Mechanism.ECDSA)
    assert int(info.ulMinKeySize) <= 256 and int(info.ulMaxKeySize) >= 521


def _secret_template(length: int | None = None, key_type: int = KeyType.GENERIC_SECRET) -> dict[int, object]:
    attrs: dict[int, object] = {
        Attribute.CLASS: ObjectClass.SECRET_KEY,
        Attribute.KEY_TYPE: key_type,
        Attribute.TOKEN: False,
        Attribute.SENSITIVE: False,
        Attribute.EXTRACTABLE: True,
    }
    if length is not None:
        attrs[Attribute.VALUE_LEN] = length
    return attrs


def test_ecdh_kdf_parameters(t: Token) -> None:
    ours, peer = ec_key(P256), ec_key(P256)
    _, priv = import_ec(t, ours, P256)
    point = ec_point(peer.public_key())
    z = peer.exchange(ec.ECDH(), ours.public_key())
    assert (
        t.derive_rv(ecdh(point, KDF.NULL, b"shared"), priv, _secret_template(32)) == "MECHANISM_PARAM_INVALID"
    )
    assert t.derive_rv(ecdh(point, 0x1234), priv, _secret_template(32)) == "MECHANISM_PARAM_INVALID"
    if not t.softhsm2:  # SoftHSMv2 needs CKA_VALUE_LEN in the template
        key = t.derive(ecdh(point), priv, _secret_template())
        assert t.get(key, Attribute.VALUE) == z
        assert t.get_ulong(key, Attribute.VALUE_LEN) == 32
    key = t.derive(ecdh(point), priv, _secret_template(16))
    # The spec leaves which end of Z a shorter key keeps open: we (OpenSSL, kryoptic) keep the
    # leading bytes, SoftHSMv2 the trailing ones.
    assert t.get(key, Attribute.VALUE) == (z[-16:] if t.softhsm2 else z[:16])
    assert t.derive_rv(ecdh(point), priv, _secret_template(24, KeyType.AES)) == "OK"


@spec_departure(
    "SoftHSMv2",
    clause="3.0 5.18 C_DeriveKey: a CKA_VALUE_LEN longer than Z is a template error (FUNCTION_FAILED)",
)
def test_ecdh_null_kdf_length_refused(t: Token) -> None:
    ours, peer = ec_key(P256), ec_key(P256)
    _, priv = import_ec(t, ours, P256)
    point = ec_point(peer.public_key())
    assert t.derive_rv(ecdh(point), priv, _secret_template(33)) in ("TEMPLATE_INCONSISTENT", "KEY_SIZE_RANGE")
    assert t.derive_rv(ecdh(point), priv, _secret_template(0)) in (
        "ATTRIBUTE_VALUE_INVALID",
        "TEMPLATE_INCONSISTENT",
    )
    assert t.derive_rv(ecdh(point), priv, _secret_template(20, KeyType.AES)) in (
        "ATTRIBUTE_VALUE_INVALID",
        "TEMPLATE_INCONSISTENT",
        "KEY_SIZE_RANGE",
    )


def test_hkdf_lengths(t: Token) -> None:
    t.require(Mechanism.HKDF_DERIVE)
    base = t.secret(b"k" * 32, KeyType.GENERIC_SECRET, DERIVE=True)
    key = t.derive(hkdf(salt=b"salt", info=b"info"), base, _secret_template(255 * 32))
    assert len(t.get(key, Attribute.VALUE)) == 255 * 32
    assert t.derive_rv(hkdf(salt=b"salt"), base, _secret_template(255 * 32 + 1)) == "TEMPLATE_INCONSISTENT"
    key = t.derive(hkdf(salt=b"salt", expand=False), base, _secret_template())
    assert len(t.get(key, Attribute.VALUE)) == 32
    assert (
        t.derive_rv(hkdf(salt=b"salt", expand=False), base, _secret_template(33)) == "TEMPLATE_INCONSISTENT"
    )
    assert (
        t.derive_rv(hkdf(extract=False, expand=False), base, _secret_template(32))
        == "MECHANISM_PARAM_INVALID"
    )
