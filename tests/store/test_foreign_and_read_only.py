"""A store file that is not ours is refused, untouched (issue 16, item 4); a store this process may
not write is opened read-only: reads and PIN checks work, writes get CKR_TOKEN_WRITE_PROTECTED,
and PIN tries are counted in the process (issue 16, item 3). SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from softhsm_py import errors
from softhsm_py.constants import UserType
from softhsm_py.store import ObjectIndex, open_store
from softhsm_py.store.sqlite import APPLICATION_ID, DB_NAME
from support.logs import log_to
from support.readonly import readonly_view

from .conftest import COST, SO_PIN, USER_PIN

PUBLIC = ObjectIndex(private=False, object_class=0, label=b"pub")
PRIVATE = ObjectIndex(private=True, object_class=3, label=b"priv")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def logged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[], str]]:
    """The package's log lines of this test, read back from a file (not in the store's directory)."""
    with log_to(tmp_path_factory.mktemp("log") / "test.log") as read:
        yield read


def refused(token_dir: Path, logged: Callable[[], str], why: str, location: str | None = None) -> None:
    with pytest.raises(errors.DeviceError):
        open_store(token_dir, kdf_cost=COST, location=location)
    assert "is not a softhsm-py store" in logged(), logged()
    assert why in logged(), logged()


# ------------------------------------------------------------------------------- SQLite: not ours


def test_zero_length_file_is_refused(tmp_path: Path, logged: Callable[[], str]) -> None:
    """It was taken as an empty store: the tokens "disappeared" without a log line."""
    tmp_path.joinpath(DB_NAME).touch()
    refused(tmp_path, logged, "empty (0 bytes)")
    assert tmp_path.joinpath(DB_NAME).stat().st_size == 0


def test_another_sqlite_database_is_refused_untouched(tmp_path: Path, logged: Callable[[], str]) -> None:
    path = tmp_path / DB_NAME
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
    db.execute("INSERT INTO invoices (total) VALUES (9.5)")
    db.commit()
    db.close()
    before = digest(path)
    refused(tmp_path, logged, "another SQLite database (tables: invoices)")
    assert digest(path) == before  # none of our tables were written into it
    assert sorted(p.name for p in tmp_path.iterdir()) == [DB_NAME]


@pytest.mark.parametrize("app_id", [0x4D504246, 1])
def test_another_programs_application_id_is_refused(
    tmp_path: Path, logged: Callable[[], str], app_id: int
) -> None:
    db = sqlite3.connect(tmp_path / DB_NAME)
    db.execute(f"PRAGMA application_id = {app_id}")
    db.execute("CREATE TABLE tokens (x)")
    db.commit()
    db.close()
    refused(tmp_path, logged, f"application_id 0x{app_id:08x}")


def test_an_empty_sqlite_database_is_refused(tmp_path: Path, logged: Callable[[], str]) -> None:
    db = sqlite3.connect(tmp_path / DB_NAME)
    db.execute("CREATE TABLE t (x)")
    db.execute("DROP TABLE t")  # a valid SQLite file with no tables
    db.commit()
    db.close()
    refused(tmp_path, logged, "no tables")


def test_a_file_that_is_not_sqlite_is_refused(tmp_path: Path, logged: Callable[[], str]) -> None:
    tmp_path.joinpath(DB_NAME).write_bytes(b"\x00garbage" * 512)
    with pytest.raises(errors.DeviceError):
        open_store(tmp_path, kdf_cost=COST)
    assert "file is not a database" in logged()


def test_a_new_store_is_never_an_empty_file(tmp_path: Path) -> None:
    """Built complete under a temporary name and linked into place: the path never names a
    zero-length or half-made file (which the refusal above would then take for a broken store)."""
    store = open_store(tmp_path, kdf_cost=COST)
    store.close()
    # no temporary file left; beside the database, its change counter (store/sqlite_changes.py)
    assert sorted(p.name for p in tmp_path.iterdir()) == [DB_NAME, DB_NAME + "-changes"]
    db = sqlite3.connect(tmp_path / DB_NAME)
    assert db.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()


def test_a_store_made_before_the_application_id_is_ours(tmp_path: Path) -> None:
    store = open_store(tmp_path, kdf_cost=COST)
    store.create_token(0, "older", SO_PIN)
    store.close()
    db = sqlite3.connect(tmp_path / DB_NAME, isolation_level=None)
    db.execute("PRAGMA application_id = 0")  # as every store made by the first releases
    db.close()
    store = open_store(tmp_path, kdf_cost=COST)
    assert [t.label for t in store.tokens()] == ["older"]
    store.close()
    db = sqlite3.connect(tmp_path / DB_NAME)
    assert db.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID  # now marked
    db.close()


# ------------------------------------------------------------------------------- PostgreSQL: not ours


def test_postgresql_foreign_tables_are_refused(
    pg_cluster, pg_url: str, tmp_path: Path, logged: Callable[[], str]
) -> None:
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE tokens (owner TEXT)")
    refused(tmp_path, logged, "tokens or objects table that softhsm-py did not make", pg_url)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        assert conn.execute("SELECT to_regclass('meta')").fetchone()[0] is None  # nothing written


def test_postgresql_foreign_meta_is_refused(
    pg_cluster, pg_url: str, tmp_path: Path, logged: Callable[[], str]
) -> None:
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE meta (key TEXT, value BIGINT)")
    refused(tmp_path, logged, "no schema_version", pg_url)


# ------------------------------------------------------------------------------- read-only


def make_store(token_dir: Path, location: str | None = None) -> None:
    """A token with both PINs, a public and a private object."""
    store = open_store(token_dir, kdf_cost=COST, location=location)
    store.create_token(0, "read-only", SO_PIN)
    key = store.verify_pin(0, UserType.SO, SO_PIN, 10)
    store.init_user_pin(0, key, USER_PIN)
    store.insert_many(0, [(PUBLIC, {1: b"public"}), (PRIVATE, {1: b"private"})], key)
    store.close()


# Runs in a child that sees the store read-only: every answer as JSON.
READ_ONLY_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from softhsm_py import errors
    from softhsm_py.constants import UserType
    from softhsm_py.store import ObjectIndex, open_store

    token_dir, location = Path(sys.argv[1]), (sys.argv[2] or None)
    so_pin, user_pin = sys.argv[3].encode(), sys.argv[4].encode()
    out = {}

    def attempt(name, fn):
        try:
            fn()
            out[name] = "ok"
        except errors.PKCS11Error as exc:
            out[name] = type(exc).__name__

    store = open_store(token_dir, kdf_cost=10, location=location)
    out["read_only"] = store.read_only
    out["labels"] = [t.label for t in store.tokens()]
    key = store.verify_pin(0, UserType.USER, user_pin, 3)
    oids = store.find(0, token_key=key)
    out["values"] = [store.load(0, oid, key).attrs[1].decode() for oid in oids]
    attempt("insert", lambda: store.insert(0, ObjectIndex(False, 0), {1: b"x"}, None))
    attempt("delete", lambda: store.delete(0, oids[0]))
    attempt("create_token", lambda: store.create_token(1, "new", so_pin))
    attempt("change_pin", lambda: store.change_pin(0, UserType.USER, key, b"other-pin"))
    tries = []
    for _ in range(3):
        try:
            store.verify_pin(0, UserType.USER, b"wrong-pin", 3)
        except errors.PKCS11Error as exc:
            tries.append(type(exc).__name__)
    out["wrong_tries"] = tries
    attempt("right_pin_after_lockout", lambda: store.verify_pin(0, UserType.USER, user_pin, 3))
    store.close()
    again = open_store(token_dir, kdf_cost=10, location=location)  # as another process would
    attempt("right_pin_in_a_new_instance", lambda: again.verify_pin(0, UserType.USER, user_pin, 3))
    again.close()
    print(json.dumps(out))
    """
)

