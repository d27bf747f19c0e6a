"""The operation life cycle where single-part and multi-part calls, size queries and refused
arguments meet (3.0, 5.2 output buffers; 5.8-5.13): a result announced by a size query goes only
to the call that asked, C_Sign/C_Digest/C_Verify do not follow their Update calls, an error of any
kind (a NULL pointer too) ends the operation, and C_Login(CKU_CONTEXT_SPECIFIC) authorises the
operation that waits for it."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding as rsa_padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from support.constants import KeyType, Mechanism, UserType
from support.keys import import_rsa, rsa_key
from support.mechanisms import mech
from support.pkcs11 import USER_PIN, Module, ffi, spec_departure
from support.templates import cbytes
from support.token import Token

KEY = bytes(range(32))


@pytest.fixture
def t(module: Module) -> Token:
    return Token(module)


def size_query(t: Token, name: str, *args: object) -> int:
    n = ffi.new("CK_ULONG *")
    t.ok(name, *args, ffi.NULL, n)
    return int(n[0])


def output(t: Token, name: str, *args: object) -> tuple[str, bytes]:
    n, buf = ffi.new("CK_ULONG *", 512), ffi.new("CK_BYTE[]", 512)
    rv = t.rv(name, *args, buf, n)
    return rv, bytes(buf)[: int(n[0])] if rv == "OK" else b""


# ------------------------------------------------------------------------------- size query, then more


def test_digest_update_after_a_final_size_query(t: Token) -> None:
    """A size query keeps the operation as it was: more data may follow, and the digest then
    covers it. (A module that computed the digest to announce its length may refuse the data
    instead, ending the operation; it must never answer with the digest of the earlier data.)"""
    t.ok("C_DigestInit", mech(Mechanism.SHA256).ptr)
    t.ok("C_DigestUpdate", cbytes(b"a"), 1)
    assert size_query(t, "C_DigestFinal") == 32
    rv = t.expect(("OK", "OPERATION_NOT_INITIALIZED"), "C_DigestUpdate", cbytes(b"x"), 1)
    final_rv, value = output(t, "C_DigestFinal")
    if rv == "OK":
        assert (final_rv, value) == ("OK", hashlib.sha256(b"ax").digest())
    else:
        assert final_rv == "OPERATION_NOT_INITIALIZED"


def test_digest_update_after_a_single_part_size_query(t: Token) -> None:
    t.ok("C_DigestInit", mech(Mechanism.SHA256).ptr)
    assert size_query(t, "C_Digest", cbytes(b"a"), 1) == 32
    rv = t.expect(("OK", "OPERATION_NOT_INITIALIZED"), "C_DigestUpdate", cbytes(b"x"), 1)
    final_rv, value = output(t, "C_DigestFinal")
    if rv == "OK":  # the size query digested nothing
        assert (final_rv, value) == ("OK", hashlib.sha256(b"x").digest())
    else:
        assert final_rv == "OPERATION_NOT_INITIALIZED"


def test_sign_update_after_a_single_part_size_query(t: Token) -> None:
    key = t.secret(KEY, KeyType.GENERIC_SECRET)
    t.ok("C_SignInit", mech(Mechanism.SHA256_HMAC).ptr, key)
    assert size_query(t, "C_Sign", cbytes(b"a"), 1) == 32
    rv = t.expect(("OK", "OPERATION_NOT_INITIALIZED"), "C_SignUpdate", cbytes(b"x"), 1)
    final_rv, value = output(t, "C_SignFinal")
    if rv == "OK":
        assert (final_rv, value) == ("OK", hmac.digest(KEY, b"x", "sha256"))
    else:
        assert final_rv == "OPERATION_NOT_INITIALIZED"


def test_encrypt_final_after_an_update_size_query(t: Token) -> None:
    """The output C_EncryptUpdate announced belongs to that call: C_EncryptFinal must not hand it
    out as the last block."""
    key, value = t.aes(16)
    iv = bytes(16)
    t.ok("C_EncryptInit", mech(Mechanism.AES_CBC_PAD, iv).ptr, key)
    data = bytes(range(20))
    assert size_query(t, "C_EncryptUpdate", cbytes(data), len(data)) >= 16
    rv, last = output(t, "C_EncryptFinal")
    if rv == "OK":  # the size query encrypted nothing: this is the encryption of no data
        enc = Cipher(algorithms.AES(value), modes.CBC(iv)).encryptor()
        assert last == enc.update(b"\x10" * 16) + enc.finalize()
    else:
        assert rv == "OPERATION_NOT_INITIALIZED"
    assert output(t, "C_EncryptFinal")[0] == "OPERATION_NOT_INITIALIZED"


# ------------------------------------------------------------------------------- single part after Update


def test_sign_after_sign_update(t: Token) -> None:
    """3.0, 5.11 C_Sign: "cannot be used to terminate a multi-part operation, and must be called
    after C_SignInit without intervening C_SignUpdate calls"."""
    key = t.secret(KEY, KeyType.GENERIC_SECRET)
    t.ok("C_SignInit", mech(Mechanism.SHA256_HMAC).ptr, key)
    t.ok("C_SignUpdate", cbytes(b"a"), 1)
    rv, _ = output(t, "C_Sign", cbytes(b"b"), 1)
    assert rv != "OK"
    assert output(t, "C_SignFinal")[0] == "OPERATION_NOT_INITIALIZED"


