"""C_GetOperationState / C_SetOperationState (3.0, 5.6): a digest, an HMAC and a multi-part
signature saved mid-way go on in another session (both copies independent, as pkcs11-provider's
digest clone needs); the key rules (KEY_NEEDED, KEY_NOT_NEEDED, KEY_CHANGED); a forged, altered
or foreign state is SAVED_STATE_INVALID; what cannot be saved is STATE_UNSAVEABLE. SoftHSMv2
2.6.1 answers FUNCTION_NOT_SUPPORTED: skipped there."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from support.constants import KeyType, Mechanism, ReturnValue
from support.keys import P256, ec_key, import_ec
from support.mechanisms import Mech, gcm
from support.pkcs11 import Module, ffi
from support.templates import cbytes
from support.token import Token

M = Mechanism
HMAC_KEY = bytes(range(40))


@pytest.fixture
def t(module: Module) -> Token:
    if module.softhsm2:
        pytest.skip("SoftHSMv2 2.6.1 has no operation state (CKR_FUNCTION_NOT_SUPPORTED)")
    return Token(module)


def save(t: Token, h: int | None = None) -> bytes:
    h = t.h if h is None else h
    n = ffi.new("CK_ULONG *")
    t.m.check("C_GetOperationState", h, ffi.NULL, n)
    buf = ffi.new("CK_BYTE[]", int(n[0]))
    t.m.check("C_GetOperationState", h, buf, n)
    return bytes(ffi.buffer(buf, int(n[0])))


def restore_rv(t: Token, h: int, state: bytes, enc: int = 0, auth: int = 0) -> str:
    from support.constants import rv_name

    return rv_name(t.m.rv("C_SetOperationState", h, cbytes(state), len(state), enc, auth))


def final(t: Token, h: int, name: str) -> bytes:
    n = ffi.new("CK_ULONG *")
    t.m.check(name, h, ffi.NULL, n)
    buf = ffi.new("CK_BYTE[]", int(n[0]))
    t.m.check(name, h, buf, n)
    return bytes(ffi.buffer(buf, int(n[0])))


def test_digest_cloned_into_another_session(t: Token) -> None:
    t.ok("C_DigestInit", Mech(M.SHA256).ptr)
    t.ok("C_DigestUpdate", cbytes(b"common prefix "), 14)
    state = save(t)
    other = t.m.open(t.slot)
    assert restore_rv(t, other, state) == "OK"
    t.ok("C_DigestUpdate", cbytes(b"one"), 3)
    t.m.check("C_DigestUpdate", other, cbytes(b"two"), 3)
    assert final(t, t.h, "C_DigestFinal") == hashlib.sha256(b"common prefix one").digest()
    assert final(t, other, "C_DigestFinal") == hashlib.sha256(b"common prefix two").digest()
    # the same state again, into the session that made it
    assert restore_rv(t, t.h, state) == "OK"
    assert final(t, t.h, "C_DigestFinal") == hashlib.sha256(b"common prefix ").digest()


def test_hmac_needs_its_key(t: Token) -> None:
    key = t.secret(HMAC_KEY, KeyType.GENERIC_SECRET)
    other_key = t.secret(HMAC_KEY[::-1], KeyType.GENERIC_SECRET)
    t.ok("C_SignInit", Mech(M.SHA256_HMAC).ptr, key)
    t.ok("C_SignUpdate", cbytes(b"part one, "), 10)
    state = save(t)
    other = t.m.open(t.slot)
    assert restore_rv(t, other, state) == "KEY_NEEDED"
    assert restore_rv(t, other, state, auth=other_key) == "KEY_CHANGED"
    assert restore_rv(t, other, state, enc=key, auth=key) == "KEY_NOT_NEEDED"
    assert restore_rv(t, other, state, auth=key) == "OK"
    t.m.check("C_SignUpdate", other, cbytes(b"part two"), 8)
    want = hmac.new(HMAC_KEY, b"part one, part two", hashlib.sha256).digest()
    assert final(t, other, "C_SignFinal") == want


def test_digest_state_refuses_a_key(t: Token) -> None:
    key = t.secret(HMAC_KEY, KeyType.GENERIC_SECRET)
    t.ok("C_DigestInit", Mech(M.SHA256).ptr)
    state = save(t)
    assert restore_rv(t, t.h, state, auth=key) == "KEY_NOT_NEEDED"


def test_multipart_signature_and_verification(t: Token) -> None:
    pub, priv = import_ec(t, ec_key(P256), P256)
    data = b"signed in parts, saved half-way"
    t.ok("C_SignInit", Mech(M.ECDSA_SHA256).ptr, priv)
    t.ok("C_SignUpdate", cbytes(data[:10]), 10)
    t.ok("C_VerifyInit", Mech(M.ECDSA_SHA256).ptr, pub)
    t.ok("C_VerifyUpdate", cbytes(data[:10]), 10)
    # one authentication key for two operations with two keys: the verification's is another
    assert restore_rv(t, t.m.open(t.slot), save(t), auth=priv) == "KEY_CHANGED"
    t.ok("C_SessionCancel", 0x2000)  # CKF_VERIFY: only the signature is left
    state = save(t)
    other = t.m.open(t.slot)
    assert restore_rv(t, other, state, auth=priv) == "OK"
    t.m.check("C_SignUpdate", other, cbytes(data[10:]), len(data) - 10)
    signature = final(t, other, "C_SignFinal")
    assert t.verify(M.ECDSA_SHA256, pub, data, signature) == "OK"


def test_forged_altered_and_foreign_states(t: Token) -> None:
    t.ok("C_DigestInit", Mech(M.SHA256).ptr)
    t.ok("C_DigestUpdate", cbytes(b"x"), 1)
    state = save(t)
    for bad in (b"", b"\x00" * len(state), state[:-1], state[:20] + bytes([state[20] ^ 1]) + state[21:]):
        assert restore_rv(t, t.h, bad) == "SAVED_STATE_INVALID", bad[:8]
    # another token's session: the state is bound to the token it was saved on
    second = t.m.ready_token("second")
    h2 = t.m.open(second)
    assert restore_rv(t, h2, state) == "SAVED_STATE_INVALID"


def test_state_does_not_survive_finalize(module: Module) -> None:
    if module.softhsm2:
        pytest.skip("SoftHSMv2 2.6.1 has no operation state")
    t = Token(module)
    t.ok("C_DigestInit", Mech(M.SHA256).ptr)
    state = save(t)
    assert module.finalize() == ReturnValue.OK
    module.initialize()
    slot = module.slot_of("test")
    h = module.open(slot)
    from support.constants import rv_name

    assert (
        rv_name(module.rv("C_SetOperationState", h, cbytes(state), len(state), 0, 0)) == "SAVED_STATE_INVALID"
    )


def test_unsaveable_states(t: Token) -> None:
    key = t.secret(bytes(32), KeyType.AES)
    n = ffi.new("CK_ULONG *")
    t.ok("C_EncryptInit", gcm(bytes(12)).ptr, key)
    assert t.rv("C_GetOperationState", ffi.NULL, n) == "STATE_UNSAVEABLE"
    t.ok("C_SessionCancel", 0x100)  # CKF_ENCRYPT
    t.ok("C_DigestInit", Mech(M.SHA256).ptr)
    t.ok("C_DigestKey", key)
    assert t.rv("C_GetOperationState", ffi.NULL, n) == "STATE_UNSAVEABLE"  # it would hold the key
    t.ok("C_SessionCancel", 0x400)  # CKF_DIGEST
    t.ok("C_DigestInit", Mech(M.SHA256).ptr)
    chunk = b"\x00" * (1 << 19)
    for _ in range(3):  # 1.5 MiB: over the cap
        t.ok("C_DigestUpdate", cbytes(chunk), len(chunk))
    assert t.rv("C_GetOperationState", ffi.NULL, n) == "STATE_UNSAVEABLE"
