"""Known-answer tests through the built library: published vectors (tests/vectors/data, read by
the one loader support/vectors.py), the key imported with C_CreateObject and the mechanism
run at the C ABI."""

from __future__ import annotations

from typing import Any

import pytest

from support import vectors
from support.constants import KDF, Attribute, KeyType, Mechanism, ObjectClass
from support.keys import ED25519_OID, X25519_OID, der_octet_string
from support.mechanisms import HASH_MECH, Mech, ecdh, gcm, hkdf
from support.pkcs11 import Module
from support.token import Token

V = vectors
h = V.h


@pytest.fixture
def t(module: Module) -> Token:
    return Token(module)


def records(name: str) -> list[dict[str, str]]:
    """Every case of a vector file; one test per file keeps the token set-up cost down."""
    cases = V.load(name)
    assert cases, name
    return cases


def readable(**extra: Any) -> dict[int, Any]:
    attrs = {
        Attribute.CLASS: ObjectClass.SECRET_KEY,
        Attribute.TOKEN: False,
        Attribute.SENSITIVE: False,
        Attribute.EXTRACTABLE: True,
    }
    return {
        **attrs,
        Attribute.ENCRYPT: True,
        Attribute.DECRYPT: True,
        **{Attribute[k]: v for k, v in extra.items()},
    }


def test_aes_key_wrap_rfc3394(t: Token) -> None:
    for v in records("aes_kw_rfc3394.txt"):
        _aes_key_wrap_rfc3394(t, v)
    # C_Encrypt / C_Decrypt with the same mechanism (3.0 2.14.3: CKM_AES_KEY_WRAP does both).
    t.m.departure("SoftHSMv2", clause="3.0 2.14.3: CKM_AES_KEY_WRAP with C_EncryptInit (MECHANISM_INVALID)")
    for v in records("aes_kw_rfc3394.txt"):
        kek = t.secret(h(v["KEK"]))
        assert t.encrypt(Mechanism.AES_KEY_WRAP, kek, h(v["Key"])) == h(v["Wrapped"])
        assert t.decrypt(Mechanism.AES_KEY_WRAP, kek, h(v["Wrapped"])) == h(v["Key"])


def _aes_key_wrap_rfc3394(t: Token, v: dict[str, str]) -> None:
    kek = t.secret(h(v["KEK"]))
    key = t.secret(h(v["Key"]), KeyType.GENERIC_SECRET)
    m = Mech(Mechanism.AES_KEY_WRAP)
    assert t.wrap(m, kek, key) == h(v["Wrapped"])
    back = t.unwrap(m, kek, h(v["Wrapped"]), readable(KEY_TYPE=KeyType.GENERIC_SECRET))
    assert t.get(back, Attribute.VALUE) == h(v["Key"])


def test_aes_key_wrap_kwp_rfc5649(t: Token) -> None:
    t.require(Mechanism.AES_KEY_WRAP_KWP)  # SoftHSMv2 2.6.1 has RFC 5649 only as AES_KEY_WRAP_PAD
    for v in records("aes_kwp_rfc5649.txt"):
        _aes_key_wrap_kwp_rfc5649(t, v)


def _aes_key_wrap_kwp_rfc5649(t: Token, v: dict[str, str]) -> None:
    kek = t.secret(h(v["KEK"]))
    key = t.secret(h(v["Key"]), KeyType.GENERIC_SECRET)
    m = Mech(Mechanism.AES_KEY_WRAP_KWP)
    assert t.wrap(m, kek, key) == h(v["Wrapped"])
    back = t.unwrap(m, kek, h(v["Wrapped"]), readable(KEY_TYPE=KeyType.GENERIC_SECRET))
    assert t.get(back, Attribute.VALUE) == h(v["Key"])


def test_aes_gcm_nist(t: Token) -> None:
    for v in records("aes_gcm_nist.txt"):
        _aes_gcm_nist(t, v)


def _aes_gcm_nist(t: Token, v: dict[str, str]) -> None:
    key = t.secret(h(v["Key"]))
    tag = h(v["Tag"])
    m = gcm(h(v["IV"]), h(v["AAD"]), len(tag) * 8)
    if len(h(v["IV"])) < 8 and not t.softhsm2:
        return  # IV shorter than 64 bits: softhsm-py refuses it (cryptography's GCM minimum)
    assert t.encrypt(m, key, h(v["PT"])) == h(v["CT"]) + tag
    assert t.decrypt(m, key, h(v["CT"]) + tag) == h(v["PT"])


HMAC_MECH = {
    "sha224": Mechanism.SHA224_HMAC,
    "sha256": Mechanism.SHA256_HMAC,
    "sha384": Mechanism.SHA384_HMAC,
    "sha512": Mechanism.SHA512_HMAC,
}


def test_hmac_rfc4231(t: Token) -> None:
    for v in records("hmac_rfc4231.txt"):
        _hmac_rfc4231(t, v)


def _hmac_rfc4231(t: Token, v: dict[str, str]) -> None:
    m = HMAC_MECH[v["Hash"]]
    key_value = h(v["Key"])
    if t.softhsm2 and len(key_value) < int(t.mechanism_info(m).ulMinKeySize):
        return  # SoftHSMv2's minimum HMAC key size is the hash size
    key = t.secret(key_value, KeyType.GENERIC_SECRET)
    mac = h(v["MD"])  # RFC 4231 case 5 is truncated to 128 bits
    full = t.sign(m, key, h(v["Msg"]))
    assert full[: len(mac)] == mac
    if len(mac) == len(full):
        assert t.verify(m, key, h(v["Msg"]), mac) == "OK"


