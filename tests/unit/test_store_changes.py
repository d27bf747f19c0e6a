"""The SQLite store's change counter (store/sqlite_changes.py): a reader asks SQLite whether
anything changed only when the counter moved, and a writer that died mid-commit (the counter left
odd) makes every reader ask on every check."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from softhsm_py.store import open_store
from softhsm_py.store.sealed import SealedStore
from softhsm_py.store.sqlite import DB_NAME, SqliteRows
from softhsm_py.store.sqlite_changes import SUFFIX, ChangeCounter

COST = 10
SO_PIN = b"so-pin-0000"


def _rows(store: SealedStore) -> SqliteRows:
    rows = store.rows
    assert isinstance(rows, SqliteRows)
    return rows


def _queries_of_version(store: SealedStore, calls: int) -> int:
    """How many statements ``calls`` change checks ran on the store's watch connection."""
    watch = _rows(store)._watch
    assert watch is not None
    seen: list[str] = []
    watch.set_trace_callback(seen.append)
    try:
        for _ in range(calls):
            store.generation(0)
    finally:
        watch.set_trace_callback(None)
    return len(seen)


def _raw_update(token_dir: Path, label: str) -> None:
    """A commit that leaves the counter alone (nothing of ours on the writer's side)."""
    db = sqlite3.connect(token_dir / DB_NAME, isolation_level=None)
    try:
        db.execute("UPDATE tokens SET label = ? WHERE slot_id = 0", (label,))
    finally:
        db.close()


def test_no_query_while_nothing_was_committed_one_after_a_commit(tmp_path: Path) -> None:
    with open_store(tmp_path, kdf_cost=COST) as store, open_store(tmp_path, kdf_cost=COST) as other:
        store.create_token(0, "t", SO_PIN)
        store.generation(0)
        assert _queries_of_version(store, 50) == 0
        other.create_token(1, "u", SO_PIN)  # another instance's commit moves the counter
        assert _queries_of_version(store, 50) == 1
        assert [t.label for t in store.tokens()] == ["t", "u"]


def test_a_writer_killed_mid_commit_leaves_every_reader_asking(tmp_path: Path) -> None:
    with open_store(tmp_path, kdf_cost=COST) as store:
        store.create_token(0, "t", SO_PIN)
        assert [t.label for t in store.tokens()] == ["t"]
        counter = ChangeCounter(tmp_path / (DB_NAME + SUFFIX), writable=True)
        try:
            odd = counter.begin_commit()  # ... and the writer dies before end_commit
            for label in ("u", "v"):
                _raw_update(tmp_path, label)
                assert [t.label for t in store.tokens()] == [label]  # seen at once
            assert counter.read() == odd
            store.create_token(1, "w", SO_PIN)  # the next complete write makes it even again
            assert counter.read() % 2 == 0 and counter.read() > odd
            assert _queries_of_version(store, 10) == 1
        finally:
            counter.close()


def test_values_only_grow_when_writers_interleave(tmp_path: Path) -> None:
    path = tmp_path / "c"
    a, b = ChangeCounter(path, writable=True), ChangeCounter(path, writable=True)
    try:
        seen = [a.read()]
        first = a.begin_commit()
        a.end_commit(first)
        seen.append(a.read())
        odd_a = a.begin_commit()  # a commits; before it ends, b begins (after a's COMMIT)
        odd_b = b.begin_commit()
        a.end_commit(odd_a)  # moved on by b: a leaves it
        assert b.read() == odd_b
        b.end_commit(odd_b)
        seen.append(b.read())
        assert seen == sorted(set(seen)) and all(v % 2 == 0 for v in seen)
    finally:
        a.close()
        b.close()


def test_without_a_counter_every_check_asks(tmp_path: Path) -> None:
    """A store with no counter to read (read-only, of schema 2) asks SQLite on every check."""
    with open_store(tmp_path, kdf_cost=COST) as store:
        store.create_token(0, "t", SO_PIN)
        rows = _rows(store)
        assert rows._changes is not None
        rows._changes.close()
        rows._changes = None
        for label in ("u", "v"):
            _raw_update(tmp_path, label)
            assert [t.label for t in store.tokens()] == [label]
