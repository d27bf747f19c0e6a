"""DSA (FIPS 186): domain parameters, key pairs, signatures over a digest, and the PKCS#8 /
SubjectPublicKeyInfo forms of its keys.

Keys travel as plain integers: domain parameters (p, q, g), the private value x, the public value
y. Signatures are r || s, each half as long as q (PKCS#11 3.0, 2.2). cryptography takes p of 1024,
2048, 3072 or 4096 bits and q of 160, 224 or 256 bits, which is FIPS 186-4's set.

cryptography marks DSA deprecated and warns whenever it reads a DSA key or class: that warning
is silenced once for the process (``errmap.quiet_legacy_warnings``), so a host never sees it.
"""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    Prehashed,
    decode_dss_signature,
    encode_dss_signature,
)

from softhsm_py import errors
from softhsm_py.engine.errmap import mapped, quiet_legacy_warnings

quiet_legacy_warnings()
_ParameterNumbers = dsa.DSAParameterNumbers
_PublicNumbers = dsa.DSAPublicNumbers
_PrivateNumbers = dsa.DSAPrivateNumbers
_generate_parameters = dsa.generate_parameters
PrivateKey = dsa.DSAPrivateKey
PublicKey = dsa.DSAPublicKey

PRIME_BITS = (1024, 2048, 3072, 4096)
Domain = tuple[int, int, int]  # p, q, g

# CKM_DSA signs a digest the caller made: its length names the hash OpenSSL is told about
# (only the length matters to DSA, which uses the leftmost bits of the digest up to |q|).
_PREHASH: dict[int, hashes.HashAlgorithm] = {
    20: hashes.SHA1(),
    28: hashes.SHA224(),
    32: hashes.SHA256(),
    48: hashes.SHA384(),
    64: hashes.SHA512(),
}
DIGEST_LENGTHS = frozenset(_PREHASH)


def size(n: int) -> int:
    return (n.bit_length() + 7) // 8


def parameters(domain: Domain, error: type[errors.PKCS11Error] = errors.DomainParamsInvalid) -> Any:
    """cryptography's parameters of (p, q, g); ``error`` when they are no FIPS 186 DSA domain."""
    p, q, g = domain
    if not (1 < g < p and (p - 1) % q == 0 and pow(g, q, p) == 1):
        raise error()
    with mapped(error):
        return _ParameterNumbers(p, q, g).parameters()


def generate_parameters(prime_bits: int) -> Domain:
    if prime_bits not in PRIME_BITS:
        raise errors.KeySizeRange()
    numbers = _generate_parameters(prime_bits).parameter_numbers()
    return numbers.p, numbers.q, numbers.g


def generate(domain: Domain) -> tuple[int, int, bytes]:
    """(x, y, SubjectPublicKeyInfo) of a new key pair on ``domain``."""
    key = parameters(domain).generate_private_key()
    numbers = key.private_numbers()
    return numbers.x, numbers.public_numbers.y, spki(key.public_key())


def load_public(domain: Domain, y: int, error: type[errors.PKCS11Error] = errors.GeneralError) -> Any:
    p, q, g = domain
    parameters(domain, error)
    if not 1 < y < p or pow(y, q, p) != 1:
        raise error()  # not an element of the order-q subgroup
    with mapped(error):
        return _PublicNumbers(y, _ParameterNumbers(p, q, g)).public_key()


def load_private(domain: Domain, x: int, error: type[errors.PKCS11Error] = errors.GeneralError) -> Any:
    p, q, g = domain
    parameters(domain, error)
    if not 0 < x < q:
        raise error()
    y = pow(g, x, p)
    with mapped(error):
        return _PrivateNumbers(x, _PublicNumbers(y, _ParameterNumbers(p, q, g))).private_key()


def spki(public: Any) -> bytes:
    return bytes(
        public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def sign(key: Any, digest: bytes) -> bytes:
    algorithm = _PREHASH.get(len(digest))
    if algorithm is None:
        raise errors.DataLenRange()
    n = size(key.parameters().parameter_numbers().q)
    r, s = decode_dss_signature(key.sign(bytes(digest), Prehashed(algorithm)))
    return r.to_bytes(n, "big") + s.to_bytes(n, "big")


def signature_len(key: Any) -> int:
    return 2 * size(key.parameters().parameter_numbers().q)


def verify(key: Any, digest: bytes, signature: bytes) -> None:
    algorithm = _PREHASH.get(len(digest))
    if algorithm is None:
        raise errors.DataLenRange()
    half = len(signature) // 2
    r, s = int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big")
    with mapped(errors.SignatureInvalid):
        key.verify(encode_dss_signature(r, s), bytes(digest), Prehashed(algorithm))


# --- PKCS#8 and SubjectPublicKeyInfo ------------------------------------------------------------


def pkcs8_encode(domain: Domain, x: int) -> bytes:
    key = load_private(domain, x)
    return bytes(
        key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )


def numbers_of_private(key: Any) -> tuple[Domain, int]:
    """(domain, x) of a cryptography key; KeyTypeInconsistent when it is no DSA key."""
    if not isinstance(key, PrivateKey):
        raise errors.KeyTypeInconsistent()
    n = key.private_numbers()
    pn = n.public_numbers.parameter_numbers
    return (pn.p, pn.q, pn.g), n.x


def numbers_of_public(key: Any) -> tuple[Domain, int]:
    if not isinstance(key, PublicKey):
        raise errors.KeyTypeInconsistent()
    n = key.public_numbers()
    pn = n.parameter_numbers
    return (pn.p, pn.q, pn.g), n.y
