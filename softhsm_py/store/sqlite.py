"""SQLite row store (the default): one file, ``<token_dir>/softhsm-py.sqlite3``, holds every token
of a directory. Rows only: the secrets in them were sealed by ``store/sealed.py``.

Durability and sharing come from SQLite itself: WAL journal, ``synchronous=FULL``, a 10 s busy
timeout and one ``BEGIN IMMEDIATE`` transaction per write, so processes sharing the directory see
each other's changes, lose no write, and a crash leaves the last committed state.

Threads: writes (and snapshots) go through one connection guarded by ``self._lock``, held only
around the transaction (and what the secrecy layer does inside it: fast AES-GCM / HMAC calls,
never scrypt). Reads never wait behind a write: WAL lets readers run beside the writer, so each
read takes a connection of its own from a small pool (one per thread reading at that moment,
made on demand, kept for the next), while a write of this or another process waits for SQLite's
write lock or syncs to disk. ``version()`` asks a connection of its own (``_watch``), under a lock
of its own held for that one PRAGMA. A read-only store keeps the one connection for everything.

The file is ours or refused. A new store is built complete (schema, WAL mode, our
``application_id``) under a temporary name and linked into place, so the store path never names an
empty or half-made database. An existing file must carry our ``application_id`` (or, made before
it existed, our schema); a zero-length file, a file that is not SQLite, or another program's
database is refused with DeviceError and a log line saying why, and nothing is written to it.

Read-only: a store this process cannot write (a read-only mount or directory, a file without
write permission) is opened read-only: ``read_only`` is True, and a write raises
TokenWriteProtected before touching the file. SQLite's WAL needs the -wal and -shm files next to
the database; when they are absent and cannot be made, the file is opened as immutable: a
snapshot, which changes made by a process that can write are not seen in (the README says so).

Change detection: ``version()`` is ``PRAGMA data_version`` (moves when another connection, of
any process, commits; never for this connection's own commits) paired with our own count of
write transactions: one PRAGMA, no table read, and other processes' writes show at once.

Never open SQLite's files (the database, ``-wal``, ``-shm``) with a descriptor of our own while a
connection may have them open: closing any descriptor of a file drops every POSIX lock the process
holds on it, SQLite's included. Losing the shared lock on ``-shm`` lets another process believe it
is the first connection and reinitialise the WAL index under us (SIGBUS, lost commits).

Fork: SQLite keeps its lock bookkeeping (and the -shm mapping) per process and database file,
and a forked child inherits the parent's. While an inherited connection is open in the child, a
new connection of the child to the same file believes the locks are held already and takes none,
so the parent's close (or any other process) may checkpoint and delete the WAL the child writes
to. A child therefore closes the inherited connections before it opens its own
(``_forget_inherited``). That close cannot disturb the parent: its locks are its own, and while
it holds them SQLite cannot lock the database exclusively, which it needs to checkpoint or
delete anything on close.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

from softhsm_py import errors
from softhsm_py.log import get_logger
from softhsm_py.store.format import decode_attrs, encode_attrs
from softhsm_py.store.rows import (
    OBJECT_COLUMNS,
    RECORD_COLUMNS,
    TOKEN_COLUMNS,
    ObjectQuery,
    ObjectRow,
    RecordRow,
    TokenRow,
    check_token_update,
    object_row,
    record_row,
)

__all__ = ["DB_NAME", "SCHEMA_VERSION", "SqliteRows", "decode_attrs", "encode_attrs", "open_rows"]

log = get_logger("store")

DB_NAME = "softhsm-py.sqlite3"
SCHEMA_VERSION = 2
BUSY_TIMEOUT_S = 10.0
#: ``PRAGMA application_id`` of a softhsm-py store ("SHPY"): tells our file from any other SQLite file.
APPLICATION_ID = 0x53485059
#: The tables of a store made before it carried APPLICATION_ID (schema 1 as first released).
_OUR_TABLES = frozenset({"meta", "tokens", "objects"})

_SCHEMA_V1 = """
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO meta (key, value) VALUES ('generation', 0);

