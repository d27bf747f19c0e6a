"""The store contract: every backend (SQLite, PostgreSQL) behind the one secrecy layer behaves the
same. Secrecy at rest, PINs and lockout, re-initialisation, generations and caches, objects,
threads, processes. Each test runs once per backend (``conftest.backend``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from softhsm_py import errors
from softhsm_py.constants import UserType
from softhsm_py.store import ObjectIndex, SlotTaken, StoredObject, TokenKeyStale

from .conftest import SO_PIN, USER_PIN

REPO = Path(__file__).resolve().parents[2]
CKO_DATA, CKO_CERTIFICATE, CKO_PUBLIC_KEY, CKO_PRIVATE_KEY, CKO_SECRET_KEY = 0, 1, 2, 3, 4
CKK_RSA, CKK_EC, CKK_AES = 0, 3, 0x1F
CKA_VALUE = 0x11
SECRET = b"TOPSECRET-MATERIAL-0123456789"
SECRET_LABEL = b"secret-label"
SECRET_ID = b"secret-id-4242"


def test_reopen_keeps_everything(backend, store, token):
    oid = store.insert(0, ObjectIndex(True, CKO_SECRET_KEY, CKK_AES, b"k", b"1"), {1: b"v"}, token)
    store.close()
    again = backend.open()
    try:
        key = again.verify_pin(0, UserType.USER, USER_PIN, 10)
        assert again.load(0, oid, key).attrs == {1: b"v"}
    finally:
        again.close()


def test_closed_store_refuses_use(store):
    store.close()
    store.close()  # idempotent
    with pytest.raises(RuntimeError):
        store.tokens()


def test_tokens_create_and_slot_taken(store):
    assert store.tokens() == [] and store.token(3) is None
    b = store.create_token(3, "bee", SO_PIN)
    a = store.create_token(1, "ä" * 16, SO_PIN)  # 32 bytes of UTF-8
    assert [t.slot_id for t in store.tokens()] == [1, 3]
    assert store.token(3) == b
    assert (b.label, b.user_pin_initialized, b.so_failures, b.user_failures) == ("bee", False, 0, 0)
    assert len(a.serial) == 16 and a.serial != b.serial and a.serial.isprintable()
    int(a.serial, 16)
    with pytest.raises(SlotTaken):
        store.create_token(3, "again", SO_PIN)
    with pytest.raises(ValueError):
        store.create_token(4, "x" * 33, SO_PIN)


def test_delete_token(store, token):
    store.insert(0, ObjectIndex(False, CKO_DATA), {1: b"x"}, None)
    store.delete_token(0)
    assert store.token(0) is None and store.generation(0) == 0
    store.delete_token(0)  # nothing there: no error
    with pytest.raises(errors.TokenNotPresent):
        store.find(0, token_key=None)
    # The slot can be reused and starts empty.
    store.create_token(0, "new", SO_PIN)
    assert store.find(0, token_key=None) == []


def test_private_values_labels_ids_and_keys_never_reach_the_database(backend, store, token):
    """Nothing secret reaches the database: not its rows, not its files (SQLite's WAL; for
    PostgreSQL the cluster's whole data directory, its WAL included)."""
    attrs = {CKA_VALUE: SECRET, 3: SECRET_LABEL, 0x102: SECRET_ID}
    index = ObjectIndex(True, CKO_SECRET_KEY, CKK_AES, SECRET_LABEL, SECRET_ID)
    oid = store.insert(0, index, attrs, token)
    # Public objects are sealed too (their key is not secret, but bytes are not in plain sight).
    store.insert(0, ObjectIndex(False, CKO_DATA, None, b"pub"), {CKA_VALUE: b"PUBLIC-PAYLOAD-xyz"}, None)
    assert store.load(0, oid, token).attrs == attrs
    store.change_pin(0, UserType.USER, token, USER_PIN + b"-2")

    def check(blob: bytes) -> None:
        for needle in (SECRET, SECRET_LABEL, SECRET_ID, b"PUBLIC-PAYLOAD-xyz", token, SO_PIN, USER_PIN):
            assert needle not in blob, needle
        assert SECRET.hex().encode() not in blob and token.hex().encode() not in blob

    # While open (SQLite: the data sits in the WAL).
    blob = backend.stored_bytes()
    assert b"test token" in blob  # the token's label is not secret: this reads the right bytes
    check(blob)
    check(repr(backend.raw("SELECT * FROM objects")).encode())
    check(repr(backend.raw("SELECT * FROM tokens")).encode())
    # Only MACs in the index columns.
    ((label_mac, id_mac),) = backend.raw("SELECT label_mac, id_mac FROM objects WHERE oid = ?", (oid,))
    assert len(label_mac) == len(id_mac) == 16
    store.close()
    if backend.name == "sqlite":  # after a checkpoint into the main file
        backend.raw("PRAGMA wal_checkpoint(TRUNCATE)")
    check(backend.stored_bytes())


def test_tampering_is_detected(backend, store, token):
    a = store.insert(0, ObjectIndex(True, CKO_SECRET_KEY, CKK_AES, b"a"), {1: b"a"}, token)
    b = store.insert(0, ObjectIndex(True, CKO_SECRET_KEY, CKK_AES, b"b"), {1: b"b"}, token)
    c = store.insert(0, ObjectIndex(False, CKO_DATA), {1: b"c"}, None)
    ((blob_b,),) = backend.raw("SELECT blob FROM objects WHERE oid = ?", (b,))
    backend.raw("UPDATE objects SET blob = ? WHERE oid = ?", (blob_b, a))  # swap rows
    backend.raw("UPDATE objects SET object_class = ? WHERE oid = ?", (CKO_CERTIFICATE, c))
    with pytest.raises(errors.DeviceError):
        store.load(0, a, token)
    with pytest.raises(errors.DeviceError):
        store.load(0, c, None)
    assert store.load(0, b, token).attrs == {1: b"b"}


def test_verify_right_and_wrong_pins(store, token):
    assert store.verify_pin(0, UserType.USER, USER_PIN, 10) == token
    assert store.verify_pin(0, UserType.SO, SO_PIN, 10) == token
    with pytest.raises(errors.PinIncorrect):
        store.verify_pin(0, UserType.USER, b"wrong", 10)
    with pytest.raises(errors.PinIncorrect):
        store.verify_pin(0, UserType.USER, USER_PIN + b"x", 10)
    assert store.token(0).user_failures == 2 and store.token(0).so_failures == 0
    store.verify_pin(0, UserType.USER, USER_PIN, 10)
    assert store.token(0).user_failures == 0
    with pytest.raises(errors.PinIncorrect):
        store.verify_pin(0, UserType.SO, USER_PIN, 10)
    assert store.token(0).so_failures == 1 and store.token(0).user_failures == 0


def test_user_pin_not_initialised_and_bad_user_type(store):
    store.create_token(0, "t", SO_PIN)
    with pytest.raises(errors.UserPinNotInitialized):
        store.verify_pin(0, UserType.USER, USER_PIN, 10)
    with pytest.raises(errors.UserTypeInvalid):
        store.verify_pin(0, UserType.CONTEXT_SPECIFIC, USER_PIN, 10)
    with pytest.raises(errors.TokenNotPresent):
        store.verify_pin(5, UserType.SO, SO_PIN, 10)
    assert store.token(0).user_failures == 0


def test_lockout(store, token):
    with pytest.raises(errors.PinIncorrect):
        store.verify_pin(0, UserType.USER, b"bad", 3)
    with pytest.raises(errors.PinIncorrect):
        store.verify_pin(0, UserType.USER, b"bad", 3)
    # The try that reaches the lockout says so.
    with pytest.raises(errors.PinLocked):
        store.verify_pin(0, UserType.USER, b"bad", 3)
    assert store.token(0).user_failures == 3
    # Locked: even the right PIN is refused, and is not tried (the counter does not move).
    with pytest.raises(errors.PinLocked):
        store.verify_pin(0, UserType.USER, USER_PIN, 3)
    assert store.token(0).user_failures == 3
    # A higher lockout policy lets it through again; the SO is unaffected.
    assert store.verify_pin(0, UserType.SO, SO_PIN, 3) == token
    # The SO unlocks the user by setting a new PIN.
    with pytest.raises(errors.PinLocked):
        store.verify_pin(0, UserType.USER, USER_PIN, 3)
    store.init_user_pin(0, token, b"fresh-pin")
    assert store.token(0).user_failures == 0
    assert store.verify_pin(0, UserType.USER, b"fresh-pin", 3) == token


def test_lockout_of_one(store, token):
    with pytest.raises(errors.PinLocked):
        store.verify_pin(0, UserType.SO, b"bad", 1)
    with pytest.raises(errors.PinLocked):
        store.verify_pin(0, UserType.SO, SO_PIN, 1)


def test_parallel_guesses_cannot_exceed_the_lockout(backend, store, token):
    other = backend.open()
    results: list[str] = []
    lock = threading.Lock()

    def guess(s):
        try:
            s.verify_pin(0, UserType.USER, b"guess", 3)
            outcome = "ok"
        except errors.PKCS11Error as exc:
            outcome = type(exc).__name__
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=guess, args=(store if i % 2 else other,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    other.close()
    assert sorted(results) == ["PinIncorrect"] * 2 + ["PinLocked"] * 6
    assert store.token(0).user_failures == 3


def test_change_pin_rewraps(store, token):
    oid = store.insert(0, ObjectIndex(True, CKO_PRIVATE_KEY, CKK_EC, b"l"), {1: b"k"}, token)
    pub = store.insert(0, ObjectIndex(False, CKO_PUBLIC_KEY, CKK_EC, b"l"), {1: b"p"}, None)
    store.change_pin(0, UserType.USER, token, b"new-user-pin")
    with pytest.raises(errors.PinIncorrect):
        store.verify_pin(0, UserType.USER, USER_PIN, 10)
    key = store.verify_pin(0, UserType.USER, b"new-user-pin", 10)
    assert key == token
    assert store.load(0, oid, key).attrs == {1: b"k"}
    assert store.load(0, pub, None).attrs == {1: b"p"}
    assert store.find(0, token_key=key, label=b"l") == [oid, pub]
    # The SO PIN is independent.
    store.change_pin(0, UserType.SO, token, b"new-so-pin")
    with pytest.raises(errors.PinIncorrect):
        store.verify_pin(0, UserType.SO, SO_PIN, 10)
    assert store.verify_pin(0, UserType.SO, b"new-so-pin", 10) == token
    assert store.verify_pin(0, UserType.USER, b"new-user-pin", 10) == token


def test_change_pin_needs_the_right_key_and_an_initialised_user(store):
    store.create_token(0, "t", SO_PIN)
    key = store.verify_pin(0, UserType.SO, SO_PIN, 10)
    with pytest.raises(errors.UserPinNotInitialized):
        store.change_pin(0, UserType.USER, key, b"x" * 8)
    with pytest.raises(TokenKeyStale):
        store.init_user_pin(0, os.urandom(32), USER_PIN)
    assert not store.token(0).user_pin_initialized


def test_reinit_wipes_and_rekeys(store, token):
    before = store.token(0)
    store.insert(0, ObjectIndex(True, CKO_SECRET_KEY, CKK_AES), {1: b"k"}, token)
    store.insert(0, ObjectIndex(False, CKO_DATA), {1: b"d"}, None)
    with pytest.raises(errors.PinIncorrect):
        store.verify_pin(0, UserType.SO, b"bad", 10)
    after = store.reinit_token(0, "relabelled", b"new-so-pin")
    assert after.serial == before.serial
    assert after.label == "relabelled"
    assert not after.user_pin_initialized
    assert (after.so_failures, after.user_failures) == (0, 0)
    assert after.generation > before.generation
    assert store.find(0, token_key=None) == []
    with pytest.raises(errors.UserPinNotInitialized):
        store.verify_pin(0, UserType.USER, USER_PIN, 10)
    with pytest.raises(errors.PinIncorrect):
        store.verify_pin(0, UserType.SO, SO_PIN, 10)
    new_key = store.verify_pin(0, UserType.SO, b"new-so-pin", 10)
    assert new_key != token
    assert store.find(0, token_key=new_key) == []
    # A login from before the re-initialisation is void.
    with pytest.raises(TokenKeyStale):
        store.find(0, token_key=token)
    with pytest.raises(TokenKeyStale) as info:
        store.insert(0, ObjectIndex(True, CKO_DATA), {}, token)
    assert isinstance(info.value, errors.UserNotLoggedIn)
    with pytest.raises(errors.TokenNotPresent):
        store.reinit_token(9, "x", SO_PIN)


def test_every_write_bumps_the_generation(store):
    assert store.generation(0) == 0
    seen = []

    def step():
        g = store.generation(0)
        assert store.token(0).generation == g
        assert not seen or g > seen[-1]
        seen.append(g)

    store.create_token(0, "t", SO_PIN)
    step()
    key = store.verify_pin(0, UserType.SO, SO_PIN, 10)
    step()
    store.init_user_pin(0, key, USER_PIN)
    step()
    with pytest.raises(errors.PinIncorrect):
        store.verify_pin(0, UserType.USER, b"bad", 10)
    step()
    store.verify_pin(0, UserType.USER, USER_PIN, 10)
    step()
    store.change_pin(0, UserType.USER, key, b"other-pin")
    step()
    oid = store.insert(0, ObjectIndex(True, CKO_DATA), {1: b"x"}, key)
    step()
    store.update(0, oid, ObjectIndex(True, CKO_DATA, None, b"lbl"), {1: b"y"}, key)
    step()
    store.delete(0, oid)
    step()
    store.reinit_token(0, "t", SO_PIN)
    step()
    # Reads do not bump.
    store.find(0, token_key=None)
    store.tokens()
    assert store.generation(0) == seen[-1]
    # Other tokens are untouched by writes to slot 0.
    store.create_token(1, "other", SO_PIN)
    g1 = store.generation(1)
    store.insert(0, ObjectIndex(False, CKO_DATA), {}, None)
    assert store.generation(1) == g1
    # Delete + create on a slot never goes back in time.
    store.delete_token(0)
    assert store.generation(0) == 0
    store.create_token(0, "again", SO_PIN)
    assert store.generation(0) > seen[-1]


def test_cached_tokens_and_generations_follow_other_connections(backend, store):
    """tokens() and generation() answer from a cache while SQLite's data_version and our own
    write count stay put; a write through another connection (here a second store on the same
    file, as another process would be) must show at once."""
    other = backend.open()
    try:
        assert store.tokens() == [] and store.generation(0) == 0
        other.create_token(0, "t", SO_PIN)
        assert [t.label for t in store.tokens()] == ["t"]
        g = store.generation(0)
        assert g == other.generation(0) > 0
        assert store.generation(0) == g  # cached: unchanged
        other.insert(0, ObjectIndex(False, CKO_DATA), {1: b"x"}, None)
        assert store.generation(0) == other.generation(0) > g
        store.insert(0, ObjectIndex(False, CKO_DATA), {1: b"y"}, None)  # our own write
        assert store.generation(0) == other.generation(0)
        other.reinit_token(0, "renamed", SO_PIN)
        assert [t.label for t in store.tokens()] == ["renamed"]
        other.delete_token(0)
        assert store.tokens() == [] and store.generation(0) == 0
    finally:
        other.close()


def test_commits_of_any_other_connection_show_at_once(backend, store):
    """The cached answers follow the database's own change detection (SQLite's data_version,
    PostgreSQL's triggers): a commit by another connection (plain SQL here, so nothing of ours
    runs on the writer's side) shows on the next call."""
    store.create_token(0, "t", SO_PIN)
    gen = store.generation(0)
    for label in ("u", "v", "w"):
        backend.raw("UPDATE tokens SET label = ? WHERE slot_id = 0", (label,))
        assert [t.label for t in store.tokens()] == [label]
    backend.raw("UPDATE tokens SET generation = generation + 1 WHERE slot_id = 0")
    assert store.generation(0) == gen + 1
    if backend.name == "sqlite":
        backend.raw("PRAGMA wal_checkpoint(TRUNCATE)")
    backend.raw("UPDATE tokens SET label = 'x' WHERE slot_id = 0")
    assert [t.label for t in store.tokens()] == ["x"]
    backend.raw("DELETE FROM tokens WHERE slot_id = 0")
    assert store.tokens() == [] and store.generation(0) == 0


def test_insert_load_update_delete(store, token):
    attrs = {0: b"\x04" + bytes(7), 3: b"label", 0x11: b"", 0x80000001: b"vendor"}
    oid = store.insert(0, ObjectIndex(True, CKO_SECRET_KEY, CKK_AES, b"label", b""), attrs, token)
    got = store.load(0, oid, token)
    assert got == StoredObject(oid, True, attrs)
    # Private objects: invisible without the key.
    with pytest.raises(errors.ObjectHandleInvalid):
        store.load(0, oid, None)
    assert store.find(0, token_key=None) == []
    with pytest.raises(errors.UserNotLoggedIn):
        store.insert(0, ObjectIndex(True, CKO_DATA), {}, None)
    with pytest.raises(errors.ObjectHandleInvalid):
        store.update(0, oid, ObjectIndex(False, CKO_DATA), {}, None)
    # Update may change everything, including CKA_PRIVATE.
    store.update(0, oid, ObjectIndex(False, CKO_DATA, None, b"new", b"id"), {1: b"z"}, token)
    assert store.load(0, oid, None) == StoredObject(oid, False, {1: b"z"})
    assert store.find(0, token_key=None, label=b"new") == [oid]
    assert store.find(0, token_key=None, label=b"label") == []
    with pytest.raises(errors.UserNotLoggedIn):
        store.update(0, oid, ObjectIndex(True, CKO_DATA), {}, None)
    store.update(0, oid, ObjectIndex(True, CKO_DATA, None, b"new"), {1: b"p"}, token)
    assert store.find(0, token_key=None) == []
    assert store.find(0, token_key=token, label=b"new") == [oid]
    # Delete.
    store.delete(0, oid)
    with pytest.raises(errors.ObjectHandleInvalid):
        store.load(0, oid, token)
    with pytest.raises(errors.ObjectHandleInvalid):
        store.delete(0, oid)
    with pytest.raises(errors.ObjectHandleInvalid):
        store.update(0, oid, ObjectIndex(False, CKO_DATA), {}, token)
    # Oids are never reused.
    assert store.insert(0, ObjectIndex(False, CKO_DATA), {}, None) > oid


def test_insert_many_stores_a_key_pair_in_one_transaction(store, token, monkeypatch):
    pair = [
        (ObjectIndex(False, CKO_PUBLIC_KEY, CKK_EC, b"pair", b"1"), {1: b"public half"}),
        (ObjectIndex(True, CKO_PRIVATE_KEY, CKK_EC, b"pair", b"1"), {1: b"private half"}),
    ]
    gen = store.generation(0)
    pub, priv = store.insert_many(0, pair, token)
    assert pub < priv and store.generation(0) > gen
    assert store.find(0, token_key=token, label=b"pair") == [pub, priv]
    assert store.load(0, pub, None).attrs == {1: b"public half"}
    assert store.load(0, priv, token).attrs == {1: b"private half"}
    # All or none: a private half needs the key, and the public one is not stored alone.
    with pytest.raises(errors.UserNotLoggedIn):
        store.insert_many(0, pair, None)
    with pytest.raises(TokenKeyStale):
        store.insert_many(0, pair, os.urandom(32))
    # A failure after the first row is written (here: a failure in the second insert) rolls
    # the first back too.
    tx_class = type(store.rows._tx)
    real = tx_class.insert_object
    calls = []

    def second_fails(self, row, blob_of):
        calls.append(row)
        if len(calls) == 2:
            raise OSError("the database went away")
        return real(self, row, blob_of)

    monkeypatch.setattr(tx_class, "insert_object", second_fails)
    gen = store.generation(0)
    with pytest.raises(OSError):
        store.insert_many(0, pair, token)
    monkeypatch.undo()
    assert len(calls) == 2
    assert store.find(0, token_key=token, label=b"pair") == [pub, priv]
    assert store.generation(0) == gen
    assert store.insert_many(0, [], token) == []


def test_objects_belong_to_their_slot(store, token):
    store.create_token(1, "other", SO_PIN)
    k1 = store.verify_pin(1, UserType.SO, SO_PIN, 10)
    oid = store.insert(0, ObjectIndex(False, CKO_DATA, None, b"x"), {1: b"x"}, None)
    assert store.find(1, token_key=k1) == []
    with pytest.raises(errors.ObjectHandleInvalid):
        store.load(1, oid, k1)
    with pytest.raises(errors.ObjectHandleInvalid):
        store.delete(1, oid)
    # A token key of another token is refused.
    with pytest.raises(TokenKeyStale):
        store.find(0, token_key=k1)


def test_large_ulong_values(store, token):
    big = 2**64 - 1
    vendor = 0x80000000 | 0x1234
    a = store.insert(0, ObjectIndex(False, big, big), {big: b"x"}, None)
    b = store.insert(0, ObjectIndex(False, vendor, None), {}, None)
    assert store.find(0, token_key=None, object_class=big, key_type=big) == [a]
    assert store.find(0, token_key=None, object_class=vendor) == [b]
    assert store.load(0, a, None).attrs == {big: b"x"}


def test_find_with_two_thousand_objects(store, token):
    expected: list[tuple[int, ObjectIndex]] = []
    classes = [CKO_DATA, CKO_CERTIFICATE, CKO_PUBLIC_KEY, CKO_PRIVATE_KEY, CKO_SECRET_KEY]
    for i in range(2000):
        cls = classes[i % 5]
        private = cls in (CKO_PRIVATE_KEY, CKO_SECRET_KEY) or i % 7 == 0
        key_type = None if cls in (CKO_DATA, CKO_CERTIFICATE) else (CKK_RSA, CKK_EC)[i % 2]
        label = None if i % 11 == 0 else f"label-{i % 50}".encode()
        id_ = None if i % 13 == 0 else bytes([i % 100])
        index = ObjectIndex(private, cls, key_type, label, id_)
        oid = store.insert(0, index, {1: str(i).encode()}, token if private else None)
        expected.append((oid, index))

    def want(key, **f):
        return [
            oid
            for oid, ix in expected
            if (key is not None or not ix.private)
            and all(getattr(ix, "id" if k == "id" else k) == v for k, v in f.items())
        ]

    queries = [
        {},
        {"object_class": CKO_PRIVATE_KEY},
        {"object_class": CKO_DATA},
        {"label": b"label-7"},
        {"label": b"label-7", "object_class": CKO_SECRET_KEY},
        {"id": bytes([42])},
        {"id": bytes([42]), "label": b"label-42"},
        {"object_class": CKO_PUBLIC_KEY, "key_type": CKK_EC},
        {"label": b"nope"},
        {"label": b""},
    ]
    for key in (None, token):
        for q in queries:
            assert store.find(0, token_key=key, **q) == want(key, **q), (key is None, q)
    assert len(store.find(0, token_key=token)) == 2000
    assert store.load(0, expected[1234][0], token).attrs == {1: b"1234"}


def test_four_threads_writing_lose_nothing(backend, store, token):
    second = backend.open()  # a second connection, same process
    oids: list[int] = []
    lock = threading.Lock()
    failures: list[BaseException] = []

    def writer(n: int, s):
        try:
            mine = []
            for i in range(100):
                private = i % 2 == 0
                ix = ObjectIndex(private, CKO_DATA, None, f"t{n}".encode(), bytes([i]))
                mine.append(s.insert(0, ix, {1: f"{n}/{i}".encode()}, token if private else None))
            s.update(0, mine[0], ObjectIndex(False, CKO_DATA, None, b"upd"), {1: b"u"}, token)
            with lock:
                oids.extend(mine)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=writer, args=(n, store if n < 2 else second)) for n in range(4)]
    gen0 = store.generation(0)
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    second.close()
    assert failures == []
    assert len(set(oids)) == 400
    assert sorted(store.find(0, token_key=token)) == sorted(oids)
    assert len(store.find(0, token_key=token, label=b"upd")) == 4
    for n in range(4):
        assert len(store.find(0, token_key=token, label=f"t{n}".encode())) == 99
    assert store.generation(0) == gen0 + 404


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_fork_child_must_not_use_the_parents_store(store, token):
    oid = store.insert(0, ObjectIndex(False, CKO_DATA), {1: b"x"}, None)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: refuse use, close only forgets the connection
        code = 1
        try:
            try:
                store.tokens()
            except RuntimeError:
                store.close()
                code = 0
        finally:
            os.write(w, bytes([code]))
            os._exit(0)
    os.close(w)
    assert os.read(r, 1) == b"\x00"
    os.close(r)
    os.waitpid(pid, 0)
    # The parent's store is unharmed.
    assert store.load(0, oid, None).attrs == {1: b"x"}
    store.insert(0, ObjectIndex(False, CKO_DATA), {}, None)


