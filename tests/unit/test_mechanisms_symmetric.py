"""AES, ChaCha20-Poly1305, HMAC/CMAC, digests, HKDF and secret key generation."""

from __future__ import annotations

import hashlib
import hmac as std_hmac
import os

import pytest
from cryptography.hazmat.primitives import cmac, hashes, keywrap
from cryptography.hazmat.primitives import padding as sym_padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given, settings
from hypothesis import strategies as st

from softhsm_py import errors
from softhsm_py.constants import Attribute as A
from softhsm_py.constants import HkdfSaltType, KeyType, Mechanism, ObjectClass
from softhsm_py.mechanisms import registry
from softhsm_py.mechanisms.params import ChaCha20Poly1305Params, CtrParams, GcmParams, HkdfParams
from support.registry_calls import Key, aes, decrypt, encrypt, secret, sign, verify

M = Mechanism
KEY = bytes(range(32))
IV = bytes(range(16, 32))


def _crypto_cipher(mech: int, key: bytes, param):
    if mech == M.AES_ECB:
        return Cipher(algorithms.AES(key), modes.ECB())
    if mech in (M.AES_CBC, M.AES_CBC_PAD):
        return Cipher(algorithms.AES(key), modes.CBC(param))
    return Cipher(algorithms.AES(key), modes.CTR(param.cb))


def _crypto_encrypt(mech, key, param, data):
    if mech == M.AES_CBC_PAD:
        p = sym_padding.PKCS7(128).padder()
        data = p.update(data) + p.finalize()
    e = _crypto_cipher(mech, key, param).encryptor()
    return e.update(data) + e.finalize()


BLOCK_MODES = [(M.AES_ECB, None), (M.AES_CBC, IV), (M.AES_CBC_PAD, IV), (M.AES_CTR, CtrParams(128, IV))]


@pytest.mark.parametrize(("mech", "param"), BLOCK_MODES, ids=lambda v: getattr(v, "name", ""))
@pytest.mark.parametrize("size", [16, 24, 32])
def test_block_modes_match_cryptography_both_ways(mech, param, size):
    key = KEY[:size]
    data = os.urandom(64 if mech in (M.AES_ECB, M.AES_CBC) else 61)
    ct = encrypt(mech, param, aes(key), data)
    assert ct == _crypto_encrypt(mech, key, param, data)
    assert decrypt(mech, param, aes(key), ct) == data


@settings(max_examples=60, deadline=None)
@given(
    mode=st.sampled_from([*BLOCK_MODES, (M.AES_GCM, GcmParams(IV[:12], b"aad", 128))]),
    data=st.binary(max_size=100),
    cuts=st.lists(st.integers(0, 100), max_size=5),
)
def test_multi_part_equals_one_shot_and_respects_output_bound(mode, data, cuts):
    mech, param = mode
    if mech in (M.AES_ECB, M.AES_CBC):
        data = data[: len(data) - len(data) % 16]
    impl = registry.lookup(mech)

    def run(ctx, payload: bytes) -> bytes:
        out, pos = b"", 0
        for cut in [*sorted(c for c in cuts if c <= len(payload)), len(payload)]:
            part = payload[pos:cut]
            bound = ctx.output_bound(len(part), False)
            chunk = ctx.update(part)
            assert len(chunk) <= bound
            out, pos = out + chunk, cut
        bound = ctx.output_bound(0, True)
        tail = ctx.final()
        assert len(tail) <= bound
        return out + tail

    ct = run(impl.encrypt_init(mech, param, aes(KEY)), data)
    assert ct == impl.encrypt_init(mech, param, aes(KEY)).oneshot(data)
    assert run(impl.decrypt_init(mech, param, aes(KEY)), ct) == data


