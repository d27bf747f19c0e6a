"""In-process calls to softhsm_py.mechanisms.registry for the unit tests: ``Key``, a key view (its
attributes and the mechanism layer's cache), key pairs generated once per size by our own layer,
and one-call sign/verify/encrypt/decrypt that check the announced output lengths. Unlike the rest
of this package, it speaks to the package under test directly, in its own constants."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from softhsm_py.constants import Attribute, KeyType, Mechanism, ObjectClass
from softhsm_py.mechanisms import registry

A = Attribute


@dataclass
class Key:
    attrs: dict[int, Any]
    cache: dict[str, Any] = field(default_factory=dict)


def secret(key_type: int, value: bytes) -> Key:
    return Key({A.CLASS: ObjectClass.SECRET_KEY, A.KEY_TYPE: key_type, A.VALUE: value})


def aes(value: bytes) -> Key:
    return secret(KeyType.AES, value)


def pair(mech: int, pub_t: dict[int, Any]) -> tuple[Key, Key]:
    pub, priv = registry.lookup(mech).generate_key_pair(mech, None, pub_t, {})
    pub_attrs = {**pub_t, **pub, A.CLASS: ObjectClass.PUBLIC_KEY}
    return Key(pub_attrs), Key({**priv, A.CLASS: ObjectClass.PRIVATE_KEY})


@functools.cache
def _rsa_material(bits: int) -> tuple[tuple[int, Any], ...]:
    pub, priv = pair(Mechanism.RSA_PKCS_KEY_PAIR_GEN, {A.MODULUS_BITS: bits})
    return tuple(pub.attrs.items()), tuple(priv.attrs.items())


def rsa_pair(bits: int = 2048) -> tuple[Key, Key]:
    """A fresh view (empty cache) of one key pair generated once per size by our layer."""
    pub, priv = _rsa_material(bits)
    return Key(dict(pub)), Key(dict(priv))


def rsa_crypto(priv: Key) -> rsa.RSAPrivateKey:
    """The same key rebuilt by cryptography from our attributes: the independent side."""
    a = priv.attrs

    def i(t: int) -> int:
        return int.from_bytes(a[t], "big")

    pub = rsa.RSAPublicNumbers(i(A.PUBLIC_EXPONENT), i(A.MODULUS))
    return rsa.RSAPrivateNumbers(
        i(A.PRIME_1),
        i(A.PRIME_2),
        i(A.PRIVATE_EXPONENT),
        i(A.EXPONENT_1),
        i(A.EXPONENT_2),
        i(A.COEFFICIENT),
        pub,
    ).private_key()


def sign(mech: int, param: Any, key: Key, data: bytes) -> bytes:
    ctx = registry.lookup(mech).sign_init(mech, param, key)
    out = ctx.sign(data)
    assert len(out) == ctx.output_bound(len(data), True)
    return out


def verify(mech: int, param: Any, key: Key, data: bytes, signature: bytes) -> None:
    registry.lookup(mech).verify_init(mech, param, key).verify(data, signature)


def encrypt(mech: int, param: Any, key: Key, data: bytes) -> bytes:
    ctx = registry.lookup(mech).encrypt_init(mech, param, key)
    bound = ctx.output_bound(len(data), True)
    out = ctx.oneshot(data)
    assert len(out) <= bound
    return out


def decrypt(mech: int, param: Any, key: Key, data: bytes) -> bytes:
    ctx = registry.lookup(mech).decrypt_init(mech, param, key)
    bound = ctx.output_bound(len(data), True)
    out = ctx.oneshot(data)
    assert len(out) <= bound
    return out
