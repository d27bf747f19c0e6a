"""The core's records (multi-authorization requests, onboarded approvers) and leases, on every
backend: sealed at rest, found by their MAC'd lookup, changed in one transaction, bound to their
status and slot, gone with their token, and carried by backups."""

from __future__ import annotations

import threading

import pytest

from softhsm_py import errors
from softhsm_py.constants import UserType
from softhsm_py.store.backup import make_backup, restore_backup
from softhsm_py.store.base import Record, RecordExists

from .conftest import COST, SO_PIN, USER_PIN

BODY = b'{"payload": "SECRET-REQUEST-BODY-4711"}'
LOOKUP = b"approver@example.com"


def rec(id_: str = "r1", status: str = "PENDING", lookup: bytes = LOOKUP, body: bytes = BODY) -> Record:
    return Record("request", id_, lookup, status, 1000, body)


def test_add_find_change_delete(store, token):
    store.add_record(0, token, rec())
    got = store.record(0, token, "request", id="r1")
    assert got is not None and (got.status, got.created, got.body) == ("PENDING", 1000, BODY)
    assert store.record(0, token, "request", lookup=LOOKUP).id == "r1"
    assert store.record(0, token, "request", lookup=b"other") is None
    assert store.record(0, token, "approver", id="r1") is None  # kinds are apart
    with pytest.raises(RecordExists):
        store.add_record(0, token, rec("r1", lookup=b"x"))
    with pytest.raises(RecordExists):
        store.add_record(0, token, rec("r2"))  # same lookup
    store.add_record(0, token, rec("r2", lookup=b"y", status="EXECUTED"))
    assert [r.id for r in store.records(0, token, "request")] == ["r1", "r2"]
    assert [r.id for r in store.records(0, token, "request", ["EXECUTED"])] == ["r2"]

    def approve(r: Record) -> Record:
        return Record(r.kind, r.id, b"", "APPROVED", r.created, r.body + b" ")

    after = store.change_record(0, token, "request", "r1", approve)
    assert after is not None and after.status == "APPROVED"
    assert store.record(0, token, "request", lookup=LOOKUP).body == BODY + b" "  # lookup kept
    assert store.change_record(0, token, "request", "r1", lambda r: None).status == "APPROVED"
    assert store.change_record(0, token, "request", "nope", approve) is None
    assert store.delete_record(0, token, "request", "r1") and not store.delete_record(
        0, token, "request", "r1"
    )
    assert store.purge_records(0, "request", ["EXECUTED"], 1001) == 1
    assert store.records(0, token, "request") == []


def test_bodies_and_lookups_never_reach_the_database(backend, store, token):
    store.add_record(0, token, rec())
    blob = backend.stored_bytes()
    assert b"SECRET-REQUEST-BODY-4711" not in blob and LOOKUP not in blob
    assert b"PENDING" in blob  # the status column is readable (cleanups select on it)


def test_a_changed_status_or_a_moved_body_is_detected(backend, store, token):
    store.add_record(0, token, rec("a", lookup=b"a"))
    store.add_record(0, token, rec("b", lookup=b"b", body=b"other"))
    backend.raw("UPDATE records SET status = 'APPROVED' WHERE id = 'a'")
    with pytest.raises(errors.DeviceError):
        store.record(0, token, "request", id="a")
    ((blob_b,),) = backend.raw("SELECT blob FROM records WHERE id = 'b'")
    backend.raw("UPDATE records SET status = 'PENDING', blob = ? WHERE id = 'a'", (blob_b,))
    with pytest.raises(errors.DeviceError):
        store.record(0, token, "request", id="a")


def test_records_need_the_token_key_and_go_with_the_token(store, token):
    store.add_record(0, token, rec())
    with pytest.raises(errors.UserNotLoggedIn):  # TokenKeyStale: a key of no token
        store.records(0, b"\x00" * 32, "request")
    store.create_token(1, "second", SO_PIN)
    key1 = store.verify_pin(1, UserType.SO, SO_PIN, 10)
    assert store.records(1, key1, "request") == []  # records belong to their slot
    store.reinit_token(0, "again", SO_PIN)
    fresh = store.verify_pin(0, UserType.SO, SO_PIN, 10)
    assert store.records(0, fresh, "request") == []  # sealed under the old key: wiped
    store.add_record(0, fresh, rec())
    store.delete_token(0)
    store.create_token(0, "new", SO_PIN)
    assert store.records(0, store.verify_pin(0, UserType.SO, SO_PIN, 10), "request") == []


def test_change_record_serialises_writers(backend, store, token):
    """Read-modify-write from four instances at once loses no update."""
    store.add_record(0, token, Record("request", "c", b"c", "PENDING", 1, b"0"))
    stores = [backend.open() for _ in range(4)]

    def plus_one(r: Record) -> Record:
        return Record(r.kind, r.id, b"", r.status, r.created, str(int(r.body) + 1).encode())

    def bump(s) -> None:
        for _ in range(10):
            s.change_record(0, token, "request", "c", plus_one)

    try:
        threads = [threading.Thread(target=bump, args=(s,)) for s in stores]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        for s in stores:
            s.close()
    assert store.record(0, token, "request", id="c").body == b"40"


def test_a_lease_has_one_holder_at_a_time(backend, store):
    other = backend.open()
    try:
        assert store.take_lease("ska-scheduler/0", "worker-a", 60)
        assert not other.take_lease("ska-scheduler/0", "worker-b", 60)
        assert store.take_lease("ska-scheduler/0", "worker-a", 60)  # renewed by its holder
        assert other.take_lease("another-job", "worker-b", 60)
        assert store.take_lease("short", "worker-a", 0)  # expires at once
        assert other.take_lease("short", "worker-b", 60)
    finally:
        other.close()


def test_records_travel_with_a_backup(backend, store, token, tmp_path):
    store.add_record(0, token, rec())
    store.add_record(0, token, Record("approver", "ap", b"alice", "ONBOARDED", 5, b"cert"))
    data = make_backup(store, 0, b"correct horse battery staple", cost=COST)
    assert b"SECRET-REQUEST-BODY-4711" not in data
    target = backend.open()
    try:
        target.delete_token(0)
        restore_backup(target, 7, data, b"correct horse battery staple", SO_PIN)
        key = target.verify_pin(7, UserType.USER, USER_PIN, 10)
        assert target.record(7, key, "request", lookup=LOOKUP).body == BODY  # resealed for slot 7
        assert target.record(7, key, "approver", lookup=b"alice").status == "ONBOARDED"
    finally:
        target.close()
