"""Refusals and the operation life cycle at the C ABI (3.0, 5.2 output buffers; 5.8-5.14 return
values; 4.9 CKA_ALWAYS_AUTHENTICATE; 4.8 key usage attributes and CKA_ALLOWED_MECHANISMS)."""

from __future__ import annotations

import random

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric import padding as rsa_padding
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from support.constants import KDF, Attribute, KeyType, Mechanism, ObjectClass, UserType
from support.keys import P256, ec_key, ec_point, import_ec, import_rsa, raw_to_der_ecdsa, rsa_key
from support.mechanisms import Mech, digest, ecdh, gcm, mech, oaep, pss
from support.pkcs11 import USER_PIN, Module, ffi, spec_departure
from support.templates import Template, cbytes
from support.token import Token

DATA = b"refusal test data"


@pytest.fixture
def t(module: Module) -> Token:
    return Token(module)


def init_rv(t: Token, kind: str, mechanism: Mech | int, key: int) -> str:
    m = mech(mechanism) if isinstance(mechanism, int) else mechanism
    return t.rv(f"C_{kind}Init", m.ptr, key)


# ------------------------------------------------------------------------------- key usage
@pytest.mark.parametrize(
    ("kind", "attr"),
    [("Encrypt", "ENCRYPT"), ("Decrypt", "DECRYPT"), ("Sign", "SIGN"), ("Verify", "VERIFY")],
)
def test_usage_false_secret(t: Token, kind: str, attr: str) -> None:
    key, _ = t.aes(16, **{attr: False})
    m = Mechanism.AES_ECB if kind in ("Encrypt", "Decrypt") else Mechanism.AES_CMAC
    t.require(m)
    assert init_rv(t, kind, m, key) == "KEY_FUNCTION_NOT_PERMITTED"


def test_usage_false_private(t: Token) -> None:
    _, priv = import_rsa(t, rsa_key(2048), SIGN=False, DECRYPT=False)
    assert init_rv(t, "Sign", Mechanism.SHA256_RSA_PKCS, priv) == "KEY_FUNCTION_NOT_PERMITTED"
    assert init_rv(t, "Decrypt", Mechanism.RSA_PKCS, priv) == "KEY_FUNCTION_NOT_PERMITTED"


def test_derive_false(t: Token) -> None:
    _, priv = import_ec(t, ec_key(P256), P256, DERIVE=False)
    peer = ec.generate_private_key(ec.SECP256R1())
    template = {
        Attribute.CLASS: ObjectClass.SECRET_KEY,
        Attribute.KEY_TYPE: KeyType.GENERIC_SECRET,
        Attribute.TOKEN: False,
    }
    rv = t.derive_rv(ecdh(ec_point(peer.public_key()), KDF.NULL), priv, template)
    assert rv == "KEY_FUNCTION_NOT_PERMITTED"


def test_allowed_mechanisms(t: Token) -> None:
    key, _ = t.aes(16, ALLOWED_MECHANISMS=[Mechanism.AES_CBC_PAD])
    assert init_rv(t, "Encrypt", Mechanism.AES_ECB, key) == "MECHANISM_INVALID"
    assert init_rv(t, "Encrypt", mech(Mechanism.AES_CBC_PAD, bytes(16)), key) == "OK"


# ------------------------------------------------------------------------------- key / mechanism
@spec_departure("SoftHSMv2", clause="3.0 5.12 C_SignInit: KEY_TYPE_INCONSISTENT (an EC key for RSA: OK)")
def test_wrong_key_type(t: Token) -> None:
    _, priv = import_ec(t, ec_key(P256), P256)
    assert init_rv(t, "Sign", Mechanism.SHA256_RSA_PKCS, priv) == "KEY_TYPE_INCONSISTENT"
    generic = t.secret(bytes(16), KeyType.GENERIC_SECRET)
    assert init_rv(t, "Encrypt", Mechanism.AES_ECB, generic) == "KEY_TYPE_INCONSISTENT"
    aes_key, _ = t.aes(16)
    assert init_rv(t, "Sign", Mechanism.ECDSA, aes_key) in (
        "KEY_TYPE_INCONSISTENT",
        "KEY_FUNCTION_NOT_PERMITTED",
    )