CHILD = textwrap.dedent(
    """
    import json, sys
    from softhsm_py import errors
    from softhsm_py.constants import UserType
    from softhsm_py.store import ObjectIndex, open_store

    store = open_store(sys.argv[1], kdf_cost=10, location=sys.argv[2] or None)
    keys = {}
    for line in sys.stdin:
        cmd = json.loads(line)
        op = cmd["op"]
        try:
            if op == "login":
                keys[cmd["user"]] = store.verify_pin(0, UserType[cmd["user"]],
                                                     cmd["pin"].encode(), cmd.get("lockout", 10))
                out = "ok"
            elif op == "find":
                key = keys.get(cmd.get("as"))
                out = store.find(0, token_key=key, label=cmd.get("label", "").encode() or None)
            elif op == "load":
                out = store.load(0, cmd["oid"], keys.get(cmd.get("as"))).attrs[1].decode()
            elif op == "insert":
                key = keys.get(cmd.get("as"))
                ix = ObjectIndex(key is not None, 0, None, cmd["label"].encode())
                out = store.insert(0, ix, {1: cmd["value"].encode()}, key)
            elif op == "change_pin":
                store.change_pin(0, UserType.USER, keys["USER"], cmd["pin"].encode())
                out = "ok"
            elif op == "guess":
                out = []
                for _ in range(cmd["tries"]):
                    try:
                        store.verify_pin(0, UserType[cmd["user"]], b"wrong", cmd["lockout"])
                        out.append("ok")
                    except errors.PKCS11Error as exc:
                        out.append(type(exc).__name__)
            elif op == "token":
                t = store.token(0)
                out = [t.user_failures, t.so_failures, t.generation]
            else:
                out = "unknown op"
        except errors.PKCS11Error as exc:
            out = type(exc).__name__
        print(json.dumps(out), flush=True)
    store.close()
    """
)


