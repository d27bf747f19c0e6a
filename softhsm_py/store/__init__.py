"""Persistent token storage: the ``Store`` protocol (``base``), the secrecy model (``sealed``) over
a row store (``rows``): SQLite (``sqlite``, the default) or PostgreSQL (``postgres``)."""

from __future__ import annotations

from pathlib import Path

from softhsm_py.store.base import (
    ObjectIndex,
    SlotTaken,
    Store,
    StoredObject,
    TokenKeyStale,
    TokenRecord,
)
from softhsm_py.store.rows import RowStore
from softhsm_py.store.sealed import SealedStore

__all__ = [
    "ObjectIndex",
    "SealedStore",
    "SlotTaken",
    "Store",
    "StoredObject",
    "TokenKeyStale",
    "TokenRecord",
    "is_postgres_url",
    "open_rows",
    "open_store",
]


def is_postgres_url(location: str) -> bool:
    return location.startswith(("postgresql://", "postgres://"))


def open_rows(token_dir: Path, location: str | None = None) -> RowStore:
    """The row store ``location`` names: None (or "sqlite") for SQLite in ``token_dir``, or a
    ``postgresql://`` URL (psycopg is imported only then: module start stays cheap)."""
    if location is None or location == "sqlite":
        from softhsm_py.store.sqlite import open_rows as open_sqlite

        return open_sqlite(Path(token_dir))
    if is_postgres_url(location):
        from softhsm_py.store.postgres import open_rows as open_postgres

        return open_postgres(location)
    raise ValueError("store must be 'sqlite' or a postgresql:// URL")


def open_store(token_dir: Path, *, kdf_cost: int, location: str | None = None) -> SealedStore:
    """Open (creating if needed) the store: SQLite in ``token_dir`` unless ``location`` names
    another (see ``open_rows``)."""
    return SealedStore(open_rows(token_dir, location), kdf_cost=kdf_cost)
