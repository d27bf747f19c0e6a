"""The message-based functions (PKCS#11 3.0, 5.9-5.15): AES-GCM, AES-CCM and ChaCha20-Poly1305
messages checked against pyca/cryptography's AEADs (with the IV and tag the token hands back), IV
generation (CKG_*), messages in parts, size queries, and message signing and verifying.
SoftHSMv2 2.6.1 has no 3.0 interface: skipped there."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESCCM, AESGCM, ChaCha20Poly1305

from support.constants import END_OF_MESSAGE, GeneratorFunction, KeyType, Mechanism
from support.mechanisms import Mech, MessageParam, ccm_message, chacha_message, gcm_message, pss
from support.pkcs11 import Module, ffi
from support.templates import cbytes
from support.token import Token

M, G = Mechanism, GeneratorFunction
KEY = bytes(range(32))
AAD = b"associated data"
DATA = b"a message, encrypted on its own" * 3


@pytest.fixture
def t(module: Module) -> Token:
    module.require_3_0()
    return Token(module)


def encrypt_message(t: Token, mp: MessageParam, data: bytes, aad: bytes = AAD) -> bytes:
    return t.out("C_EncryptMessage", mp.p, mp.size, cbytes(aad), len(aad), cbytes(data), len(data))


def decrypt_message_rv(t: Token, mp: MessageParam, data: bytes, aad: bytes = AAD) -> tuple[str, bytes]:
    n, buf = ffi.new("CK_ULONG *", len(data) + 16), ffi.new("CK_BYTE[]", len(data) + 16)
    rv = t.rv("C_DecryptMessage", mp.p, mp.size, cbytes(aad), len(aad), cbytes(data), len(data), buf, n)
    return rv, bytes(ffi.buffer(buf, int(n[0])))


def message_next(t: Token, name: str, mp: MessageParam, data: bytes, flags: int) -> bytes:
    """C_EncryptMessageNext / C_DecryptMessageNext in two calls (the length, then the part)."""
    n = ffi.new("CK_ULONG *")
    t.ok(name, mp.p, mp.size, cbytes(data), len(data), ffi.NULL, n, flags)
    buf = ffi.new("CK_BYTE[]", max(int(n[0]), 1))
    t.ok(name, mp.p, mp.size, cbytes(data), len(data), buf, n, flags)
    return bytes(ffi.buffer(buf, int(n[0])))


AEADS: dict[str, tuple[int, int, Any, Any]] = {
    # name: (mechanism, key type, message parameter for a 12-byte IV, pyca's decryption)
    "gcm": (M.AES_GCM, KeyType.AES, lambda iv, g=0: gcm_message(iv, g),
            lambda iv, ct, tag: AESGCM(KEY).decrypt(iv, ct + tag, AAD)),
    "ccm": (M.AES_CCM, KeyType.AES, lambda iv, g=0: ccm_message(len(DATA), iv, g),
            lambda iv, ct, tag: AESCCM(KEY).decrypt(iv, ct + tag, AAD)),
    "chacha": (M.CHACHA20_POLY1305, KeyType.CHACHA20, lambda iv, g=0: chacha_message(iv),
               lambda iv, ct, tag: ChaCha20Poly1305(KEY).decrypt(iv, ct + tag, AAD)),
}  # fmt: skip


@pytest.mark.parametrize("name", list(AEADS))
def test_aead_messages_against_pyca(t: Token, name: str) -> None:
    mech, key_type, param, pyca_open = AEADS[name]
    key = t.secret(KEY, key_type)
    t.ok("C_MessageEncryptInit", Mech(mech).ptr, key)
    t.ok("C_MessageDecryptInit", Mech(mech).ptr, key)
    for i in range(3):  # several messages under one Init
        iv = bytes([i]) * 12
        mp = param(iv)
        ct = encrypt_message(t, mp, DATA)
        assert len(ct) == len(DATA)
        assert pyca_open(mp.iv, ct, mp.tag) == DATA  # the tag came back in the parameter
        assert decrypt_message_rv(t, mp, ct) == ("OK", DATA)
        mp.set_tag(bytes([mp.tag[0] ^ 1]) + mp.tag[1:])
        assert decrypt_message_rv(t, mp, ct)[0] == "ENCRYPTED_DATA_INVALID"
    t.ok("C_MessageEncryptFinal")
    t.ok("C_MessageDecryptFinal")
    assert t.rv("C_MessageEncryptFinal") == "OPERATION_NOT_INITIALIZED"


def test_gcm_generated_ivs(t: Token) -> None:
    """CKG_GENERATE / _RANDOM make the IV's free bits; _COUNTER counts from zero under the
    caller's fixed bits; _COUNTER_XOR XORs the counter into the caller's bits. The IV goes back."""
    key = t.secret(KEY, KeyType.AES)
    fixed = bytes.fromhex("a1b2c3d4") + bytes(8)
    t.ok("C_MessageEncryptInit", Mech(M.AES_GCM).ptr, key)
    counted = []
    for _ in range(3):
        mp = gcm_message(fixed, G.GENERATE_COUNTER, fixed_bits=32)
        ct = encrypt_message(t, mp, DATA)
        assert AESGCM(KEY).decrypt(mp.iv, ct + mp.tag, AAD) == DATA
        counted.append(mp.iv)
    assert counted == [fixed[:4] + i.to_bytes(8, "big") for i in range(3)]
    base = bytes.fromhex("00" * 4 + "ff" * 8)
    mp = gcm_message(base, G.GENERATE_COUNTER_XOR, fixed_bits=32)
    encrypt_message(t, mp, DATA)
    assert mp.iv == bytes(4) + (int.from_bytes(b"\xff" * 8, "big") ^ 3).to_bytes(8, "big")
    randoms = set()
    for generator in (G.GENERATE, G.GENERATE_RANDOM):
        mp = gcm_message(fixed, generator, fixed_bits=32)
        ct = encrypt_message(t, mp, DATA)
        assert mp.iv[:4] == fixed[:4] and AESGCM(KEY).decrypt(mp.iv, ct + mp.tag, AAD) == DATA
        randoms.add(mp.iv)
    assert len(randoms) == 2
    # too few free bits for a generator; an unknown generator
    for bad in (gcm_message(fixed, G.GENERATE, fixed_bits=96 - 8), gcm_message(fixed, 9)):
        n, buf = ffi.new("CK_ULONG *", 1024), ffi.new("CK_BYTE[1024]")
        rv = t.rv("C_EncryptMessage", bad.p, bad.size, ffi.NULL, 0, cbytes(DATA), len(DATA), buf, n)
        assert rv == "MECHANISM_PARAM_INVALID"


def test_size_query_generates_nothing(t: Token) -> None:
    """A NULL ciphertext buffer asks for the length: no IV is made, no counter moves (5.2)."""
    key = t.secret(KEY, KeyType.AES)
    t.ok("C_MessageEncryptInit", Mech(M.AES_GCM).ptr, key)
    mp = gcm_message(bytes(12), G.GENERATE_COUNTER, fixed_bits=32)
    n = ffi.new("CK_ULONG *")
    t.ok("C_EncryptMessage", mp.p, mp.size, ffi.NULL, 0, cbytes(DATA), len(DATA), ffi.NULL, n)
    assert n[0] == len(DATA) and mp.iv == bytes(12)
    small, n[0] = ffi.new("CK_BYTE[4]"), 4
    assert t.rv("C_EncryptMessage", mp.p, mp.size, ffi.NULL, 0, cbytes(DATA), len(DATA), small, n) == (
        "BUFFER_TOO_SMALL"
    )
    assert n[0] == len(DATA) and mp.iv == bytes(12)
    encrypt_message(t, mp, DATA, b"")
    assert mp.iv == bytes(12)  # the first counter value: nothing was used up before


@pytest.mark.parametrize("name", list(AEADS))
def test_messages_in_parts(t: Token, name: str) -> None:
    """Begin, then Next up to CKF_END_OF_MESSAGE: the whole message comes out at its end (the
    AEADs are one shot), the tag with it; decryption releases nothing before the tag checks."""
    mech, key_type, param, pyca_open = AEADS[name]
    key = t.secret(KEY, key_type)
    mp = param(bytes(range(12)))
    t.ok("C_MessageEncryptInit", Mech(mech).ptr, key)
    t.ok("C_EncryptMessageBegin", mp.p, mp.size, cbytes(AAD), len(AAD))
    assert t.rv(
        "C_EncryptMessage", mp.p, mp.size, ffi.NULL, 0, cbytes(b"x"), 1, ffi.NULL, ffi.new("CK_ULONG *")
    ) == ("OPERATION_ACTIVE")
    out = b""
    parts = [DATA[:10], DATA[10:11], DATA[11:]]
    for i, part in enumerate(parts):
        flags = END_OF_MESSAGE if i == len(parts) - 1 else 0
        out += message_next(t, "C_EncryptMessageNext", mp, part, flags)
    assert pyca_open(mp.iv, out, mp.tag) == DATA
    t.ok("C_MessageDecryptInit", Mech(mech).ptr, key)
    t.ok("C_DecryptMessageBegin", mp.p, mp.size, cbytes(AAD), len(AAD))
    first = message_next(t, "C_DecryptMessageNext", mp, out[:20], 0)
    last = message_next(t, "C_DecryptMessageNext", mp, out[20:], END_OF_MESSAGE)
    assert first == b"" and last == DATA
    assert t.rv(
        "C_DecryptMessageNext", mp.p, mp.size, cbytes(b"x"), 1, ffi.NULL, ffi.new("CK_ULONG *"), 0
    ) == ("OPERATION_NOT_INITIALIZED")  # the message ended


def test_ccm_checks_the_announced_length(t: Token) -> None:
    key = t.secret(KEY, KeyType.AES)
    t.ok("C_MessageEncryptInit", Mech(M.AES_CCM).ptr, key)
    mp = ccm_message(len(DATA) + 1, bytes(12))
    n, buf = ffi.new("CK_ULONG *", 1024), ffi.new("CK_BYTE[1024]")
    assert (
        t.rv("C_EncryptMessage", mp.p, mp.size, ffi.NULL, 0, cbytes(DATA), len(DATA), buf, n)
        == "DATA_LEN_RANGE"
    )
    bad_nonce = ccm_message(len(DATA), bytes(6))
    assert t.rv(
        "C_EncryptMessage", bad_nonce.p, bad_nonce.size, ffi.NULL, 0, cbytes(DATA), len(DATA), buf, n
    ) == ("MECHANISM_PARAM_INVALID")


def test_ccm_single_part(t: Token) -> None:
    """CKM_AES_CCM with CK_CCM_PARAMS (C_Encrypt): ciphertext || MAC, as pyca's AESCCM."""
    from support.mechanisms import ccm

    key = t.secret(KEY, KeyType.AES)
    nonce = bytes(range(13))
    ct = t.encrypt(ccm(len(DATA), nonce, AAD, 8), key, DATA)
    assert ct == AESCCM(KEY, tag_length=8).encrypt(nonce, DATA, AAD)
    assert t.decrypt(ccm(len(DATA), nonce, AAD, 8), key, ct) == DATA
    assert t.decrypt_rv(ccm(len(DATA), nonce, b"other", 8), key, ct) == "ENCRYPTED_DATA_INVALID"
    assert t.encrypt_parts(ccm(len(DATA), nonce, AAD, 8), key, [DATA[:5], DATA[5:]]) == ct