SIZE_CLAUSE = "3.0 5.12 C_SignInit: CKR_KEY_SIZE_RANGE outside CK_MECHANISM_INFO (accepted)"


@spec_departure("SoftHSMv2", clause=SIZE_CLAUSE)
def test_hmac_key_too_long(t: Token) -> None:
    top = int(t.mechanism_info(Mechanism.SHA256_HMAC).ulMaxKeySize)
    key = t.secret(b"k" * (top + 1), KeyType.GENERIC_SECRET)
    assert init_rv(t, "Sign", Mechanism.SHA256_HMAC, key) == "KEY_SIZE_RANGE"


def _prime(bits: int, rng: random.Random) -> int:
    while True:
        n = rng.getrandbits(bits) | (1 << (bits - 1)) | 1
        if all(pow(a, n - 1, n) == 1 for a in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37)):
            return n


@spec_departure("SoftHSMv2", clause=SIZE_CLAUSE)
def test_rsa_key_too_small(t: Token) -> None:
    """A 384-bit RSA key made outside (below every module's minimum) is refused: at
    C_CreateObject (softhsm-py: CKR_ATTRIBUTE_VALUE_INVALID) or at C_SignInit."""
    rng = random.Random(384)
    e = 65537
    while True:
        p, q = _prime(192, rng), _prime(192, rng)
        phi = (p - 1) * (q - 1)
        if p != q and phi % e:
            break
    n, d = p * q, pow(e, -1, phi)

    def b(x: int) -> bytes:
        return x.to_bytes((x.bit_length() + 7) // 8, "big")

    tpl = Template(
        {
            Attribute.CLASS: ObjectClass.PRIVATE_KEY,
            Attribute.KEY_TYPE: KeyType.RSA,
            Attribute.TOKEN: False,
            Attribute.SIGN: True,
            Attribute.MODULUS: b(n),
            Attribute.PUBLIC_EXPONENT: b(e),
            Attribute.PRIVATE_EXPONENT: b(d),
            Attribute.PRIME_1: b(p),
            Attribute.PRIME_2: b(q),
            Attribute.EXPONENT_1: b(d % (p - 1)),
            Attribute.EXPONENT_2: b(d % (q - 1)),
            Attribute.COEFFICIENT: b(pow(q, -1, p)),
        }
    )
    handle = ffi.new("CK_OBJECT_HANDLE *")
    rv = t.rv("C_CreateObject", tpl.ptr, tpl.count, handle)
    if rv != "ATTRIBUTE_VALUE_INVALID":
        assert rv == "OK"
        assert init_rv(t, "Sign", Mechanism.SHA256_RSA_PKCS, int(handle[0])) == "KEY_SIZE_RANGE"


def test_unknown_mechanism(t: Token) -> None:
    key, _ = t.aes(16)
    assert init_rv(t, "Encrypt", 0x7FFFFF00, key) == "MECHANISM_INVALID"
    assert t.m.rv("C_GetMechanismInfo", t.slot, 0x7FFFFF00, ffi.new("CK_MECHANISM_INFO *")) == 0x70
    assert init_rv(t, "Encrypt", Mechanism.SHA256, key) == "MECHANISM_INVALID"  # a digest cannot encrypt


_PARAM = spec_departure("SoftHSMv2", clause="3.0 5.8: CKR_MECHANISM_PARAM_INVALID (ARGUMENTS_BAD, OK...)")


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(c, marks=_PARAM)
        for c in (
            "cbc-iv-8",
            "cbc-no-iv",
            "gcm-tag-24",
            "gcm-struct-short",
            "pss-hash-mismatch",
            "oaep-bad-hash",
            "ecb-param",
        )
    ],
)
def test_bad_parameters(t: Token, case: str) -> None:
    key, _ = t.aes(16)
    _, priv = import_rsa(t, rsa_key(2048))
    pub, _ = import_rsa(t, rsa_key(2048))
    if case == "cbc-iv-8":
        kind, m, k = "Encrypt", mech(Mechanism.AES_CBC, bytes(8)), key
    elif case == "cbc-no-iv":
        kind, m, k = "Encrypt", mech(Mechanism.AES_CBC), key
    elif case == "gcm-tag-24":
        kind, m, k = "Encrypt", gcm(bytes(12), b"", 24), key
    elif case == "gcm-struct-short":
        g = gcm(bytes(12))
        kind, m, k = "Encrypt", Mech(Mechanism.AES_GCM, g.ptr.pParameter, length=8), key
        m._keep.append(g)
    elif case == "pss-hash-mismatch":
        kind, m, k = "Sign", pss(Mechanism.SHA256_RSA_PKCS_PSS, "sha1"), priv
    elif case == "oaep-bad-hash":
        o = oaep("sha256")
        ffi.cast("CK_RSA_PKCS_OAEP_PARAMS *", o.ptr.pParameter).hashAlg = Mechanism.AES_ECB
        kind, m, k = "Encrypt", o, pub
    else:
        kind, m, k = "Encrypt", mech(Mechanism.AES_ECB, bytes(16)), key
    assert init_rv(t, kind, m, k) == "MECHANISM_PARAM_INVALID"