EXPECTED = {
    "read_only": True,
    "labels": ["read-only"],
    "values": ["public", "private"],
    "insert": "TokenWriteProtected",
    "delete": "TokenWriteProtected",
    "create_token": "TokenWriteProtected",
    "change_pin": "TokenWriteProtected",
    "wrong_tries": ["PinIncorrect", "PinIncorrect", "PinLocked"],
    "right_pin_after_lockout": "PinLocked",  # locked for this process...
    "right_pin_in_a_new_instance": "ok",  # ...not in the store, which nobody may write
}


def run_read_only(prefix: list[str], token_dir: Path, location: str = "") -> dict[str, object]:
    argv = [
        sys.executable,
        "-c",
        READ_ONLY_SCRIPT,
        str(token_dir),
        location,
        SO_PIN.decode(),
        USER_PIN.decode(),
    ]
    proc = subprocess.run([*prefix, *argv], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    return json.loads(proc.stdout)


def test_sqlite_read_only_directory(tmp_path: Path) -> None:
    """The issue's case: a token directory nobody may write (WAL's -wal/-shm cannot be made)."""
    token_dir = tmp_path / "tokens"
    make_store(token_dir)
    before = digest(token_dir / DB_NAME)
    with readonly_view(token_dir) as prefix:
        assert run_read_only(prefix, token_dir) == EXPECTED
    assert digest(token_dir / DB_NAME) == before
    store = open_store(token_dir, kdf_cost=COST)  # writable again: the counter was never touched
    assert store.token(0).user_failures == 0  # type: ignore[union-attr]
    store.close()


def test_sqlite_read_only_store_that_is_not_ours_is_still_refused(tmp_path: Path) -> None:
    token_dir = tmp_path / "tokens"
    token_dir.mkdir()
    (token_dir / DB_NAME).touch()
    code = "import sys; from softhsm_py.store import open_store; open_store(sys.argv[1], kdf_cost=10)"
    with readonly_view(token_dir) as prefix:
        proc = subprocess.run(
            [*prefix, sys.executable, "-c", code, str(token_dir)], capture_output=True, text=True
        )
    assert proc.returncode != 0 and "DeviceError" in proc.stderr
    assert "empty (0 bytes)" in proc.stderr


def test_postgresql_role_that_may_only_read(pg_cluster, pg_url: str, tmp_path: Path) -> None:
    make_store(tmp_path, pg_url)
    pg_cluster.admin(
        "DO $$ BEGIN CREATE ROLE reader LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$"
    )
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("GRANT SELECT ON ALL TABLES IN SCHEMA public TO reader")
    reader = pg_url.replace("postgres@", "reader@")
    assert run_read_only([], tmp_path, reader) == EXPECTED
    store = open_store(tmp_path, kdf_cost=COST, location=pg_url)
    assert not store.read_only
    assert store.token(0).user_failures == 0  # type: ignore[union-attr]
    store.close()