def test_message_params_are_checked(t: Token) -> None:
    key = t.secret(KEY, KeyType.AES)
    assert t.rv("C_MessageEncryptInit", Mech(M.AES_CBC).ptr, key) == "MECHANISM_INVALID"
    assert t.rv("C_MessageEncryptInit", Mech(M.AES_GCM, bytes(8)).ptr, key) == "MECHANISM_PARAM_INVALID"
    t.ok("C_MessageEncryptInit", Mech(M.AES_GCM).ptr, key)
    assert t.rv("C_MessageEncryptInit", Mech(M.AES_GCM).ptr, key) == "OPERATION_ACTIVE"
    n, buf = ffi.new("CK_ULONG *", 1024), ffi.new("CK_BYTE[1024]")
    assert t.rv("C_EncryptMessage", ffi.NULL, 0, ffi.NULL, 0, cbytes(DATA), len(DATA), buf, n) == (
        "MECHANISM_PARAM_INVALID"
    )
    assert t.rv("C_EncryptMessage", cbytes(b"x" * 3), 3, ffi.NULL, 0, cbytes(DATA), len(DATA), buf, n) == (
        "MECHANISM_PARAM_INVALID"
    )
    t.ok("C_SessionCancel", 0x2)  # CKF_MESSAGE_ENCRYPT
    assert t.rv("C_MessageEncryptFinal") == "OPERATION_NOT_INITIALIZED"
    no_encrypt = t.secret(KEY, KeyType.AES, ENCRYPT=False)
    assert t.rv("C_MessageEncryptInit", Mech(M.AES_GCM).ptr, no_encrypt) == "KEY_FUNCTION_NOT_PERMITTED"


