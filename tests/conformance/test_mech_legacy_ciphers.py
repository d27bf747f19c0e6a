"""The legacy symmetric mechanisms at the C ABI (issue 15 item 5): TDEA on DES2 / DES3 keys (key
generation, ECB, CBC, CBC_PAD, the CBC-MAC DES3_MAC and CMAC, plain and _GENERAL), Camellia (key
generation, ECB, CBC, CBC_PAD), MD5 (digest, HMAC), and RFC 5649 key wrap under SoftHSMv2's number
CKM_AES_KEY_WRAP_PAD. Known answers from NIST CAVP (TDEA, CMAC), NTT / OpenSSL (Camellia), RFC
1321 / 2202 (MD5) and RFC 5649, all from cryptography_vectors; the rest checked with pyca/cryptography.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from cryptography.hazmat.decrepit.ciphers.algorithms import Camellia, TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, modes
from cryptography.hazmat.primitives.cmac import CMAC
from cryptography.hazmat.primitives.padding import PKCS7

from support import vectors
from support.constants import Attribute, KeyType, Mechanism, ObjectClass
from support.legacy import (
    create_rv,
    derived,
    generate_rv,
    has_odd_parity,
    need,
    odd_parity,
    ulong_param,
)
from support.mechanisms import Mech, hkdf
from support.pkcs11 import Module, ffi, spec_departure
from support.templates import cbytes
from support.token import Token, split

V = vectors
h = V.h
DATA = b"legacy ciphers at the C ABI, 41 bytes of it"


@pytest.fixture
def t(module: Module) -> Token:
    return Token(module)


def tdea(key: bytes) -> TripleDES:
    return TripleDES(key + key[:8] if len(key) == 16 else key)


def crypt(algorithm: Any, mode: Any, data: bytes, encrypt: bool = True, pad: bool = False) -> bytes:
    """pyca/cryptography's answer, padded with PKCS #7 when ``pad``."""
    if pad and encrypt:
        padder = PKCS7(algorithm.block_size).padder()
        data = padder.update(data) + padder.finalize()
    c = Cipher(algorithm, mode)
    ctx = c.encryptor() if encrypt else c.decryptor()
    return ctx.update(data) + ctx.finalize()


def iv_mech(mechanism: int, iv: bytes) -> Mech:
    return Mech(mechanism, iv)


def cavp(relpath: str) -> list[dict[str, str]]:
    return V.parse_cavp(V.external(relpath).read_text())


def des_key_of(v: dict[str, str]) -> tuple[bytes, int]:
    """The TDEA key of a CAVP record: DES2 when KEY3 repeats KEY1 (keying option 2)."""
    k1, k2, k3 = h(v["KEY1"]), h(v["KEY2"]), h(v["KEY3"])
    return (k1 + k2, KeyType.DES2) if k1 == k3 else (k1 + k2 + k3, KeyType.DES3)


# ------------------------------------------------------------------------------- TDEA
@pytest.mark.parametrize(
    ("mechanism", "key_type", "length"),
    [(Mechanism.DES2_KEY_GEN, KeyType.DES2, 16), (Mechanism.DES3_KEY_GEN, KeyType.DES3, 24)],
)
def test_des_key_generation(t: Token, mechanism: int, key_type: int, length: int) -> None:
    need(t, mechanism)
    key = t.generate_key(
        mechanism, {Attribute.TOKEN: False, Attribute.SENSITIVE: False, Attribute.EXTRACTABLE: True}
    )
    value = t.get(key, Attribute.VALUE)
    assert len(value) == length and has_odd_parity(value)
    assert t.get_ulong(key, Attribute.KEY_TYPE) == key_type
    assert t.get_bool(key, Attribute.LOCAL) and t.get_ulong(key, Attribute.KEY_GEN_MECHANISM) == mechanism
    # the check value: the first three bytes of a zero block encrypted under the key
    assert t.get(key, Attribute.CHECK_VALUE) == crypt(tdea(value), modes.ECB(), bytes(8))[:3]
    two = t.generate_key(
        mechanism, {Attribute.TOKEN: False, Attribute.SENSITIVE: False, Attribute.EXTRACTABLE: True}
    )
    assert t.get(two, Attribute.VALUE) != value