@spec_departure("SoftHSMv2", clause="3.0 5.12 C_Digest: must not follow C_DigestUpdate")
def test_digest_after_digest_update(t: Token) -> None:
    t.ok("C_DigestInit", mech(Mechanism.SHA256).ptr)
    t.ok("C_DigestUpdate", cbytes(b"a"), 1)
    rv, _ = output(t, "C_Digest", cbytes(b"b"), 1)
    assert rv != "OK"
    assert output(t, "C_DigestFinal")[0] == "OPERATION_NOT_INITIALIZED"


def test_verify_after_verify_update(t: Token) -> None:
    key = t.secret(KEY, KeyType.GENERIC_SECRET)
    mac = hmac.digest(KEY, b"ab", "sha256")  # what C_VerifyUpdate + C_VerifyFinal would accept
    t.ok("C_VerifyInit", mech(Mechanism.SHA256_HMAC).ptr, key)
    t.ok("C_VerifyUpdate", cbytes(b"a"), 1)
    assert t.rv("C_Verify", cbytes(b"b"), 1, cbytes(mac), len(mac)) != "OK"
    assert t.rv("C_VerifyFinal", cbytes(mac), len(mac)) == "OPERATION_NOT_INITIALIZED"


# ------------------------------------------------------------------------------- NULL pointers end it too

NULL = ffi.NULL


def _bad_calls(t: Token) -> dict[str, tuple[tuple, tuple]]:
    """case -> ((Init function, args), (call with a NULL pointer, args))."""
    hkey = t.secret(KEY, KeyType.GENERIC_SECRET)
    aes, _ = t.aes(16)
    hmac_init = ("C_SignInit", mech(Mechanism.SHA256_HMAC).ptr, hkey)
    n, buf = ffi.new("CK_ULONG *", 64), ffi.new("CK_BYTE[]", 64)
    return {
        "C_Sign pulSignatureLen": (hmac_init, ("C_Sign", cbytes(b"d"), 1, buf, NULL)),
        "C_Sign pData": (hmac_init, ("C_Sign", NULL, 4, buf, n)),
        "C_SignUpdate pPart": (hmac_init, ("C_SignUpdate", NULL, 4)),
        "C_SignFinal pulSignatureLen": (hmac_init, ("C_SignFinal", buf, NULL)),
        "C_Digest pulDigestLen": (
            ("C_DigestInit", mech(Mechanism.SHA256).ptr),
            ("C_Digest", cbytes(b"d"), 1, buf, NULL),
        ),
        "C_DigestUpdate pPart": (("C_DigestInit", mech(Mechanism.SHA256).ptr), ("C_DigestUpdate", NULL, 4)),
        "C_Encrypt pulEncryptedDataLen": (
            ("C_EncryptInit", mech(Mechanism.AES_ECB).ptr, aes),
            ("C_Encrypt", cbytes(bytes(16)), 16, buf, NULL),
        ),
        "C_EncryptUpdate pPart": (
            ("C_EncryptInit", mech(Mechanism.AES_ECB).ptr, aes),
            ("C_EncryptUpdate", NULL, 16, buf, n),
        ),
        "C_EncryptFinal pulLastEncryptedPartLen": (
            ("C_EncryptInit", mech(Mechanism.AES_ECB).ptr, aes),
            ("C_EncryptFinal", buf, NULL),
        ),
        "C_Verify pSignature": (
            ("C_VerifyInit", mech(Mechanism.SHA256_HMAC).ptr, hkey),
            ("C_Verify", cbytes(b"d"), 1, NULL, 32),
        ),
    }


