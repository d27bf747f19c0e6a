"""The persistent token store: the contract the secrecy layer (``store/sealed.py``) implements over
every row backend (``store/rows.py``; SQLite is the default).

A store holds the tokens (partitions) of one token directory and their token objects. It
persists attribute values as opaque ``dict[int, bytes]`` (the codec's encoding) and knows nothing
of their meaning; it only sees the few index fields a find can filter on (``ObjectIndex``).

Secrecy at rest. Each token has a random token key, stored only wrapped under keys derived from
the SO PIN and the user PIN. Private objects are sealed under subkeys of the token key; their
label and ID are kept only as keyed MACs. Public objects are sealed under a per-token "public
object key" kept in the token row: PKCS#11 lets anyone use public objects without logging in, so
that key cannot be a secret; it only keeps the bytes of public objects out of plain sight.

Errors. Methods raise ``softhsm_py.errors`` exceptions where the condition is one a caller can
meet in normal use (wrong PIN, missing object, token gone, storage failure -> ``DeviceError``);
``SlotTaken`` and ``TokenKeyStale`` are store-specific.

Threads and processes. A store is safe to share between the threads of one process and between
processes that open the same directory; it must not be used across ``fork``: the child makes its
own store (which first closes the child's copies of inherited connections; ``close()`` on an
inherited store does the same and never waits for a lock a thread of the parent held).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

from softhsm_py import errors
from softhsm_py.constants import UserType

__all__ = [
    "ObjectIndex",
    "Record",
    "RecordExists",
    "SlotTaken",
    "Store",
    "StoredObject",
    "TokenKeyStale",
    "TokenRecord",
]


class SlotTaken(Exception):
    """``create_token`` on a slot that already shows a token."""


class RecordExists(Exception):
    """``add_record`` with an id or lookup the token's records of that kind hold already."""


class TokenKeyStale(errors.UserNotLoggedIn):
    """The token key a caller holds is not this token's key (another process re-initialised
    the token since this login). The login is void: CKR_USER_NOT_LOGGED_IN."""


# The records below are plain slotted classes, not dataclasses: this module is imported at every
# module start, and importing ``dataclasses`` alone costs ~5 ms. Treat them as read-only values.


class TokenRecord:
    __slots__ = (
        "generation",
        "label",
        "serial",
        "slot_id",
        "so_failures",
        "user_failures",
        "user_pin_initialized",
    )

    def __init__(
        self,
        slot_id: int,  # small, stable; the slot that shows this token
        serial: str,  # 16 printable chars, random hex, unique
        label: str,  # <= 32 bytes UTF-8
        user_pin_initialized: bool,
        so_failures: int,  # consecutive wrong SO PINs since the last right one
        user_failures: int,
        generation: int,  # bumped by EVERY write touching the token (objects, PINs, counters)
    ) -> None:
        self.slot_id = slot_id
        self.serial = serial
        self.label = label
        self.user_pin_initialized = user_pin_initialized
        self.so_failures = so_failures
        self.user_failures = user_failures
        self.generation = generation

    def _key(self) -> tuple[object, ...]:
        return (
            self.slot_id,
            self.serial,
            self.label,
            self.user_pin_initialized,
            self.so_failures,
            self.user_failures,
            self.generation,
        )

    def __eq__(self, other: object) -> bool:
        if type(other) is not TokenRecord:
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())


class ObjectIndex:
    """What finds can filter on in SQL without decrypting."""

    __slots__ = ("id", "key_type", "label", "object_class", "private")

    def __init__(
        self,
        private: bool,
        object_class: int,
        key_type: int | None = None,
        label: bytes | None = None,
        id: bytes | None = None,
    ) -> None:
        self.private = private
        self.object_class = object_class
        self.key_type = key_type
        self.label = label
        self.id = id


class StoredObject:
    """Equal when oid, privacy and encoded attributes are; unhashable (``attrs`` is mutable)."""

    __slots__ = ("attrs", "oid", "private", "stamp")

    def __init__(
        self, oid: int, private: bool, attrs: dict[int, bytes] | None = None, stamp: object = None
    ) -> None:
        self.oid = oid  # store-wide unique, never reused
        self.private = private
        self.attrs = {} if attrs is None else attrs  # type -> encoded value, opaque here
        # The stored row as it was read: equal stamps, same object version (``Store.reload``).
        self.stamp = stamp

    def __eq__(self, other: object) -> bool:
        if type(other) is not StoredObject:
            return NotImplemented
        return (self.oid, self.private, self.attrs) == (other.oid, other.private, other.attrs)


class Record:
    """One of the core's records (a multi-authorization request with its tasks, an onboarded
    approver): ``body`` is sealed under the token key; ``lookup`` is kept only as a keyed MAC
    (finding by it works, reading it back does not: ``lookup`` of a loaded record is b"");
    ``status`` and ``created`` stay readable for cleanups, bound to the body."""

    __slots__ = ("body", "created", "id", "kind", "lookup", "status")

    def __init__(self, kind: str, id: str, lookup: bytes, status: str, created: int, body: bytes) -> None:
        self.kind, self.id, self.lookup = kind, id, lookup
        self.status, self.created, self.body = status, created, body

    def __repr__(self) -> str:
        return f"Record({self.kind}, {self.id}, {self.status})"


