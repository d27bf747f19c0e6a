"""Backup, restore and clone of a partition, across backends (SQLite <-> PostgreSQL)."""

from __future__ import annotations

import threading

import pytest

from softhsm_py import errors
from softhsm_py.constants import UserType
from softhsm_py.store import ObjectIndex, SlotTaken
from softhsm_py.store.backup import BackupError, clone, make_backup, read_backup, restore_backup

from .conftest import COST, SO_PIN, USER_PIN, Backend

PASS = b"correct horse battery staple"
SECRET = b"PRIVATE-KEY-MATERIAL-0123456789abcdef"
CKO_DATA, CKO_PRIVATE_KEY, CKO_SECRET_KEY = 0, 3, 4
CKK_EC, CKK_AES = 3, 0x1F


@pytest.fixture
def other(request, backend, tmp_path) -> Backend:
    """A second, empty store: of the other kind (so every test crosses backends)."""
    if backend.name == "postgresql":
        return Backend("sqlite", tmp_path / "other-tokens", None, None)
    cluster = request.getfixturevalue("pg_cluster")
    from .conftest import database_name

    url = cluster.new_database(database_name(request) + "_other")
    return Backend("postgresql", tmp_path / "other-tokens", url, cluster)


def fill(store, token) -> dict[int, tuple[bool, dict[int, bytes]]]:
    """Objects of every kind on slot 0; {oid: (private, attrs)}."""
    made = {}
    for i in range(12):
        private = i % 3 != 0
        attrs = {0: bytes([i]), 3: b"label-%d" % (i % 4), 0x11: SECRET + bytes([i]), 0x80001234: b"vendor"}
        index = ObjectIndex(
            private, (CKO_DATA, CKO_PRIVATE_KEY, CKO_SECRET_KEY)[i % 3], None, b"label-%d" % (i % 4), b"id"
        )
        made[store.insert(0, index, attrs, token if private else None)] = (private, attrs)
    pub, priv = store.insert_many(
        0,
        [
            (ObjectIndex(False, 2, CKK_EC, b"pair", b"\x01"), {1: b"public half"}),
            (ObjectIndex(True, CKO_PRIVATE_KEY, CKK_EC, b"pair", b"\x01"), {1: b"private half"}),
        ],
        token,
    )
    made[pub] = (False, {1: b"public half"})
    made[priv] = (True, {1: b"private half"})
    return made


def contents(store, slot, key) -> list[tuple[bool, dict[int, bytes]]]:
    return sorted(
        (
            (o.private, o.attrs)
            for o in (store.load(slot, oid, key) for oid in store.find(slot, token_key=key))
        ),
        key=repr,
    )


def test_backup_restore_round_trip_across_backends(backend, other, store, token):
    made = fill(store, token)
    with pytest.raises(errors.PinIncorrect):  # counted, and the count travels
        store.verify_pin(0, UserType.USER, b"wrong", 10)
    source = store.token(0)
    data = make_backup(store, 0, PASS, cost=COST)
    # Nothing in the file is a key, a PIN or a value in clear.
    for needle in (token, SO_PIN, USER_PIN, SECRET, b"label-1", b"public half", source.serial.encode()):
        assert needle not in data
    target = other.open()
    try:
        record = restore_backup(target, 5, data, PASS, SO_PIN)
        assert (record.slot_id, record.serial, record.label) == (5, source.serial, source.label)
        assert (record.user_pin_initialized, record.so_failures, record.user_failures) == (True, 0, 1)
        key = target.verify_pin(5, UserType.USER, USER_PIN, 10)  # both PINs still work
        assert key == token and target.verify_pin(5, UserType.SO, SO_PIN, 10) == token
        assert contents(target, 5, key) == contents(store, 0, token) == sorted(made.values(), key=repr)
        assert len(target.find(5, token_key=key, label=b"label-1")) == 3
        assert len(target.find(5, token_key=None)) == len([p for p, _ in made.values() if not p])
        # And back again, by clone, into the first store's slot 1 (the serial is gone there).
        store.delete_token(0)
        cloned = clone(target, 5, store, 1, SO_PIN)
        assert cloned.serial == source.serial
        assert contents(store, 1, token) == sorted(made.values(), key=repr)
    finally:
        target.close()


