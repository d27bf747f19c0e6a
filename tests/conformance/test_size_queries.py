"""Size queries answer for their own input and consume nothing (3.0, 5.2: with a NULL buffer "all
that the function does is return ... a number of bytes which would suffice to hold the
cryptographic output produced from the input to the function").

Each test here failed before size queries were answered from bounds: the result computed for a
query went to the next call whatever data it passed."""

from __future__ import annotations

import hashlib
import hmac
import os

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from support.constants import Attribute, KeyType, Mechanism
from support.keys import P256
from support.mechanisms import gcm, mech
from support.pkcs11 import Module, ffi
from support.templates import cbytes
from support.token import Token

KEY = bytes(range(32))
IV = bytes(range(16))


@pytest.fixture
def t(module: Module) -> Token:
    return Token(module)


def query(t: Token, name: str, *args: object) -> int:
    n = ffi.new("CK_ULONG *")
    t.ok(name, *args, ffi.NULL, n)
    return int(n[0])


def call(t: Token, name: str, *args: object, room: int = 4096) -> tuple[str, bytes, int]:
    n, buf = ffi.new("CK_ULONG *", room), ffi.new("CK_BYTE[]", max(room, 1))
    rv = t.rv(name, *args, buf, n)
    return rv, bytes(buf)[: int(n[0])] if rv == "OK" else b"", int(n[0])


def test_a_signature_is_of_the_data_passed_not_of_the_data_asked_about(t: Token) -> None:
    key = t.secret(KEY, KeyType.GENERIC_SECRET)
    t.ok("C_SignInit", mech(Mechanism.SHA256_HMAC).ptr, key)
    asked, paid = b"pay Alice 10", b"pay Mallory 1000"
    assert query(t, "C_Sign", cbytes(asked), len(asked)) == 32
    rv, mac, _ = call(t, "C_Sign", cbytes(paid), len(paid))
    assert (rv, mac) == ("OK", hmac.digest(KEY, paid, "sha256"))


def test_an_update_size_query_consumes_nothing(t: Token) -> None:
    key = t.secret(KEY)
    t.ok("C_EncryptInit", mech(Mechanism.AES_CBC, IV).ptr, key)
    a, b = b"A" * 32, b"B" * 48
    assert query(t, "C_EncryptUpdate", cbytes(a), len(a)) >= 32
    rv, first, _ = call(t, "C_EncryptUpdate", cbytes(b), len(b))
    assert rv == "OK"
    rv, last, _ = call(t, "C_EncryptFinal")
    assert rv == "OK"
    encryptor = Cipher(algorithms.AES(KEY), modes.CBC(IV)).encryptor()
    assert first + last == encryptor.update(b) + encryptor.finalize()


def test_multi_part_gcm_decryption_after_repeated_size_queries(t: Token) -> None:
    """PyKCS11 asks again when a query answers 0, then passes a buffer only for a non-zero
    length: the update's bound must let the ciphertext in (SoftHSMv2 answers a block-rounded
    length), and the queries must not feed it twice."""
    key = t.secret(KEY)
    nonce, plain = os.urandom(12), os.urandom(100)
    ct = AESGCM(KEY).encrypt(nonce, plain, b"")
    t.ok("C_DecryptInit", gcm(nonce).ptr, key)
    first = query(t, "C_DecryptUpdate", cbytes(ct), len(ct))
    assert query(t, "C_DecryptUpdate", cbytes(ct), len(ct)) == first > 0
    rv, part, _ = call(t, "C_DecryptUpdate", cbytes(ct), len(ct), room=first)
    assert rv == "OK"
    rv, rest, _ = call(t, "C_DecryptFinal")
    assert (rv, part + rest) == ("OK", plain)


def test_an_update_below_its_bound_is_refused_and_consumes_nothing(t: Token) -> None:
    key = t.secret(KEY)
    t.ok("C_EncryptInit", mech(Mechanism.AES_ECB).ptr, key)
    data = bytes(32)
    rv, _, needed = call(t, "C_EncryptUpdate", cbytes(data), len(data), room=16)
    assert (rv, needed) == ("BUFFER_TOO_SMALL", 32)
    rv, out, _ = call(t, "C_EncryptUpdate", cbytes(data), len(data))
    assert rv == "OK" and len(out) == 32  # the refused call fed nothing: exactly two blocks now
    encryptor = Cipher(algorithms.AES(KEY), modes.ECB()).encryptor()
    assert out == encryptor.update(data)


def _ec_pair(t: Token) -> tuple[int, int]:
    return t.generate_pair(
        Mechanism.EC_KEY_PAIR_GEN,
        {Attribute.EC_PARAMS: P256, Attribute.VERIFY: True, Attribute.TOKEN: False},
        {Attribute.SIGN: True, Attribute.TOKEN: False},
    )


def _public(t: Token, pub: int) -> ec.EllipticCurvePublicKey:
    point = t.get(pub, Attribute.EC_POINT)
    return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point[2:])


def _verify(t: Token, pub: int, digest: bytes, sig: bytes) -> None:
    r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
    prehashed = ec.ECDSA(utils.Prehashed(hashes.SHA256()))
    _public(t, pub).verify(utils.encode_dss_signature(r, s), digest, prehashed)


def test_a_short_buffer_keeps_the_randomised_result_for_its_own_data(t: Token) -> None:
    pub, priv = _ec_pair(t)
    data = hashlib.sha256(b"to be signed").digest()  # CKM_ECDSA signs a caller's hash
    t.ok("C_SignInit", mech(Mechanism.ECDSA).ptr, priv)
    rv, _, needed = call(t, "C_Sign", cbytes(data), len(data), room=10)
    assert (rv, needed) == ("BUFFER_TOO_SMALL", 64)
    rv, sig, _ = call(t, "C_Sign", cbytes(data), len(data), room=64)
    assert rv == "OK"
    _verify(t, pub, data, sig)


def test_a_retry_with_other_data_never_gets_the_first_datas_result(t: Token) -> None:
    """After a short buffer the result of the first data may be kept (ECDSA is randomised): a
    retry with other data ends the operation here (CKR_OPERATION_NOT_INITIALIZED); SoftHSMv2,
    which runs nothing before the buffer is big enough, signs the other data. Either way the
    first data's signature never comes back for the second."""
    pub, priv = _ec_pair(t)
    first, second = hashlib.sha256(b"first").digest(), hashlib.sha256(b"second").digest()
    t.ok("C_SignInit", mech(Mechanism.ECDSA).ptr, priv)
    rv, _, _ = call(t, "C_Sign", cbytes(first), 32, room=10)
    assert rv == "BUFFER_TOO_SMALL"
    rv, sig, _ = call(t, "C_Sign", cbytes(second), 32, room=64)
    if t.softhsm2:
        assert rv == "OK"
        _verify(t, pub, second, sig)
    else:
        assert rv == "OPERATION_NOT_INITIALIZED"