# SoftHSMv2 2.6.1 ends the operation on a NULL pointer only in C_EncryptFinal.
_KEEPS = spec_departure(
    "SoftHSMv2", clause="3.0 5.2: an error other than BUFFER_TOO_SMALL ends the operation"
)
BAD_CALLS = [
    pytest.param(case, marks=() if case.startswith("C_EncryptFinal") else _KEEPS)
    for case in (
        "C_Sign pulSignatureLen", "C_Sign pData", "C_SignUpdate pPart", "C_SignFinal pulSignatureLen",
        "C_Digest pulDigestLen", "C_DigestUpdate pPart", "C_Encrypt pulEncryptedDataLen",
        "C_EncryptUpdate pPart", "C_EncryptFinal pulLastEncryptedPartLen", "C_Verify pSignature",
    )
]  # fmt: skip


@pytest.mark.parametrize("case", BAD_CALLS)
def test_arguments_bad_ends_the_operation(t: Token, case: str) -> None:
    (init, *init_args), (name, *args) = _bad_calls(t)[case]
    t.ok(init, *init_args)
    assert t.rv(name, *args) == "ARGUMENTS_BAD"
    assert t.rv(init, *init_args) == "OK"  # not OPERATION_ACTIVE: the bad call ended the first


# ------------------------------------------------------------------------------- CKA_ALWAYS_AUTHENTICATE


def test_context_login_goes_to_the_operation_waiting_for_it(t: Token) -> None:
    """A signature already authorised and a decryption waiting (two operations of one session):
    the second C_Login(CKU_CONTEXT_SPECIFIC) is the decryption's."""
    if t.softhsm2:
        pytest.skip("SoftHSMv2 keeps one operation per session")
    key = rsa_key(2048)
    _, priv = import_rsa(t, key, ALWAYS_AUTHENTICATE=True, DECRYPT=True)
    secret = key.public_key().encrypt(b"secret", rsa_padding.PKCS1v15())
    t.ok("C_SignInit", mech(Mechanism.SHA256_RSA_PKCS).ptr, priv)
    t.m.login(t.h, UserType.CONTEXT_SPECIFIC, USER_PIN)
    t.ok("C_DecryptInit", mech(Mechanism.RSA_PKCS).ptr, priv)
    t.m.login(t.h, UserType.CONTEXT_SPECIFIC, USER_PIN)
    assert output(t, "C_Decrypt", cbytes(secret), len(secret)) == ("OK", b"secret")
    rv, signature = output(t, "C_Sign", cbytes(b"data"), 4)
    assert rv == "OK"
    key.public_key().verify(signature, b"data", rsa_padding.PKCS1v15(), hashes.SHA256())


def test_context_login_is_needed_for_each_operation(t: Token) -> None:
    if t.softhsm2:
        pytest.skip("SoftHSMv2 keeps one operation per session")
    key = rsa_key(2048)
    _, priv = import_rsa(t, key, ALWAYS_AUTHENTICATE=True, DECRYPT=True)
    secret = key.public_key().encrypt(b"secret", rsa_padding.PKCS1v15())
    t.ok("C_SignInit", mech(Mechanism.SHA256_RSA_PKCS).ptr, priv)
    t.ok("C_DecryptInit", mech(Mechanism.RSA_PKCS).ptr, priv)
    t.m.login(t.h, UserType.CONTEXT_SPECIFIC, USER_PIN)  # one of the two, not both
    results = {
        output(t, "C_Sign", cbytes(b"data"), 4)[0],
        output(t, "C_Decrypt", cbytes(secret), len(secret))[0],
    }
    assert results == {"OK", "USER_NOT_LOGGED_IN"}