CREATE TABLE tokens (
    slot_id       INTEGER PRIMARY KEY,
    serial        TEXT NOT NULL UNIQUE,
    label         TEXT NOT NULL,
    key_check     BLOB NOT NULL,
    public_key    BLOB NOT NULL,
    so_wrap       BLOB NOT NULL,
    so_salt       BLOB NOT NULL,
    so_cost       INTEGER NOT NULL,
    user_wrap     BLOB,
    user_salt     BLOB,
    user_cost     INTEGER,
    so_failures   INTEGER NOT NULL DEFAULT 0,
    user_failures INTEGER NOT NULL DEFAULT 0,
    generation    INTEGER NOT NULL
);

CREATE TABLE objects (
    oid          INTEGER PRIMARY KEY AUTOINCREMENT,
    slot_id      INTEGER NOT NULL REFERENCES tokens (slot_id) ON DELETE CASCADE,
    private      INTEGER NOT NULL CHECK (private IN (0, 1)),
    object_class INTEGER NOT NULL,
    key_type     INTEGER,
    label_mac    BLOB,
    id_mac       BLOB,
    blob         BLOB NOT NULL
);
CREATE INDEX objects_class ON objects (slot_id, object_class);
CREATE INDEX objects_label ON objects (slot_id, label_mac);
CREATE INDEX objects_id ON objects (slot_id, id_mac);
"""

# Version 2: the core's records (multi-authorization requests, approvers) and scheduler leases.
_SCHEMA_V2 = """
CREATE TABLE records (
    slot_id INTEGER NOT NULL REFERENCES tokens (slot_id) ON DELETE CASCADE,
    kind    TEXT NOT NULL,
    id      TEXT NOT NULL,
    lookup  BLOB NOT NULL,
    status  TEXT NOT NULL,
    created INTEGER NOT NULL,
    blob    BLOB NOT NULL,
    PRIMARY KEY (slot_id, kind, id),
    UNIQUE (slot_id, kind, lookup)
);
CREATE INDEX records_status ON records (slot_id, kind, status);