def test_sha3(t: Token) -> None:
    for v in records("sha3_shortmsg.txt"):
        _sha3(t, v)


def _sha3(t: Token, v: dict[str, str]) -> None:
    t.require(HASH_MECH[v["Hash"]])
    assert t.digest(HASH_MECH[v["Hash"]], h(v["Msg"])) == h(v["MD"])


def test_cmac_sp800_38b(t: Token) -> None:
    for v in records("cmac_sp800_38b.txt"):
        _cmac_sp800_38b(t, v)


def _cmac_sp800_38b(t: Token, v: dict[str, str]) -> None:
    t.require(Mechanism.AES_CMAC)
    key = t.secret(h(v["Key"]))
    assert t.sign(Mechanism.AES_CMAC, key, h(v["Msg"])) == h(v["Mac"])
    assert t.verify(Mechanism.AES_CMAC, key, h(v["Msg"]), h(v["Mac"])) == "OK"


def test_ed25519_rfc8032(t: Token) -> None:
    for v in records("ed25519_rfc8032.txt"):
        _ed25519_rfc8032(t, v)


def _ed25519_rfc8032(t: Token, v: dict[str, str]) -> None:
    t.require(Mechanism.EDDSA)
    priv = t.create(
        {
            Attribute.CLASS: ObjectClass.PRIVATE_KEY,
            Attribute.KEY_TYPE: KeyType.EC_EDWARDS,
            Attribute.TOKEN: False,
            Attribute.EC_PARAMS: ED25519_OID,
            Attribute.VALUE: h(v["Secret"]),
            Attribute.SIGN: True,
        }
    )
    pub = t.create(
        {
            Attribute.CLASS: ObjectClass.PUBLIC_KEY,
            Attribute.KEY_TYPE: KeyType.EC_EDWARDS,
            Attribute.TOKEN: False,
            Attribute.EC_PARAMS: ED25519_OID,
            Attribute.EC_POINT: der_octet_string(h(v["Public"])),
            Attribute.VERIFY: True,
        }
    )
    assert t.sign(Mechanism.EDDSA, priv, h(v["Msg"])) == h(v["Signature"])
    assert t.verify(Mechanism.EDDSA, pub, h(v["Msg"]), h(v["Signature"])) == "OK"


def test_x25519_rfc7748(t: Token) -> None:
    for v in records("x25519_rfc7748.txt"):
        _x25519_rfc7748(t, v)


def _x25519_rfc7748(t: Token, v: dict[str, str]) -> None:
    t.require(Mechanism.ECDH1_DERIVE, Mechanism.EC_MONTGOMERY_KEY_PAIR_GEN)
    priv = t.create(
        {
            Attribute.CLASS: ObjectClass.PRIVATE_KEY,
            Attribute.KEY_TYPE: KeyType.EC_MONTGOMERY,
            Attribute.TOKEN: False,
            Attribute.EC_PARAMS: X25519_OID,
            Attribute.VALUE: h(v["Scalar"]),
            Attribute.DERIVE: True,
        }
    )
    shared = t.derive(ecdh(h(v["U"]), KDF.NULL), priv, readable(KEY_TYPE=KeyType.GENERIC_SECRET))
    assert t.get(shared, Attribute.VALUE) == h(v["Out"])


PRF = {"sha1": Mechanism.SHA_1, "sha256": Mechanism.SHA256}


def test_hkdf_rfc5869(t: Token) -> None:
    for v in records("hkdf_rfc5869.txt"):
        _hkdf_rfc5869(t, v)


def _hkdf_rfc5869(t: Token, v: dict[str, str]) -> None:
    t.require(Mechanism.HKDF_DERIVE, Mechanism.HKDF_DATA)
    base = t.secret(h(v["IKM"]), KeyType.GENERIC_SECRET)
    prf, n = PRF[v["Hash"]], int(v["L"])
    okm = t.derive(hkdf(prf=prf, salt=h(v["salt"]), info=h(v["info"])), base,
                   readable(KEY_TYPE=KeyType.GENERIC_SECRET, VALUE_LEN=n))  # fmt: skip
    assert t.get(okm, Attribute.VALUE) == h(v["OKM"])
    extract_only = hkdf(prf=prf, salt=h(v["salt"]), expand=False)
    prk = t.derive(extract_only, base, readable(KEY_TYPE=KeyType.GENERIC_SECRET))
    assert t.get(prk, Attribute.VALUE) == h(v["PRK"])
    # HKDF_DATA: expand-only from the PRK, into a data object.
    prk_key = t.secret(h(v["PRK"]), KeyType.GENERIC_SECRET)
    data = t.derive(
        hkdf(Mechanism.HKDF_DATA, prf=prf, info=h(v["info"]), extract=False),
        prk_key,
        {Attribute.CLASS: ObjectClass.DATA, Attribute.TOKEN: False, Attribute.VALUE_LEN: n},
    )
    assert t.get(data, Attribute.VALUE) == h(v["OKM"])
