"""Backup, restore and clone of one partition (token), on any backend.

A backup is the partition's rows exactly as the store keeps them (PIN wraps, counters, sealed
object blobs, index MACs), read in ONE snapshot, then encrypted and authenticated as a whole under
a key derived from a passphrase. Nothing in it was ever unsealed: keys stay sealed end to end,
and the file adds a second lock (the passphrase) to the first (the PINs).

File layout (version 1)::

    MAGIC (18 bytes) | version (u16) | scrypt cost (u8) | salt (16 bytes) | sealed payload

The sealed payload is AES-256-GCM (``sealing.seal``) under ``subkey(scrypt(passphrase, salt,
cost), "softhsm-py/backup/v1")`` with the header as AAD, so a changed header, a flipped bit, a cut
file and a wrong passphrase are all refused, and a wrong passphrase reveals nothing. The payload is
JSON: ``{"format": 1, "token": {column: value}, "tables": {"objects": [{column: value}],
"records": [{column: value}]}}``, bytes base64-encoded (``records``: the core's multi-authorization
requests and onboarded approvers; a backup made before they existed has no ``records``). New
partition-scoped tables join ``tables``.

Restore writes the partition into an empty slot of any store, in one transaction. The object
AADs bind slot and oid, which a restore changes, so each object (and record) is unsealed with its
old binding and sealed with its new one: that needs the token key, which the SO PIN unwraps from the backup's
own wrap (no counter is touched: the token is not in any store yet). The serial stays, so both
PINs go on working; a store that already holds the serial refuses the restore.

``clone`` is a restore of a backup that never leaves memory.
"""

from __future__ import annotations

import base64
import json
import os
import struct
from typing import Any

from softhsm_py.engine import sealing
from softhsm_py.log import get_logger
from softhsm_py.store.base import SlotTaken, TokenRecord
from softhsm_py.store.format import Keys, RecordKeys, key_check_of, wrap_aad
from softhsm_py.store.rows import (
    OBJECT_COLUMNS,
    RECORD_COLUMNS,
    TOKEN_COLUMNS,
    ObjectRow,
    RecordRow,
    TokenRow,
)
from softhsm_py.store.sealed import LABEL_MAX, SealedStore
from softhsm_py.store.sealed_rows import aad_of, record_aad_of

__all__ = ["BackupError", "clone", "make_backup", "read_backup", "restore", "restore_backup"]

log = get_logger("store")

MAGIC = b"SOFTHSM-PY-BACKUP\n"
VERSION = 1
SALT_LEN = 16
HEADER = struct.Struct(f">{len(MAGIC)}sHB{SALT_LEN}s")
PAYLOAD_FORMAT = 1
#: scrypt cost (log2 n) for the passphrase: 2**17 * 1 KiB = 128 MiB, ~0.5 s.
DEFAULT_COST = 17
MIN_PASSPHRASE = 8
_PURPOSE = b"softhsm-py/backup/v1"
_BYTES_COLUMNS = {"key_check", "public_key", "so_wrap", "so_salt", "user_wrap", "user_salt"}
_OBJECT_BYTES = {"label_mac", "id_mac", "blob"}
_RECORD_BYTES = {"lookup", "blob"}
_RECORD_INTS = {"slot_id", "created"}


class BackupError(Exception):
    """A backup that cannot be read or restored; the message is fit for the user (no secrets)."""


# --------------------------------------------------------------------------- the payload


def _encode(row: dict[str, Any], binary: set[str]) -> dict[str, Any]:
    return {k: (base64.b64encode(v).decode() if k in binary and v is not None else v) for k, v in row.items()}


def _decode(row: Any, columns: tuple[str, ...], binary: set[str], ints: set[str]) -> dict[str, Any]:
    if not isinstance(row, dict) or set(row) != set(columns):
        raise BackupError("the backup is damaged (a row has the wrong columns)")
    out: dict[str, Any] = {}
    for k, v in row.items():
        if v is None:
            out[k] = None
        elif k in binary:
            if not isinstance(v, str):
                raise BackupError(f"the backup is damaged (column {k})")
            try:
                out[k] = base64.b64decode(v, validate=True)
            except ValueError:
                raise BackupError(f"the backup is damaged (column {k})") from None
        elif k in ints:
            if isinstance(v, bool) or not isinstance(v, int):
                raise BackupError(f"the backup is damaged (column {k})")
            out[k] = v
        else:
            out[k] = v
    return out


_TOKEN_INTS = {"slot_id", "so_cost", "user_cost", "so_failures", "user_failures", "generation"}
_OBJECT_INTS = {"oid", "slot_id", "object_class", "key_type"}