# ------------------------------------------------------------------------------- data and signatures
def test_data_len_range(t: Token) -> None:
    key, _ = t.aes(16)
    assert init_rv(t, "Encrypt", Mechanism.AES_ECB, key) == "OK"
    n, out = ffi.new("CK_ULONG *", 64), ffi.new("CK_BYTE[]", 64)
    assert t.rv("C_Encrypt", cbytes(bytes(15)), 15, out, n) == "DATA_LEN_RANGE"


@spec_departure("SoftHSMv2", clause="3.0 5.8 C_Encrypt: DATA_LEN_RANGE for RSA_PKCS > k-11 (GENERAL_ERROR)")
def test_data_len_range_rsa(t: Token) -> None:
    pub, _ = import_rsa(t, rsa_key(2048))
    assert init_rv(t, "Encrypt", Mechanism.RSA_PKCS, pub) == "OK"
    n, out = ffi.new("CK_ULONG *", 512), ffi.new("CK_BYTE[]", 512)
    assert t.rv("C_Encrypt", cbytes(bytes(246)), 246, out, n) == "DATA_LEN_RANGE"  # > k - 11


def test_encrypted_data_len_range(t: Token) -> None:
    key, _ = t.aes(16)
    assert init_rv(t, "Decrypt", Mechanism.AES_ECB, key) == "OK"
    n, out = ffi.new("CK_ULONG *", 64), ffi.new("CK_BYTE[]", 64)
    assert t.rv("C_Decrypt", cbytes(bytes(17)), 17, out, n) == "ENCRYPTED_DATA_LEN_RANGE"


def test_signature_len_range(t: Token) -> None:
    pub, priv = import_rsa(t, rsa_key(2048))
    sig = t.sign(Mechanism.SHA256_RSA_PKCS, priv, DATA)
    assert t.verify(Mechanism.SHA256_RSA_PKCS, pub, DATA, sig[:-1]) == "SIGNATURE_LEN_RANGE"
    mac_key = t.secret(bytes(32), KeyType.GENERIC_SECRET)
    mac = t.sign(Mechanism.SHA256_HMAC, mac_key, DATA)
    assert t.verify(Mechanism.SHA256_HMAC, mac_key, DATA, mac + b"\x00") == "SIGNATURE_LEN_RANGE"