@pytest.mark.parametrize(
    "name", ["ECB/TECBMMT2.rsp", "ECB/TECBMMT3.rsp", "CBC/TCBCMMT2.rsp", "CBC/TCBCMMT3.rsp"]
)
def test_tdea_nist_cavp(t: Token, name: str) -> None:
    """NIST's multi-block message tests: DES2 (MMT2) and DES3 (MMT3) keys, ECB and CBC, both ways."""
    need(t, Mechanism.DES3_ECB, Mechanism.DES3_CBC)
    records = cavp(f"ciphers/3DES/{name}")
    assert len(records) == 20
    for v in records:
        value, key_type = des_key_of(v)
        key = t.secret(value, key_type)
        m = Mech(Mechanism.DES3_ECB) if "IV" not in v else iv_mech(Mechanism.DES3_CBC, h(v["IV"]))
        pt, ct = h(v["PLAINTEXT"]), h(v["CIPHERTEXT"])
        assert t.encrypt(m, key, pt) == ct
        assert t.decrypt(m, key, ct) == pt
        assert t.encrypt_parts(m, key, split(pt, 3, 8)) == ct


@pytest.mark.parametrize("size", [16, 24])
def test_des3_cbc_pad(t: Token, size: int) -> None:
    need(t, Mechanism.DES3_CBC_PAD)
    value = odd_parity(bytes(range(7, 7 + size)))
    key = t.secret(value, KeyType.DES2 if size == 16 else KeyType.DES3)
    iv = bytes.fromhex("0102030405060708")
    m = iv_mech(Mechanism.DES3_CBC_PAD, iv)
    for n in (0, 1, 7, 8, 9, 41):
        expected = crypt(tdea(value), modes.CBC(iv), DATA[:n], pad=True)
        assert t.encrypt(m, key, DATA[:n]) == expected
        assert t.decrypt(m, key, expected) == DATA[:n]
        assert t.decrypt_parts(m, key, split(expected, 5, 8, 1)) == DATA[:n]


def cbc_mac(key: bytes, data: bytes) -> bytes:
    """FIPS 113's CBC-MAC: zero IV, the data zero-padded to whole blocks, the last block."""
    padded = data + bytes(-len(data) % 8) if data else bytes(8)
    return crypt(tdea(key), modes.CBC(bytes(8)), padded)[-8:]


def test_des3_mac(t: Token) -> None:
    need(t, Mechanism.DES3_MAC, Mechanism.DES3_MAC_GENERAL)
    value = odd_parity(bytes(range(40, 64)))
    key = t.secret(value, KeyType.DES3)
    for n in (0, 5, 8, 41):
        full = cbc_mac(value, DATA[:n])
        assert t.sign(Mechanism.DES3_MAC, key, DATA[:n]) == full[:4]  # half a block (3.0, DES3_MAC)
        assert t.verify(Mechanism.DES3_MAC, key, DATA[:n], full[:4]) == "OK"
        assert t.sign_parts(Mechanism.DES3_MAC, key, split(DATA[:n], 3)) == full[:4]
        general = ulong_param(Mechanism.DES3_MAC_GENERAL, 7)
        assert t.sign(general, key, DATA[:n]) == full[:7]
    assert t.verify(Mechanism.DES3_MAC, key, DATA, bytes(4)) == "SIGNATURE_INVALID"


def test_des3_cmac_nist(t: Token) -> None:
    """SP 800-38B's TDEA examples, three-key and two-key."""
    need(t, Mechanism.DES3_CMAC)
    records = V.parse(V.external("CMAC/nist-800-38b-3des.txt").read_text())
    assert len(records) == 8
    for v in records:
        value, key_type = des_key_of(v)
        key = t.secret(value, key_type)
        msg, mac = h(v["MESSAGE"]), h(v["OUTPUT"])
        assert t.sign(Mechanism.DES3_CMAC, key, msg) == mac
        assert t.verify(Mechanism.DES3_CMAC, key, msg, mac) == "OK"


def test_des3_cmac_general(t: Token) -> None:
    need(t, Mechanism.DES3_CMAC, Mechanism.DES3_CMAC_GENERAL)
    key = t.secret(odd_parity(bytes(range(24))), KeyType.DES3)
    full = t.sign(Mechanism.DES3_CMAC, key, DATA)
    assert t.sign(ulong_param(Mechanism.DES3_CMAC_GENERAL, 5), key, DATA) == full[:5]
    assert t.verify(ulong_param(Mechanism.DES3_CMAC_GENERAL, 5), key, DATA, full[:5]) == "OK"


