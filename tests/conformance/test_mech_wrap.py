"""C_WrapKey / C_UnwrapKey (3.0, 5.14) with AES_KEY_WRAP, AES_KEY_WRAP_KWP, RSA_PKCS_OAEP and
AES_GCM, secret keys and private keys (PKCS#8), checked against pyca/cryptography; the refusals
(CKA_EXTRACTABLE, CKA_WRAP_WITH_TRUSTED, CKA_WRAP_TEMPLATE / CKA_UNWRAP_TEMPLATE) and the
attributes of an unwrapped key (4.7: CKA_LOCAL FALSE, ALWAYS_SENSITIVE / NEVER_EXTRACTABLE FALSE)."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric import padding as rsa_padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import (
    aes_key_unwrap,
    aes_key_unwrap_with_padding,
    aes_key_wrap,
    aes_key_wrap_with_padding,
)

from support.constants import UNAVAILABLE_INFORMATION, Attribute, KeyType, Mechanism, ObjectClass, UserType
from support.keys import P256, ec_key, import_ec, import_rsa, raw_to_der_ecdsa, rsa_key
from support.mechanisms import Mech, digest, gcm, oaep
from support.pkcs11 import SO_PIN, USER_PIN, Module, spec_departure
from support.token import Token

KEY = bytes(range(0x40, 0x60))  # the AES-256 key that gets wrapped


@pytest.fixture
def t(module: Module) -> Token:
    return Token(module)


def aes_template(**extra: Any) -> dict[int, Any]:
    return {
        Attribute.CLASS: ObjectClass.SECRET_KEY,
        Attribute.KEY_TYPE: KeyType.AES,
        Attribute.TOKEN: False,
        Attribute.ENCRYPT: True,
        Attribute.DECRYPT: True,
        **{Attribute[k]: v for k, v in extra.items()},
    }


def ecb(value: bytes, block: bytes = bytes(16)) -> bytes:
    enc = Cipher(algorithms.AES(value), modes.ECB()).encryptor()
    return enc.update(block) + enc.finalize()


def check_unwrapped(t: Token, handle: int) -> None:
    """3.0 4.7 / 4.9: an unwrapped key was not made on the token."""
    assert t.get_bool(handle, Attribute.LOCAL) is False
    assert t.get_bool(handle, Attribute.ALWAYS_SENSITIVE) is False
    assert t.get_bool(handle, Attribute.NEVER_EXTRACTABLE) is False
    assert t.get_ulong(handle, Attribute.KEY_GEN_MECHANISM) == UNAVAILABLE_INFORMATION


# ------------------------------------------------------------------------------- secret keys
def test_aes_key_wrap_secret(t: Token) -> None:
    kek, kek_value = t.aes(16)
    key = t.secret(KEY)
    wrapped = t.wrap(Mech(Mechanism.AES_KEY_WRAP), kek, key)
    assert wrapped == aes_key_wrap(kek_value, KEY)
    back = t.unwrap(Mech(Mechanism.AES_KEY_WRAP), kek, wrapped, aes_template(SENSITIVE=True))
    assert t.encrypt(Mechanism.AES_ECB, back, bytes(16)) == ecb(KEY)
    check_unwrapped(t, back)
    outside = aes_key_wrap(kek_value, bytes(range(16)))
    other = t.unwrap(Mech(Mechanism.AES_KEY_WRAP), kek, outside, aes_template())
    assert t.encrypt(Mechanism.AES_ECB, other, bytes(16)) == ecb(bytes(range(16)))


def test_aes_key_wrap_kwp_secret(t: Token) -> None:
    t.require(Mechanism.AES_KEY_WRAP_KWP)
    kek, kek_value = t.aes(32)
    key = t.secret(b"\x11" * 20, KeyType.GENERIC_SECRET)  # not a multiple of 8: needs the padding
    wrapped = t.wrap(Mech(Mechanism.AES_KEY_WRAP_KWP), kek, key)
    assert aes_key_unwrap_with_padding(kek_value, wrapped) == b"\x11" * 20
    outside = aes_key_wrap_with_padding(kek_value, b"\x22" * 13)
    back = t.unwrap(
        Mech(Mechanism.AES_KEY_WRAP_KWP),
        kek,
        outside,
        {
            Attribute.CLASS: ObjectClass.SECRET_KEY,
            Attribute.KEY_TYPE: KeyType.GENERIC_SECRET,
            Attribute.TOKEN: False,
            Attribute.SENSITIVE: False,
            Attribute.EXTRACTABLE: True,
        },
    )
    assert t.get(back, Attribute.VALUE) == b"\x22" * 13


@pytest.mark.parametrize(
    "h",
    ["sha1", pytest.param("sha256", marks=spec_departure("SoftHSMv2", clause="3.0 2.1.8: OAEP SHA-256"))],
)
def test_rsa_oaep_wrap_secret(t: Token, h: str) -> None:
    key = rsa_key(2048)
    pub, priv = import_rsa(t, key)
    secret = t.secret(KEY)
    pad = rsa_padding.OAEP(mgf=rsa_padding.MGF1(_hash(h)), algorithm=_hash(h), label=None)
    wrapped = t.wrap(oaep(h), pub, secret)
    assert key.decrypt(wrapped, pad) == KEY
    outside = key.public_key().encrypt(KEY, pad)
    back = t.unwrap(oaep(h), priv, outside, aes_template())
    assert t.encrypt(Mechanism.AES_ECB, back, bytes(16)) == ecb(KEY)
    check_unwrapped(t, back)


def _hash(name: str) -> hashes.HashAlgorithm:
    return {"sha1": hashes.SHA1(), "sha256": hashes.SHA256()}[name]


@spec_departure("SoftHSMv2", clause="3.0 2.14.6: CKM_AES_GCM as a wrapping mechanism (MECHANISM_INVALID)")
def test_aes_gcm_wrap_secret(t: Token) -> None:
    kek, kek_value = t.aes(32)
    key = t.secret(KEY)
    iv = b"\x0c" * 12
    wrapped = t.wrap(gcm(iv, b"wrap"), kek, key)
    assert AESGCM(kek_value).decrypt(iv, wrapped, b"wrap") == KEY
    outside = AESGCM(kek_value).encrypt(iv, bytes(range(32)), b"wrap")
    back = t.unwrap(gcm(iv, b"wrap"), kek, outside, aes_template())
    assert t.encrypt(Mechanism.AES_ECB, back, bytes(16)) == ecb(bytes(range(32)))


# ------------------------------------------------------------------------------- private keys
def test_wrap_private_key_pkcs8(t: Token) -> None:
    t.require(Mechanism.AES_KEY_WRAP_KWP)
    kek, kek_value = t.aes(32)
    key = ec_key(P256)
    _, priv = import_ec(t, key, P256)
    wrapped = t.wrap(Mech(Mechanism.AES_KEY_WRAP_KWP), kek, priv)
    der = aes_key_unwrap_with_padding(kek_value, wrapped)
    loaded = serialization.load_der_private_key(der, None)
    assert isinstance(loaded, ec.EllipticCurvePrivateKey)
    assert loaded.private_numbers().private_value == key.private_numbers().private_value


def test_unwrap_private_key_pkcs8(t: Token) -> None:
    t.require(Mechanism.AES_KEY_WRAP_KWP)
    kek, kek_value = t.aes(32)
    key = ec.generate_private_key(ec.SECP256R1())
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())  # fmt: skip
    template = {
        Attribute.CLASS: ObjectClass.PRIVATE_KEY,
        Attribute.KEY_TYPE: KeyType.EC,
        Attribute.TOKEN: False,
        Attribute.SIGN: True,
    }
    priv = t.unwrap(
        Mech(Mechanism.AES_KEY_WRAP_KWP), kek, aes_key_wrap_with_padding(kek_value, der), template
    )
    check_unwrapped(t, priv)
    h = digest("sha256", b"unwrapped")
    sig = t.sign(Mechanism.ECDSA, priv, h)
    from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

    key.public_key().verify(raw_to_der_ecdsa(sig), h, ec.ECDSA(Prehashed(hashes.SHA256())))


# ------------------------------------------------------------------------------- refusals
def test_unextractable_key(t: Token) -> None:
    kek, _ = t.aes(16)
    key = t.secret(KEY, EXTRACTABLE=False)
    assert t.wrap_rv(Mech(Mechanism.AES_KEY_WRAP), kek, key) == "KEY_UNEXTRACTABLE"


def test_wrapping_key_without_wrap(t: Token) -> None:
    kek, _ = t.aes(16, WRAP=False)
    key = t.secret(KEY)
    assert t.wrap_rv(Mech(Mechanism.AES_KEY_WRAP), kek, key) == "KEY_FUNCTION_NOT_PERMITTED"


def test_unwrapping_key_without_unwrap(t: Token) -> None:
    kek, kek_value = t.aes(16, UNWRAP=False)
    rv = t.unwrap_rv(Mech(Mechanism.AES_KEY_WRAP), kek, aes_key_wrap(kek_value, KEY), aes_template())
    assert rv == "KEY_FUNCTION_NOT_PERMITTED"


def test_wrap_with_trusted_under_untrusted_key(t: Token) -> None:
    kek, _ = t.aes(16)
    key = t.secret(KEY, WRAP_WITH_TRUSTED=True)
    assert t.wrap_rv(Mech(Mechanism.AES_KEY_WRAP), kek, key) == "KEY_NOT_WRAPPABLE"


def test_wrap_with_trusted_under_trusted_key(t: Token) -> None:
    """Only the SO may set CKA_TRUSTED (4.4 footnote 10): the SO makes a public wrapping key,
    then the user wraps a CKA_WRAP_WITH_TRUSTED key with it."""
    t.ok("C_Logout")
    t.m.login(t.h, UserType.SO, SO_PIN)
    kek = t.create(aes_template(VALUE=bytes(16), PRIVATE=False, WRAP=True, UNWRAP=True, TRUSTED=True))
    t.ok("C_Logout")
    t.m.login(t.h, UserType.USER, USER_PIN)
    key = t.secret(KEY, WRAP_WITH_TRUSTED=True)
    assert aes_key_unwrap(bytes(16), t.wrap(Mech(Mechanism.AES_KEY_WRAP), kek, key)) == KEY


def test_wrap_template(t: Token) -> None:
    """CKA_WRAP_TEMPLATE (4.8): the wrapping key only wraps keys that match it."""
    kek, _ = t.aes(16, WRAP_TEMPLATE={Attribute.KEY_TYPE: KeyType.AES, Attribute.VALUE_LEN: 32})
    good = t.secret(KEY)  # AES-256
    bad = t.secret(bytes(16))  # AES-128
    assert len(t.wrap(Mech(Mechanism.AES_KEY_WRAP), kek, good)) == 40
    assert t.wrap_rv(Mech(Mechanism.AES_KEY_WRAP), kek, bad) == "KEY_NOT_WRAPPABLE"


UNWRAP_TEMPLATE = {Attribute.ENCRYPT: False, Attribute.EXTRACTABLE: False}


@spec_departure("SoftHSMv2", clause="3.0 4.8 CKA_UNWRAP_TEMPLATE is applied (it wants it repeated)")
def test_unwrap_template_applied(t: Token) -> None:
    """CKA_UNWRAP_TEMPLATE (4.8): "the attribute template to apply to any keys unwrapped using
    this wrapping key": the caller need not repeat it."""
    kek, kek_value = t.aes(16, UNWRAP_TEMPLATE=UNWRAP_TEMPLATE)
    wrapped = aes_key_wrap(kek_value, KEY)
    back = t.unwrap(
        Mech(Mechanism.AES_KEY_WRAP),
        kek,
        wrapped,
        {Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.KEY_TYPE: KeyType.AES, Attribute.TOKEN: False},
    )
    assert t.get_bool(back, Attribute.ENCRYPT) is False
    assert t.get_bool(back, Attribute.EXTRACTABLE) is False


