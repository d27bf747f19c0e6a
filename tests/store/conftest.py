"""Fixtures of the store contract suite: every test taking ``backend`` (or ``store``) runs once on
SQLite and once on PostgreSQL. The PostgreSQL cluster is started once per run (``pgcluster``)
and each test gets a fresh database. PostgreSQL tests are skipped only when ``initdb`` is not
installed and ``$SOFTHSM_PY_REQUIRE_PG`` is unset (CI sets it: there, a missing PostgreSQL fails)."""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from softhsm_py.constants import UserType
from softhsm_py.store import SealedStore, open_store
from softhsm_py.store.sqlite import DB_NAME
from softhsm_py.store.sqlite_changes import SUFFIX as CHANGES_SUFFIX
from softhsm_py.store.sqlite_changes import ChangeCounter

from .pgcluster import REQUIRE_ENV, Cluster, find_bindir, required

COST = 10
SO_PIN = b"so-pin-0000"
USER_PIN = b"user-pin-1111"
BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    if find_bindir() is None:
        message = "PostgreSQL's initdb is not installed (scripts/setup-postgres.sh installs it)"
        if required():
            pytest.fail(f"{message}, and {REQUIRE_ENV} is set")
        pytest.skip(message)
    with Cluster.start() as cluster:
        yield cluster


def database_name(request: pytest.FixtureRequest) -> str:
    return "t_" + hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:16]


@pytest.fixture
def pg_url(request: pytest.FixtureRequest, pg_cluster: Cluster) -> str:
    """A fresh, empty database of the session's cluster."""
    return pg_cluster.new_database(database_name(request))


class Backend:
    """One store location (an SQLite directory or a PostgreSQL database) that tests can open as
    often as they like (each ``open()`` is another instance) and inspect behind the store's back."""

    def __init__(self, name: str, token_dir: Path, location: str | None, cluster: Cluster | None) -> None:
        self.name = name
        self.token_dir = token_dir
        self.location = location  # None: SQLite in token_dir
        self.cluster = cluster

    def open(self) -> SealedStore:
        return open_store(self.token_dir, kdf_cost=COST, location=self.location)

    def raw(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Run one statement (``?`` placeholders) on a connection of our own, committed. On
        SQLite it keeps the change counter as every writer of a store must
        (store/sqlite_changes.py); ``raw_uncounted`` does not."""
        if self.location is None:
            counter = ChangeCounter(self.token_dir / (DB_NAME + CHANGES_SUFFIX), writable=True)
            db = sqlite3.connect(self.token_dir / DB_NAME, isolation_level=None)
            try:
                odd = counter.begin_commit()  # autocommit: the statement commits in between
                try:
                    return db.execute(sql, args).fetchall()
                finally:
                    counter.end_commit(odd)
            finally:
                db.close()
                counter.close()
        import psycopg

        with psycopg.connect(self.location, autocommit=True) as conn:
            cur = conn.execute(sql.replace("?", "%s"), args)  # type: ignore[arg-type]
            return cur.fetchall() if cur.description else []

    def stored_bytes(self) -> bytes:
        """Every byte the database keeps on disk now (for PostgreSQL: the cluster's whole data
        directory, WAL included, after a checkpoint)."""
        if self.location is None:
            return b"".join(p.read_bytes() for p in sorted(self.token_dir.glob(DB_NAME + "*")))
        assert self.cluster is not None
        self.raw("CHECKPOINT")
        out = []
        for path in sorted(self.cluster.data.rglob("*")):
            if path.is_file():
                with contextlib.suppress(OSError):
                    out.append(path.read_bytes())
        return b"".join(out)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "sqlite":
        return Backend("sqlite", tmp_path / "tokens", None, None)
    cluster = request.getfixturevalue("pg_cluster")
    url = request.getfixturevalue("pg_url")
    return Backend("postgresql", tmp_path / "tokens", url, cluster)


@pytest.fixture
def store(backend: Backend) -> Iterator[SealedStore]:
    s = backend.open()
    yield s
    s.close()


@pytest.fixture
def token(store: SealedStore) -> bytes:
    """A token on slot 0 with SO and user PINs; returns the token key."""
    store.create_token(0, "test token", SO_PIN)
    key = store.verify_pin(0, UserType.SO, SO_PIN, 10)
    store.init_user_pin(0, key, USER_PIN)
    return key