def test_block_length_and_padding_errors():
    with pytest.raises(errors.DataLenRange):
        encrypt(M.AES_ECB, None, aes(KEY), b"x" * 17)
    with pytest.raises(errors.EncryptedDataLenRange):
        decrypt(M.AES_CBC, IV, aes(KEY), b"x" * 17)
    ctx = registry.lookup(M.AES_CBC).encrypt_init(M.AES_CBC, IV, aes(KEY))
    ctx.update(b"x" * 20)
    with pytest.raises(errors.DataLenRange):
        ctx.final()
    bad_pad = _crypto_encrypt(M.AES_CBC, KEY, IV, b"\x00" * 15 + b"\x11")
    with pytest.raises(errors.EncryptedDataInvalid):
        decrypt(M.AES_CBC_PAD, IV, aes(KEY), bad_pad)
    with pytest.raises(errors.EncryptedDataLenRange):
        decrypt(M.AES_CBC_PAD, IV, aes(KEY), b"")
    for bad in (None, IV[:8], GcmParams(IV, b"", 128)):
        with pytest.raises(errors.MechanismParamInvalid):
            encrypt(M.AES_CBC, bad, aes(KEY), b"x" * 16)
    with pytest.raises(errors.KeySizeRange):
        encrypt(M.AES_ECB, None, aes(KEY[:20]), b"x" * 16)
    with pytest.raises(errors.KeyTypeInconsistent):
        encrypt(M.AES_ECB, None, secret(KeyType.GENERIC_SECRET, KEY), b"x" * 16)


def test_ctr_counter_bits_limit_wrap():
    cb = bytes(15) + b"\xfe"  # 8-bit counter at 254: two blocks left
    param = CtrParams(8, cb)
    assert len(encrypt(M.AES_CTR, param, aes(KEY), b"x" * 32)) == 32
    with pytest.raises(errors.DataLenRange):
        encrypt(M.AES_CTR, param, aes(KEY), b"x" * 33)
    with pytest.raises(errors.MechanismParamInvalid):
        encrypt(M.AES_CTR, CtrParams(0, cb), aes(KEY), b"x")


