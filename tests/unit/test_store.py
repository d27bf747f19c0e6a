"""What only the SQLite row store has: its files and their modes, schema versions in PRAGMA
user_version, SQLite's locks, and the query plans of finds. The behaviour every backend shares is
the store contract suite (tests/store/test_contract.py, run on SQLite and PostgreSQL)."""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from softhsm_py import errors
from softhsm_py.constants import UserType
from softhsm_py.store import (
    ObjectIndex,
    Store,
    open_store,
)
from softhsm_py.store.sqlite import DB_NAME, SCHEMA_VERSION, decode_attrs, encode_attrs

COST = 10
SO_PIN = b"so-pin-0000"
USER_PIN = b"user-pin-1111"
CKO_DATA, CKO_CERTIFICATE, CKO_PUBLIC_KEY, CKO_PRIVATE_KEY, CKO_SECRET_KEY = 0, 1, 2, 3, 4
CKK_RSA, CKK_EC, CKK_AES = 0, 3, 0x1F
CKA_VALUE = 0x11


@pytest.fixture
def store(tmp_path):
    s = open_store(tmp_path / "tokens", kdf_cost=COST)
    yield s
    s.close()


@pytest.fixture
def token(store):
    """A token on slot 0 with SO and user PINs; returns the token key."""
    store.create_token(0, "test token", SO_PIN)
    key = store.verify_pin(0, UserType.SO, SO_PIN, 10)
    store.init_user_pin(0, key, USER_PIN)
    return key


def db_files(store) -> list[Path]:
    return sorted(store.rows.path.parent.glob(DB_NAME + "*"))


# --------------------------------------------------------------------------- basics


def test_protocol_and_files(tmp_path):
    d = tmp_path / "a" / "tokens"
    s = open_store(d, kdf_cost=COST)
    try:
        assert isinstance(s, Store)
        s.create_token(0, "x", SO_PIN)
        assert d.stat().st_mode & 0o777 == 0o700
        names = {p.name for p in db_files(s)}
        assert DB_NAME in names and DB_NAME + "-wal" in names
        for p in db_files(s):
            assert p.stat().st_mode & 0o777 == 0o600, p
        with sqlite3.connect(s.rows.path) as raw:
            assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
            assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        s.close()


def test_newer_schema_is_refused(tmp_path):
    d = tmp_path / "t"
    open_store(d, kdf_cost=COST).close()
    with sqlite3.connect(d / DB_NAME) as raw:
        raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(errors.DeviceError):
        open_store(d, kdf_cost=COST)


def test_version_1_store_is_migrated(tmp_path):
    """A database made by softhsm-py before records existed gets them, its tokens untouched."""
    from softhsm_py.constants import UserType
    from softhsm_py.store.base import Record

    d = tmp_path / "t"
    with open_store(d, kdf_cost=COST) as s:
        s.create_token(0, "old", SO_PIN)
    with sqlite3.connect(d / DB_NAME) as raw:
        raw.execute("DROP TABLE records")
        raw.execute("DROP TABLE leases")
        raw.execute("PRAGMA user_version = 1")
    with open_store(d, kdf_cost=COST) as s:
        assert [t.label for t in s.tokens()] == ["old"]
        key = s.verify_pin(0, UserType.SO, SO_PIN, 3)
        s.add_record(0, key, Record("request", "r", b"l", "PENDING", 1, b"{}"))
        assert [r.id for r in s.records(0, key, "request")] == ["r"]
    with sqlite3.connect(d / DB_NAME) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 3


_FIRST_CONNECTION_PROBE = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
try:
    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, 128)  # SQLite's "am I alone?" (DMS) byte
except OSError:
    print("held")
else:
    print("free")