class Child:
    def __init__(self, backend) -> None:
        env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        self.proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(backend.token_dir), backend.location or ""],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=REPO,
        )

    def send(self, **cmd):
        assert self.proc.stdin
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()

    def receive(self):
        assert self.proc.stdout
        line = self.proc.stdout.readline()
        assert line, "child died"
        return json.loads(line)

    def __call__(self, **cmd):
        self.send(**cmd)
        return self.receive()

    def close(self) -> None:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.close()
        try:
            assert self.proc.wait(timeout=30) == 0
        finally:
            self.proc.stdout.close()


def test_two_processes_see_each_other(backend, store, token):
    child = Child(backend)
    try:
        # Parent inserts, child sees (public without login, private after login).
        pub = store.insert(0, ObjectIndex(False, CKO_DATA, None, b"shared"), {1: b"from-parent"}, None)
        priv = store.insert(0, ObjectIndex(True, CKO_DATA, None, b"shared"), {1: b"hidden"}, token)
        assert child(op="find", label="shared") == [pub]
        assert child(op="load", oid=priv) == "ObjectHandleInvalid"
        assert child(op="login", user="USER", pin=USER_PIN.decode()) == "ok"
        assert child(op="find", label="shared", **{"as": "USER"}) == [pub, priv]
        assert child(op="load", oid=priv, **{"as": "USER"}) == "hidden"
        # Child inserts, parent sees.
        oid = child(op="insert", label="kid", value="from-child", **{"as": "USER"})
        assert store.find(0, token_key=token, label=b"kid") == [oid]
        assert store.load(0, oid, token).attrs == {1: b"from-child"}
        # Child changes the user PIN: the parent's next login needs the new one.
        assert child(op="change_pin", pin="child-pin") == "ok"
        with pytest.raises(errors.PinIncorrect):
            store.verify_pin(0, UserType.USER, USER_PIN, 10)
        assert store.verify_pin(0, UserType.USER, b"child-pin", 10) == token
        # Lockout counters are shared both ways.
        with pytest.raises(errors.PinIncorrect):
            store.verify_pin(0, UserType.USER, b"bad", 3)
        assert child(op="token")[0] == 1
        assert child(op="login", user="USER", pin="bad", lockout=3) == "PinIncorrect"
        assert store.token(0).user_failures == 2
        assert child(op="login", user="USER", pin="bad", lockout=3) == "PinLocked"
        with pytest.raises(errors.PinLocked):
            store.verify_pin(0, UserType.USER, b"child-pin", 3)
        assert child(op="token")[2] == store.generation(0)
        # The SO (parent) unlocks; the child can log in again.
        store.init_user_pin(0, token, b"unlocked")
        assert child(op="token")[0] == 0
        assert child(op="login", user="USER", pin="unlocked", lockout=3) == "ok"
    finally:
        child.close()


