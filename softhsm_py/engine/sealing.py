"""At-rest crypto primitives for the token store.

Everything the store needs to keep token keys and object attributes unreadable in the database
file: a key generator, a PIN-based key-encryption-key derivation (scrypt), authenticated
encryption (AES-256-GCM), a keyed index MAC (HMAC-SHA256) and subkey derivation (HKDF-SHA256).

Rule: PIN and key bytes never appear in an exception message or a log record. Exceptions raised
here carry fixed texts; ``SealBroken`` says only that a blob failed authentication.
"""

from __future__ import annotations

import os
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.hashes import SHA256
    from cryptography.hazmat.primitives.hmac import HMAC
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

KEY_LEN = 32
NONCE_LEN = 12
TAG_LEN = 16
INDEX_MAC_LEN = 16

#: Bounds for ``derive_kek``'s cost (log2 of scrypt's n); 2**22 * 8 * 128 bytes = 4 GiB of memory.
MIN_COST = 1
MAX_COST = 22

__all__ = [
    "KEY_LEN",
    "SealBroken",
    "derive_kek",
    "index_mac",
    "random_key",
    "seal",
    "subkey",
    "unseal",
]


class _Primitives:
    # A plain class: a NamedTuple costs a millisecond of module start (pkcs11-tool -L imports us).
    __slots__ = ("aesgcm", "hkdf", "hmac", "invalid_tag", "scrypt", "sha256")

    def __init__(
        self,
        aesgcm: type[AESGCM],
        invalid_tag: type[InvalidTag],
        hmac: type[HMAC],
        sha256: type[SHA256],
        hkdf: type[HKDF],
        scrypt: type[Scrypt],
    ) -> None:
        self.aesgcm, self.invalid_tag, self.hmac = aesgcm, invalid_tag, hmac
        self.sha256, self.hkdf, self.scrypt = sha256, hkdf, scrypt


@cache
def _crypto() -> _Primitives:
    # Late import: loading cryptography costs 30-300 ms and opening the store (C_Initialize,
    # pkcs11-tool -L) seals nothing; cached, so a hot seal pays a call, not an import statement.
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.hashes import SHA256
    from cryptography.hazmat.primitives.hmac import HMAC
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    return _Primitives(AESGCM, InvalidTag, HMAC, SHA256, HKDF, Scrypt)


class SealBroken(Exception):
    """A sealed blob failed authentication: wrong key, wrong AAD, or altered bytes."""

    def __init__(self, message: str = "sealed blob failed authentication") -> None:
        super().__init__(message)


def _check_key(key: bytes) -> None:
    if not isinstance(key, (bytes, bytearray)) or len(key) != KEY_LEN:
        # Never echo the key itself: only its length.
        length = len(key) if isinstance(key, (bytes, bytearray)) else None
        raise ValueError(f"key must be {KEY_LEN} bytes (got length {length})")


def random_key() -> bytes:
    """A fresh 32-byte key from the OS CSPRNG."""
    return os.urandom(KEY_LEN)


def derive_kek(pin: bytes, salt: bytes, cost: int) -> bytes:
    """Derive a 32-byte key-encryption key from a PIN with scrypt (n=2**cost, r=8, p=1)."""
    if not isinstance(cost, int) or not MIN_COST <= cost <= MAX_COST:
        raise ValueError(f"scrypt cost must be an int in [{MIN_COST}, {MAX_COST}]")
    if len(salt) < 16:
        raise ValueError("scrypt salt must be at least 16 bytes")
    kdf = _crypto().scrypt(salt=bytes(salt), length=KEY_LEN, n=2**cost, r=8, p=1)
    return kdf.derive(bytes(pin))


def seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """AES-256-GCM encrypt; returns nonce (12 bytes) || ciphertext || tag (16 bytes)."""
    _check_key(key)
    nonce = os.urandom(NONCE_LEN)
    return nonce + _crypto().aesgcm(bytes(key)).encrypt(nonce, bytes(plaintext), bytes(aad))


def unseal(key: bytes, blob: bytes, aad: bytes) -> bytes:
    """Reverse ``seal``; raises ``SealBroken`` if the blob, key or AAD do not match."""
    _check_key(key)
    if len(blob) < NONCE_LEN + TAG_LEN:
        raise SealBroken("sealed blob is truncated")
    nonce, body = bytes(blob[:NONCE_LEN]), bytes(blob[NONCE_LEN:])
    crypto = _crypto()
    try:
        return crypto.aesgcm(bytes(key)).decrypt(nonce, body, bytes(aad))
    except crypto.invalid_tag:
        raise SealBroken() from None


def index_mac(key: bytes, value: bytes) -> bytes:
    """HMAC-SHA256 of ``value`` under ``key``, truncated to 16 bytes (searchable, not readable)."""
    _check_key(key)
    crypto = _crypto()
    mac = crypto.hmac(bytes(key), crypto.sha256())
    mac.update(bytes(value))
    return mac.finalize()[:INDEX_MAC_LEN]


def subkey(key: bytes, purpose: bytes) -> bytes:
    """A 32-byte key for one ``purpose`` derived from ``key`` with HKDF-SHA256 (no salt)."""
    _check_key(key)
    crypto = _crypto()
    hkdf = crypto.hkdf(algorithm=crypto.sha256(), length=KEY_LEN, salt=None, info=bytes(purpose))
    return hkdf.derive(bytes(key))