@spec_departure("SoftHSMv2", clause="DES2/DES3 key objects: a key with wrong parity must not be created")
def test_des_key_parity_and_length(t: Token) -> None:
    good = odd_parity(bytes(range(100, 124)))
    assert t.get(t.secret(good, KeyType.DES3), Attribute.VALUE) == good
    template = {
        Attribute.CLASS: ObjectClass.SECRET_KEY,
        Attribute.KEY_TYPE: KeyType.DES3,
        Attribute.TOKEN: False,
    }
    bad_parity = bytes([good[0] ^ 1]) + good[1:]
    assert create_rv(t, {**template, Attribute.VALUE: bad_parity}) == "ATTRIBUTE_VALUE_INVALID"
    assert create_rv(t, {**template, Attribute.VALUE: good[:16]}) == "ATTRIBUTE_VALUE_INVALID"


@spec_departure("SoftHSMv2", clause="Triple-DES mechanisms: DES3_ECB, DES3_CBC, DES3_CBC_PAD wrap and unwrap")
@pytest.mark.parametrize("mechanism", [Mechanism.DES3_CBC, Mechanism.DES3_ECB, Mechanism.DES3_CBC_PAD])
def test_des3_wrap(t: Token, mechanism: int) -> None:
    """python-pkcs11 wraps with DES3_ECB when a DES3 key names no mechanism."""
    need(t, mechanism)
    kek_value = odd_parity(bytes(range(60, 84)))
    kek = t.secret(kek_value, KeyType.DES3)
    inner = t.secret(bytes(range(32)), KeyType.AES)
    iv = bytes(8)
    m = Mech(mechanism) if mechanism == Mechanism.DES3_ECB else iv_mech(mechanism, iv)
    wrapped = t.wrap(m, kek, inner)
    mode: Any = modes.ECB() if mechanism == Mechanism.DES3_ECB else modes.CBC(iv)
    assert wrapped == crypt(tdea(kek_value), mode, bytes(range(32)), pad=mechanism == Mechanism.DES3_CBC_PAD)
    back = t.unwrap(m, kek, wrapped, derived(KeyType.AES))
    assert t.get(back, Attribute.VALUE) == bytes(range(32))


def test_des3_refusals(t: Token) -> None:
    need(t, Mechanism.DES3_ECB, Mechanism.DES3_CBC)
    key = t.secret(odd_parity(bytes(range(24))), KeyType.DES3)
    aes = t.secret(bytes(range(16)), KeyType.AES)
    assert t.rv("C_EncryptInit", Mech(Mechanism.DES3_ECB).ptr, aes) == "KEY_TYPE_INCONSISTENT"
    t.ok("C_EncryptInit", Mech(Mechanism.DES3_ECB).ptr, key)
    n = t.m.ffi.new("CK_ULONG *", 64)
    out = t.m.ffi.new("CK_BYTE[]", 64)
    assert t.rv("C_Encrypt", *t._data(DATA[:7]), out, n) == "DATA_LEN_RANGE"
    assert (
        t.decrypt_rv(iv_mech(Mechanism.DES3_CBC_PAD, bytes(8)), key, bytes(12)) == "ENCRYPTED_DATA_LEN_RANGE"
    )


@spec_departure(
    "SoftHSMv2", clause="3.0 5.9 C_Decrypt: bad CBC_PAD padding is ENCRYPTED_DATA_INVALID (GENERAL_ERROR)"
)
def test_des3_cbc_pad_bad_padding(t: Token) -> None:
    need(t, Mechanism.DES3_CBC_PAD)
    value = odd_parity(bytes(range(24)))
    key = t.secret(value, KeyType.DES3)
    bad = crypt(tdea(value), modes.CBC(bytes(8)), bytes(8))  # a last byte of 0 is no PKCS #7 padding
    assert t.decrypt_rv(iv_mech(Mechanism.DES3_CBC_PAD, bytes(8)), key, bad) == "ENCRYPTED_DATA_INVALID"