def test_wrong_passphrase_tampering_and_truncation_are_refused(backend, store, token):
    fill(store, token)
    data = make_backup(store, 0, PASS, cost=COST)
    target = backend.open()
    store.delete_token(0)
    try:
        with pytest.raises(BackupError, match="wrong passphrase"):
            restore_backup(target, 0, data, b"not the passphrase", SO_PIN)
        for pos in (0, 20, 21, 30, len(data) // 2, len(data) - 1):
            bad = bytearray(data)
            bad[pos] ^= 0x01
            with pytest.raises(BackupError):
                read_backup(bytes(bad), PASS)
        for cut in (0, 5, 37, 40, 60, len(data) - 1):
            with pytest.raises(BackupError, match=r"truncated|cut short"):
                read_backup(data[:cut], PASS)
        with pytest.raises(BackupError, match="not a softhsm-py backup"):
            read_backup(b"PK\x03\x04" + data[4:], PASS)
        with pytest.raises(BackupError, match="SO PIN"):
            restore_backup(target, 0, data, PASS, b"wrong-so-pin")
        assert target.tokens() == []  # nothing was written by any refusal
        restore_backup(target, 0, data, PASS, SO_PIN)
        with pytest.raises(SlotTaken):
            restore_backup(target, 0, data, PASS, SO_PIN)
        with pytest.raises(BackupError, match="already holds that token"):
            restore_backup(target, 3, data, PASS, SO_PIN)
    finally:
        target.close()


def test_a_short_passphrase_and_an_empty_slot_are_refused(store, token):
    with pytest.raises(BackupError, match="at least"):
        make_backup(store, 0, b"short", cost=COST)
    with pytest.raises(BackupError, match="holds no token"):
        make_backup(store, 7, PASS, cost=COST)


def test_a_backup_taken_while_another_instance_writes_is_one_snapshot(backend, store, token, monkeypatch):
    """Another instance re-initialises the token (new key, new SO PIN) and fills it again right
    between the backup's reads of the token row and of the objects: the backup must still be one
    state of the partition, restorable whole with the SO PIN of that state."""
    store.insert(0, ObjectIndex(True, CKO_SECRET_KEY, CKK_AES, b"before"), {1: b"old key's object"}, token)
    writer = backend.open()
    tx_class = type(store.rows._tx)
    real_objects = tx_class.objects

    def objects_after_a_reinit(self, slot_id):
        monkeypatch.setattr(tx_class, "objects", real_objects)
        done = threading.Event()

        def reinit() -> None:  # in a thread: the store may hold its own lock here
            writer.reinit_token(0, "again", b"second-so-pin")
            key = writer.verify_pin(0, UserType.SO, b"second-so-pin", 10)
            writer.insert(0, ObjectIndex(True, CKO_SECRET_KEY, CKK_AES, b"after"), {1: b"new"}, key)
            done.set()

        thread = threading.Thread(target=reinit)
        thread.start()
        thread.join(60)
        assert done.is_set()
        return real_objects(self, slot_id)

    monkeypatch.setattr(tx_class, "objects", objects_after_a_reinit)
    try:
        data = make_backup(store, 0, PASS, cost=COST)
    finally:
        writer.close()
    assert store.token(0).label == "again"  # the re-initialisation did happen meanwhile
    target = backend.open()
    try:
        target.delete_token(0)  # the serial may live in one slot of a store only
        restore_backup(target, 9, data, PASS, SO_PIN)  # the state before: old PIN, old object
        assert contents(target, 9, token) == [(True, {1: b"old key's object"})]
    finally:
        target.close()
