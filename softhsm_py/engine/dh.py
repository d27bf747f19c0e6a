"""PKCS #3 Diffie-Hellman over a prime field: key pairs on (p, g), the shared secret, and the
PKCS#8 / SubjectPublicKeyInfo forms of the keys (PKCS#3 dhKeyAgreement parameters, no q).

Values are plain integers: the prime p, the base g, the private value x, the public value y.
The shared secret is the octet string of p's length (PKCS #3, 8.2), leading zeros kept.

cryptography marks finite-field DH deprecated and warns whenever it reads a DH key or class: that
warning is silenced once for the process (``errmap.quiet_legacy_warnings``).
"""

from __future__ import annotations

import secrets
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dh

from softhsm_py import errors
from softhsm_py.engine.errmap import mapped, quiet_legacy_warnings

quiet_legacy_warnings()
_ParameterNumbers = dh.DHParameterNumbers
_PublicNumbers = dh.DHPublicNumbers
_PrivateNumbers = dh.DHPrivateNumbers
PrivateKey = dh.DHPrivateKey
PublicKey = dh.DHPublicKey

MIN_PRIME_BITS, MAX_PRIME_BITS = 512, 10000  # cryptography's floor, OpenSSL's ceiling
Domain = tuple[int, int]  # p, g


def size(n: int) -> int:
    return (n.bit_length() + 7) // 8


def parameters(domain: Domain, error: type[errors.PKCS11Error] = errors.DomainParamsInvalid) -> Any:
    p, g = domain
    if not MIN_PRIME_BITS <= p.bit_length() <= MAX_PRIME_BITS or p % 2 == 0 or not 1 < g < p - 1:
        raise error()
    with mapped(error):
        return _ParameterNumbers(p, g).parameters()


def _key(domain: Domain, x: int, y: int, error: type[errors.PKCS11Error]) -> Any:
    p, g = domain
    with mapped(error):
        return _PrivateNumbers(x, _PublicNumbers(y, _ParameterNumbers(p, g))).private_key()


def generate(domain: Domain, value_bits: int | None) -> tuple[int, int, bytes]:
    """(x, y, SubjectPublicKeyInfo) of a new key pair; ``value_bits``: the length of x
    (CKA_VALUE_BITS of the private template), else OpenSSL's choice for p."""
    params = parameters(domain)
    p, g = domain
    if value_bits is None:
        key = params.generate_private_key()
    else:
        if not 2 <= value_bits < p.bit_length():
            raise errors.TemplateInconsistent()
        x = secrets.randbits(value_bits - 1) | (1 << (value_bits - 1))
        key = _key(domain, x, pow(g, x, p), errors.GeneralError)
    numbers = key.private_numbers()
    return numbers.x, numbers.public_numbers.y, spki(key.public_key())


def load_private(domain: Domain, x: int, error: type[errors.PKCS11Error] = errors.GeneralError) -> Any:
    parameters(domain, error)
    p, g = domain
    if not 1 < x < p - 1:
        raise error()
    return _key(domain, x, pow(g, x, p), error)


def load_public(domain: Domain, y: int, error: type[errors.PKCS11Error] = errors.GeneralError) -> Any:
    parameters(domain, error)
    p, g = domain
    if not 1 < y < p - 1:
        raise error()
    with mapped(error):
        return _PublicNumbers(y, _ParameterNumbers(p, g)).public_key()


def derive(key: Any, peer: bytes) -> bytes:
    """The shared secret with the other party's public value ``peer`` (a big-endian integer),
    as many bytes as p: PublicKeyInvalid for a value outside 1 < y < p - 1."""
    pn = key.parameters().parameter_numbers()
    domain = (pn.p, pn.g)
    other = load_public(domain, int.from_bytes(bytes(peer), "big"), errors.PublicKeyInvalid)
    with mapped(errors.PublicKeyInvalid):
        z = key.exchange(other)
    return bytes(z).rjust(size(pn.p), b"\0")


def spki(public: Any) -> bytes:
    return bytes(
        public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def pkcs8_encode(domain: Domain, x: int) -> bytes:
    key = load_private(domain, x)
    return bytes(
        key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )


def numbers_of_private(key: Any) -> tuple[Domain, int]:
    """(domain, x) of a cryptography key; KeyTypeInconsistent when it is no PKCS #3 DH key."""
    if not isinstance(key, PrivateKey):
        raise errors.KeyTypeInconsistent()
    n = key.private_numbers()
    pn = n.public_numbers.parameter_numbers
    if pn.q is not None:
        raise errors.KeyTypeInconsistent()  # X9.42 DH (CKK_X9_42_DH), which we do not offer
    return (pn.p, pn.g), n.x


def numbers_of_public(key: Any) -> tuple[Domain, int]:
    if not isinstance(key, PublicKey):
        raise errors.KeyTypeInconsistent()
    n = key.public_numbers()
    pn = n.parameter_numbers
    if pn.q is not None:
        raise errors.KeyTypeInconsistent()
    return (pn.p, pn.g), n.y
