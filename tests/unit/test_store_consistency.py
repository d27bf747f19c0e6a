"""The store's caches and SQLite's locks under other writers: the generation a token object's
cached attributes are stamped with, a store created while another opens the same file, and a
forked child that opens its own store while it still holds the parent's connection."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from softhsm_py import errors
from softhsm_py.config import Config
from softhsm_py.constants import Attribute, ObjectClass, SessionFlag, UserType
from softhsm_py.core import sessions
from softhsm_py.core.runtime import Library, Runtime
from softhsm_py.engine import sealing
from softhsm_py.pkcs11 import objects, slots
from softhsm_py.store import ObjectIndex, open_store
from softhsm_py.store import sqlite as sqlite_store

COST = 10
SO_PIN = b"so-pin-0000"
TRUE, ULONG = b"\x01", 8


def ulong(value: int) -> bytes:
    return value.to_bytes(ULONG, sys.byteorder)


# --------------------------------------------------------------------------- cached attributes


class Interleaved:
    """The runtime's store, with another process's commit landing right after each object write
    of ours (between our COMMIT and whatever we ask the store next)."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self.after_insert: Any = None
        self.after_update: Any = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def insert_many(self, *args: Any, **kwargs: Any) -> list[int]:
        oids = self._store.insert_many(*args, **kwargs)
        if self.after_insert is not None:
            for oid in oids:
                self.after_insert(oid)
        return oids

    def update(self, slot_id: int, oid: int, *args: Any, **kwargs: Any) -> None:
        self._store.update(slot_id, oid, *args, **kwargs)
        if self.after_update is not None:
            self.after_update(oid)


@pytest.fixture
def api(tmp_path: Path):
    """(library, R/W session on a fresh token in slot 0, interleaved store, another process's store)."""
    token_dir = tmp_path / "tokens"
    lib = Library()
    lib.start(
        Runtime(config=Config(token_dir=token_dir, kdf_cost=COST), store=open_store(token_dir, kdf_cost=COST))
    )
    slots.init_token(lib, 0, SO_PIN, b"consistency".ljust(32))
    session = sessions.open_session(lib, 0, int(SessionFlag.SERIAL_SESSION | SessionFlag.RW_SESSION))
    rt = lib.runtime
    store = rt.store
    rt.store = interleaved = Interleaved(store)
    other = open_store(token_dir, kdf_cost=COST)
    try:
        yield lib, session, interleaved, other
    finally:
        other.close()
        lib.stop()
        store.close()


def data_object(lib: Library, session: int, value: bytes) -> int:
    template = [
        (Attribute.CLASS, ulong(ObjectClass.DATA)),
        (Attribute.TOKEN, TRUE),
        (Attribute.LABEL, b"ours"),
        (Attribute.VALUE, value),
    ]
    return objects.create_object(lib, session, template)


def test_an_object_created_just_before_another_process_reinitialises_the_token_is_gone(api):
    """C_InitToken elsewhere deletes every object; one of ours created a moment before must not
    live on in our cache, stamped with the generation the re-initialisation gave the token."""
    lib, session, store, other = api
    store.after_insert = lambda oid: other.reinit_token(0, "wiped", SO_PIN)
    handle = data_object(lib, session, b"old token's data")
    store.after_insert = None
    with pytest.raises(errors.ObjectHandleInvalid):
        objects.get_attribute_value(lib, session, handle, [Attribute.VALUE])


def test_a_change_another_process_makes_just_after_ours_shows(api):
    lib, session, store, other = api
    handle = data_object(lib, session, b"v")

    def relabel(oid: int) -> None:
        attrs = dict(other.load(0, oid, None).attrs)
        attrs[Attribute.LABEL] = b"theirs"
        other.update(0, oid, ObjectIndex(False, ObjectClass.DATA, None, b"theirs", None), attrs, None)

    store.after_update = relabel
    objects.set_attribute_value(lib, session, handle, [(Attribute.LABEL, b"mine")])
    store.after_update = None
    assert objects.get_attribute_value(lib, session, handle, [Attribute.LABEL]) == [b"theirs"]


def test_own_writes_still_read_back(api):
    lib, session, _, _ = api
    handle = data_object(lib, session, b"v1")
    assert objects.get_attribute_value(lib, session, handle, [Attribute.VALUE]) == [b"v1"]
    objects.set_attribute_value(lib, session, handle, [(Attribute.LABEL, b"renamed")])
    assert objects.get_attribute_value(lib, session, handle, [Attribute.LABEL, Attribute.VALUE]) == [
        b"renamed",
        b"v1",
    ]


