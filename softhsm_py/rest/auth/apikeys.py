"""API keys: made by ``softhsm-py api-key``, kept in the configuration only as SHA-256 hashes,
compared in constant time.

A key is 32 random bytes (base64url, 43 characters), so one SHA-256 is as strong as a slow hash
here: nothing short enough to guess is ever hashed (``hash_key`` refuses keys under
``MIN_LENGTH`` characters). A presented key is hashed once and compared with every configured hash
(no early exit), so the time taken does not depend on which hash, if any, matched.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from softhsm_py.rest.auth.roles import Role

HASH_PREFIX = "sha256:"
HASH_PATTERN = re.compile(r"sha256:[0-9a-f]{64}")
MIN_LENGTH = 20  # characters of a key given to hash_key (new keys have 43)
MAX_LENGTH = 512  # a longer header is refused before hashing


def new_key() -> str:
    return secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """``sha256:<hex>`` of a key; ValueError for a key too short to stand guessing."""
    if len(key) < MIN_LENGTH:
        raise ValueError(f"an API key needs at least {MIN_LENGTH} characters")
    if len(key) > MAX_LENGTH or not (key.isascii() and key.isprintable()) or key != key.strip():
        # what an HTTP header carries as it is: printable ASCII
        raise ValueError(
            f"an API key is at most {MAX_LENGTH} printable ASCII characters, no surrounding spaces"
        )
    return HASH_PREFIX + hashlib.sha256(key.encode()).hexdigest()


def default_id(key_hash: str) -> str:
    """The id a key goes by in the audit log when the configuration gives none: a prefix of its
    hash (the hash of a random key tells nothing about the key)."""
    return "key-" + key_hash.removeprefix(HASH_PREFIX)[:12]


@dataclass(frozen=True)
class ApiKey:
    """One configured key: its hash, the roles it was listed under, the partition it is bound to
    (None: whichever partition the token or certificate names) and its audit id."""

    hash: str
    roles: frozenset[Role]
    id: str
    partition: str | None = None


class ApiKeys:
    """The configured keys, matched in constant time."""

    def __init__(self, keys: Sequence[ApiKey]) -> None:
        self.keys = tuple(keys)
        self._digests = [bytes.fromhex(k.hash.removeprefix(HASH_PREFIX)) for k in self.keys]

    def match(self, presented: str) -> ApiKey | None:
        """The configured key equal to ``presented`` (its entries merged), or None."""
        if not presented or len(presented) > MAX_LENGTH:
            return None
        digest = hashlib.sha256(presented.encode("latin-1", "replace")).digest()  # the header's bytes
        found: list[ApiKey] = []
        for key, expected in zip(self.keys, self._digests, strict=True):
            if hmac.compare_digest(digest, expected):  # every hash is compared, matched or not
                found.append(key)
        if not found:
            return None
        roles = frozenset().union(*(k.roles for k in found))
        return ApiKey(found[0].hash, roles, found[0].id, found[0].partition)