@spec_departure(
    "SoftHSMv2", clause="3.0 5.8: an IV of the wrong length is MECHANISM_PARAM_INVALID (MECHANISM_INVALID)"
)
def test_des3_cbc_iv_length(t: Token) -> None:
    need(t, Mechanism.DES3_CBC)
    key = t.secret(odd_parity(bytes(range(24))), KeyType.DES3)
    assert t.rv("C_EncryptInit", iv_mech(Mechanism.DES3_CBC, bytes(16)).ptr, key) == "MECHANISM_PARAM_INVALID"
    assert t.rv("C_EncryptInit", Mech(Mechanism.DES3_CBC).ptr, key) == "MECHANISM_PARAM_INVALID"


# ------------------------------------------------------------------------------- Camellia
def ntt_vectors(relpath: str) -> list[tuple[bytes, list[tuple[bytes, bytes]]]]:
    """NTT's Camellia file: each key, with its (plaintext, ciphertext) blocks."""
    out: list[tuple[bytes, list[tuple[bytes, bytes]]]] = []
    plain = b""
    for line in V.external(relpath).read_text().splitlines():
        match = re.match(r"([KPC]) No\.\d+ : ([0-9A-F ]+)$", line.strip())
        if not match:
            continue
        kind, value = match.group(1), bytes.fromhex(match.group(2))
        if kind == "K":
            out.append((value, []))
        elif kind == "P":
            plain = value
        else:
            out[-1][1].append((plain, value))
    return out


@pytest.mark.parametrize("size", [128, 192, 256])
def test_camellia_ecb_ntt(t: Token, size: int) -> None:
    need(t, Mechanism.CAMELLIA_ECB)
    keys = ntt_vectors(f"ciphers/Camellia/camellia-{size}-ecb.txt")
    assert keys
    for value, blocks in keys:
        key = t.secret(value, KeyType.CAMELLIA)
        pt, ct = b"".join(p for p, _ in blocks), b"".join(c for _, c in blocks)
        assert t.encrypt(Mechanism.CAMELLIA_ECB, key, pt) == ct
        assert t.decrypt(Mechanism.CAMELLIA_ECB, key, ct) == pt


def test_camellia_cbc_openssl(t: Token) -> None:
    need(t, Mechanism.CAMELLIA_CBC)
    records = cavp("ciphers/Camellia/camellia-cbc.txt")
    assert len(records) == 12
    for v in records:
        key = t.secret(h(v["KEY"]), KeyType.CAMELLIA)
        m = iv_mech(Mechanism.CAMELLIA_CBC, h(v["IV"]))
        assert t.encrypt(m, key, h(v["PLAINTEXT"])) == h(v["CIPHERTEXT"])
        assert t.decrypt(m, key, h(v["CIPHERTEXT"])) == h(v["PLAINTEXT"])


@pytest.mark.parametrize("size", [16, 24, 32])
def test_camellia_keygen_and_cbc_pad(t: Token, size: int) -> None:
    need(t, Mechanism.CAMELLIA_KEY_GEN, Mechanism.CAMELLIA_CBC_PAD)
    key = t.generate_key(
        Mechanism.CAMELLIA_KEY_GEN,
        {
            Attribute.KEY_TYPE: KeyType.CAMELLIA,
            Attribute.VALUE_LEN: size,
            Attribute.TOKEN: False,
            Attribute.SENSITIVE: False,
            Attribute.EXTRACTABLE: True,
        },
    )
    value = t.get(key, Attribute.VALUE)
    assert len(value) == size and t.get_ulong(key, Attribute.KEY_TYPE) == KeyType.CAMELLIA
    assert t.get(key, Attribute.CHECK_VALUE) == crypt(Camellia(value), modes.ECB(), bytes(16))[:3]
    iv = bytes(range(16))
    m = iv_mech(Mechanism.CAMELLIA_CBC_PAD, iv)
    for n in (0, 15, 16, 41):
        expected = crypt(Camellia(value), modes.CBC(iv), DATA[:n], pad=True)
        assert t.encrypt_parts(m, key, split(DATA[:n], 7)) == expected
        assert t.decrypt(m, key, expected) == DATA[:n]


