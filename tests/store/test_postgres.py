"""What only the PostgreSQL backend has: schema versions in the database, instances starting at
once, a server that goes away and comes back, fork and libpq's shared socket, the password in the
URL, and a module start that never pays for psycopg."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from softhsm_py import errors
from softhsm_py.constants import UserType
from softhsm_py.store import ObjectIndex, open_store
from softhsm_py.store.base import Record
from softhsm_py.store.postgres import SCHEMA_VERSION

from .conftest import COST, SO_PIN
from .pgcluster import Cluster

REPO = Path(__file__).resolve().parents[2]


def pg_store(url: str):
    return open_store(Path("/nonexistent"), kdf_cost=COST, location=url)


def test_newer_schema_is_refused(pg_url):
    pg_store(pg_url).close()
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"UPDATE meta SET value = {SCHEMA_VERSION + 1} WHERE key = 'schema_version'")
    with pytest.raises(errors.DeviceError):
        pg_store(pg_url)


def test_version_1_store_is_migrated(pg_url):
    """A database made by softhsm-py before records existed gets them, its tokens untouched."""
    with pg_store(pg_url) as store:
        store.create_token(0, "old", SO_PIN)
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("DROP TABLE records")
        conn.execute("DROP TABLE leases")
        conn.execute("UPDATE meta SET value = 1 WHERE key = 'schema_version'")
    with pg_store(pg_url) as store:
        assert [t.label for t in store.tokens()] == ["old"]
        key = store.verify_pin(0, UserType.SO, SO_PIN, 3)
        store.add_record(0, key, Record("request", "r", b"l", "PENDING", 1, b"{}"))
        assert [r.id for r in store.records(0, key, "request")] == ["r"]
    with psycopg.connect(pg_url, autocommit=True) as conn:
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        assert row is not None and row[0] == SCHEMA_VERSION


def test_instances_starting_at_once_create_the_schema_once(pg_url):
    stores, failures = [], []
    barrier = threading.Barrier(6)

    def start() -> None:
        barrier.wait()
        try:
            stores.append(pg_store(pg_url))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=start) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert failures == [] and len(stores) == 6
        stores[0].create_token(0, "t", SO_PIN)
        assert all([t.label for t in s.tokens()] == ["t"] for s in stores)
    finally:
        for s in stores:
            s.close()


def test_an_unreachable_server_is_a_device_error(pg_cluster):
    url = f"postgresql://postgres@127.0.0.1:{pg_cluster.port}/no_such_database"
    with pytest.raises(errors.DeviceError):
        pg_store(url)


@pytest.fixture
def own_cluster():
    """A cluster of this test's own: it is stopped and started under the store."""
    with Cluster.start() as cluster:
        yield cluster


def test_server_down_is_a_device_error_and_the_store_recovers_by_itself(own_cluster):
    url = own_cluster.new_database("restart")
    store = pg_store(url)
    try:
        store.create_token(0, "t", SO_PIN)
        key = store.verify_pin(0, UserType.SO, SO_PIN, 10)
        before = store.insert(0, ObjectIndex(True, 0, None, b"before"), {1: b"kept"}, key)
        own_cluster.stop_server("immediate")  # a crash: recovery from the WAL at the next start
        for call in (
            store.tokens,
            lambda: store.generation(0),
            lambda: store.find(0, token_key=key),
            lambda: store.insert(0, ObjectIndex(False, 0), {}, None),
            lambda: store.verify_pin(0, UserType.SO, b"wrong", 10),
        ):
            with pytest.raises(errors.DeviceError):
                call()
        own_cluster.start_server()
        # No reopening: the next call connects again.
        assert [t.label for t in store.tokens()] == ["t"]
        assert store.load(0, before, key).attrs == {1: b"kept"}
        after = store.insert(0, ObjectIndex(False, 0, None, b"after"), {1: b"new"}, None)
        assert store.find(0, token_key=key) == [before, after]
        assert store.token(0).so_failures == 0  # the try during the outage was never counted
    finally:
        store.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_never_ends_the_parents_session(pg_url):
    """libpq's socket is the parent's too: nothing the child does with what it inherited (its
    close, or libpq closing the connection later, as an exit handler might) may send the server
    a Terminate for the parent's session."""
    store = pg_store(pg_url)
    try:
        store.create_token(0, "t", SO_PIN)
        connections = store.rows._connections
        pid = os.fork()
        if pid == 0:
            try:
                store.close()
                from softhsm_py.store import postgres

                for conn in postgres._INHERITED:
                    conn.close()  # PQfinish: a Terminate, written to wherever the socket now is
                postgres._INHERITED.clear()
                gc.collect()
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        # The same connection still works: no error, no reconnect.
        store.insert(0, ObjectIndex(False, 0), {1: b"x"}, None)
        assert [t.label for t in store.tokens()] == ["t"]
        assert store.rows._connections == connections
    finally:
        store.close()


def test_the_password_never_shows(pg_url, caplog):
    url = pg_url.replace("postgres@", "postgres:Sup3rSecretPw@").replace("/t_", "/missing_t_")
    with pytest.raises(errors.DeviceError):
        pg_store(url)
    assert "Sup3rSecretPw" not in caplog.text
    assert "***" in caplog.text or "postgres@" in caplog.text


def test_module_start_does_not_import_psycopg():
    code = "import sys, softhsm_py.store, softhsm_py.pkcs11.general; print('psycopg' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
        cwd=REPO,
        timeout=60,
    )
    assert done.stdout.strip() == "False", done.stderr


def test_a_restart_while_idle_costs_no_error(own_cluster):
    """A connection the server dropped while we were idle is replaced by the next call's first
    statement (a change check, or a transaction's BEGIN), with no error: nothing was done on it."""
    store = pg_store(own_cluster.new_database("idle"))
    try:
        store.create_token(0, "t", SO_PIN)
        assert [t.label for t in store.tokens()] == ["t"]
        own_cluster.stop_server("fast")
        own_cluster.start_server()
        assert [t.label for t in store.tokens()] == ["t"]  # version(): sent again
        own_cluster.stop_server("fast")
        own_cluster.start_server()
        oid = store.insert(0, ObjectIndex(False, 0), {1: b"x"}, None)  # write: BEGIN sent again
        assert store.load(0, oid, None).attrs == {1: b"x"}
        assert store.rows._connections == 3
    finally:
        store.close()
