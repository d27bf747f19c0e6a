"""Digests, HMAC and the hash-based KDFs (HKDF RFC 5869, ANSI X9.63, PBKDF2 RFC 8018) by hash name.

Names are those of ``hash_table`` (cryptography's names); the mechanism layer maps CKM_/CKG_/CKD_
values to them through the same table.
"""

from __future__ import annotations

import hashlib
import hmac as _hmac
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from cryptography.hazmat.primitives.kdf.x963kdf import X963KDF

from softhsm_py import errors
from softhsm_py.engine.errmap import mapped
from softhsm_py.engine.hash_table import HASHES

# One row per hash in ``hash_table``; its ``engine`` column names the cryptography class.
_ALGORITHMS: dict[str, type[hashes.HashAlgorithm]] = {h.name: getattr(hashes, h.engine) for h in HASHES}
NAMES = frozenset(_ALGORITHMS)
# One instance of each: a HashAlgorithm holds no state, and Hash() only reads it.
_INSTANCES: dict[str, hashes.HashAlgorithm] = {name: cls() for name, cls in _ALGORITHMS.items()}
_Hash = hashes.Hash


class _CryptographyHash:
    """cryptography's hash context with hashlib's interface (for the names hashlib lacks)."""

    __slots__ = ("_ctx", "digest_size")

    def __init__(self, algorithm: hashes.HashAlgorithm, ctx: hashes.Hash | None = None) -> None:
        self._ctx = ctx if ctx is not None else _Hash(algorithm)
        self.digest_size = algorithm.digest_size

    def update(self, data: bytes) -> None:
        self._ctx.update(data)

    def digest(self) -> bytes:
        return self._ctx.finalize()

    def copy(self) -> _CryptographyHash:
        return _CryptographyHash(self._ctx.algorithm, self._ctx.copy())


# Plain digests run on hashlib (OpenSSL's, like cryptography's): its hash objects cost a third of
# cryptography's Hash to set up and finish, which is most of the cost of hashing a short message,
# and hashlib releases the GIL while it hashes large inputs.
# hashlib spells the table's names with "_" for "-" (sha3_256); it lacks SHA-512/t.
_HASHLIB: dict[str, Callable[[], Any]] = {
    h.name: getattr(hashlib, h.name.replace("-", "_"))
    for h in HASHES
    if hasattr(hashlib, h.name.replace("-", "_"))
}


def new_context(name: str) -> Callable[[], Any]:
    """A constructor of fresh hash contexts for ``name`` (hashlib's interface: update, digest,
    copy, digest_size): C_DigestInit's one lookup."""
    maker = _HASHLIB.get(name)
    if maker is not None:
        return maker
    algorithm = instance(name)
    return lambda: _CryptographyHash(algorithm)


def instance(name: str) -> hashes.HashAlgorithm:
    """The shared (stateless) algorithm object of ``name``, for ``Hash(instance(name))``."""
    try:
        return _INSTANCES[name]
    except KeyError:
        raise errors.MechanismInvalid() from None


def algorithm(name: str) -> hashes.HashAlgorithm:
    try:
        return _ALGORITHMS[name]()
    except KeyError:
        raise errors.MechanismInvalid() from None


def digest_size(name: str) -> int:
    return algorithm(name).digest_size


class Digest:
    """Incremental hash; ``copy`` lets a size query peek without ending the operation."""

    __slots__ = ("_ctx", "name")

    def __init__(self, name: str, _ctx: Any = None) -> None:
        self.name = name
        self._ctx = _ctx if _ctx is not None else new_context(name)()

    @property
    def size(self) -> int:
        return int(self._ctx.digest_size)

    def update(self, data: bytes) -> None:
        self._ctx.update(data)

    def finalize(self) -> bytes:
        return bytes(self._ctx.digest())

    def digest(self, data: bytes) -> bytes:
        """update + finalize."""
        ctx = self._ctx
        ctx.update(data)
        return bytes(ctx.digest())

    def copy(self) -> Digest:
        return Digest(self.name, self._ctx.copy())


def digest(name: str, data: bytes) -> bytes:
    return Digest(name).digest(data)


class Hmac:
    def __init__(self, name: str, key: bytes) -> None:
        self.size = digest_size(name)
        self._ctx = hmac.HMAC(key, algorithm(name))

    def update(self, data: bytes) -> None:
        self._ctx.update(data)

    def finalize(self) -> bytes:
        return self._ctx.finalize()


def hmac_digest(name: str, key: bytes, data: bytes) -> bytes:
    ctx = Hmac(name, key)
    ctx.update(data)
    return ctx.finalize()


def equal(a: bytes, b: bytes) -> bool:
    """Constant-time comparison for MAC and padding checks."""
    return _hmac.compare_digest(a, b)


def hkdf_extract(name: str, salt: bytes | None, ikm: bytes) -> bytes:
    """PRK = HMAC-Hash(salt, IKM); a missing salt is HashLen zero bytes (RFC 5869 2.2)."""
    if not salt:
        salt = b"\x00" * digest_size(name)
    return hmac_digest(name, salt, ikm)


def hkdf_expand(name: str, prk: bytes, info: bytes, length: int) -> bytes:
    """OKM of ``length`` bytes; more than 255 * HashLen is a range error for the caller."""
    with mapped(errors.KeySizeRange):
        return HKDFExpand(algorithm(name), length, info).derive(prk)


def x963_kdf(name: str, secret: bytes, shared_info: bytes, length: int) -> bytes:
    """ANSI X9.63 KDF, which is what PKCS#11 calls CKD_SHA*_KDF."""
    with mapped(errors.KeySizeRange):
        return X963KDF(algorithm(name), length, shared_info or None).derive(secret)


def pbkdf2(name: str, password: bytes, salt: bytes, iterations: int, length: int) -> bytes:
    """PBKDF2 with HMAC over ``name`` (RFC 8018, 5.2), what PKCS#11 calls CKM_PKCS5_PBKD2."""
    with mapped(errors.KeySizeRange):
        return PBKDF2HMAC(algorithm(name), length, bytes(salt), iterations).derive(bytes(password))
