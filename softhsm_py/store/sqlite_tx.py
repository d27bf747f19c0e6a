"""The SQLite store's schema (each version's step from the one before) and its statements:
``SqliteTx``, every statement of one transaction on a connection. The connections, transactions,
fork rules and file checks are ``store/sqlite.py``'s."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence

from softhsm_py.store.rows import (
    OBJECT_COLUMNS,
    RECORD_COLUMNS,
    TOKEN_COLUMNS,
    ObjectQuery,
    ObjectRow,
    RecordRow,
    TokenRow,
    check_token_update,
    object_row,
    record_row,
)

#: The tables of a store made before it carried APPLICATION_ID (schema 1 as first released).
OUR_TABLES = frozenset({"meta", "tokens", "objects"})

_SCHEMA_V1 = """
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO meta (key, value) VALUES ('generation', 0);

CREATE TABLE tokens (
    slot_id       INTEGER PRIMARY KEY,
    serial        TEXT NOT NULL UNIQUE,
    label         TEXT NOT NULL,
    key_check     BLOB NOT NULL,
    public_key    BLOB NOT NULL,
    so_wrap       BLOB NOT NULL,
    so_salt       BLOB NOT NULL,
    so_cost       INTEGER NOT NULL,
    user_wrap     BLOB,
    user_salt     BLOB,
    user_cost     INTEGER,
    so_failures   INTEGER NOT NULL DEFAULT 0,
    user_failures INTEGER NOT NULL DEFAULT 0,
    generation    INTEGER NOT NULL
);

CREATE TABLE objects (
    oid          INTEGER PRIMARY KEY AUTOINCREMENT,
    slot_id      INTEGER NOT NULL REFERENCES tokens (slot_id) ON DELETE CASCADE,
    private      INTEGER NOT NULL CHECK (private IN (0, 1)),
    object_class INTEGER NOT NULL,
    key_type     INTEGER,
    label_mac    BLOB,
    id_mac       BLOB,
    blob         BLOB NOT NULL
);
CREATE INDEX objects_class ON objects (slot_id, object_class);
CREATE INDEX objects_label ON objects (slot_id, label_mac);
CREATE INDEX objects_id ON objects (slot_id, id_mac);
"""

# Version 2: the core's records (multi-authorization requests, approvers) and scheduler leases.
_SCHEMA_V2 = """
CREATE TABLE records (
    slot_id INTEGER NOT NULL REFERENCES tokens (slot_id) ON DELETE CASCADE,
    kind    TEXT NOT NULL,
    id      TEXT NOT NULL,
    lookup  BLOB NOT NULL,
    status  TEXT NOT NULL,
    created INTEGER NOT NULL,
    blob    BLOB NOT NULL,
    PRIMARY KEY (slot_id, kind, id),
    UNIQUE (slot_id, kind, lookup)
);
CREATE INDEX records_status ON records (slot_id, kind, status);

