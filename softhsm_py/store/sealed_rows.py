"""One row of the store, sealed and opened (the secrecy model itself: ``store/sealed.py``'s
docstring): an object row's index MACs and AAD, a record row's AAD, the token key's check."""

from __future__ import annotations

import secrets

from softhsm_py import errors
from softhsm_py.engine import sealing
from softhsm_py.log import get_logger
from softhsm_py.store.base import ObjectIndex, Record, TokenKeyStale
from softhsm_py.store.format import Keys, RecordKeys, decode_attrs, key_check_of, object_aad, record_aad, u64
from softhsm_py.store.rows import MacMatch, ObjectRow, RecordRow, TokenRow

log = get_logger("store")


def check_key(key_check: bytes, token_key: bytes) -> None:
    if not secrets.compare_digest(key_check, key_check_of(token_key)):
        raise TokenKeyStale()


def keysets(row: TokenRow, token_key: bytes | None) -> tuple[Keys, Keys | None]:
    private = None
    if token_key is not None:
        check_key(row.key_check, token_key)
        private = Keys(token_key)
    return Keys(row.public_key), private


def object_row_of(slot_id: int, keys: Keys, index: ObjectIndex, oid: int = 0, blob: bytes = b"") -> ObjectRow:
    return ObjectRow(
        oid,
        slot_id,
        bool(index.private),
        u64(index.object_class),
        None if index.key_type is None else u64(index.key_type),
        keys.label_mac(index.label),
        keys.id_mac(index.id),
        blob,
    )


def index_match(value: bytes | None, public: bytes, private: bytes | None) -> MacMatch | None:
    """The MACs an index column of a matching row holds (``public``/``private``: index keys)."""
    if value is None:
        return None
    return MacMatch(
        sealing.index_mac(public, value), None if private is None else sealing.index_mac(private, value)
    )


def aad_of(row: ObjectRow, serial: str) -> bytes:
    return object_aad(
        row.slot_id,
        serial,
        row.oid,
        row.private,
        row.object_class,
        row.key_type,
        row.label_mac,
        row.id_mac,
    )


def unseal_object(row: ObjectRow, serial: str, keys: Keys) -> dict[int, bytes]:
    """The attributes of a row; ``DeviceError`` (logged) if the row fails authentication."""
    try:
        return decode_attrs(sealing.unseal(keys.seal, row.blob, aad_of(row, serial)))
    except (sealing.SealBroken, ValueError) as exc:
        log.error(
            "token store: object %d on slot %d failed authentication (%s)",
            row.oid,
            row.slot_id,
            type(exc).__name__,
        )
        raise errors.DeviceError() from None


def record_aad_of(row: RecordRow, serial: str) -> bytes:
    return record_aad(row.slot_id, serial, row.kind, row.id, row.lookup, row.status, row.created)


def unseal_record(row: RecordRow, serial: str, keys: RecordKeys) -> Record:
    """The record of a row; ``DeviceError`` (logged) if the row fails authentication."""
    try:
        body = sealing.unseal(keys.seal, row.blob, record_aad_of(row, serial))
    except sealing.SealBroken:
        log.error("token store: record %s/%s on slot %d failed authentication", row.kind, row.id, row.slot_id)
        raise errors.DeviceError() from None
    return Record(row.kind, row.id, b"", row.status, row.created, body)


def record_row_of(
    slot_id: int, serial: str, keys: RecordKeys, record: Record, lookup_mac: bytes
) -> RecordRow:
    row = RecordRow(slot_id, record.kind, record.id, lookup_mac, record.status, record.created, b"")
    row.blob = sealing.seal(keys.seal, record.body, record_aad_of(row, serial))
    return row