"""


def test_open_stores_keep_sqlite_locks_so_no_other_process_resets_the_wal_index(tmp_path):
    """SQLite holds a shared lock on byte 128 of the -shm file while it uses the WAL index; a
    process that can lock it exclusively believes it is alone and reinitialises the index (a
    reader elsewhere then dies of SIGBUS or misses commits). Closing any descriptor of a file
    drops every POSIX lock the process holds on it, so the store must never open and close
    SQLite's files itself, not even when a second store on the same directory opens and closes."""
    first = open_store(tmp_path / "tokens", kdf_cost=COST)
    try:
        first.create_token(0, "t", SO_PIN)
        assert [t.label for t in first.tokens()] == ["t"]
        second = open_store(tmp_path / "tokens", kdf_cost=COST)
        assert [t.label for t in second.tokens()] == ["t"]
        second.close()
        assert [t.label for t in first.tokens()] == ["t"]
        probe = subprocess.run(
            [sys.executable, "-c", _FIRST_CONNECTION_PROBE, f"{first.rows.path}-shm"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert probe.stdout.strip() == "held", probe.stderr
    finally:
        first.close()


# --------------------------------------------------------------------------- objects


def test_find_queries_use_the_indexes(store, token):
    """The SQL that find() really runs is answered from the (slot_id, ...) indexes."""
    for i in range(50):
        store.insert(0, ObjectIndex(i % 2 == 0, i % 5, None, b"l%d" % i, b"i%d" % i), {}, token)
    statements: list[str] = []
    # Finds read on a connection of the read pool: this thread's, the one it gets back each time.
    reader = store.rows._reader("tracing")
    store.rows._give_back(reader)
    reader.db.set_trace_callback(statements.append)
    try:
        cases = [
            ({"object_class": 3}, "objects_class"),
            ({"label": b"l1"}, "objects_label"),
            ({"id": b"i1"}, "objects_id"),
            ({"object_class": 3, "label": b"l1"}, "objects_label"),
            ({"object_class": 3, "key_type": 1, "id": b"i1"}, "objects_id"),
            ({"label": b"l1", "id": b"i1"}, "objects_id"),
        ]
        for key in (None, token):
            for query, index_name in cases:
                statements.clear()
                store.find(0, token_key=key, **query)
                select = [s for s in statements if s.startswith("SELECT oid FROM objects")]
                assert len(select) == 1
                plan = store.rows._db.execute("EXPLAIN QUERY PLAN " + select[0]).fetchall()
                assert any(index_name in str(row) for row in plan), (query, plan)
    finally:
        reader.db.set_trace_callback(None)


def test_reads_do_not_wait_behind_a_write(store, token):
    """A write transaction held open (as one waiting for another process's write lock, or
    syncing to disk, is) does not hold up reads: they see the last commit, then the write's once
    it commits. With one connection behind one lock, the reads waited for the writer."""
    oid = store.insert(0, ObjectIndex(False, 3, None, b"label", b"id"), {1: b"value"}, token)
    before = store.generation(0)
    inside, release, done = threading.Event(), threading.Event(), threading.Event()

    def writer() -> None:
        with store.rows.write("held open") as tx:
            tx.bump(0)
            inside.set()
            assert release.wait(30)

    def reader() -> None:
        assert store.generation(0) == before
        assert store.load(0, oid, token).attrs == {1: b"value"}
        assert store.find(0, token_key=token, label=b"label") == [oid]
        assert [t.slot_id for t in store.tokens()] == [0]
        done.set()

    held = threading.Thread(target=writer)
    held.start()
    try:
        assert inside.wait(30)
        threading.Thread(target=reader, daemon=True).start()
        assert done.wait(10), "a read waited behind the open write"
    finally:
        release.set()
        held.join()
    assert store.generation(0) > before


# --------------------------------------------------------------------------- TLV


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.integers(0, 2**64 - 1), st.binary(max_size=300), max_size=20))
def test_tlv_round_trip(attrs):
    assert decode_attrs(encode_attrs(attrs)) == attrs


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_tlv_decoder_never_crashes(data):
    with contextlib.suppress(ValueError):
        decode_attrs(data)


def test_tlv_rejects_malformed():
    good = encode_attrs({1: b"abc", 2: b""})
    for bad in (b"", b"\x02", good[:-1], good[:5], good + b"\x00"):
        with pytest.raises(ValueError):
            decode_attrs(bad)
    dup = encode_attrs({1: b"a"}) + encode_attrs({1: b"b"})[1:]
    with pytest.raises(ValueError):
        decode_attrs(dup)
    with pytest.raises(TypeError):
        encode_attrs({1: "str"})
    with pytest.raises(ValueError):
        encode_attrs({-1: b""})