def test_signature_invalid(t: Token) -> None:
    pub, priv = import_ec(t, ec_key(P256), P256)
    h = digest("sha256", DATA)
    sig = bytearray(t.sign(Mechanism.ECDSA, priv, h))
    sig[5] ^= 0x40
    assert t.verify(Mechanism.ECDSA, pub, h, bytes(sig)) == "SIGNATURE_INVALID"


# ------------------------------------------------------------------------------- life cycle
def test_operation_active_and_not_initialized(t: Token) -> None:
    _, priv = import_ec(t, ec_key(P256), P256)
    n, out = ffi.new("CK_ULONG *", 128), ffi.new("CK_BYTE[]", 128)
    assert t.rv("C_Sign", cbytes(DATA), len(DATA), out, n) == "OPERATION_NOT_INITIALIZED"
    assert t.rv("C_EncryptUpdate", cbytes(DATA), len(DATA), out, n) == "OPERATION_NOT_INITIALIZED"
    assert t.rv("C_DigestFinal", out, n) == "OPERATION_NOT_INITIALIZED"
    assert init_rv(t, "Sign", Mechanism.ECDSA, priv) == "OK"
    assert init_rv(t, "Sign", Mechanism.ECDSA, priv) == "OPERATION_ACTIVE"
    with t.m.session(t.slot) as h2:  # SoftHSMv2 keeps one operation per session
        t.m.check("C_DigestInit", h2, mech(Mechanism.SHA256).ptr)
        assert t.m.rv("C_DigestInit", h2, mech(Mechanism.SHA256).ptr) == 0x90


def test_error_ends_operation(t: Token) -> None:
    key, _ = t.aes(16)
    assert init_rv(t, "Encrypt", Mechanism.AES_ECB, key) == "OK"
    n, out = ffi.new("CK_ULONG *", 64), ffi.new("CK_BYTE[]", 64)
    assert t.rv("C_Encrypt", cbytes(bytes(15)), 15, out, n) == "DATA_LEN_RANGE"
    n[0] = 64
    assert t.rv("C_Encrypt", cbytes(bytes(16)), 16, out, n) == "OPERATION_NOT_INITIALIZED"
    pub, _ = import_ec(t, ec_key(P256), P256)
    h = digest("sha256", DATA)
    assert t.verify(Mechanism.ECDSA, pub, h, bytes(64)) == "SIGNATURE_INVALID"
    assert t.rv("C_Verify", cbytes(h), 32, cbytes(bytes(64)), 64) == "OPERATION_NOT_INITIALIZED"


def test_successful_call_ends_operation(t: Token) -> None:
    _, priv = import_ec(t, ec_key(P256), P256)
    t.sign(Mechanism.ECDSA, priv, digest("sha256", DATA))
    n, out = ffi.new("CK_ULONG *", 128), ffi.new("CK_BYTE[]", 128)
    assert t.rv("C_Sign", cbytes(DATA), 32, out, n) == "OPERATION_NOT_INITIALIZED"


@pytest.mark.parametrize("curve", ["P-256"])
def test_size_query_then_sign(t: Token, curve: str) -> None:
    key = ec_key(P256)
    _, priv = import_ec(t, key, P256)
    h = digest("sha256", DATA)
    assert init_rv(t, "Sign", Mechanism.ECDSA, priv) == "OK"
    n = ffi.new("CK_ULONG *")
    t.ok("C_Sign", cbytes(h), 32, ffi.NULL, n)
    announced = int(n[0])
    assert announced == 64
    out = ffi.new("CK_BYTE[]", announced)
    t.ok("C_Sign", cbytes(h), 32, out, n)
    assert int(n[0]) == announced
    key.public_key().verify(raw_to_der_ecdsa(bytes(out)), h, ec.ECDSA(Prehashed(hashes.SHA256())))