def test_camellia_refusals(t: Token) -> None:
    need(t, Mechanism.CAMELLIA_KEY_GEN, Mechanism.CAMELLIA_ECB)
    aes = t.secret(bytes(range(16)), KeyType.AES)
    assert t.rv("C_EncryptInit", Mech(Mechanism.CAMELLIA_ECB).ptr, aes) == "KEY_TYPE_INCONSISTENT"
    camellia = t.secret(bytes(range(16)), KeyType.CAMELLIA)
    assert (
        t.rv("C_EncryptInit", iv_mech(Mechanism.CAMELLIA_CBC, bytes(8)).ptr, camellia)
        == "MECHANISM_PARAM_INVALID"
    )
    wrong_size = {Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.VALUE_LEN: 20, Attribute.TOKEN: False}
    assert generate_rv(t, Mech(Mechanism.CAMELLIA_KEY_GEN), wrong_size) == "KEY_SIZE_RANGE"
    bad = {
        Attribute.CLASS: ObjectClass.SECRET_KEY,
        Attribute.KEY_TYPE: KeyType.CAMELLIA,
        Attribute.VALUE: bytes(20),
        Attribute.TOKEN: False,
    }
    assert create_rv(t, bad) == "ATTRIBUTE_VALUE_INVALID"


# ------------------------------------------------------------------------------- MD5
def test_md5_rfc1321(t: Token) -> None:
    need(t, Mechanism.MD5)
    records = V.parse(V.external("hashes/MD5/rfc-1321.txt").read_text())
    assert len(records) == 7
    for v in records:
        msg = h(v["Msg"])[: int(v["Len"]) // 8]
        assert t.digest(Mechanism.MD5, msg) == h(v["MD"])
        assert t.digest_parts(Mechanism.MD5, split(msg, 3)) == h(v["MD"])


def test_md5_hmac_rfc2202(t: Token) -> None:
    need(t, Mechanism.MD5_HMAC)
    records = V.parse(V.external("HMAC/rfc-2202-md5.txt").read_text())
    assert len(records) == 7
    for v in records:
        key_value = h(v["Key"])
        if t.softhsm2 and len(key_value) < int(t.mechanism_info(Mechanism.MD5_HMAC).ulMinKeySize):
            continue  # SoftHSMv2's minimum HMAC key is the hash's size
        key = t.secret(key_value, KeyType.GENERIC_SECRET)
        mac = t.sign(Mechanism.MD5_HMAC, key, h(v["Msg"]))
        assert mac[: len(h(v["MD"]))] == h(v["MD"])
        assert t.verify(Mechanism.MD5_HMAC, key, h(v["Msg"]), mac) == "OK"


def test_md5_is_legacy_only(t: Token) -> None:
    """MD5 digests and HMACs; it is no hash of another mechanism's parameter (OAEP, PSS, HKDF)."""
    need(t, Mechanism.MD5, Mechanism.MD5_HMAC_GENERAL)
    key = t.secret(b"legacy mac key", KeyType.MD5_HMAC)
    assert (
        t.sign(ulong_param(Mechanism.MD5_HMAC_GENERAL, 10), key, DATA)
        == t.sign(Mechanism.MD5_HMAC, key, DATA)[:10]
    )
    if t.softhsm2:
        return
    base = t.secret(bytes(32), KeyType.GENERIC_SECRET)
    rv = t.derive_rv(hkdf(prf=Mechanism.MD5), base, derived(length=16))
    assert rv == "MECHANISM_PARAM_INVALID"


# ------------------------------------------------------------------------------- RFC 5649 under 0x210A
@pytest.mark.parametrize("size", [16, 24, 32])
def test_aes_key_wrap_pad_aes_keys(t: Token, size: int) -> None:
    """Hosts written for SoftHSMv2 wrap with CKM_AES_KEY_WRAP_PAD, which SoftHSMv2 implements as
    RFC 5649 (3.0's AES_KEY_WRAP_KWP): AES keys travel between the two modules."""
    from cryptography.hazmat.primitives import keywrap

    need(t, Mechanism.AES_KEY_WRAP_PAD)
    kek_value, value = bytes(range(32)), bytes(range(100, 100 + size))
    kek, key = t.secret(kek_value, KeyType.AES), t.secret(value, KeyType.AES)
    wrapped = t.wrap(Mech(Mechanism.AES_KEY_WRAP_PAD), kek, key)
    assert wrapped == keywrap.aes_key_wrap_with_padding(kek_value, value)
    back = t.unwrap(Mech(Mechanism.AES_KEY_WRAP_PAD), kek, wrapped, derived(KeyType.AES))
    assert t.get(back, Attribute.VALUE) == value


@spec_departure(
    "SoftHSMv2", clause="RFC 5649: the key is wrapped as it is (it pads it with zeros to 8 bytes first)"
)
def test_aes_key_wrap_pad_rfc5649(t: Token) -> None:
    """RFC 5649's own examples (20- and 7-byte keys)."""
    need(t, Mechanism.AES_KEY_WRAP_PAD)
    for v in V.load("aes_kwp_rfc5649.txt"):
        kek = t.secret(h(v["KEK"]), KeyType.AES)
        key = t.secret(h(v["Key"]), KeyType.GENERIC_SECRET)
        m = Mech(Mechanism.AES_KEY_WRAP_PAD)
        assert t.wrap(m, kek, key) == h(v["Wrapped"])
        back = t.unwrap(m, kek, h(v["Wrapped"]), derived())
        assert t.get(back, Attribute.VALUE) == h(v["Key"])


# ------------------------------------------------------------------------------- size queries
def query(t: Token, name: str, *args: Any) -> int:
    """The length a size query (NULL buffer) answers."""
    n = ffi.new("CK_ULONG *")
    t.ok(name, *args, ffi.NULL, n)
    return int(n[0])


def call(t: Token, name: str, *args: Any, room: int = 4096) -> tuple[str, bytes]:
    n, buf = ffi.new("CK_ULONG *", room), ffi.new("CK_BYTE[]", room)
    rv = t.rv(name, *args, buf, n)
    return rv, bytes(buf)[: int(n[0])] if rv == "OK" else b""


BLOCK_MODES = [
    pytest.param(mechanism, key_type, iv, id=mechanism.name)
    for mechanism, key_type, iv in (
        (Mechanism.DES3_ECB, KeyType.DES3, None),
        (Mechanism.DES3_CBC, KeyType.DES3, bytes(range(8))),
        (Mechanism.DES3_CBC_PAD, KeyType.DES3, bytes(range(8))),
        (Mechanism.CAMELLIA_ECB, KeyType.CAMELLIA, None),
        (Mechanism.CAMELLIA_CBC, KeyType.CAMELLIA, bytes(range(16))),
        (Mechanism.CAMELLIA_CBC_PAD, KeyType.CAMELLIA, bytes(range(16))),
    )
]


@pytest.mark.parametrize(("mechanism", "key_type", "iv"), BLOCK_MODES)
def test_block_mode_size_queries(t: Token, mechanism: int, key_type: int, iv: bytes | None) -> None:
    """A size query answers the block-rounded length (CBC_PAD encryption: the padding block too)
    and consumes nothing: the call after it encrypts the data it passes, not the data asked about
    (3.0, 5.2). An update's query answers at least the whole blocks it could give."""
    need(t, mechanism)
    value = odd_parity(bytes(range(24))) if key_type == KeyType.DES3 else bytes(range(16))
    algorithm: Any = tdea(value) if key_type == KeyType.DES3 else Camellia(value)
    block = algorithm.block_size // 8
    pad = mechanism in (Mechanism.DES3_CBC_PAD, Mechanism.CAMELLIA_CBC_PAD)
    key = t.secret(value, key_type)
    m = Mech(mechanism) if iv is None else iv_mech(mechanism, iv)

    def mode() -> Any:
        return modes.ECB() if iv is None else modes.CBC(iv)

    asked = DATA if pad else (DATA * 2)[: 3 * block]
    passed = bytes(b ^ 0x5A for b in asked)
    t.ok("C_EncryptInit", m.ptr, key)
    assert query(t, "C_Encrypt", cbytes(asked), len(asked)) == (
        (len(asked) // block + 1) * block if pad else len(asked)
    )
    rv, ct = call(t, "C_Encrypt", cbytes(passed), len(passed))
    assert (rv, ct) == ("OK", crypt(algorithm, mode(), passed, pad=pad))
    t.ok("C_DecryptInit", m.ptr, key)
    assert query(t, "C_Decrypt", cbytes(ct), len(ct)) >= len(passed)
    assert call(t, "C_Decrypt", cbytes(ct), len(ct)) == ("OK", passed)

    first, second = b"A" * (2 * block), b"B" * (3 * block)
    t.ok("C_EncryptInit", m.ptr, key)
    assert query(t, "C_EncryptUpdate", cbytes(first), len(first)) >= len(first)
    rv, head = call(t, "C_EncryptUpdate", cbytes(second), len(second))
    assert rv == "OK"
    rv, tail = call(t, "C_EncryptFinal")
    assert (rv, head + tail) == ("OK", crypt(algorithm, mode(), second, pad=pad))


def test_mac_size_queries(t: Token) -> None:
    """The MAC's length, whatever the data: half a block for DES3_MAC, a block for DES3_CMAC, the
    parameter's for the _GENERAL ones; the query consumes nothing (3.0, 5.2)."""
    cases = [
        (Mech(Mechanism.DES3_CMAC), 8),
        (Mech(Mechanism.DES3_MAC), 4),
        (ulong_param(Mechanism.DES3_MAC_GENERAL, 7), 7),
        (ulong_param(Mechanism.DES3_CMAC_GENERAL, 5), 5),
    ]
    need(t, Mechanism.DES3_CMAC)
    if not t.softhsm2:
        need(t, *(m.type for m, _ in cases))
    listed = set(t.mechanisms())  # SoftHSMv2 2.6.1 has DES3_CMAC only
    value = odd_parity(bytes(range(24)))
    key = t.secret(value, KeyType.DES3)
    passed = DATA[:20]
    cmac = CMAC(tdea(value))
    cmac.update(passed)
    full_cmac = cmac.finalize()
    for m, length in (c for c in cases if c[0].type in listed):
        expected = (cbc_mac(value, passed) if m.type in _CBC_MACS else full_cmac)[:length]
        t.ok("C_SignInit", m.ptr, key)
        assert query(t, "C_Sign", cbytes(DATA), len(DATA)) == length
        assert call(t, "C_Sign", cbytes(passed), len(passed)) == ("OK", expected)
        t.ok("C_SignInit", m.ptr, key)
        t.ok("C_SignUpdate", cbytes(passed), len(passed))
        assert query(t, "C_SignFinal") == length
        assert call(t, "C_SignFinal") == ("OK", expected)


_CBC_MACS = (Mechanism.DES3_MAC, Mechanism.DES3_MAC_GENERAL)


# ------------------------------------------------------------------------------- mechanism info
_MAC = 0x800 | 0x2000 | 0x8 | 0x10  # SIGN, VERIFY and their message forms (CKF_MESSAGE_SIGN / _VERIFY)
INFO = [
    # mechanism, min, max (bytes for the block ciphers), flags
    (Mechanism.DES2_KEY_GEN, 16, 16, 0x8000),
    (Mechanism.DES3_KEY_GEN, 24, 24, 0x8000),
    (Mechanism.DES3_ECB, 16, 24, 0x100 | 0x200 | 0x20000 | 0x40000),
    (Mechanism.DES3_CBC, 16, 24, 0x100 | 0x200 | 0x20000 | 0x40000),
    (Mechanism.DES3_CBC_PAD, 16, 24, 0x100 | 0x200 | 0x20000 | 0x40000),
    (Mechanism.DES3_MAC, 16, 24, _MAC),
    (Mechanism.DES3_MAC_GENERAL, 16, 24, _MAC),
    (Mechanism.DES3_CMAC, 16, 24, _MAC),
    (Mechanism.DES3_CMAC_GENERAL, 16, 24, _MAC),
    (Mechanism.CAMELLIA_KEY_GEN, 16, 32, 0x8000),
    (Mechanism.CAMELLIA_ECB, 16, 32, 0x100 | 0x200 | 0x20000 | 0x40000),
    (Mechanism.CAMELLIA_CBC, 16, 32, 0x100 | 0x200 | 0x20000 | 0x40000),
    (Mechanism.CAMELLIA_CBC_PAD, 16, 32, 0x100 | 0x200 | 0x20000 | 0x40000),
    (Mechanism.MD5, 0, 0, 0x400),
    (Mechanism.AES_KEY_WRAP_PAD, 16, 32, 0x100 | 0x200 | 0x20000 | 0x40000),
]


@pytest.mark.parametrize(("mechanism", "lo", "hi", "flags"), INFO, ids=[hex(i[0]) for i in INFO])
def test_mechanism_info(t: Token, mechanism: int, lo: int, hi: int, flags: int) -> None:
    if t.softhsm2:
        pytest.skip("softhsm-py's own sizes and flags (SoftHSMv2 reports its own)")
    info = t.mechanism_info(mechanism)
    assert (int(info.ulMinKeySize), int(info.ulMaxKeySize), int(info.flags)) == (lo, hi, flags)