# --------------------------------------------------------------------------- SQLite's locks

_SHARED_PROBE = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
try:  # SQLite's SHARED lock on the database file: a read lock on these 510 bytes
    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 510, 0x40000002)
except OSError:
    print("held")
else:
    print("free")
"""


def shared_lock(path: Path) -> str:
    probe = subprocess.run(
        [sys.executable, "-c", _SHARED_PROBE, str(path)], capture_output=True, text=True, timeout=60
    )
    return probe.stdout.strip() or probe.stderr


class _OsClosingLate:
    """``os`` for the store module, whose ``close`` first runs ``before`` (once)."""

    def __init__(self, before: Any) -> None:
        self._before = before

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)

    def close(self, fd: int) -> None:
        before, self._before = self._before, None
        if before is not None:
            before()
        os.close(fd)


def test_creating_the_file_never_drops_the_locks_of_a_store_opened_meanwhile(tmp_path, monkeypatch):
    """Creating the database file ourselves (so that it is 0600 from the start) must not leave a
    moment in which we hold a descriptor of it: a store of another thread that opens the file in
    that moment would lose SQLite's locks when we close ours, and another process could then
    checkpoint and delete the WAL under it."""
    token_dir = tmp_path / "tokens"
    opened: list[Any] = []
    monkeypatch.setattr(
        sqlite_store, "os", _OsClosingLate(lambda: opened.append(open_store(token_dir, kdf_cost=COST)))
    )
    first = open_store(token_dir, kdf_cost=COST)
    monkeypatch.undo()
    try:
        assert opened, "the interleaving did not happen"
        (second,) = opened
        second.create_token(0, "t", SO_PIN)
        assert first.rows.path.stat().st_mode & 0o777 == 0o600
        assert shared_lock(first.rows.path) == "held"
        # What the lock is for: another process's last close may not delete our WAL.
        subprocess.run(
            [sys.executable, "-c", f"import sqlite3; sqlite3.connect({str(first.rows.path)!r}).close()"],
            check=True,
        )
        assert Path(f"{first.rows.path}-wal").exists()
        second.insert(0, ObjectIndex(False, ObjectClass.DATA), {1: b"x"}, None)
        second.close()
        assert len(first.find(0, token_key=None)) == 1
    finally:
        first.close()
        for store in opened:
            store.close()
    assert not list(token_dir.glob(".*")), "temporary file left behind"


# --------------------------------------------------------------------------- fork

needs_fork = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")


def _wait_for(fd: int, timeout: float) -> bytes:
    ready, _, _ = select.select([fd], [], [], timeout)
    return os.read(fd, 1) if ready else b""


@needs_fork
def test_a_forked_childs_own_store_survives_the_parent_closing_its(tmp_path):
    """A child that opens its own store while it still holds the parent's inherited connection
    (C_Initialize in a child opens the new store, then forgets the old one) must hold SQLite's
    locks itself: otherwise the parent's close checkpoints and deletes the WAL the child is
    writing to, and the child's commits are lost."""
    token_dir = tmp_path / "tokens"
    parent = open_store(token_dir, kdf_cost=COST)
    parent.create_token(0, "t", SO_PIN)
    to_child_r, to_child_w = os.pipe()
    to_parent_r, to_parent_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        status = b"\x01"
        try:
            mine = open_store(token_dir, kdf_cost=COST)
            parent.close()  # the inherited one, after the new one (the library's order)
            os.write(to_parent_w, b"o")
            os.read(to_child_r, 1)  # the parent has written and closed its store
            if mine.find(0, token_key=None) == [1]:
                mine.insert(0, ObjectIndex(False, ObjectClass.DATA), {1: b"child"}, None)
                status = b"\x00"
            mine.close()
        finally:
            os.write(to_parent_w, status)
            os._exit(0)
    try:
        assert _wait_for(to_parent_r, 60) == b"o"
        parent.insert(0, ObjectIndex(False, ObjectClass.DATA), {1: b"parent"}, None)
        parent.close()
        os.write(to_child_w, b"g")
        assert _wait_for(to_parent_r, 60) == b"\x00"
    finally:
        os.waitpid(pid, 0)
        for fd in (to_child_r, to_child_w, to_parent_r, to_parent_w):
            os.close(fd)
    again = open_store(token_dir, kdf_cost=COST)
    try:
        assert [again.load(0, oid, None).attrs[1] for oid in again.find(0, token_key=None)] == [
            b"parent",
            b"child",
        ]
    finally:
        again.close()


