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
write transactions: one PRAGMA, no table read, and other processes' writes show at once. The
PRAGMA is asked only when our change counter beside the database moved (``sqlite_changes.py``:
every writer keeps it, and schema 3 shuts out softhsm-py versions that would not), so a check
while nothing was committed costs one read of shared memory.

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
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from softhsm_py import errors
from softhsm_py.log import get_logger
from softhsm_py.store.format import decode_attrs, encode_attrs
from softhsm_py.store.sqlite_changes import SUFFIX as CHANGES_SUFFIX
from softhsm_py.store.sqlite_changes import ChangeCounter
from softhsm_py.store.sqlite_tx import OUR_TABLES, STEPS, SqliteTx

__all__ = ["DB_NAME", "SCHEMA_VERSION", "SqliteRows", "decode_attrs", "encode_attrs", "open_rows"]

log = get_logger("store")

DB_NAME = "softhsm-py.sqlite3"
SCHEMA_VERSION = 3
#: The oldest schema a read-only store may have: version 3 changed no table (sqlite_tx.py).
READ_ONLY_SCHEMA_FROM = 2
BUSY_TIMEOUT_S = 10.0
#: ``PRAGMA application_id`` of a softhsm-py store ("SHPY"): tells our file from any other SQLite file.
APPLICATION_ID = 0x53485059

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
    if app_id == 0 and version >= 1 and tables >= OUR_TABLES:
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
        # Our change counter (store/sqlite_changes.py; None: ask SQLite every time) and the even
        # value it had before version() last asked SQLite, with SQLite's answer then.
        self._changes: ChangeCounter | None = None
        self._asked: tuple[int, int] = (-1, 0)
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
            self._changes = self._open_changes()
            if self.read_only:
                self._check_schema(db)
            else:
                db.execute("PRAGMA journal_mode = WAL")
                db.execute("PRAGMA synchronous = FULL")
                db.execute("PRAGMA foreign_keys = ON")
                odd = self._begin_commit(f"opening {self.path}")
                try:
                    self._migrate(db)
                finally:
                    self._end_commit(odd)
        except BaseException as exc:
            db.close()
            if self._changes is not None:
                self._changes.close()
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

    def _open_changes(self) -> ChangeCounter | None:
        """The change counter beside the database; None (ask SQLite on every check) where a
        read-only store has none to read."""
        path = self.path.with_name(self.path.name + CHANGES_SUFFIX)
        try:
            return ChangeCounter(path, writable=not self.read_only)
        except OSError as exc:
            if not self.read_only:
                raise _device_error(f"opening {path}", exc) from exc
            return None

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
        if version < SCHEMA_VERSION and version >= READ_ONLY_SCHEMA_FROM:
            if self._changes is not None:  # its writers (if any) keep none: ask SQLite each time
                self._changes.close()
                self._changes = None
            return
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
                for statement in STEPS[step].split(";"):
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
        connection, ours included) paired with our own count of writes (module docstring).
        SQLite is not asked while our change counter shows the even value it had before the
        last asking (store/sqlite_changes.py): nothing was committed since."""
        changes = self._changes
        seen = 1 if changes is None else changes.read()  # odd: never taken as unchanged
        asked = self._asked
        if seen == asked[0]:
            return asked[1], self._writes
        data_version = self._data_version()
        if seen % 2 == 0:
            self._asked = (seen, data_version)
        return data_version, self._writes

    def _data_version(self) -> int:
        if self._watch is None:  # read-only (or closed: _conn says so)
            with self._lock:
                db = self._conn().db
                try:
                    return int(db.execute("PRAGMA data_version").fetchone()[0])
                except sqlite3.Error as exc:
                    raise _device_error("checking for changes", exc) from exc
        with self._watch_lock:
            self._check_pid()
            watch = self._watch
            if watch is None:
                raise RuntimeError("token store is closed")
            try:
                return int(watch.execute("PRAGMA data_version").fetchone()[0])
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
            odd = None
            try:
                if write:
                    odd = self._begin_commit(what)  # under SQLite's write lock, before COMMIT
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
            finally:
                self._end_commit(odd)

    def _begin_commit(self, what: str) -> int | None:
        if self._changes is None:
            return None
        try:
            return self._changes.begin_commit()
        except OSError as exc:  # no commit readers could miss: the transaction is rolled back
            raise _device_error(what, exc) from exc

    def _end_commit(self, odd: int | None) -> None:
        if odd is None or self._changes is None:
            return
        try:
            self._changes.end_commit(odd)
        except OSError as exc:  # the counter stays odd: every reader asks SQLite, still right
            log.warning("token store: the change counter stays odd: %s", type(exc).__name__)

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
            changes, self._changes = self._changes, None
            if changes is not None:
                changes.close()
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
        changes, self._changes = self._changes, None
        if changes is not None:
            changes.close()  # our own file: closing it in the child disturbs no lock of SQLite's
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