@runtime_checkable
class Store(Protocol):
    def close(self) -> None: ...

    @property
    def read_only(self) -> bool:
        """Every write raises TokenWriteProtected; PIN tries are counted per process."""
        ...

    # -- tokens ------------------------------------------------------------------------------
    def tokens(self) -> list[TokenRecord]:
        """All tokens, ordered by slot_id. Called on every C_OpenSession and slot lookup."""
        ...

    def token(self, slot_id: int) -> TokenRecord | None: ...

    def create_token(self, slot_id: int, label: str, so_pin: bytes) -> TokenRecord:
        """A new token with a fresh token key wrapped under ``so_pin``; ``SlotTaken`` if taken."""
        ...

    def reinit_token(self, slot_id: int, label: str, so_pin: bytes) -> TokenRecord:
        """Caller has verified the SO PIN. New token key and public key, same serial, objects
        wiped, user PIN un-initialised, counters reset: one transaction."""
        ...

    def delete_token(self, slot_id: int) -> None: ...

    def generation(self, slot_id: int) -> int:
        """The token's generation (0 if there is no token on that slot). Called on every use of
        a token object, so it should be cheap when nothing changed (SQLite: one PRAGMA
        data_version). A caller that wrote to the token must not take this as the generation
        of its write: another process may have committed since."""
        ...

    # -- PINs --------------------------------------------------------------------------------
    def verify_pin(self, slot_id: int, user: UserType, pin: bytes, lockout: int) -> bytes:
        """Return the token key if ``pin`` is right for ``user``.

        ``PinLocked`` when failures >= lockout (before trying), ``UserPinNotInitialized`` for a
        USER without PIN, ``PinIncorrect`` after counting a wrong PIN (``PinLocked`` if that try
        reached the lockout). A right PIN resets that user's counter.
        """
        ...

    def init_user_pin(self, slot_id: int, token_key: bytes, pin: bytes) -> None: ...

    def change_pin(self, slot_id: int, user: UserType, token_key: bytes, new_pin: bytes) -> None: ...

    # -- objects -----------------------------------------------------------------------------
    def find(
        self,
        slot_id: int,
        *,
        token_key: bytes | None,
        object_class: int | None = None,
        key_type: int | None = None,
        label: bytes | None = None,
        id: bytes | None = None,
    ) -> list[int]:
        """Oids in insertion order; private objects only when ``token_key`` is given."""
        ...

    def load(self, slot_id: int, oid: int, token_key: bytes | None) -> StoredObject: ...

    def reload(self, slot_id: int, oid: int, token_key: bytes | None, stamp: object) -> StoredObject | None:
        """``load``, or None when the object is still as it was when ``stamp`` (a
        ``StoredObject.stamp``) was read: a write to the object, by any process, changes it. The
        access checks of ``load`` run either way (ObjectHandleInvalid, TokenKeyStale)."""
        ...

    def insert(
        self, slot_id: int, index: ObjectIndex, attrs: dict[int, bytes], token_key: bytes | None
    ) -> int: ...

    def insert_many(
        self,
        slot_id: int,
        objects: list[tuple[ObjectIndex, dict[int, bytes]]],
        token_key: bytes | None,
    ) -> list[int]:
        """Several new objects in ONE transaction (a generated key pair): all stored or none.
        Their oids, in the order given."""
        ...

    def update(
        self,
        slot_id: int,
        oid: int,
        index: ObjectIndex,
        attrs: dict[int, bytes],
        token_key: bytes | None,
    ) -> None: ...

    def delete(self, slot_id: int, oid: int) -> None: ...

    # -- records (core.ska) -----------------------------------------------------------------
    def add_record(self, slot_id: int, token_key: bytes, record: Record) -> None:
        """Store a new record; ``RecordExists`` if its id or lookup is taken."""
        ...

    def record(
        self, slot_id: int, token_key: bytes, kind: str, *, id: str | None = None, lookup: bytes | None = None
    ) -> Record | None: ...

    def records(
        self, slot_id: int, token_key: bytes, kind: str, statuses: list[str] | None = None
    ) -> list[Record]:
        """Oldest first."""
        ...

    def change_record(
        self, slot_id: int, token_key: bytes, kind: str, id: str, change: Callable[[Record], Record | None]
    ) -> Record | None:
        """Read, ``change`` and write back the record in ONE write transaction (``change`` runs
        inside it: keep it quick); it returns the new record, or None to leave it. The record as
        it is afterwards; None if there is none."""
        ...

    def delete_record(self, slot_id: int, token_key: bytes, kind: str, id: str) -> bool: ...

    def purge_records(self, slot_id: int, kind: str, statuses: list[str], before: int) -> int: ...

    def take_lease(self, name: str, holder: str, seconds: int) -> bool:
        """Hold the store-wide lease ``name`` for ``seconds`` unless another holder has it."""
        ...