CREATE TABLE leases (
    name   TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    until  INTEGER NOT NULL
) WITHOUT ROWID;
"""
# Version 3: no table changes. Every writer keeps the change counter beside the database
# (store/sqlite_changes.py), which readers trust instead of asking SQLite: a softhsm-py made
# before it would write without moving the counter, so the version shuts it out.
_SCHEMA_V3 = ""
# version -> the script that makes it from the one before
STEPS = {1: _SCHEMA_V1, 2: _SCHEMA_V2, 3: _SCHEMA_V3}

_TOKEN_SELECT = f"SELECT {', '.join(TOKEN_COLUMNS)} FROM tokens"
_OBJECT_SELECT = f"SELECT {', '.join(OBJECT_COLUMNS)} FROM objects"
_OBJECT_AND_TOKEN = (
    f"SELECT {', '.join('o.' + c for c in OBJECT_COLUMNS)}, {', '.join('t.' + c for c in TOKEN_COLUMNS)}"
    " FROM objects o JOIN tokens t ON t.slot_id = o.slot_id WHERE o.oid = ? AND o.slot_id = ?"
)
_NO = len(OBJECT_COLUMNS)
_RECORD_SELECT = f"SELECT {', '.join(RECORD_COLUMNS)} FROM records"


class SqliteTx:
    """The statements of one transaction on ``db`` (the caller holds the store's lock)."""

    __slots__ = ("db",)

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    # -- tokens

    def tokens(self) -> list[TokenRow]:
        return [TokenRow(*r) for r in self.db.execute(f"{_TOKEN_SELECT} ORDER BY slot_id")]

    def token(self, slot_id: int) -> TokenRow | None:
        row = self.db.execute(f"{_TOKEN_SELECT} WHERE slot_id = ?", (slot_id,)).fetchone()
        return None if row is None else TokenRow(*row)

    def token_by_serial(self, serial: str) -> TokenRow | None:
        row = self.db.execute(f"{_TOKEN_SELECT} WHERE serial = ?", (serial,)).fetchone()
        return None if row is None else TokenRow(*row)

    def generation(self, slot_id: int) -> int | None:
        row = self.db.execute("SELECT generation FROM tokens WHERE slot_id = ?", (slot_id,)).fetchone()
        return None if row is None else row[0]

    def store_generation(self) -> int:
        return self.db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0]

    def insert_token(self, row: TokenRow) -> None:
        values = list(row.values())
        values[-1] = 0  # generation: set by bump
        marks = ", ".join("?" * len(TOKEN_COLUMNS))
        self.db.execute(f"INSERT INTO tokens ({', '.join(TOKEN_COLUMNS)}) VALUES ({marks})", values)

    def update_token(self, slot_id: int, **values: object) -> bool:
        sets = ", ".join(f"{name} = ?" for name in check_token_update(values))
        cur = self.db.execute(f"UPDATE tokens SET {sets} WHERE slot_id = ?", (*values.values(), slot_id))
        return cur.rowcount > 0

    def delete_token(self, slot_id: int) -> bool:
        self.db.execute("DELETE FROM objects WHERE slot_id = ?", (slot_id,))
        self.db.execute("DELETE FROM records WHERE slot_id = ?", (slot_id,))
        return self.db.execute("DELETE FROM tokens WHERE slot_id = ?", (slot_id,)).rowcount > 0

    def bump(self, slot_id: int | None) -> int:
        """A store-wide counter keeps a slot's generation increasing even across delete + create."""
        db = self.db
        db.execute("UPDATE meta SET value = value + 1 WHERE key = 'generation'")
        gen = db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0]
        if slot_id is not None:
            db.execute("UPDATE tokens SET generation = ? WHERE slot_id = ?", (gen, slot_id))
        return gen

    # -- objects

    def find(self, slot_id: int, query: ObjectQuery) -> list[int]:
        sql = ["SELECT oid FROM objects WHERE slot_id = ?"]
        args: list[object] = [slot_id]
        label, ident = query.label_mac, query.id_mac
        # Steer SQLite to the most selective index (ID, then label, then class): a unary "+"
        # keeps a column out of index selection without changing the result.
        weak_class = "+" if label is not None or ident is not None else ""
        weak_label = "+" if ident is not None else ""
        if not query.private_too:
            sql.append("AND private = 0")
        if query.object_class is not None:
            sql.append(f"AND {weak_class}object_class = ?")
            args.append(query.object_class)
        if query.key_type is not None:
            sql.append("AND +key_type = ?")
            args.append(query.key_type)
        for column, match in ((weak_label + "label_mac", label), ("id_mac", ident)):
            if match is None:
                continue
            if match.private is None or not query.private_too:
                sql.append(f"AND {column} = ?")
                args.append(match.public)
            else:
                p, q = match.public, match.private
                # IN lets SQLite use the (slot_id, *_mac) index; CASE pairs MAC and kind.
                sql.append(
                    f"AND {column} IN (?, ?) AND CASE private WHEN 0 THEN {column} = ? ELSE {column} = ? END"
                )
                args.extend((p, q, p, q))
        sql.append("ORDER BY oid")
        return [r[0] for r in self.db.execute(" ".join(sql), args)]

    def object(self, slot_id: int, oid: int) -> tuple[ObjectRow, TokenRow] | None:
        row = self.db.execute(_OBJECT_AND_TOKEN, (oid, slot_id)).fetchone()
        if row is None:
            return None
        return object_row(row[:_NO]), TokenRow(*row[_NO:])

    def objects(self, slot_id: int) -> list[ObjectRow]:
        return [
            object_row(r)
            for r in self.db.execute(f"{_OBJECT_SELECT} WHERE slot_id = ? ORDER BY oid", (slot_id,))
        ]

    def insert_object(self, row: ObjectRow, blob_of: Callable[[int], bytes]) -> int:
        cur = self.db.execute(
            "INSERT INTO objects (slot_id, private, object_class, key_type, label_mac, id_mac, blob)"
            " VALUES (?, ?, ?, ?, ?, ?, x'')",
            (row.slot_id, int(row.private), row.object_class, row.key_type, row.label_mac, row.id_mac),
        )
        oid = cur.lastrowid
        assert oid is not None
        self.db.execute("UPDATE objects SET blob = ? WHERE oid = ?", (blob_of(oid), oid))
        return oid

    def update_object(self, row: ObjectRow) -> bool:
        cur = self.db.execute(
            "UPDATE objects SET private = ?, object_class = ?, key_type = ?, label_mac = ?, id_mac = ?,"
            " blob = ? WHERE oid = ? AND slot_id = ?",
            (
                int(row.private),
                row.object_class,
                row.key_type,
                row.label_mac,
                row.id_mac,
                row.blob,
                row.oid,
                row.slot_id,
            ),
        )
        return cur.rowcount > 0

    def delete_object(self, slot_id: int, oid: int) -> bool:
        return (
            self.db.execute("DELETE FROM objects WHERE oid = ? AND slot_id = ?", (oid, slot_id)).rowcount > 0
        )

    def delete_objects(self, slot_id: int) -> None:
        self.db.execute("DELETE FROM objects WHERE slot_id = ?", (slot_id,))

    # -- records

    def records(
        self, slot_id: int, kind: str | None, statuses: Sequence[str] | None = None
    ) -> list[RecordRow]:
        sql, args = [f"{_RECORD_SELECT} WHERE slot_id = ?"], list[object]([slot_id])
        if kind is not None:
            sql.append("AND kind = ?")
            args.append(kind)
        if statuses is not None:
            sql.append(f"AND status IN ({', '.join('?' * len(statuses))})")
            args.extend(statuses)
        sql.append("ORDER BY created, id")
        return [record_row(r) for r in self.db.execute(" ".join(sql), args)]

    def record(self, slot_id: int, kind: str, id: str) -> RecordRow | None:
        row = self.db.execute(
            f"{_RECORD_SELECT} WHERE slot_id = ? AND kind = ? AND id = ?", (slot_id, kind, id)
        ).fetchone()
        return None if row is None else record_row(row)

    def record_by_lookup(self, slot_id: int, kind: str, lookup: bytes) -> RecordRow | None:
        row = self.db.execute(
            f"{_RECORD_SELECT} WHERE slot_id = ? AND kind = ? AND lookup = ?", (slot_id, kind, lookup)
        ).fetchone()
        return None if row is None else record_row(row)

    def insert_record(self, row: RecordRow) -> None:
        marks = ", ".join("?" * len(RECORD_COLUMNS))
        self.db.execute(f"INSERT INTO records ({', '.join(RECORD_COLUMNS)}) VALUES ({marks})", row.values())

    def update_record(self, row: RecordRow) -> bool:
        cur = self.db.execute(
            "UPDATE records SET status = ?, blob = ? WHERE slot_id = ? AND kind = ? AND id = ?",
            (row.status, row.blob, row.slot_id, row.kind, row.id),
        )
        return cur.rowcount > 0

    def delete_record(self, slot_id: int, kind: str, id: str) -> bool:
        cur = self.db.execute(
            "DELETE FROM records WHERE slot_id = ? AND kind = ? AND id = ?", (slot_id, kind, id)
        )
        return cur.rowcount > 0

    def delete_records(self, slot_id: int, kind: str | None = None) -> None:
        if kind is None:
            self.db.execute("DELETE FROM records WHERE slot_id = ?", (slot_id,))
        else:
            self.db.execute("DELETE FROM records WHERE slot_id = ? AND kind = ?", (slot_id, kind))

    def purge_records(self, slot_id: int, kind: str, statuses: Sequence[str], before: int) -> int:
        cur = self.db.execute(
            f"DELETE FROM records WHERE slot_id = ? AND kind = ? AND created < ?"
            f" AND status IN ({', '.join('?' * len(statuses))})",
            (slot_id, kind, before, *statuses),
        )
        return cur.rowcount

    # -- leases

    def take_lease(self, name: str, holder: str, now: int, until: int) -> bool:
        cur = self.db.execute(
            "INSERT INTO leases (name, holder, until) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE"
            " SET holder = excluded.holder, until = excluded.until"
            " WHERE leases.until <= ? OR leases.holder = excluded.holder",
            (name, holder, until, now),
        )
        return cur.rowcount > 0
