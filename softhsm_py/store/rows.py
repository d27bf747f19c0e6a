"""The row store: what a database backend implements (SQLite, PostgreSQL), and nothing secret.

A backend keeps rows of tokens and objects exactly as the secrecy layer (``store/sealed.py``)
hands them over: wraps, sealed blobs and index MACs are opaque bytes here, and no method sees a
PIN or a key. What a backend owes:

* **Transactions.** ``write()`` is one transaction, committed when the block ends and rolled back
  on any exception; writers are serialised store-wide (SQLite ``BEGIN IMMEDIATE``, PostgreSQL a
  row lock taken first), so a read-then-write inside one (a PIN counter) never loses an update.
  ``read()`` runs statements that each see the latest commit (no snapshot across statements;
  ``object()`` is one statement so that an object and its token's row agree); ``snapshot()``
  is one consistent view over many statements (a backup of a partition in use).
* **Change detection.** ``version()`` is cheap and differs from every earlier value once
  anything in the store may have changed, by this process or any other: the secrecy layer keeps
  ``tokens()`` and ``generation()`` cached while it stays put. Versions never repeat.
* **Generations.** ``bump`` advances the store-wide counter and stamps a token with it.
* **Errors.** Database failures become ``errors.DeviceError`` (logged without values);
  ``errors.TokenNotPresent`` and the like are the secrecy layer's business.

Partition-scoped tables (``objects``; ``records``: the core's multi-authorization requests with
their approval tasks, and onboarded approvers) reference ``tokens.slot_id`` and vanish with their
token: a new one adds its row methods here, in both backends, and its rows to ``store/backup.py``'s
payload. ``leases`` is store-wide: a named lease lets one process (of many, on many hosts) run a
scheduled job at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

__all__ = [
    "OBJECT_COLUMNS",
    "RECORD_COLUMNS",
    "TOKEN_COLUMNS",
    "TOKEN_UPDATABLE",
    "MacMatch",
    "ObjectQuery",
    "ObjectRow",
    "RecordRow",
    "RowStore",
    "RowTx",
    "TokenRow",
]

TOKEN_COLUMNS = (
    "slot_id",  # small, stable; the slot that shows this token
    "serial",  # 16 hex digits, unique in the store
    "label",
    "key_check",  # MAC of a constant under the token key: tells a stale key
    "public_key",  # seals public objects (not a secret: see store/base.py)
    "so_wrap",  # the token key sealed under scrypt(SO PIN, so_salt, so_cost)
    "so_salt",
    "so_cost",
    "user_wrap",  # None until the user PIN is initialised
    "user_salt",
    "user_cost",
    "so_failures",
    "user_failures",
    "generation",
)
#: The columns ``update_token`` may set (``generation`` moves only through ``bump``).
TOKEN_UPDATABLE = frozenset(TOKEN_COLUMNS) - {"slot_id", "serial", "generation"}

OBJECT_COLUMNS = (
    "oid",  # store-wide unique, never reused
    "slot_id",
    "private",
    "object_class",  # CK_ULONG as a signed 64-bit integer (format.u64)
    "key_type",
    "label_mac",
    "id_mac",
    "blob",  # the sealed attribute TLV
)


class TokenRow:
    """One row of ``tokens``; a plain slotted class (module start must stay cheap)."""

    __slots__ = TOKEN_COLUMNS

    def __init__(
        self,
        slot_id: int,
        serial: str,
        label: str,
        key_check: bytes,
        public_key: bytes,
        so_wrap: bytes,
        so_salt: bytes,
        so_cost: int,
        user_wrap: bytes | None,
        user_salt: bytes | None,
        user_cost: int | None,
        so_failures: int,
        user_failures: int,
        generation: int,
    ) -> None:
        # Plain assignments, not a loop over TOKEN_COLUMNS: every find and write builds one.
        self.slot_id = slot_id
        self.serial = serial
        self.label = label
        self.key_check = key_check
        self.public_key = public_key
        self.so_wrap = so_wrap
        self.so_salt = so_salt
        self.so_cost = so_cost
        self.user_wrap = user_wrap
        self.user_salt = user_salt
        self.user_cost = user_cost
        self.so_failures = so_failures
        self.user_failures = user_failures
        self.generation = generation

    def values(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in TOKEN_COLUMNS)

    def __repr__(self) -> str:  # wraps are sealed, but a repr has no need of them
        return f"TokenRow(slot_id={self.slot_id}, serial={self.serial}, generation={self.generation})"


class ObjectRow:
    __slots__ = OBJECT_COLUMNS

    def __init__(
        self,
        oid: int,
        slot_id: int,
        private: bool,
        object_class: int,
        key_type: int | None,
        label_mac: bytes | None,
        id_mac: bytes | None,
        blob: bytes,
    ) -> None:
        self.oid = oid
        self.slot_id = slot_id
        self.private = private
        self.object_class = object_class
        self.key_type = key_type
        self.label_mac = label_mac
        self.id_mac = id_mac
        self.blob = blob

    def values(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in OBJECT_COLUMNS)

    def __repr__(self) -> str:
        return f"ObjectRow(oid={self.oid}, slot_id={self.slot_id}, private={self.private})"


RECORD_COLUMNS = (
    "slot_id",
    "kind",  # what the core keeps: "request" (with its tasks), "approver"
    "id",  # unique per (slot, kind)
    "lookup",  # a MAC the core finds a record by; unique per (slot, kind)
    "status",  # what cleanups select on (bound into the blob's AAD)
    "created",  # seconds since the epoch
    "blob",  # the sealed body
)


class RecordRow:
    __slots__ = RECORD_COLUMNS

    def __init__(
        self, slot_id: int, kind: str, id: str, lookup: bytes, status: str, created: int, blob: bytes
    ) -> None:
        self.slot_id = slot_id
        self.kind = kind
        self.id = id
        self.lookup = lookup
        self.status = status
        self.created = created
        self.blob = blob

    def values(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in RECORD_COLUMNS)

    def __repr__(self) -> str:
        return f"RecordRow(slot_id={self.slot_id}, kind={self.kind}, id={self.id}, status={self.status})"


class MacMatch:
    """An index column must equal ``public`` on public rows and ``private`` on private rows
    (``private`` None: public rows only). The MACs differ because the keys do."""

    __slots__ = ("private", "public")

    def __init__(self, public: bytes, private: bytes | None) -> None:
        self.public = public
        self.private = private


class ObjectQuery:
    """What ``find`` filters on; None matches anything. ``private_too``: include private rows."""

    __slots__ = ("id_mac", "key_type", "label_mac", "object_class", "private_too")

    def __init__(
        self,
        private_too: bool,
        object_class: int | None = None,
        key_type: int | None = None,
        label_mac: MacMatch | None = None,
        id_mac: MacMatch | None = None,
    ) -> None:
        self.private_too = private_too
        self.object_class = object_class
        self.key_type = key_type
        self.label_mac = label_mac
        self.id_mac = id_mac


class RowTx(Protocol):
    """The statements of one ``read``/``snapshot``/``write`` block. Write methods only in
    ``write()``."""

    # -- tokens
    def tokens(self) -> list[TokenRow]:
        """Ordered by slot_id."""
        ...

    def token(self, slot_id: int) -> TokenRow | None: ...

    def token_by_serial(self, serial: str) -> TokenRow | None: ...

    def generation(self, slot_id: int) -> int | None:
        """The token's generation; None if the slot holds no token."""
        ...

    def store_generation(self) -> int: ...

    def insert_token(self, row: TokenRow) -> None:
        """``row.generation`` is ignored: the caller ``bump``s in the same transaction."""
        ...

    def update_token(self, slot_id: int, **values: object) -> bool:
        """Set the named columns (``TOKEN_UPDATABLE``); False if the slot holds no token."""
        ...

    def delete_token(self, slot_id: int) -> bool:
        """The token and every partition-scoped row of it; False if there was none."""
        ...

    def bump(self, slot_id: int | None) -> int:
        """Advance the store-wide counter and make its new value the token's generation."""
        ...

    # -- objects
    def find(self, slot_id: int, query: ObjectQuery) -> list[int]:
        """Oids in insertion (oid) order."""
        ...

    def object(self, slot_id: int, oid: int) -> tuple[ObjectRow, TokenRow] | None:
        """The object and its token's row, read in one statement."""
        ...

    def objects(self, slot_id: int) -> list[ObjectRow]:
        """Every object of the token, by oid."""
        ...

    def insert_object(self, row: ObjectRow, blob_of: Callable[[int], bytes]) -> int:
        """Store ``row`` under a new oid (``row.oid`` and ``row.blob`` are ignored) with the
        blob ``blob_of(oid)``; the new oid."""
        ...

    def update_object(self, row: ObjectRow) -> bool:
        """Replace the row with ``row.oid`` in ``row.slot_id``; False if there is none."""
        ...

    def delete_object(self, slot_id: int, oid: int) -> bool: ...

    def delete_objects(self, slot_id: int) -> None: ...

    # -- records (the core's multi-authorization requests and approvers)
    def records(
        self, slot_id: int, kind: str | None, statuses: Sequence[str] | None = None
    ) -> list[RecordRow]:
        """The token's records of ``kind`` (None: all), with one of ``statuses`` (None: any),
        oldest first."""
        ...

    def record(self, slot_id: int, kind: str, id: str) -> RecordRow | None: ...

    def record_by_lookup(self, slot_id: int, kind: str, lookup: bytes) -> RecordRow | None: ...

    def insert_record(self, row: RecordRow) -> None:
        """A DeviceError if (slot, kind, id) or (slot, kind, lookup) is taken: callers look first,
        inside the same write transaction."""
        ...

    def update_record(self, row: RecordRow) -> bool:
        """Replace status and blob of the record (slot, kind, id); False if there is none."""
        ...

    def delete_record(self, slot_id: int, kind: str, id: str) -> bool: ...

    def delete_records(self, slot_id: int, kind: str | None = None) -> None: ...

    def purge_records(self, slot_id: int, kind: str, statuses: Sequence[str], before: int) -> int:
        """Delete the records of ``kind`` in one of ``statuses`` created before ``before``;
        how many went."""
        ...

    # -- leases (store-wide)
    def take_lease(self, name: str, holder: str, now: int, until: int) -> bool:
        """Hold the lease ``name`` until ``until`` if it is free, expired (its ``until`` <=
        ``now``) or ``holder``'s already; False if another holder has it."""
        ...


