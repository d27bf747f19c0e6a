"""Persistent token storage: the ``Store`` protocol and its SQLite default."""

from softhsm_py.store.base import (
    ObjectIndex,
    SlotTaken,
    Store,
    StoredObject,
    TokenKeyStale,
    TokenRecord,
)
from softhsm_py.store.sqlite import SqliteStore, open_store

__all__ = [
    "ObjectIndex",
    "SlotTaken",
    "SqliteStore",
    "Store",
    "StoredObject",
    "TokenKeyStale",
    "TokenRecord",
    "open_store",
]
