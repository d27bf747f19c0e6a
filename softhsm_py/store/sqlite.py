"""SQLite token store: one file, ``<token_dir>/softhsm-py.sqlite3``, holds every token of a directory.

Durability and sharing come from SQLite itself: WAL journal, ``synchronous=FULL``, a 10 s busy
timeout and one ``BEGIN IMMEDIATE`` transaction per write, so processes sharing the directory see
each other's changes, lose no write, and a crash leaves the last committed state.

Threads: one connection guarded by ``self._lock``. The lock is held only around SQL statements and
the fast AES-GCM / HMAC calls that must see the same row; scrypt (tens of milliseconds) always
runs outside it, and nothing outside the store is ever called with it held.

Caching: ``tokens()`` and ``generation()`` run on nearly every PKCS#11 call, so their answers are
kept until ``PRAGMA data_version`` (another connection committed) or our own write count moves;
checking costs one PRAGMA instead of a table read and keeps other processes' writes visible at once.
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

Layout of secrets (see ``store/base.py`` for the model):

* ``tokens.so_wrap`` / ``user_wrap``: the token key sealed under ``scrypt(PIN, salt, cost)``; AAD
  binds the serial and the user type. ``key_check`` is an HMAC of a constant under the token key,
  so a stale key (the token was re-initialised by another process) is refused instead of sealing
  data nobody can read.
* ``objects.blob``: the attribute TLV sealed under ``subkey(K, "object-seal")``, K being the token
  key for private objects and the token's ``public_key`` for public ones. AAD binds slot, serial,
  oid and every index column, so blobs cannot be swapped between rows and index columns cannot be
  altered unnoticed (a load fails).
* ``objects.label_mac`` / ``id_mac``: ``index_mac(subkey(K, "index-label" | "index-id"), value)``.
  Finds compare MACs. Equal labels (IDs) of one kind share a MAC: equality is visible, values not.

PIN counters are pessimistic: a try is counted in one transaction before scrypt runs and the
count is reset only after the PIN proved right, so parallel guesses from many processes can never
exceed the lockout, and killing the process mid-try does not erase the try.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Self

from softhsm_py import errors
from softhsm_py.constants import UserType
from softhsm_py.engine import sealing
from softhsm_py.log import get_logger
from softhsm_py.store.base import (
    ObjectIndex,
    SlotTaken,
    StoredObject,
    TokenKeyStale,
    TokenRecord,
)
from softhsm_py.store.format import (
    Keys,
    decode_attrs,
    encode_attrs,
    key_check_of,
    object_aad,
    u64,
    who_of,
    wrap_aad,
)

__all__ = ["DB_NAME", "SCHEMA_VERSION", "SqliteStore", "decode_attrs", "encode_attrs", "open_store"]

log = get_logger("store")

DB_NAME = "softhsm-py.sqlite3"
SCHEMA_VERSION = 1
BUSY_TIMEOUT_S = 10.0
LABEL_MAX = 32
SALT_LEN = 16

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

# Every open store of this process (or, after fork, of the parent), by id: a child finds here
# the connections it inherited. A plain dict, so that copying it is atomic under the GIL.
_STORES: dict[int, weakref.ref[SqliteStore]] = {}
# Inherited connections a forked child could not close (a thread of the parent was inside the
# store, so SQLite's own mutex may be held for good), with the (device, inode) of their database
# file, which this process can then no longer open safely: kept referenced so garbage collection
# does not close them either.
_ABANDONED: list[tuple[tuple[int, int] | None, sqlite3.Connection]] = []


def _check_label(label: str) -> None:
    if len(label.encode("utf-8")) > LABEL_MAX:
        raise ValueError(f"token label longer than {LABEL_MAX} bytes of UTF-8")


def _device_error(what: str, exc: BaseException) -> errors.DeviceError:
    # SQLite's messages name the failure (locked, I/O, full), never bound parameters.
    log.error("token store: %s failed: %s: %s", what, type(exc).__name__, exc)
    return errors.DeviceError()


def _create_private(path: Path) -> None:
    """Create ``path`` empty and 0600 unless it exists, without ever holding a descriptor of it:
    another thread's store may open the file as soon as it exists, and closing a descriptor of
    ours would then drop that store's locks (see the module docstring). The file is made under
    a temporary name and linked into place."""
    if os.path.lexists(path):
        return  # the usual case; and a read-only directory can still hold a writable database
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    os.close(os.open(tmp, flags, 0o600))
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    except OSError:  # no hard links on this file system: the short window is the lesser evil
        with suppress(FileExistsError):
            os.close(os.open(path, flags, 0o600))
    finally:
        os.unlink(tmp)


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


# --------------------------------------------------------------------------- the store


class SqliteStore:
    """The SQLite ``Store``. Create with ``open_store``."""

    def __init__(self, token_dir: Path, *, kdf_cost: int) -> None:
        if not isinstance(kdf_cost, int) or not sealing.MIN_COST <= kdf_cost <= sealing.MAX_COST:
            raise ValueError("kdf_cost out of range")
        self.kdf_cost = kdf_cost
        self.path = Path(token_dir) / DB_NAME
        self._lock = threading.Lock()
        self._pin_lock = threading.Lock()
        self._pid = os.getpid()
        self._db: sqlite3.Connection | None = None
        # What ``_version()`` adds to SQLite's data_version: our own writes, which it ignores.
        self._writes = 0
        # Answers of ``tokens()`` and ``generation()``, valid while ``_version()`` stays the same.
        self._cached_at: tuple[int, int] | None = None
        self._tokens: list[TokenRecord] | None = None
        self._generations: dict[int, int] = {}
        self._file: tuple[int, int] | None = None  # (device, inode) of the database file
        _forget_inherited()
        try:
            Path(token_dir).mkdir(mode=0o700, parents=True, exist_ok=True)
            # Create the file ourselves so that it is 0600 from the start; SQLite gives its
            # -wal and -shm files the mode of the database file.
            _create_private(self.path)
            self._file = _identity(self.path)
            if self._file is not None and any(file == self._file for file, _ in _ABANDONED):
                log.error("token store %s: this process forked while the store was busy", self.path)
                raise errors.DeviceError()
            db = sqlite3.connect(
                self.path,
                timeout=BUSY_TIMEOUT_S,
                isolation_level=None,  # autocommit; we issue BEGIN IMMEDIATE / COMMIT
                check_same_thread=False,
            )
        except (OSError, sqlite3.Error) as exc:
            raise _device_error(f"opening {self.path}", exc) from exc
        try:
            db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = FULL")
            db.execute("PRAGMA foreign_keys = ON")
            self._migrate(db)
        except BaseException as exc:
            db.close()
            if isinstance(exc, sqlite3.Error):
                raise _device_error(f"opening {self.path}", exc) from exc
            raise
        self._db = db
        key = id(self)
        _STORES[key] = weakref.ref(self, lambda _, key=key, stores=_STORES: stores.pop(key, None))

    def _migrate(self, db: sqlite3.Connection) -> None:
        db.execute("BEGIN IMMEDIATE")
        try:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version == 0:
                for statement in _SCHEMA_V1.split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            elif version > SCHEMA_VERSION:
                log.error(
                    "token store %s has schema version %d; this softhsm-py knows up to %d",
                    self.path,
                    version,
                    SCHEMA_VERSION,
                )
                raise errors.DeviceError()
            # Later schema versions migrate here, one step per version, in this transaction.
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _conn(self) -> sqlite3.Connection:
        if self._pid != os.getpid():
            raise RuntimeError("token store used across fork(); open a new store in the child")
        if self._db is None:
            raise RuntimeError("token store is closed")
        return self._db

    @contextmanager
    def _read(self, what: str) -> Iterator[sqlite3.Connection]:
        with self._lock:
            db = self._conn()
            try:
                yield db
            except sqlite3.Error as exc:
                raise _device_error(what, exc) from exc

    @contextmanager
    def _write(self, what: str) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction: committed on success, rolled back on any error."""
        with self._lock:
            db = self._conn()
            try:
                db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise _device_error(what, exc) from exc
            self._writes += 1  # before anything can commit: _version() moves with every write
            try:
                yield db
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

    def _version(self, db: sqlite3.Connection) -> tuple[int, int]:
        """Differs from every earlier value once anything in the store may have changed: SQLite's
        ``PRAGMA data_version`` (moves when another connection, of any process, commits; never
        for this connection's own commits) paired with our own count of writes. One PRAGMA, no
        table read. Caller holds ``self._lock``."""
        return db.execute("PRAGMA data_version").fetchone()[0], self._writes

    def _valid_cache(self, db: sqlite3.Connection) -> None:
        """Drop the cached answers if anything may have changed since they were read. Caller
        holds ``self._lock``, and reads the data only after this (so a commit that lands in
        between moves the version again and the next call reads afresh)."""
        version = self._version(db)
        if version != self._cached_at:
            self._cached_at = version
            self._tokens = None
            self._generations.clear()

    @staticmethod
    def _bump(db: sqlite3.Connection, slot_id: int | None) -> int:
        """Advance the store-wide counter and give its value to the token as its generation.

        A store-wide counter keeps a slot's generation increasing even across delete + create.
        """
        db.execute("UPDATE meta SET value = value + 1 WHERE key = 'generation'")
        gen = db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0]
        if slot_id is not None:
            db.execute("UPDATE tokens SET generation = ? WHERE slot_id = ?", (gen, slot_id))
        return gen

    @staticmethod
    def _token_row(db: sqlite3.Connection, slot_id: int, columns: str) -> tuple:
        row = db.execute(f"SELECT {columns} FROM tokens WHERE slot_id = ?", (slot_id,)).fetchone()
        if row is None:
            raise errors.TokenNotPresent()
        return row

    @staticmethod
    def _check_key(key_check: bytes, token_key: bytes) -> None:
        if not secrets.compare_digest(key_check, key_check_of(token_key)):
            raise TokenKeyStale()

    # ----------------------------------------------------------------------- lifecycle

    def close(self) -> None:
        if self._pid != os.getpid():
            self._close_inherited()
            return
        # A PIN try in flight finishes first: it is counted before scrypt runs, and closing
        # under it would leave a right PIN on disk as a wrong one (C_Finalize racing C_Login).
        with self._pin_lock, self._lock:
            db, self._db = self._db, None
            if db is None:
                return
            try:
                db.execute("PRAGMA optimize")  # refresh planner statistics where useful
                db.close()
            except sqlite3.Error as exc:
                log.warning("token store: close failed: %s", type(exc).__name__)

    def _close_inherited(self) -> None:
        """``close()`` in a forked child. Never waits for ``self._lock``: a thread of the parent
        may have held it at fork, and nothing in the child will release it."""
        db, self._db = self._db, None
        if db is None:
            return
        if self._lock.acquire(blocking=False):  # else SQLite's own mutex may be held for good
            try:
                db.close()
            except sqlite3.Error as exc:
                log.warning("token store: closing a connection inherited across fork: %s", type(exc).__name__)
            finally:
                self._lock.release()
            return
        _ABANDONED.append((self._file, db))

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------------- tokens

    _TOKEN_COLUMNS = "slot_id, serial, label, user_wrap IS NOT NULL, so_failures, user_failures, generation"

    @staticmethod
    def _record(row: tuple) -> TokenRecord:
        slot_id, serial, label, user_init, so_f, user_f, gen = row
        return TokenRecord(slot_id, serial, label, bool(user_init), so_f, user_f, gen)

    def tokens(self) -> list[TokenRecord]:
        # _read() inlined: this runs on every C_OpenSession and slot lookup.
        with self._lock:
            db = self._conn()
            try:
                self._valid_cache(db)
                if self._tokens is None:
                    rows = db.execute(f"SELECT {self._TOKEN_COLUMNS} FROM tokens ORDER BY slot_id").fetchall()
                    self._tokens = [self._record(r) for r in rows]
            except sqlite3.Error as exc:
                raise _device_error("listing tokens", exc) from exc
            return list(self._tokens)

    def token(self, slot_id: int) -> TokenRecord | None:
        with self._read("reading a token") as db:
            row = db.execute(
                f"SELECT {self._TOKEN_COLUMNS} FROM tokens WHERE slot_id = ?", (slot_id,)
            ).fetchone()
        return None if row is None else self._record(row)

    def generation(self, slot_id: int) -> int:
        """The token's generation, or 0 when the slot has no token (real ones are >= 1)."""
        # _read() inlined: this runs on every use of a token object.
        with self._lock:
            db = self._conn()
            try:
                self._valid_cache(db)
                generation = self._generations.get(slot_id)
                if generation is None:
                    row = db.execute("SELECT generation FROM tokens WHERE slot_id = ?", (slot_id,)).fetchone()
                    generation = self._generations[slot_id] = 0 if row is None else row[0]
            except sqlite3.Error as exc:
                raise _device_error("reading a generation", exc) from exc
            return generation

    def store_generation(self) -> int:
        """Store-wide counter, advanced by every write to any token (incl. create and delete)."""
        with self._read("reading the store generation") as db:
            return db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0]

    def _new_token_secrets(self, serial: str, so_pin: bytes) -> dict[str, object]:
        token_key = sealing.random_key()
        salt = os.urandom(SALT_LEN)
        kek = sealing.derive_kek(so_pin, salt, self.kdf_cost)  # slow: outside the lock
        return {
            "key_check": key_check_of(token_key),
            "public_key": sealing.random_key(),
            "so_wrap": sealing.seal(kek, token_key, wrap_aad(serial, "so")),
            "so_salt": salt,
            "so_cost": self.kdf_cost,
        }

    def create_token(self, slot_id: int, label: str, so_pin: bytes) -> TokenRecord:
        _check_label(label)
        if not 0 <= slot_id < 2**63:
            raise ValueError("slot_id out of range")
        if self.token(slot_id) is not None:  # fail fast, before the slow KDF
            raise SlotTaken(f"slot {slot_id} already holds a token")
        while True:
            serial = secrets.token_hex(8)
            row = self._new_token_secrets(serial, so_pin)
            with self._write("creating a token") as db:
                if db.execute("SELECT 1 FROM tokens WHERE slot_id = ?", (slot_id,)).fetchone():
                    raise SlotTaken(f"slot {slot_id} already holds a token")
                if db.execute("SELECT 1 FROM tokens WHERE serial = ?", (serial,)).fetchone():
                    continue  # 2**-64 odds; new serial means a new wrap AAD: start over
                db.execute(
                    "INSERT INTO tokens (slot_id, serial, label, key_check, public_key, so_wrap,"
                    " so_salt, so_cost, generation) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0)",
                    (
                        slot_id,
                        serial,
                        label,
                        row["key_check"],
                        row["public_key"],
                        row["so_wrap"],
                        row["so_salt"],
                        row["so_cost"],
                    ),
                )
                self._bump(db, slot_id)
                record = self._record(self._token_row(db, slot_id, self._TOKEN_COLUMNS))
            log.info("token created on slot %d (serial %s)", slot_id, serial)
            return record

    def reinit_token(self, slot_id: int, label: str, so_pin: bytes) -> TokenRecord:
        _check_label(label)
        while True:
            with self._read("reading a token") as db:
                (serial,) = self._token_row(db, slot_id, "serial")
            row = self._new_token_secrets(serial, so_pin)
            with self._write("re-initialising a token") as db:
                (current,) = self._token_row(db, slot_id, "serial")
                if current != serial:  # deleted and re-created meanwhile: new AAD, start over
                    continue
                db.execute("DELETE FROM objects WHERE slot_id = ?", (slot_id,))
                db.execute(
                    "UPDATE tokens SET label = ?, key_check = ?, public_key = ?, so_wrap = ?,"
                    " so_salt = ?, so_cost = ?, user_wrap = NULL, user_salt = NULL,"
                    " user_cost = NULL, so_failures = 0, user_failures = 0 WHERE slot_id = ?",
                    (
                        label,
                        row["key_check"],
                        row["public_key"],
                        row["so_wrap"],
                        row["so_salt"],
                        row["so_cost"],
                        slot_id,
                    ),
                )
                self._bump(db, slot_id)
                record = self._record(self._token_row(db, slot_id, self._TOKEN_COLUMNS))
            log.info("token on slot %d re-initialised", slot_id)
            return record

    def delete_token(self, slot_id: int) -> None:
        """Remove the token and its objects; nothing happens if the slot holds no token."""
        with self._write("deleting a token") as db:
            db.execute("DELETE FROM objects WHERE slot_id = ?", (slot_id,))
            if db.execute("DELETE FROM tokens WHERE slot_id = ?", (slot_id,)).rowcount:
                self._bump(db, None)
                log.info("token on slot %d deleted", slot_id)

    # ----------------------------------------------------------------------- PINs

    def verify_pin(self, slot_id: int, user: UserType, pin: bytes, lockout: int) -> bytes:
        # One PIN try at a time per process: tries are counted before they are made, so right
        # PINs in flight from many threads would otherwise add up to a lockout.
        with self._pin_lock:
            return self._verify_pin(slot_id, user, pin, lockout)

    def _verify_pin(self, slot_id: int, user: UserType, pin: bytes, lockout: int) -> bytes:
        who = who_of(user)
        failures = f"{who}_failures"
        cols = f"serial, key_check, {who}_wrap, {who}_salt, {who}_cost, {failures}"
        if lockout < 1:
            raise ValueError("lockout must be at least 1")
        for _ in range(3):
            # 1. Count the try before making it.
            with self._write("counting a PIN try") as db:
                serial, key_check, wrap, salt, cost, count = self._token_row(db, slot_id, cols)
                if wrap is None:
                    raise errors.UserPinNotInitialized()
                if count >= lockout:
                    raise errors.PinLocked()
                db.execute(f"UPDATE tokens SET {failures} = {failures} + 1 WHERE slot_id = ?", (slot_id,))
                self._bump(db, slot_id)
                (count,) = self._token_row(db, slot_id, failures)
            # 2. Make it, without any lock.
            try:
                kek = sealing.derive_kek(pin, salt, cost)
                token_key = sealing.unseal(kek, wrap, wrap_aad(serial, who))
            except sealing.SealBroken:
                log.info("wrong %s PIN on slot %d (%d of %d)", who, slot_id, count, lockout)
                if count >= lockout:
                    log.warning("%s PIN on slot %d is now locked", who, slot_id)
                    raise errors.PinLocked() from None
                raise errors.PinIncorrect() from None
            except Exception:
                # Not a verdict on the PIN (e.g. out of memory): take the try back.
                with self._write("uncounting a PIN try") as db:
                    db.execute(
                        f"UPDATE tokens SET {failures} = max({failures} - 1, 0) WHERE slot_id = ?",
                        (slot_id,),
                    )
                    self._bump(db, slot_id)
                raise
            # 3. Right PIN: reset the counter, unless the token was re-initialised meanwhile.
            with self._write("resetting a PIN counter") as db:
                done = db.execute(
                    f"UPDATE tokens SET {failures} = 0 WHERE slot_id = ? AND key_check = ?",
                    (slot_id, key_check),
                ).rowcount
                if done:
                    self._bump(db, slot_id)
            if done:
                return token_key
            log.info("token on slot %d changed during a login; trying again", slot_id)
        raise errors.PinIncorrect()

    def _rewrap(self, slot_id: int, who: str, token_key: bytes, new_pin: bytes, *, init: bool) -> None:
        with self._read("reading a token") as db:
            serial, key_check = self._token_row(db, slot_id, "serial, key_check")
        self._check_key(key_check, token_key)
        salt = os.urandom(SALT_LEN)
        kek = sealing.derive_kek(new_pin, salt, self.kdf_cost)  # slow: outside the lock
        wrap = sealing.seal(kek, token_key, wrap_aad(serial, who))
        with self._write("storing a PIN") as db:
            current, current_check, user_wrap = self._token_row(db, slot_id, "serial, key_check, user_wrap")
            if current != serial or current_check != key_check:
                raise TokenKeyStale()
            if who == "user" and user_wrap is None and not init:
                raise errors.UserPinNotInitialized()
            db.execute(
                f"UPDATE tokens SET {who}_wrap = ?, {who}_salt = ?, {who}_cost = ?,"
                f" {who}_failures = 0 WHERE slot_id = ?",
                (wrap, salt, self.kdf_cost, slot_id),
            )
            self._bump(db, slot_id)

    def init_user_pin(self, slot_id: int, token_key: bytes, pin: bytes) -> None:
        """(Re)wrap the token key under a new user PIN and clear the user's counter (the SO's
        way to unlock a user)."""
        self._rewrap(slot_id, "user", token_key, pin, init=True)
        log.info("user PIN initialised on slot %d", slot_id)

    def change_pin(self, slot_id: int, user: UserType, token_key: bytes, new_pin: bytes) -> None:
        """Rewrap the token key under ``new_pin`` for ``user``; the old PIN stops working."""
        who = who_of(user)
        self._rewrap(slot_id, who, token_key, new_pin, init=False)
        log.info("%s PIN changed on slot %d", who, slot_id)

    # ----------------------------------------------------------------------- objects

    def _keysets(
        self, db: sqlite3.Connection, slot_id: int, token_key: bytes | None
    ) -> tuple[str, Keys, Keys | None]:
        serial, key_check, public_key = self._token_row(db, slot_id, "serial, key_check, public_key")
        private = None
        if token_key is not None:
            self._check_key(key_check, token_key)
            private = Keys(token_key)
        return serial, Keys(public_key), private

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
        with self._read("finding objects") as db:
            _, pub, priv = self._keysets(db, slot_id, token_key)
            sql = ["SELECT oid FROM objects WHERE slot_id = ?"]
            args: list[object] = [slot_id]
            # Steer SQLite to the most selective index (ID, then label, then class): a unary
            # "+" keeps a column out of index selection without changing the result.
            weak_class = "+" if label is not None or id is not None else ""
            weak_label = "+" if id is not None else ""
            if priv is None:
                sql.append("AND private = 0")
            if object_class is not None:
                sql.append(f"AND {weak_class}object_class = ?")
                args.append(u64(object_class))
            if key_type is not None:
                sql.append("AND +key_type = ?")
                args.append(u64(key_type))
            for column, value, pub_mac, priv_mac in (
                (weak_label + "label_mac", label, pub.label_mac, priv.label_mac if priv else None),
                ("id_mac", id, pub.id_mac, priv.id_mac if priv else None),
            ):
                if value is None:
                    continue
                if priv_mac is None:
                    sql.append(f"AND {column} = ?")
                    args.append(pub_mac(value))
                else:
                    p, q = pub_mac(value), priv_mac(value)
                    # IN lets SQLite use the (slot_id, *_mac) index; CASE pairs MAC and kind.
                    sql.append(
                        f"AND {column} IN (?, ?) AND CASE private WHEN 0 THEN {column} = ?"
                        f" ELSE {column} = ? END"
                    )
                    args.extend((p, q, p, q))
            sql.append("ORDER BY oid")
            rows = db.execute(" ".join(sql), args).fetchall()
        return [r[0] for r in rows]

    def _index_row(
        self, keys: Keys, index: ObjectIndex
    ) -> tuple[int, int, int | None, bytes | None, bytes | None]:
        return (
            int(bool(index.private)),
            u64(index.object_class),
            None if index.key_type is None else u64(index.key_type),
            keys.label_mac(index.label),
            keys.id_mac(index.id),
        )

    def load(self, slot_id: int, oid: int, token_key: bytes | None) -> StoredObject:
        with self._read("loading an object") as db:
            row = db.execute(
                "SELECT o.private, o.object_class, o.key_type, o.label_mac, o.id_mac, o.blob,"
                " t.serial, t.key_check, t.public_key"
                " FROM objects o JOIN tokens t ON t.slot_id = o.slot_id"
                " WHERE o.oid = ? AND o.slot_id = ?",
                (oid, slot_id),
            ).fetchone()
        if row is None:
            raise errors.ObjectHandleInvalid()
        private, oclass, ktype, label_mac, id_mac, blob, serial, key_check, public_key = row
        if private:
            if token_key is None:
                raise errors.ObjectHandleInvalid()
            self._check_key(key_check, token_key)
            keys = Keys(token_key)
        else:
            keys = Keys(public_key)
        aad = object_aad(slot_id, serial, oid, bool(private), oclass, ktype, label_mac, id_mac)
        try:
            attrs = decode_attrs(sealing.unseal(keys.seal, blob, aad))
        except (sealing.SealBroken, ValueError) as exc:
            log.error(
                "token store: object %d on slot %d failed authentication (%s)",
                oid,
                slot_id,
                type(exc).__name__,
            )
            raise errors.DeviceError() from None
        return StoredObject(oid=oid, private=bool(private), attrs=attrs)

    def insert(
        self, slot_id: int, index: ObjectIndex, attrs: dict[int, bytes], token_key: bytes | None
    ) -> int:
        """Store a new object; its oid. A private object needs the token key."""
        return self.insert_many(slot_id, [(index, attrs)], token_key)[0]

    def insert_many(
        self, slot_id: int, objects: list[tuple[ObjectIndex, dict[int, bytes]]], token_key: bytes | None
    ) -> list[int]:
        """Store new objects in one transaction (all or none, e.g. both halves of a key pair);
        their oids in order."""
        if any(index.private for index, _ in objects) and token_key is None:
            raise errors.UserNotLoggedIn()
        plaintexts = [encode_attrs(attrs) for _, attrs in objects]
        oids = []
        with self._write("inserting objects") as db:
            serial, pub, priv = self._keysets(db, slot_id, token_key)
            for (index, _), plaintext in zip(objects, plaintexts, strict=True):
                keys = priv if index.private else pub
                assert keys is not None
                cols = self._index_row(keys, index)
                cur = db.execute(
                    "INSERT INTO objects (slot_id, private, object_class, key_type, label_mac, id_mac,"
                    " blob) VALUES (?, ?, ?, ?, ?, ?, x'')",
                    (slot_id, *cols),
                )
                oid = cur.lastrowid
                assert oid is not None
                blob = sealing.seal(keys.seal, plaintext, object_aad(slot_id, serial, oid, *cols))
                db.execute("UPDATE objects SET blob = ? WHERE oid = ?", (blob, oid))
                oids.append(oid)
            self._bump(db, slot_id)
        return oids

    def update(
        self,
        slot_id: int,
        oid: int,
        index: ObjectIndex,
        attrs: dict[int, bytes],
        token_key: bytes | None,
    ) -> None:
        """Replace an object's attributes and index (CKA_PRIVATE may change: both sides of the
        change need the token key if either is private)."""
        plaintext = encode_attrs(attrs)
        with self._write("updating an object") as db:
            serial, pub, priv = self._keysets(db, slot_id, token_key)
            row = db.execute(
                "SELECT private FROM objects WHERE oid = ? AND slot_id = ?", (oid, slot_id)
            ).fetchone()
            if row is None or (row[0] and priv is None):
                raise errors.ObjectHandleInvalid()
            if index.private and priv is None:
                raise errors.UserNotLoggedIn()
            keys = priv if index.private else pub
            assert keys is not None
            cols = self._index_row(keys, index)
            blob = sealing.seal(keys.seal, plaintext, object_aad(slot_id, serial, oid, *cols))
            db.execute(
                "UPDATE objects SET private = ?, object_class = ?, key_type = ?, label_mac = ?,"
                " id_mac = ?, blob = ? WHERE oid = ?",
                (*cols, blob, oid),
            )
            self._bump(db, slot_id)

    def delete(self, slot_id: int, oid: int) -> None:
        with self._write("deleting an object") as db:
            self._token_row(db, slot_id, "1")
            if not db.execute("DELETE FROM objects WHERE oid = ? AND slot_id = ?", (oid, slot_id)).rowcount:
                raise errors.ObjectHandleInvalid()
            self._bump(db, slot_id)


def open_store(token_dir: Path, *, kdf_cost: int) -> SqliteStore:
    """Open (creating if needed) the store of ``token_dir``."""
    return SqliteStore(Path(token_dir), kdf_cost=kdf_cost)