class RowStore(Protocol):
    #: Where the rows live, for messages: a path, or a URL without its password.
    location: str
    #: This process may not write the store (a read-only file, mount or database role): every
    #: ``write()`` raises ``errors.TokenWriteProtected`` before touching it. Fixed at open.
    read_only: bool

    def version(self) -> Hashable:
        """Cheap; moves whenever anything in the store may have changed (see the docstring)."""
        ...

    def read(self, what: str) -> AbstractContextManager[RowTx]:
        """``what`` names the operation in a DeviceError's log line."""
        ...

    def snapshot(self, what: str) -> AbstractContextManager[RowTx]: ...

    def write(self, what: str) -> AbstractContextManager[RowTx]: ...

    def close(self) -> None:
        """Idempotent. In a forked child: forget the inherited connection without waiting for
        a lock a thread of the parent held, and without disturbing the parent's use of it."""
        ...

    def inherited(self) -> bool:
        """True in a forked child of the process that opened the store."""
        ...


# Helpers shared by backends -----------------------------------------------------------------


def record_row(values: Sequence[Any]) -> RecordRow:
    """A ``RecordRow`` from the columns in ``RECORD_COLUMNS`` order."""
    slot_id, kind, id_, lookup, status, created, blob = values
    return RecordRow(slot_id, kind, id_, bytes(lookup), status, created, bytes(blob))


def object_row(values: Sequence[Any]) -> ObjectRow:
    """An ``ObjectRow`` from the columns in ``OBJECT_COLUMNS`` order, as a driver returns them."""
    oid, slot_id, private, object_class, key_type, label_mac, id_mac, blob = values
    return ObjectRow(oid, slot_id, bool(private), object_class, key_type, label_mac, id_mac, blob)


def check_token_update(values: dict[str, object]) -> Iterator[str]:
    """The column names of an ``update_token``, refusing any other (they are spliced into SQL)."""
    for name in values:
        if name not in TOKEN_UPDATABLE:
            raise ValueError(f"update_token: {name!r} is not an updatable column")
        yield name