def test_message_signing(t: Token) -> None:
    """C_SignMessage and Begin/Next (a NULL pulSignatureLen: more parts follow) give signatures
    C_Verify accepts; C_VerifyMessage(Next) checks them; a message's own parameter applies."""
    from support.keys import import_rsa, rsa_key

    pub, priv = import_rsa(t, rsa_key(2048))
    sha256_pss = pss(M.SHA256_RSA_PKCS_PSS, "sha256")
    t.ok("C_MessageSignInit", sha256_pss.ptr, priv)
    one = t.out("C_SignMessage", ffi.NULL, 0, cbytes(DATA), len(DATA))
    t.ok("C_SignMessageBegin", ffi.NULL, 0)
    t.ok("C_SignMessageNext", ffi.NULL, 0, cbytes(DATA[:7]), 7, ffi.NULL, ffi.NULL)
    n = ffi.new("CK_ULONG *")
    rest = DATA[7:]
    t.ok("C_SignMessageNext", ffi.NULL, 0, cbytes(rest), len(rest), ffi.NULL, n)  # size query
    buf = ffi.new("CK_BYTE[]", int(n[0]))
    t.ok("C_SignMessageNext", ffi.NULL, 0, cbytes(rest), len(rest), buf, n)
    parts = bytes(ffi.buffer(buf, int(n[0])))
    salt0 = pss(M.SHA256_RSA_PKCS_PSS, "sha256", salt_len=0)
    with_own = t.out("C_SignMessage", salt0.ptr.pParameter, salt0.ptr.ulParameterLen, cbytes(DATA), len(DATA))
    t.ok("C_MessageSignFinal")
    for sig in (one, parts):
        assert t.verify(sha256_pss, pub, DATA, sig) == "OK"
    assert t.verify(salt0, pub, DATA, with_own) == "OK"
    t.ok("C_MessageVerifyInit", sha256_pss.ptr, pub)
    assert t.rv("C_VerifyMessage", ffi.NULL, 0, cbytes(DATA), len(DATA), cbytes(one), len(one)) == "OK"
    assert t.rv("C_VerifyMessage", ffi.NULL, 0, cbytes(DATA[1:]), len(DATA) - 1, cbytes(one), len(one)) == (
        "SIGNATURE_INVALID"
    )
    t.ok("C_VerifyMessageBegin", ffi.NULL, 0)
    t.ok("C_VerifyMessageNext", ffi.NULL, 0, cbytes(DATA[:3]), 3, ffi.NULL, 0)
    assert (
        t.rv("C_VerifyMessageNext", ffi.NULL, 0, cbytes(DATA[3:]), len(DATA) - 3, cbytes(parts), len(parts))
        == "OK"
    )
    t.ok("C_MessageVerifyFinal")


def test_message_functions_need_their_init(t: Token) -> None:
    n = ffi.new("CK_ULONG *")
    for name, args in (
        ("C_EncryptMessage", (ffi.NULL, 0, ffi.NULL, 0, cbytes(b"x"), 1, ffi.NULL, n)),
        ("C_DecryptMessageBegin", (ffi.NULL, 0, ffi.NULL, 0)),
        ("C_SignMessage", (ffi.NULL, 0, cbytes(b"x"), 1, ffi.NULL, n)),
        ("C_VerifyMessageNext", (ffi.NULL, 0, cbytes(b"x"), 1, ffi.NULL, 0)),
        ("C_MessageSignFinal", ()),
    ):
        assert t.rv(name, *args) == "OPERATION_NOT_INITIALIZED", name