def test_two_processes_writing_at_once(backend, store, token):
    children = [Child(backend) for _ in range(2)]
    try:
        for c in children:
            assert c(op="login", user="USER", pin=USER_PIN.decode()) == "ok"
        script = [("insert", n) for n in range(50)]
        made = []
        for _, n in script:  # interleave: each write is its own transaction in its own process
            for i, c in enumerate(children):
                made.append(c(op="insert", label=f"c{i}", value=str(n), **{"as": "USER"}))
            made.append(store.insert(0, ObjectIndex(False, CKO_DATA, None, b"p"), {1: b"p"}, None))
        assert len(set(made)) == 150
        assert sorted(store.find(0, token_key=token)) == sorted(made)
    finally:
        for c in children:
            c.close()


SECRET = b"TOPSECRET-MATERIAL-0123456789"


SECRET_LABEL = b"secret-label"


SECRET_ID = b"secret-id-4242"


def test_wrong_pins_from_several_processes_are_each_counted(backend, store, token):
    """A PIN-try counter is never lost between instances: 3 processes x 20 wrong PINs, all at
    once, and the counter says 60."""
    children = [Child(backend) for _ in range(3)]
    try:
        for c in children:
            c.send(op="guess", user="USER", tries=20, lockout=1000)
        outcomes = [c.receive() for c in children]
        assert all(o == ["PinIncorrect"] * 20 for o in outcomes), outcomes
        assert store.token(0).user_failures == 60
    finally:
        for c in children:
            c.close()