@pytest.mark.parametrize("tag_bits", [96, 104, 112, 120, 128, 64, 32])
@pytest.mark.parametrize("iv_len", [8, 12, 16, 128])
def test_gcm_both_ways(tag_bits, iv_len):
    iv = os.urandom(iv_len)
    param = GcmParams(iv, b"header", tag_bits)
    ct = encrypt(M.AES_GCM, param, aes(KEY), b"plaintext")
    assert len(ct) == 9 + tag_bits // 8
    theirs = Cipher(algorithms.AES(KEY), modes.GCM(iv, ct[9:], min_tag_length=tag_bits // 8)).decryptor()
    theirs.authenticate_additional_data(b"header")
    assert theirs.update(ct[:9]) + theirs.finalize() == b"plaintext"
    if iv_len == 12 and tag_bits == 128:
        assert decrypt(M.AES_GCM, param, aes(KEY), AESGCM(KEY).encrypt(iv, b"p2", b"header")) == b"p2"
    assert decrypt(M.AES_GCM, param, aes(KEY), ct) == b"plaintext"


def test_gcm_errors():
    param = GcmParams(IV[:12], b"", 128)
    ct = encrypt(M.AES_GCM, param, aes(KEY), b"data")
    with pytest.raises(errors.EncryptedDataInvalid):
        decrypt(M.AES_GCM, param, aes(KEY), ct[:-1] + bytes([ct[-1] ^ 1]))
    with pytest.raises(errors.EncryptedDataInvalid):
        decrypt(M.AES_GCM, GcmParams(IV[:12], b"aad", 128), aes(KEY), ct)
    with pytest.raises(errors.EncryptedDataLenRange):
        decrypt(M.AES_GCM, param, aes(KEY), ct[:15])
    ctx = registry.lookup(M.AES_GCM).decrypt_init(M.AES_GCM, param, aes(KEY))
    assert ctx.update(ct) == b""  # nothing before the tag is checked
    assert ctx.final() == b"data"
    for bad in (
        GcmParams(IV[:7], b"", 128),
        GcmParams(IV[:12], b"", 100),
        GcmParams(bytes(129), b"", 128),
        None,
    ):
        with pytest.raises(errors.MechanismParamInvalid):
            encrypt(M.AES_GCM, bad, aes(KEY), b"x")


@pytest.mark.parametrize("mech", [M.AES_KEY_WRAP, M.AES_KEY_WRAP_KWP])
def test_key_wrap_both_ways_and_errors(mech):
    impl, kek, key = registry.lookup(mech), aes(KEY), os.urandom(32)
    wrapped = impl.wrap(mech, None, kek, key)
    theirs = keywrap.aes_key_wrap if mech == M.AES_KEY_WRAP else keywrap.aes_key_wrap_with_padding
    assert wrapped == theirs(KEY, key)
    assert impl.unwrap(mech, None, kek, wrapped) == key
    assert decrypt(mech, None, kek, encrypt(mech, None, kek, key)) == key
    with pytest.raises(errors.WrappedKeyInvalid):
        impl.unwrap(mech, None, kek, wrapped[:-1] + bytes([wrapped[-1] ^ 1]))
    with pytest.raises(errors.EncryptedDataInvalid):
        decrypt(mech, None, kek, wrapped[:-1] + bytes([wrapped[-1] ^ 1]))
    with pytest.raises(errors.WrappedKeyLenRange):
        impl.unwrap(mech, None, kek, wrapped[:-3])
    with pytest.raises(errors.MechanismParamInvalid):
        impl.wrap(mech, b"\x01" * (8 if mech == M.AES_KEY_WRAP else 4), kek, key)
    with pytest.raises(errors.WrappingKeyTypeInconsistent):
        impl.wrap(mech, None, secret(KeyType.GENERIC_SECRET, KEY), key)
    with pytest.raises(errors.OperationNotInitialized):
        impl.encrypt_init(mech, None, kek).update(key)


def test_plain_key_wrap_needs_multiple_of_8():
    impl = registry.lookup(M.AES_KEY_WRAP)
    with pytest.raises(errors.KeySizeRange):
        impl.wrap(M.AES_KEY_WRAP, None, aes(KEY), b"x" * 15)
    assert len(registry.lookup(M.AES_KEY_WRAP_KWP).wrap(M.AES_KEY_WRAP_KWP, None, aes(KEY), b"x" * 15)) == 24


@pytest.mark.parametrize(
    ("mech", "param"), [(M.AES_CBC_PAD, IV), (M.AES_GCM, GcmParams(IV[:12], b"", 128)), (M.AES_ECB, None)]
)
def test_cipher_modes_wrap_and_unwrap(mech, param):
    impl, key = registry.lookup(mech), os.urandom(32)
    assert impl.unwrap(mech, param, aes(KEY), impl.wrap(mech, param, aes(KEY), key)) == key
    with pytest.raises(errors.MechanismInvalid):
        registry.lookup(M.AES_CTR).wrap(M.AES_CTR, CtrParams(128, IV), aes(KEY), key)


def test_chacha20_poly1305_both_ways():
    key = secret(KeyType.CHACHA20, KEY)
    param = ChaCha20Poly1305Params(IV[:12], b"aad")
    ct = encrypt(M.CHACHA20_POLY1305, param, key, b"hello")
    assert ChaCha20Poly1305(KEY).decrypt(IV[:12], ct, b"aad") == b"hello"
    assert (
        decrypt(M.CHACHA20_POLY1305, param, key, ChaCha20Poly1305(KEY).encrypt(IV[:12], b"x", b"aad")) == b"x"
    )
    ctx = registry.lookup(M.CHACHA20_POLY1305).decrypt_init(M.CHACHA20_POLY1305, param, key)
    assert ctx.update(ct[:3]) == b"" and ctx.update(ct[3:]) == b""
    assert ctx.final() == b"hello"
    with pytest.raises(errors.EncryptedDataInvalid):
        decrypt(M.CHACHA20_POLY1305, param, key, ct[:-1] + b"\0")
    with pytest.raises(errors.MechanismParamInvalid):
        encrypt(M.CHACHA20_POLY1305, ChaCha20Poly1305Params(IV[:8], b""), key, b"x")


# --- MACs and digests --------------------------------------------------------------------------

HMACS = [
    (M.SHA_1_HMAC, "sha1"),
    (M.SHA256_HMAC, "sha256"),
    (M.SHA512_HMAC, "sha512"),
    (M.SHA3_256_HMAC, "sha3_256"),
    (M.SHA3_512_HMAC, "sha3_512"),
]


@pytest.mark.parametrize(("mech", "name"), HMACS)
def test_hmac_matches_hashlib(mech, name):
    key = secret(KeyType.GENERIC_SECRET, b"k" * 20)
    mac = sign(mech, None, key, b"data")
    assert mac == std_hmac.new(b"k" * 20, b"data", name).digest()
    verify(mech, None, key, b"data", mac)
    with pytest.raises(errors.SignatureInvalid):
        verify(mech, None, key, b"date", mac)
    with pytest.raises(errors.SignatureLenRange):
        verify(mech, None, key, b"data", mac[:-1])


def test_hmac_general_key_types_and_params():
    key = secret(KeyType.SHA256_HMAC, b"k" * 32)
    full = sign(M.SHA256_HMAC, None, key, b"d")
    assert sign(M.SHA256_HMAC_GENERAL, 10, key, b"d") == full[:10]
    verify(M.SHA256_HMAC_GENERAL, 10, key, b"d", full[:10])
    with pytest.raises(errors.MechanismParamInvalid):
        sign(M.SHA256_HMAC_GENERAL, 33, key, b"d")
    with pytest.raises(errors.KeyTypeInconsistent):
        sign(M.SHA384_HMAC, None, key, b"d")
    with pytest.raises(errors.KeyTypeInconsistent):
        sign(M.SHA256_HMAC, None, aes(KEY), b"d")
    with pytest.raises(errors.KeySizeRange):
        sign(M.SHA256_HMAC, None, secret(KeyType.GENERIC_SECRET, b""), b"d")


def test_aes_cmac_matches_cryptography():
    c = cmac.CMAC(algorithms.AES(KEY))
    c.update(b"message")
    expected = c.finalize()
    assert sign(M.AES_CMAC, None, aes(KEY), b"message") == expected
    assert sign(M.AES_CMAC_GENERAL, 8, aes(KEY), b"message") == expected[:8]
    verify(M.AES_CMAC, None, aes(KEY), b"message", expected)


@pytest.mark.parametrize("size", [0, 5, 16, 33, 64])
def test_aes_mac_is_cbc_mac_with_zero_padding(size):
    message = os.urandom(size)
    padded = message + bytes(-len(message) % 16) if message else bytes(16)
    enc = Cipher(algorithms.AES(KEY), modes.CBC(bytes(16))).encryptor()
    expected = (enc.update(padded) + enc.finalize())[-16:]
    assert sign(M.AES_MAC, None, aes(KEY), message) == expected[:8]  # half a block (3.0, 2.14)
    assert sign(M.AES_MAC_GENERAL, 12, aes(KEY), message) == expected[:12]
    verify(M.AES_MAC, None, aes(KEY), message, expected[:8])
    with pytest.raises(errors.SignatureInvalid):
        verify(M.AES_MAC, None, aes(KEY), message + b"!", expected[:8])


@pytest.mark.parametrize(
    ("mech", "name"),
    [
        (M.SHA_1, "sha1"),
        (M.SHA224, "sha224"),
        (M.SHA256, "sha256"),
        (M.SHA384, "sha384"),
        (M.SHA512, "sha512"),
        (M.SHA3_224, "sha3_224"),
        (M.SHA3_256, "sha3_256"),
        (M.SHA3_384, "sha3_384"),
        (M.SHA3_512, "sha3_512"),
    ],
)
def test_digests(mech, name):
    impl = registry.lookup(mech)
    ctx = impl.digest_init(mech, None)
    assert ctx.output_bound(0, True) == hashlib.new(name).digest_size
    ctx.update(b"ab")
    ctx.update_key(b"KEY")
    assert ctx.final() == hashlib.new(name, b"abKEY").digest()
    assert impl.digest_init(mech, None).digest(b"") == hashlib.new(name, b"").digest()
    with pytest.raises(errors.MechanismParamInvalid):
        impl.digest_init(mech, b"x")


# --- HKDF --------------------------------------------------------------------------------------


def _hkdf(mech, param, key, template):
    return registry.lookup(mech).derive(mech, param, key, template)


def test_hkdf_derive_matches_cryptography():
    base = secret(KeyType.GENERIC_SECRET, b"ikm" * 10)
    param = HkdfParams(True, True, M.SHA256, HkdfSaltType.DATA, b"salt", 0, b"info")
    out = _hkdf(M.HKDF_DERIVE, param, base, {A.KEY_TYPE: KeyType.AES, A.VALUE_LEN: 32})
    assert out[A.VALUE] == HKDF(hashes.SHA256(), 32, b"salt", b"info").derive(b"ikm" * 10)
    assert out[A.VALUE_LEN] == 32 and out[A.KEY_TYPE] == KeyType.AES
    keyed = HkdfParams(True, True, M.SHA256, HkdfSaltType.KEY, b"", 7, b"info", salt_key_value=b"salt")
    assert _hkdf(M.HKDF_DERIVE, keyed, base, {A.VALUE_LEN: 32})[A.VALUE] == out[A.VALUE]
    null_salt = HkdfParams(True, True, M.SHA256, HkdfSaltType.NULL, b"", 0, b"")
    assert _hkdf(M.HKDF_DERIVE, null_salt, base, {A.VALUE_LEN: 50})[A.VALUE] == HKDF(
        hashes.SHA256(), 50, None, None
    ).derive(b"ikm" * 10)
    data = _hkdf(M.HKDF_DATA, param, base, {A.VALUE_LEN: 20})
    assert data == {A.CLASS: ObjectClass.DATA, A.VALUE: out[A.VALUE][:20]}


@pytest.mark.parametrize(
    "param",
    [
        HkdfParams(False, False, M.SHA256, HkdfSaltType.NULL, b"", 0, b""),
        HkdfParams(True, True, M.SHA256, HkdfSaltType.DATA, b"", 0, b""),
        HkdfParams(True, True, M.SHA256, HkdfSaltType.KEY, b"", 5, b""),
        HkdfParams(True, True, 0x1234, HkdfSaltType.NULL, b"", 0, b""),
        HkdfParams(True, True, M.SHA256, 0x8, b"", 0, b""),
        None,
    ],
)
def test_hkdf_parameter_errors(param):
    with pytest.raises(errors.MechanismParamInvalid):
        _hkdf(M.HKDF_DERIVE, param, secret(KeyType.GENERIC_SECRET, b"k"), {A.VALUE_LEN: 16})


def test_hkdf_length_and_key_errors():
    base = secret(KeyType.GENERIC_SECRET, b"k" * 16)
    expand = HkdfParams(False, True, M.SHA256, HkdfSaltType.NULL, b"", 0, b"")
    with pytest.raises(errors.TemplateInconsistent):
        _hkdf(M.HKDF_DERIVE, expand, base, {A.VALUE_LEN: 255 * 32 + 1})
    with pytest.raises(errors.AttributeValueInvalid):
        _hkdf(M.HKDF_DERIVE, expand, base, {A.KEY_TYPE: KeyType.AES, A.VALUE_LEN: 20})
    with pytest.raises(errors.KeyTypeInconsistent):
        _hkdf(M.HKDF_DERIVE, expand, aes(KEY), {A.VALUE_LEN: 16})
    with pytest.raises(errors.KeyFunctionNotPermitted):
        _hkdf(M.HKDF_DERIVE, expand, Key({**base.attrs, A.CLASS: ObjectClass.PUBLIC_KEY}), {})


# --- secret key generation ---------------------------------------------------------------------


def _gen(mech, template):
    return registry.lookup(mech).generate_key(mech, None, template)


def test_secret_key_generation():
    out = _gen(M.AES_KEY_GEN, {A.VALUE_LEN: 24})
    assert len(out[A.VALUE]) == out[A.VALUE_LEN] == 24 and out[A.KEY_TYPE] == KeyType.AES
    assert _gen(M.AES_KEY_GEN, {A.VALUE_LEN: 32})[A.VALUE] != _gen(M.AES_KEY_GEN, {A.VALUE_LEN: 32})[A.VALUE]
    assert len(_gen(M.GENERIC_SECRET_KEY_GEN, {A.VALUE_LEN: 7})[A.VALUE]) == 7
    chacha = _gen(M.CHACHA20_KEY_GEN, {})
    assert len(chacha[A.VALUE]) == 32 and chacha[A.VALUE_LEN] == 32
    with pytest.raises(errors.TemplateIncomplete):
        _gen(M.AES_KEY_GEN, {})
    with pytest.raises(errors.KeySizeRange):
        _gen(M.AES_KEY_GEN, {A.VALUE_LEN: 20})
    with pytest.raises(errors.TemplateIncomplete):
        _gen(M.GENERIC_SECRET_KEY_GEN, {})
    with pytest.raises(errors.AttributeValueInvalid):
        _gen(M.GENERIC_SECRET_KEY_GEN, {A.VALUE_LEN: 0})
    with pytest.raises(errors.MechanismParamInvalid):
        registry.lookup(M.AES_KEY_GEN).generate_key(M.AES_KEY_GEN, b"x", {A.VALUE_LEN: 16})