def test_unwrap_template_repeated_and_contradicted(t: Token) -> None:
    kek, kek_value = t.aes(16, UNWRAP_TEMPLATE=UNWRAP_TEMPLATE)
    wrapped = aes_key_wrap(kek_value, KEY)
    same = aes_template(ENCRYPT=False, EXTRACTABLE=False)
    back = t.unwrap(Mech(Mechanism.AES_KEY_WRAP), kek, wrapped, same)
    assert t.get_bool(back, Attribute.ENCRYPT) is False
    rv = t.unwrap_rv(
        Mech(Mechanism.AES_KEY_WRAP), kek, wrapped, aes_template(ENCRYPT=True, EXTRACTABLE=False)
    )
    assert rv == "TEMPLATE_INCONSISTENT"


@spec_departure("SoftHSMv2", clause="3.0 5.14 C_UnwrapKey: CKR_WRAPPED_KEY_INVALID (GENERAL_ERROR)")
def test_unwrap_bad_wrapped_key(t: Token) -> None:
    kek, kek_value = t.aes(16)
    wrapped = bytearray(aes_key_wrap(kek_value, KEY))
    wrapped[3] ^= 1
    rv = t.unwrap_rv(Mech(Mechanism.AES_KEY_WRAP), kek, bytes(wrapped), aes_template())
    assert rv == "WRAPPED_KEY_INVALID"


def test_wrap_ignores_wrapped_keys_allowed_mechanisms(t: Token) -> None:
    """CKA_ALLOWED_MECHANISMS limits what the key itself is used with; being wrapped is an
    operation of the wrapping key (whose own list is what C_WrapKey checks)."""
    kek, kek_value = t.aes(16)
    key = t.secret(KEY, ALLOWED_MECHANISMS=[Mechanism.AES_GCM])
    assert aes_key_unwrap(kek_value, t.wrap(Mech(Mechanism.AES_KEY_WRAP), kek, key)) == KEY


def test_wrapping_key_allowed_mechanisms(t: Token) -> None:
    kek, _ = t.aes(16, ALLOWED_MECHANISMS=[Mechanism.AES_GCM])
    key = t.secret(KEY)
    assert t.wrap_rv(Mech(Mechanism.AES_KEY_WRAP), kek, key) == "MECHANISM_INVALID"