def _payload(token: TokenRow, objects: list[ObjectRow], records: list[RecordRow]) -> dict[str, Any]:
    return {
        "format": PAYLOAD_FORMAT,
        "token": _encode(dict(zip(TOKEN_COLUMNS, token.values(), strict=True)), _BYTES_COLUMNS),
        "tables": {
            "objects": [
                _encode(dict(zip(OBJECT_COLUMNS, o.values(), strict=True)), _OBJECT_BYTES) for o in objects
            ],
            "records": [
                _encode(dict(zip(RECORD_COLUMNS, r.values(), strict=True)), _RECORD_BYTES) for r in records
            ],
        },
    }


def _parse_records(rows: Any) -> list[RecordRow]:
    if not isinstance(rows, list):
        raise BackupError("the backup is damaged (its records)")
    records = []
    for row in rows:
        r = _decode(row, RECORD_COLUMNS, _RECORD_BYTES, _RECORD_INTS)
        if not all(isinstance(r[k], str) for k in ("kind", "id", "status")) or None in r.values():
            raise BackupError("the backup is damaged (a record row)")
        records.append(RecordRow(**r))
    return records


def _parse(payload: Any) -> tuple[TokenRow, list[ObjectRow], list[RecordRow]]:
    if not isinstance(payload, dict) or payload.get("format") != PAYLOAD_FORMAT:
        raise BackupError("the backup is damaged or of an unknown format")
    token = _decode(payload.get("token"), TOKEN_COLUMNS, _BYTES_COLUMNS, _TOKEN_INTS)
    for k in ("serial", "label"):
        if not isinstance(token[k], str):
            raise BackupError(f"the backup is damaged (column {k})")
    if len(token["label"].encode()) > LABEL_MAX:
        raise BackupError("the backup is damaged (label)")
    for k in ("key_check", "public_key", "so_wrap", "so_salt", "so_cost", "so_failures", "user_failures"):
        if token[k] is None:
            raise BackupError(f"the backup is damaged (column {k})")
    tables = payload.get("tables")
    if (
        not isinstance(tables, dict)
        or "objects" not in tables
        or not set(tables) <= {"objects", "records"}
        or not isinstance(tables["objects"], list)
    ):
        raise BackupError("the backup holds tables this softhsm-py does not know")
    records = _parse_records(tables.get("records", []))
    objects = []
    for row in tables["objects"]:
        o = _decode(row, OBJECT_COLUMNS, _OBJECT_BYTES, _OBJECT_INTS)
        if not isinstance(o["private"], bool) or o["blob"] is None or o["object_class"] is None:
            raise BackupError("the backup is damaged (an object row)")
        objects.append(ObjectRow(**o))
    return TokenRow(*(token[c] for c in TOKEN_COLUMNS)), objects, records


def _read_partition(store: SealedStore, slot_id: int) -> dict[str, Any]:
    with store.rows.snapshot("reading a partition for a backup") as tx:
        token = tx.token(slot_id)
        if token is None:
            raise BackupError(f"slot {slot_id} holds no token")
        objects = tx.objects(slot_id)
        records = tx.records(slot_id, None)
    return _payload(token, objects, records)


# --------------------------------------------------------------------------- the file


def _key(passphrase: bytes, salt: bytes, cost: int) -> bytes:
    return sealing.subkey(sealing.derive_kek(passphrase, salt, cost), _PURPOSE)


def make_backup(store: SealedStore, slot_id: int, passphrase: bytes, *, cost: int = DEFAULT_COST) -> bytes:
    """The backup file's bytes for the token in ``slot_id`` (one snapshot)."""
    if len(passphrase) < MIN_PASSPHRASE:
        raise BackupError(f"the passphrase must be at least {MIN_PASSPHRASE} bytes")
    payload = json.dumps(_read_partition(store, slot_id), separators=(",", ":")).encode()
    salt = os.urandom(SALT_LEN)
    header = HEADER.pack(MAGIC, VERSION, cost, salt)
    return header + sealing.seal(_key(passphrase, salt, cost), payload, header)