def test_short_buffer_keeps_operation(t: Token) -> None:
    key = ec_key(P256)
    _, priv = import_ec(t, key, P256)
    h = digest("sha256", DATA)
    assert init_rv(t, "Sign", Mechanism.ECDSA, priv) == "OK"
    n, out = ffi.new("CK_ULONG *", 10), ffi.new("CK_BYTE[]", 128)
    assert t.rv("C_Sign", cbytes(h), 32, out, n) == "BUFFER_TOO_SMALL"
    needed = int(n[0])
    assert needed == 64
    n[0] = 128  # more than needed: the module must write exactly what it announced
    assert t.rv("C_Sign", cbytes(h), 32, out, n) == "OK"
    assert int(n[0]) == needed
    key.public_key().verify(raw_to_der_ecdsa(bytes(out)[:needed]), h, ec.ECDSA(Prehashed(hashes.SHA256())))


def test_short_buffer_encrypt_update(t: Token) -> None:
    key, value = t.aes(16)
    assert init_rv(t, "Encrypt", mech(Mechanism.AES_CBC_PAD, bytes(16)), key) == "OK"
    n, out = ffi.new("CK_ULONG *", 4), ffi.new("CK_BYTE[]", 64)
    assert t.rv("C_EncryptUpdate", cbytes(bytes(40)), 40, out, n) == "BUFFER_TOO_SMALL"
    assert int(n[0]) >= 32
    n[0] = 64
    assert t.rv("C_EncryptUpdate", cbytes(bytes(40)), 40, out, n) == "OK"
    first = bytes(out)[: int(n[0])]
    last = t.out("C_EncryptFinal")
    from cryptography.hazmat.primitives import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    p = padding.PKCS7(128).padder()
    enc = Cipher(algorithms.AES(value), modes.CBC(bytes(16))).encryptor()
    assert first + last == enc.update(p.update(bytes(40)) + p.finalize()) + enc.finalize()


def test_always_authenticate(t: Token) -> None:
    key = rsa_key(2048)
    _, priv = import_rsa(t, key, ALWAYS_AUTHENTICATE=True)
    n, out = ffi.new("CK_ULONG *", 256), ffi.new("CK_BYTE[]", 256)
    assert init_rv(t, "Sign", Mechanism.SHA256_RSA_PKCS, priv) == "OK"
    assert t.rv("C_Sign", cbytes(DATA), len(DATA), out, n) == "USER_NOT_LOGGED_IN"
    assert init_rv(t, "Sign", Mechanism.SHA256_RSA_PKCS, priv) == "OK"
    t.m.login(t.h, UserType.CONTEXT_SPECIFIC, USER_PIN)
    n[0] = 256
    assert t.rv("C_Sign", cbytes(DATA), len(DATA), out, n) == "OK"
    key.public_key().verify(bytes(out), DATA, rsa_padding.PKCS1v15(), hashes.SHA256())


def test_always_authenticate_with_context_login(t: Token) -> None:
    """pkcs11-tool / libp11: C_SignInit, C_Login(CKU_CONTEXT_SPECIFIC), C_Sign."""
    key = rsa_key(2048)
    _, priv = import_rsa(t, key, ALWAYS_AUTHENTICATE=True)
    assert init_rv(t, "Sign", Mechanism.SHA256_RSA_PKCS, priv) == "OK"
    t.m.login(t.h, UserType.CONTEXT_SPECIFIC, USER_PIN)
    n, out = ffi.new("CK_ULONG *", 256), ffi.new("CK_BYTE[]", 256)
    assert t.rv("C_Sign", cbytes(DATA), len(DATA), out, n) == "OK"
    key.public_key().verify(bytes(out), DATA, rsa_padding.PKCS1v15(), hashes.SHA256())


def test_generate_unknown_mechanism(t: Token) -> None:
    tpl, out = Template({Attribute.TOKEN: False, Attribute.VALUE_LEN: 16}), ffi.new("CK_OBJECT_HANDLE *")
    assert t.rv("C_GenerateKey", mech(Mechanism.AES_ECB).ptr, tpl.ptr, tpl.count, out) == "MECHANISM_INVALID"