CREATE TABLE leases (
    name   TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    until  INTEGER NOT NULL
) WITHOUT ROWID;
"""
_STEPS = {1: _SCHEMA_V1, 2: _SCHEMA_V2}  # version -> the script that makes it from the one before

_TOKEN_SELECT = f"SELECT {', '.join(TOKEN_COLUMNS)} FROM tokens"
_OBJECT_SELECT = f"SELECT {', '.join(OBJECT_COLUMNS)} FROM objects"
_OBJECT_AND_TOKEN = (
    f"SELECT {', '.join('o.' + c for c in OBJECT_COLUMNS)}, {', '.join('t.' + c for c in TOKEN_COLUMNS)}"
    " FROM objects o JOIN tokens t ON t.slot_id = o.slot_id WHERE o.oid = ? AND o.slot_id = ?"
)
_NO = len(OBJECT_COLUMNS)
_RECORD_SELECT = f"SELECT {', '.join(RECORD_COLUMNS)} FROM records"

# Every open store of this process (or, after fork, of the parent), by id: a child finds here
# the connections it inherited. A plain dict, so that copying it is atomic under the GIL.
_STORES: dict[int, weakref.ref[SqliteRows]] = {}
# Inherited connections a forked child could not close (a thread of the parent was inside the
# store, so SQLite's own mutex may be held for good), with the (device, inode) of their database
# file, which this process can then no longer open safely: kept referenced so garbage collection
# does not close them either.
_ABANDONED: list[tuple[tuple[int, int] | None, sqlite3.Connection]] = []


def _refused(path: Path, why: str) -> errors.DeviceError:
    log.error("token store %s is not a softhsm-py store and is left untouched: %s", path, why)
    return errors.DeviceError()


def _device_error(what: str, exc: BaseException) -> errors.DeviceError:
    # SQLite's messages name the failure (locked, I/O, full), never bound parameters.
    log.error("token store: %s failed: %s: %s", what, type(exc).__name__, exc)
    return errors.DeviceError()


def _create_store(path: Path, build: Callable[[sqlite3.Connection], None]) -> None:
    """Make the store at ``path`` unless it exists: built complete and 0600 under a temporary name
    (``build`` writes the schema), then linked into place. The file never exists empty or half
    made, and we never hold a descriptor of it once it is in place: another thread's store may
    open it as soon as it exists, and closing a descriptor of ours would then drop that store's
    locks (see the module docstring)."""
    if os.path.lexists(path):
        return  # the usual case; and a read-only directory can still hold a writable database
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    os.close(os.open(tmp, flags, 0o600))  # SQLite would make it with the umask's mode
    try:
        db = sqlite3.connect(tmp, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode = WAL")  # recorded in the file's header
            build(db)
        finally:
            db.close()  # checkpoints and removes the temporary file's -wal and -shm
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process made it first: theirs is as good as ours
        except OSError:  # no hard links on this file system: rename, unless one appeared
            if not os.path.lexists(path):
                os.rename(tmp, path)
    finally:
        with suppress(FileNotFoundError):
            os.unlink(tmp)


def _writable(path: Path) -> bool:
    """Can this process write the store: the file, and the directory its -wal, -shm and
    temporary files go to?"""
    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK | os.X_OK)


def _connect(target: str | Path, *, uri: bool = False) -> sqlite3.Connection:
    return sqlite3.connect(
        target,
        timeout=BUSY_TIMEOUT_S,
        isolation_level=None,  # autocommit; we issue BEGIN IMMEDIATE / COMMIT
        check_same_thread=False,
        uri=uri,
    )


def _uri(path: Path, query: str) -> str:
    from urllib.parse import quote

    return f"file:{quote(str(path.resolve()))}?{query}"


def not_ours(path: Path, db: sqlite3.Connection) -> str | None:
    """Why the SQLite database ``db`` (at ``path``) is not a softhsm-py store, or None if it is.
    Reads only: nothing is written to a file that may be another program's."""
    app_id = db.execute("PRAGMA application_id").fetchone()[0]
    if app_id == APPLICATION_ID:
        return None
    version = db.execute("PRAGMA user_version").fetchone()[0]
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if app_id == 0 and version >= 1 and tables >= _OUR_TABLES:
        return None  # ours, made before the application_id was set
    if app_id:
        return f"it is another program's SQLite database (application_id 0x{app_id & 0xFFFFFFFF:08x})"
    if not tables:
        return "it is a SQLite database with no tables, not one softhsm-py made"
    shown = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
    return f"it is another SQLite database (tables: {shown})"


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _forget_inherited() -> None:
    """In a forked child: close the connections inherited from the parent (module docstring)."""
    pid = os.getpid()
    for ref in list(_STORES.values()):
        store = ref()
        if store is not None and store._pid != pid:
            store.close()


# --------------------------------------------------------------------------- statements