def read_backup(data: bytes, passphrase: bytes) -> dict[str, Any]:
    """Check and open a backup file; its payload. ``BackupError`` says what is wrong."""
    if len(data) < HEADER.size or not data.startswith(MAGIC):
        if MAGIC.startswith(data[: len(MAGIC)]) and len(data) < HEADER.size:
            raise BackupError("the backup is truncated")
        raise BackupError("not a softhsm-py backup")
    _, version, cost, salt = HEADER.unpack_from(data)
    if version != VERSION:
        raise BackupError(f"backup format version {version}: this softhsm-py reads version {VERSION}")
    if not sealing.MIN_COST <= cost <= sealing.MAX_COST:
        raise BackupError("the backup is damaged (its header)")
    if len(data) < HEADER.size + sealing.NONCE_LEN + sealing.TAG_LEN:
        raise BackupError("the backup is truncated")
    header = data[: HEADER.size]
    try:
        plaintext = sealing.unseal(_key(passphrase, salt, cost), data[HEADER.size :], header)
    except sealing.SealBroken:
        raise BackupError("wrong passphrase, or the backup was altered or cut short") from None
    try:
        payload = json.loads(plaintext)
    except ValueError:
        raise BackupError("the backup is damaged (its payload)") from None
    _parse(payload)  # refuse a bad payload here, before anything is written
    return dict(payload)


# --------------------------------------------------------------------------- restore


def _token_key(token: TokenRow, so_pin: bytes) -> bytes:
    try:
        kek = sealing.derive_kek(so_pin, token.so_salt, token.so_cost)
        key = sealing.unseal(kek, token.so_wrap, wrap_aad(token.serial, "so"))
    except (sealing.SealBroken, ValueError):
        raise BackupError("the SO PIN does not open this partition") from None
    if key_check_of(key) != token.key_check:
        raise BackupError("the backup is damaged (key check)")
    return key


def restore(store: SealedStore, slot_id: int, payload: dict[str, Any], so_pin: bytes) -> TokenRecord:
    """Write the partition of ``payload`` into the empty ``slot_id`` of ``store``, in one
    transaction; the new token's record."""
    if not 0 <= slot_id < 2**63:
        raise BackupError("slot id out of range")
    token, objects, records = _parse(payload)
    key = _token_key(token, so_pin)  # slow (scrypt): before the transaction
    private, public, record_keys = Keys(key), Keys(token.public_key), RecordKeys(key)
    old_slot = token.slot_id
    with store.rows.write("restoring a partition") as tx:
        if tx.token(slot_id) is not None:
            raise SlotTaken(f"slot {slot_id} already holds a token")
        there = tx.token_by_serial(token.serial)
        if there is not None:
            raise BackupError(
                f"this store already holds that token (serial {token.serial}, slot {there.slot_id})"
            )
        token.slot_id = slot_id
        tx.insert_token(token)
        for row in objects:
            keys = private if row.private else public
            try:
                plaintext = sealing.unseal(keys.seal, row.blob, aad_of(row, token.serial))
            except sealing.SealBroken:
                raise BackupError(f"object {row.oid} of the backup failed authentication") from None
            new = ObjectRow(
                0, slot_id, row.private, row.object_class, row.key_type, row.label_mac, row.id_mac, b""
            )

            def blob_of(
                oid: int, new: ObjectRow = new, keys: Keys = keys, plaintext: bytes = plaintext
            ) -> bytes:
                new.oid = oid
                return sealing.seal(keys.seal, plaintext, aad_of(new, token.serial))

            tx.insert_object(new, blob_of)
        for rec in records:
            try:
                body = sealing.unseal(record_keys.seal, rec.blob, record_aad_of(rec, token.serial))
            except sealing.SealBroken:
                raise BackupError(f"record {rec.kind}/{rec.id} of the backup failed authentication") from None
            moved = RecordRow(slot_id, rec.kind, rec.id, rec.lookup, rec.status, rec.created, b"")
            moved.blob = sealing.seal(record_keys.seal, body, record_aad_of(moved, token.serial))
            tx.insert_record(moved)
        tx.bump(slot_id)
        record = tx.token(slot_id)
    assert record is not None
    log.info(
        "partition %s restored into slot %d (from slot %d, %d objects, %d records)",
        token.serial,
        slot_id,
        old_slot,
        len(objects),
        len(records),
    )
    return TokenRecord(
        record.slot_id,
        record.serial,
        record.label,
        record.user_wrap is not None,
        record.so_failures,
        record.user_failures,
        record.generation,
    )


def restore_backup(
    store: SealedStore, slot_id: int, data: bytes, passphrase: bytes, so_pin: bytes
) -> TokenRecord:
    return restore(store, slot_id, read_backup(data, passphrase), so_pin)


def clone(
    source: SealedStore, slot_id: int, target: SealedStore, target_slot: int, so_pin: bytes
) -> TokenRecord:
    """Copy the partition in ``slot_id`` of ``source`` into the empty ``target_slot`` of ``target``."""
    return restore(target, target_slot, _read_partition(source, slot_id), so_pin)
