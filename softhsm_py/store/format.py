"""The bytes the store writes, whatever the backend: the attribute TLV and the sealing contexts
(keys, AADs).

Kept apart from ``sealed.py`` (the secrecy model) and the backends (rows and transactions) so that
the format can be read, and checked, on its own. See ``store/base.py`` for the secrecy model.
"""

from __future__ import annotations

import struct

from softhsm_py import errors
from softhsm_py.constants import UserType
from softhsm_py.engine import sealing

# --------------------------------------------------------------------------- attribute TLV

TLV_VERSION = b"\x01"
TLV_HEAD = struct.Struct(">QI")  # attribute type (CK_ULONG, up to 64 bits), value length


def encode_attrs(attrs: dict[int, bytes]) -> bytes:
    """Serialise ``{type: value}``: version byte, then (u64 type, u32 length, value), by type."""
    parts = [TLV_VERSION]
    for atype in sorted(attrs):
        value = attrs[atype]
        if not isinstance(value, (bytes, bytearray)):
            raise TypeError(f"attribute 0x{atype:x}: value must be bytes")
        if not 0 <= atype < 2**64:
            raise ValueError(f"attribute type 0x{atype:x} out of range")
        parts.append(TLV_HEAD.pack(atype, len(value)))
        parts.append(bytes(value))
    return b"".join(parts)


def decode_attrs(data: bytes) -> dict[int, bytes]:
    """Inverse of ``encode_attrs``; ``ValueError`` on any malformed input."""
    if data[:1] != TLV_VERSION:
        raise ValueError("unknown attribute encoding version")
    attrs: dict[int, bytes] = {}
    pos, end = 1, len(data)
    while pos < end:
        if end - pos < TLV_HEAD.size:
            raise ValueError("truncated attribute header")
        atype, length = TLV_HEAD.unpack_from(data, pos)
        pos += TLV_HEAD.size
        if end - pos < length:
            raise ValueError("truncated attribute value")
        if atype in attrs:
            raise ValueError("duplicate attribute type")
        attrs[atype] = bytes(data[pos : pos + length])
        pos += length
    return attrs


# --------------------------------------------------------------------------- small helpers


def u64(value: int) -> int:
    """CK_ULONG -> a signed 64-bit database integer (same bits; the AAD binds this form)."""
    if not 0 <= value < 2**64:
        raise ValueError("CK_ULONG out of range")
    return value - 2**64 if value >= 2**63 else value


def frame(*parts: bytes | str | int | None) -> bytes:
    """Unambiguous concatenation for AADs: each part length-prefixed, None distinct from b''."""
    out = []
    for part in parts:
        if part is None:
            out.append(b"\xff\xff\xff\xff")
            continue
        if isinstance(part, int):
            part = str(part).encode()
        elif isinstance(part, str):
            part = part.encode()
        out.append(struct.pack(">I", len(part)))
        out.append(part)
    return b"".join(out)


def who_of(user: UserType) -> str:
    if user == UserType.SO:
        return "so"
    if user == UserType.USER:
        return "user"
    raise errors.UserTypeInvalid()


def wrap_aad(serial: str, who: str) -> bytes:
    return frame(b"softhsm-py/token-key/v1", serial, who)


def key_check_of(token_key: bytes) -> bytes:
    return sealing.index_mac(token_key, b"softhsm-py/key-check/v1")


class Keys:
    """The subkeys of one token key (or public object key)."""

    __slots__ = ("id", "label", "seal")

    def __init__(self, key: bytes) -> None:
        self.seal = sealing.subkey(key, b"softhsm-py/object-seal/v1")
        self.label = sealing.subkey(key, b"softhsm-py/index-label/v1")
        self.id = sealing.subkey(key, b"softhsm-py/index-id/v1")

    def label_mac(self, label: bytes | None) -> bytes | None:
        return None if label is None else sealing.index_mac(self.label, label)

    def id_mac(self, id_: bytes | None) -> bytes | None:
        return None if id_ is None else sealing.index_mac(self.id, id_)


def object_aad(
    slot_id: int,
    serial: str,
    oid: int,
    private: bool,
    object_class: int,
    key_type: int | None,
    label_mac: bytes | None,
    id_mac: bytes | None,
) -> bytes:
    return frame(
        b"softhsm-py/object/v1",
        slot_id,
        serial,
        oid,
        int(private),
        object_class,
        key_type,
        label_mac,
        id_mac,
    )


def record_aad(
    slot_id: int, serial: str, kind: str, id_: str, lookup: bytes, status: str, created: int
) -> bytes:
    return frame(b"softhsm-py/record/v1", slot_id, serial, kind, id_, lookup, status, created)


class RecordKeys:
    """The subkeys of one token key for the core's records."""

    __slots__ = ("lookup", "seal")

    def __init__(self, key: bytes) -> None:
        self.seal = sealing.subkey(key, b"softhsm-py/record-seal/v1")
        self.lookup = sealing.subkey(key, b"softhsm-py/record-lookup/v1")

    def lookup_mac(self, value: bytes) -> bytes:
        return sealing.index_mac(self.lookup, value)