class SqliteTx:
    """The statements of one transaction on ``db`` (the caller holds the store's lock)."""

    __slots__ = ("db",)

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    # -- tokens

    def tokens(self) -> list[TokenRow]:
        return [TokenRow(*r) for r in self.db.execute(f"{_TOKEN_SELECT} ORDER BY slot_id")]

    def token(self, slot_id: int) -> TokenRow | None:
        row = self.db.execute(f"{_TOKEN_SELECT} WHERE slot_id = ?", (slot_id,)).fetchone()
        return None if row is None else TokenRow(*row)

    def token_by_serial(self, serial: str) -> TokenRow | None:
        row = self.db.execute(f"{_TOKEN_SELECT} WHERE serial = ?", (serial,)).fetchone()
        return None if row is None else TokenRow(*row)

    def generation(self, slot_id: int) -> int | None:
        row = self.db.execute("SELECT generation FROM tokens WHERE slot_id = ?", (slot_id,)).fetchone()
        return None if row is None else row[0]

    def store_generation(self) -> int:
        return self.db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0]

    def insert_token(self, row: TokenRow) -> None:
        values = list(row.values())
        values[-1] = 0  # generation: set by bump
        marks = ", ".join("?" * len(TOKEN_COLUMNS))
        self.db.execute(f"INSERT INTO tokens ({', '.join(TOKEN_COLUMNS)}) VALUES ({marks})", values)

    def update_token(self, slot_id: int, **values: object) -> bool:
        sets = ", ".join(f"{name} = ?" for name in check_token_update(values))
        cur = self.db.execute(f"UPDATE tokens SET {sets} WHERE slot_id = ?", (*values.values(), slot_id))
        return cur.rowcount > 0

    def delete_token(self, slot_id: int) -> bool:
        self.db.execute("DELETE FROM objects WHERE slot_id = ?", (slot_id,))
        self.db.execute("DELETE FROM records WHERE slot_id = ?", (slot_id,))
        return self.db.execute("DELETE FROM tokens WHERE slot_id = ?", (slot_id,)).rowcount > 0

    def bump(self, slot_id: int | None) -> int:
        """A store-wide counter keeps a slot's generation increasing even across delete + create."""
        db = self.db
        db.execute("UPDATE meta SET value = value + 1 WHERE key = 'generation'")
        gen = db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0]
        if slot_id is not None:
            db.execute("UPDATE tokens SET generation = ? WHERE slot_id = ?", (gen, slot_id))
        return gen

    # -- objects

    def find(self, slot_id: int, query: ObjectQuery) -> list[int]:
        sql = ["SELECT oid FROM objects WHERE slot_id = ?"]
        args: list[object] = [slot_id]
        label, ident = query.label_mac, query.id_mac
        # Steer SQLite to the most selective index (ID, then label, then class): a unary "+"
        # keeps a column out of index selection without changing the result.
        weak_class = "+" if label is not None or ident is not None else ""
        weak_label = "+" if ident is not None else ""
        if not query.private_too:
            sql.append("AND private = 0")
        if query.object_class is not None:
            sql.append(f"AND {weak_class}object_class = ?")
            args.append(query.object_class)
        if query.key_type is not None:
            sql.append("AND +key_type = ?")
            args.append(query.key_type)
        for column, match in ((weak_label + "label_mac", label), ("id_mac", ident)):
            if match is None:
                continue
            if match.private is None or not query.private_too:
                sql.append(f"AND {column} = ?")
                args.append(match.public)
            else:
                p, q = match.public, match.private
                # IN lets SQLite use the (slot_id, *_mac) index; CASE pairs MAC and kind.
                sql.append(
                    f"AND {column} IN (?, ?) AND CASE private WHEN 0 THEN {column} = ? ELSE {column} = ? END"
                )
                args.extend((p, q, p, q))
        sql.append("ORDER BY oid")
        return [r[0] for r in self.db.execute(" ".join(sql), args)]

    def object(self, slot_id: int, oid: int) -> tuple[ObjectRow, TokenRow] | None:
        row = self.db.execute(_OBJECT_AND_TOKEN, (oid, slot_id)).fetchone()
        if row is None:
            return None
        return object_row(row[:_NO]), TokenRow(*row[_NO:])

    def objects(self, slot_id: int) -> list[ObjectRow]:
        return [
            object_row(r)
            for r in self.db.execute(f"{_OBJECT_SELECT} WHERE slot_id = ? ORDER BY oid", (slot_id,))
        ]

    def insert_object(self, row: ObjectRow, blob_of: Callable[[int], bytes]) -> int:
        cur = self.db.execute(
            "INSERT INTO objects (slot_id, private, object_class, key_type, label_mac, id_mac, blob)"
            " VALUES (?, ?, ?, ?, ?, ?, x'')",
            (row.slot_id, int(row.private), row.object_class, row.key_type, row.label_mac, row.id_mac),
        )
        oid = cur.lastrowid
        assert oid is not None
        self.db.execute("UPDATE objects SET blob = ? WHERE oid = ?", (blob_of(oid), oid))
        return oid

    def update_object(self, row: ObjectRow) -> bool:
        cur = self.db.execute(
            "UPDATE objects SET private = ?, object_class = ?, key_type = ?, label_mac = ?, id_mac = ?,"
            " blob = ? WHERE oid = ? AND slot_id = ?",
            (
                int(row.private),
                row.object_class,
                row.key_type,
                row.label_mac,
                row.id_mac,
                row.blob,
                row.oid,
                row.slot_id,
            ),
        )
        return cur.rowcount > 0

    def delete_object(self, slot_id: int, oid: int) -> bool:
        return (
            self.db.execute("DELETE FROM objects WHERE oid = ? AND slot_id = ?", (oid, slot_id)).rowcount > 0
        )

    def delete_objects(self, slot_id: int) -> None:
        self.db.execute("DELETE FROM objects WHERE slot_id = ?", (slot_id,))

    # -- records

    def records(
        self, slot_id: int, kind: str | None, statuses: Sequence[str] | None = None
    ) -> list[RecordRow]:
        sql, args = [f"{_RECORD_SELECT} WHERE slot_id = ?"], list[object]([slot_id])
        if kind is not None:
            sql.append("AND kind = ?")
            args.append(kind)
        if statuses is not None:
            sql.append(f"AND status IN ({', '.join('?' * len(statuses))})")
            args.extend(statuses)
        sql.append("ORDER BY created, id")
        return [record_row(r) for r in self.db.execute(" ".join(sql), args)]

    def record(self, slot_id: int, kind: str, id: str) -> RecordRow | None:
        row = self.db.execute(
            f"{_RECORD_SELECT} WHERE slot_id = ? AND kind = ? AND id = ?", (slot_id, kind, id)
        ).fetchone()
        return None if row is None else record_row(row)

    def record_by_lookup(self, slot_id: int, kind: str, lookup: bytes) -> RecordRow | None:
        row = self.db.execute(
            f"{_RECORD_SELECT} WHERE slot_id = ? AND kind = ? AND lookup = ?", (slot_id, kind, lookup)
        ).fetchone()
        return None if row is None else record_row(row)

    def insert_record(self, row: RecordRow) -> None:
        marks = ", ".join("?" * len(RECORD_COLUMNS))
        self.db.execute(f"INSERT INTO records ({', '.join(RECORD_COLUMNS)}) VALUES ({marks})", row.values())

    def update_record(self, row: RecordRow) -> bool:
        cur = self.db.execute(
            "UPDATE records SET status = ?, blob = ? WHERE slot_id = ? AND kind = ? AND id = ?",
            (row.status, row.blob, row.slot_id, row.kind, row.id),
        )
        return cur.rowcount > 0

    def delete_record(self, slot_id: int, kind: str, id: str) -> bool:
        cur = self.db.execute(
            "DELETE FROM records WHERE slot_id = ? AND kind = ? AND id = ?", (slot_id, kind, id)
        )
        return cur.rowcount > 0

    def delete_records(self, slot_id: int, kind: str | None = None) -> None:
        if kind is None:
            self.db.execute("DELETE FROM records WHERE slot_id = ?", (slot_id,))
        else:
            self.db.execute("DELETE FROM records WHERE slot_id = ? AND kind = ?", (slot_id, kind))

    def purge_records(self, slot_id: int, kind: str, statuses: Sequence[str], before: int) -> int:
        cur = self.db.execute(
            f"DELETE FROM records WHERE slot_id = ? AND kind = ? AND created < ?"
            f" AND status IN ({', '.join('?' * len(statuses))})",
            (slot_id, kind, before, *statuses),
        )
        return cur.rowcount

    # -- leases

    def take_lease(self, name: str, holder: str, now: int, until: int) -> bool:
        cur = self.db.execute(
            "INSERT INTO leases (name, holder, until) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE"
            " SET holder = excluded.holder, until = excluded.until"
            " WHERE leases.until <= ? OR leases.holder = excluded.holder",
            (name, holder, until, now),
        )
        return cur.rowcount > 0