# ------------------------------------------------------------------------------- *Init(NULL): terminate
@spec_departure(
    "SoftHSMv2", clause="3.0 5.8-5.12: an *Init with pMechanism NULL_PTR terminates (2.40 module)"
)
@pytest.mark.parametrize(
    ("init", "step", "key_kind"),
    [
        ("C_EncryptInit", "C_EncryptUpdate", "aes"),
        ("C_DecryptInit", "C_DecryptUpdate", "aes"),
        ("C_SignInit", "C_SignUpdate", "hmac"),
        ("C_VerifyInit", "C_VerifyUpdate", "hmac"),
        ("C_DigestInit", "C_DigestUpdate", None),
    ],
)
def test_init_with_null_mechanism_terminates(t: Token, init: str, step: str, key_kind: str | None) -> None:
    """Found by the C-ABI fuzzer (tests/fuzz): CKR_ARGUMENTS_BAD is not among these functions'
    codes in 3.0, which made a NULL mechanism the way to end an active operation."""
    if key_kind is None:
        mechanism, args = mech(Mechanism.SHA256), ()
    elif key_kind == "aes":
        mechanism, args = mech(Mechanism.AES_ECB), (t.aes(16)[0],)
    else:
        mechanism, args = mech(Mechanism.SHA256_HMAC), (t.secret(KEY, KeyType.GENERIC_SECRET),)
    data = cbytes(bytes(16))
    out, n = ffi.new("CK_BYTE[64]"), ffi.new("CK_ULONG *", 64)
    step_args = (data, 16, out, n) if step in ("C_EncryptUpdate", "C_DecryptUpdate") else (data, 16)
    t.ok(init, mechanism.ptr, *args)
    t.ok(step, *step_args)
    assert t.rv(init, ffi.NULL, *args) == "OK"  # terminated
    assert t.rv(step, *step_args) == "OPERATION_NOT_INITIALIZED"
    assert t.rv(init, ffi.NULL, *args) == "OK"  # nothing active: nothing to terminate
    t.ok(init, mechanism.ptr, *args)  # a new one starts
    assert t.m.rv(init, 0xDEAD, ffi.NULL, *args) == 0xB3  # CKR_SESSION_HANDLE_INVALID


def test_find_with_one_attribute_twice_finds_nothing(t: Token) -> None:
    """Also found by the fuzzer: a search template naming a type twice with two values matches
    no object; CKR_TEMPLATE_INCONSISTENT is not among C_FindObjectsInit's codes."""
    from support.constants import Attribute, ObjectClass
    from support.objects import find
    from support.templates import Template

    t.create({Attribute.CLASS: ObjectClass.DATA, Attribute.TOKEN: False, Attribute.LABEL: b"a"})
    twice = Template([(Attribute.LABEL, b"a"), (Attribute.LABEL, b"b")])
    t.ok("C_FindObjectsInit", twice.ptr, twice.count)
    found, count = ffi.new("CK_OBJECT_HANDLE[4]"), ffi.new("CK_ULONG *")
    t.ok("C_FindObjects", found, 4, count)
    t.ok("C_FindObjectsFinal")
    assert int(count[0]) == 0
    assert len(find(t.m, t.h, {Attribute.LABEL: b"a"})) == 1


@spec_departure("SoftHSMv2", clause="3.0 5.14: message-based signing (a 2.40 module)")
def test_message_init_with_null_mechanism_terminates(t: Token) -> None:
    """The same for the message-based functions (also found by the fuzzer)."""
    t.m.require_3_0()
    key = t.secret(KEY, KeyType.GENERIC_SECRET)
    sig, n = ffi.new("CK_BYTE[64]"), ffi.new("CK_ULONG *", 64)
    t.ok("C_MessageSignInit", mech(Mechanism.SHA256_HMAC).ptr, key)
    assert t.rv("C_MessageSignInit", ffi.NULL, key) == "OK"  # terminated
    assert t.rv("C_SignMessage", ffi.NULL, 0, cbytes(b"data"), 4, sig, n) == "OPERATION_NOT_INITIALIZED"
    assert t.rv("C_MessageSignInit", ffi.NULL, key) == "OK"  # nothing to terminate