@needs_fork
def test_the_childs_close_of_an_inherited_connection_leaves_the_parent_alone(tmp_path):
    """The child really closes what it inherited (SQLite's close in a process that holds none of
    the locks): the parent keeps its locks, its WAL and its data."""
    token_dir = tmp_path / "tokens"
    parent = open_store(token_dir, kdf_cost=COST)
    parent.create_token(0, "t", SO_PIN)
    before = parent.insert(0, ObjectIndex(False, ObjectClass.DATA), {1: b"before"}, None)
    pid = os.fork()
    if pid == 0:
        try:
            parent.close()
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    try:
        assert shared_lock(parent.rows.path) == "held"
        subprocess.run(
            [sys.executable, "-c", f"import sqlite3; sqlite3.connect({str(parent.rows.path)!r}).close()"],
            check=True,
        )
        assert Path(f"{parent.rows.path}-wal").exists()
        after = parent.insert(0, ObjectIndex(False, ObjectClass.DATA), {1: b"after"}, None)
        assert parent.find(0, token_key=None) == [before, after]
    finally:
        parent.close()
    with open_store(token_dir, kdf_cost=COST) as again:
        assert [again.load(0, oid, None).attrs[1] for oid in again.find(0, token_key=None)] == [
            b"before",
            b"after",
        ]


@needs_fork
def test_a_forked_child_can_close_a_store_whose_lock_was_held_at_fork(tmp_path):
    """Another thread of the parent may be inside the store (its lock held) when a thread forks;
    the child's C_Initialize forgets the inherited store and must not wait for that lock. That
    connection cannot be closed (SQLite's mutex may be held), so the child refuses to open the
    same file again rather than open it without SQLite's locks; other directories still open."""
    token_dir = tmp_path / "tokens"
    store = open_store(token_dir, kdf_cost=COST)
    store.create_token(0, "t", SO_PIN)
    r, w = os.pipe()
    held = threading.Event()
    release = threading.Event()

    def inside_the_store() -> None:
        with store.rows._lock:
            held.set()
            release.wait(60)

    thread = threading.Thread(target=inside_the_store)
    thread.start()
    try:
        held.wait(60)
        pid = os.fork()
        if pid == 0:
            try:
                store.close()
                try:
                    open_store(token_dir, kdf_cost=COST).close()
                except errors.DeviceError:
                    refused = True
                else:
                    refused = False
                with open_store(tmp_path / "elsewhere", kdf_cost=COST) as elsewhere:
                    ok = refused and elsewhere.tokens() == []
                os.write(w, b"\x00" if ok else b"\x01")
            finally:
                os._exit(0)
        answer = _wait_for(r, 30)
        if not answer:
            os.kill(pid, 9)
        os.waitpid(pid, 0)
        assert answer, "the child hung in close()"
        assert answer == b"\x00"
    finally:
        release.set()
        thread.join()
        os.close(r)
        os.close(w)
    assert [t.label for t in store.tokens()] == ["t"]
    store.close()


def test_close_waits_for_a_pin_try_in_flight_so_a_right_pin_is_not_counted_wrong(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """C_Finalize racing C_Login: the try is counted before scrypt runs and reset after it; a
    close in between must wait, or the right PIN stays on disk as a failure (towards lockout)."""
    store = open_store(tmp_path / "tokens", kdf_cost=COST)
    store.create_token(0, "t", SO_PIN)
    entered, release = threading.Event(), threading.Event()
    derive = sealing.derive_kek

    def slow_derive(*args: Any) -> bytes:
        entered.set()
        release.wait(10)
        return derive(*args)

    monkeypatch.setattr(sealing, "derive_kek", slow_derive)
    results: list[object] = []
    login = threading.Thread(target=lambda: results.append(store.verify_pin(0, UserType.SO, SO_PIN, 3)))
    login.start()
    assert entered.wait(10)
    closer = threading.Thread(target=store.close)
    closer.start()
    closer.join(0.2)
    assert closer.is_alive(), "close() did not wait for the PIN try"
    release.set()
    login.join(10)
    closer.join(10)
    assert len(results) == 1 and isinstance(results[0], bytes)
    monkeypatch.undo()
    reopened = open_store(tmp_path / "tokens", kdf_cost=COST)
    try:
        (record,) = reopened.tokens()
        assert record.so_failures == 0
    finally:
        reopened.close()