# --------------------------------------------------------------------------- the row store


class SqliteRows:
    """The SQLite ``RowStore``. Create with ``open_rows`` (or ``softhsm_py.store.open_store``)."""

    def __init__(self, token_dir: Path) -> None:
        self.path = Path(token_dir) / DB_NAME
        self.location = str(self.path)
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._db: sqlite3.Connection | None = None
        self._tx: SqliteTx | None = None
        # What ``version()`` adds to SQLite's data_version: our own writes, which it ignores.
        self._writes = 0
        self._file: tuple[int, int] | None = None  # (device, inode) of the database file
        self.read_only = False
        # Reads (module docstring): idle read connections, and all of them (busy ones too);
        # ``_pool_lock`` guards the set, the idle list's hand-back and ``_closed``.
        self._idle: list[SqliteTx] = []
        self._readers: set[SqliteTx] = set()
        self._pool_lock = threading.Lock()
        self._closed = False
        self._watch: sqlite3.Connection | None = None  # version()'s connection (None: read-only)
        self._watch_lock = threading.Lock()
        _forget_inherited()
        try:
            Path(token_dir).mkdir(mode=0o700, parents=True, exist_ok=True)
            _create_store(self.path, self._build)
            self._file = _identity(self.path)
            if self._file is not None and any(file == self._file for file, _ in _ABANDONED):
                log.error("token store %s: this process forked while the store was busy", self.path)
                raise errors.DeviceError()
            if os.stat(self.path).st_size == 0:
                raise _refused(self.path, "the file is empty (0 bytes): truncated, or never written")
            self.read_only = not _writable(self.path)
            db = self._open_read_only() if self.read_only else _connect(self.path)
        except (OSError, sqlite3.Error) as exc:
            raise _device_error(f"opening {self.path}", exc) from exc
        try:
            why = not_ours(self.path, db)
            if why is not None:
                raise _refused(self.path, why)
            db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            if self.read_only:
                self._check_schema(db)
            else:
                db.execute("PRAGMA journal_mode = WAL")
                db.execute("PRAGMA synchronous = FULL")
                db.execute("PRAGMA foreign_keys = ON")
                self._migrate(db)
        except BaseException as exc:
            db.close()
            if isinstance(exc, sqlite3.Error):
                raise _device_error(f"opening {self.path}", exc) from exc
            raise
        if not self.read_only:
            try:
                self._watch = _connect(self.path)
            except sqlite3.Error as exc:
                db.close()
                raise _device_error(f"opening {self.path}", exc) from exc
        self._db = db
        self._tx = SqliteTx(db)
        key = id(self)

        def forget(
            _: weakref.ref[SqliteRows], key: int = key, stores: dict[int, weakref.ref[SqliteRows]] = _STORES
        ) -> None:
            stores.pop(key, None)

        _STORES[key] = weakref.ref(self, forget)

    def _open_read_only(self) -> sqlite3.Connection:
        """A read-only connection (module docstring): a WAL reader if SQLite can use the -wal
        and -shm files, else the file as an immutable snapshot."""
        db = _connect(_uri(self.path, "mode=ro"), uri=True)
        try:
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()
            log.warning("token store %s is read-only: writes are refused", self.path)
            return db
        except sqlite3.OperationalError:  # a WAL database whose -wal/-shm cannot be made here
            db.close()
        db = _connect(_uri(self.path, "immutable=1"), uri=True)
        log.warning(
            "token store %s is read-only and opened as a snapshot (no -wal/-shm files can be made"
            " next to it): writes are refused, and changes made elsewhere are not seen",
            self.path,
        )
        return db

    def _check_schema(self, db: sqlite3.Connection) -> None:
        """A read-only store cannot be migrated: it must be of our schema version."""
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version != SCHEMA_VERSION:
            log.error(
                "token store %s has schema version %d and is read-only; this softhsm-py needs %d",
                self.path,
                version,
                SCHEMA_VERSION,
            )
            raise errors.DeviceError()

    def _build(self, db: sqlite3.Connection) -> None:
        """A new store's schema, in a database nobody else can see yet (``_create_store``)."""
        self._migrate(db)

    def _migrate(self, db: sqlite3.Connection) -> None:
        db.execute("BEGIN IMMEDIATE")
        try:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if db.execute("PRAGMA application_id").fetchone()[0] != APPLICATION_ID:
                db.execute(f"PRAGMA application_id = {APPLICATION_ID}")  # new, or made before it
            if version > SCHEMA_VERSION:
                log.error(
                    "token store %s has schema version %d; this softhsm-py knows up to %d",
                    self.path,
                    version,
                    SCHEMA_VERSION,
                )
                raise errors.DeviceError()
            # One step per version, in this transaction.
            for step in range(version + 1, SCHEMA_VERSION + 1):
                for statement in _STEPS[step].split(";"):
                    if statement.strip():
                        db.execute(statement)
            if version != SCHEMA_VERSION:
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _conn(self) -> SqliteTx:
        if self._pid != os.getpid():
            raise RuntimeError("token store used across fork(); open a new store in the child")
        if self._tx is None:
            raise RuntimeError("token store is closed")
        return self._tx

    def inherited(self) -> bool:
        return self._pid != os.getpid()

    # ----------------------------------------------------------------------- transactions

    def version(self) -> tuple[int, int]:
        """Differs from every earlier value once anything in the store may have changed: SQLite's
        ``PRAGMA data_version`` (of ``_watch``, which moves with the commits of every other
        connection, ours included) paired with our own count of writes (module docstring)."""
        if self._watch is None:  # read-only (or closed: _conn says so)
            with self._lock:
                db = self._conn().db
                try:
                    return db.execute("PRAGMA data_version").fetchone()[0], self._writes
                except sqlite3.Error as exc:
                    raise _device_error("checking for changes", exc) from exc
        with self._watch_lock:
            self._check_pid()
            watch = self._watch
            if watch is None:
                raise RuntimeError("token store is closed")
            try:
                return watch.execute("PRAGMA data_version").fetchone()[0], self._writes
            except sqlite3.Error as exc:
                raise _device_error("checking for changes", exc) from exc

    @contextmanager
    def read(self, what: str) -> Iterator[SqliteTx]:
        """Statements that each see the latest commit, on a read connection of the pool: never
        behind a write of this process, nor of another (WAL)."""
        if self._watch is None:  # read-only (or closed: _conn says so)
            with self._lock:
                tx = self._conn()
                try:
                    yield tx
                except sqlite3.Error as exc:
                    raise _device_error(what, exc) from exc
            return
        tx = self._reader(what)
        try:
            yield tx
        except errors.PKCS11Error:
            self._give_back(tx)  # the secrecy layer's refusal between statements (TokenNotPresent)
            raise
        except BaseException as exc:
            # A statement may have been left half-read, holding its read transaction (an old
            # snapshot) open: this connection is not given back.
            self._discard(tx)
            if isinstance(exc, sqlite3.Error):
                raise _device_error(what, exc) from exc
            raise
        self._give_back(tx)

    def _check_pid(self) -> None:
        if self._pid != os.getpid():
            raise RuntimeError("token store used across fork(); open a new store in the child")

    def _reader(self, what: str) -> SqliteTx:
        self._check_pid()
        try:
            return self._idle.pop()  # atomic: no lock on the way in
        except IndexError:
            pass
        with self._pool_lock:
            if self._closed:
                raise RuntimeError("token store is closed")
            try:
                tx = SqliteTx(_connect(self.path))
            except sqlite3.Error as exc:
                raise _device_error(what, exc) from exc
            self._readers.add(tx)
        return tx

    def _give_back(self, tx: SqliteTx) -> None:
        with self._pool_lock:
            if not self._closed:
                self._idle.append(tx)
                return
        self._discard(tx)  # the store closed while this read ran

    def _discard(self, tx: SqliteTx) -> None:
        with self._pool_lock:
            self._readers.discard(tx)
        try:
            tx.db.close()
        except sqlite3.Error as exc:
            log.warning("token store: closing a read connection failed: %s", type(exc).__name__)

    @contextmanager
    def snapshot(self, what: str) -> Iterator[SqliteTx]:
        """A deferred transaction: WAL readers see the database as of their first read."""
        with self._transaction(what, "BEGIN") as tx:
            yield tx

    @contextmanager
    def write(self, what: str) -> Iterator[SqliteTx]:
        """One ``BEGIN IMMEDIATE`` transaction: committed on success, rolled back on any error.
        TokenWriteProtected on a read-only store."""
        if self.read_only:
            log.info("token store %s is read-only: %s refused", self.path, what)
            raise errors.TokenWriteProtected()
        with self._transaction(what, "BEGIN IMMEDIATE", write=True) as tx:
            yield tx

    @contextmanager
    def _transaction(self, what: str, begin: str, *, write: bool = False) -> Iterator[SqliteTx]:
        with self._lock:
            tx = self._conn()
            db = tx.db
            try:
                db.execute(begin)
            except sqlite3.Error as exc:
                raise _device_error(what, exc) from exc
            if write:
                self._writes += 1  # before anything can commit: version() moves with every write
            try:
                yield tx
                db.execute("COMMIT")
            except BaseException as exc:
                try:
                    if db.in_transaction:
                        db.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
                if isinstance(exc, sqlite3.Error):
                    raise _device_error(what, exc) from exc
                raise

    # ----------------------------------------------------------------------- lifecycle

    def close(self) -> None:
        if self._pid != os.getpid():
            self._close_inherited()
            return
        with self._lock:
            with self._watch_lock:
                watch, self._watch = self._watch, None
            with self._pool_lock:
                self._closed = True
                idle, self._idle = self._idle, []
                self._readers.difference_update(idle)  # busy ones close when given back
            for conn in [watch, *(tx.db for tx in idle)]:
                if conn is not None:
                    try:
                        conn.close()
                    except sqlite3.Error as exc:
                        log.warning("token store: close failed: %s", type(exc).__name__)
            db, self._db, self._tx = self._db, None, None
            if db is None:
                return
            try:
                if not self.read_only:
                    db.execute("PRAGMA optimize")  # refresh planner statistics where useful
                db.close()
            except sqlite3.Error as exc:
                log.warning("token store: close failed: %s", type(exc).__name__)

    def _close_inherited(self) -> None:
        """``close()`` in a forked child. Never waits for a lock: a thread of the parent may have
        held one at fork, and nothing in the child will release it. SQLite shares its state of
        one file (the WAL index's mutex, the inode's locks) between all connections of a process,
        so closing any of them while a thread of the parent was inside SQLite on this file (a
        lock held, a read connection out of the pool) may wait for ever: all close, or none
        (abandoned, never closed)."""
        db, self._db, self._tx = self._db, None, None
        watch, self._watch = self._watch, None
        self._closed = True
        idle, self._idle = self._idle, []
        readers, self._readers = self._readers, set()
        conns = [conn for conn in (db, watch) if conn is not None] + [tx.db for tx in readers]
        locks = (self._lock, self._watch_lock, self._pool_lock)
        taken = [lock for lock in locks if lock.acquire(blocking=False)]
        try:
            if len(taken) < len(locks) or len(idle) != len(readers):
                _ABANDONED.extend((self._file, conn) for conn in conns)
                return
            for conn in conns:
                try:
                    conn.close()
                except sqlite3.Error as exc:
                    log.warning(
                        "token store: closing a connection inherited across fork: %s", type(exc).__name__
                    )
        finally:
            for lock in taken:
                lock.release()


def open_rows(token_dir: Path) -> SqliteRows:
    """Open (creating if needed) the SQLite rows of ``token_dir``."""
    return SqliteRows(Path(token_dir))
