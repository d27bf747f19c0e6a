"""The little-endian TLV layouts of Smart Key Attributes (TSB.md 6.4, 6.6).

A *container* is a u32 LE length of what follows, then elements; an *element* is a u16 LE type,
a u16 LE length, the value, and zero bytes up to the next 4-byte boundary. Parsing is strict
(every length fits, padding is zero, nothing trails): one meaning per byte string.

Type codes. Documented (the TSB's task descriptions, the JCE samples, the recorded flows): 0x003B
operation, 0x1002 UTF-8 label, 0x1054 timestamp, 0x0107 seconds since the epoch, 0x1056 DER
signature with its algorithm, 0x1057 use payload, 0x1058 modify payload. Read off the docs'
recorded modify task (``fixtures/docs-slip10.md``; the encoder below reproduces it byte for
byte): 0x104E..0x1051 the rules use/block/unblock/modify, 0x0059 token count, 0x0055 timelock then
timeout in minutes, 0x005A group count, 0x005B quorum, 0x0003 approval count, 0x1052 an
approver's SubjectPublicKeyInfo. softhsm-py's own (not published by Securosys): 0x1053 an
approver's certificate, 0x1059 an onboarded approver's certificate, 0x1055 the approval token
inside a signed approval.

Operation codes: 1 (the use "OPERATION", recorded for sign) and 4 (MODIFY, recorded) are the
TSB's; 2 BLOCK and 3 UNBLOCK follow the order the TSB's description lists them in ("OPERATION",
"BLOCK", "UNBLOCK", "MODIFY"); 5 DECRYPT, 6 UNWRAP and 7 CERTIFICATE are softhsm-py's, so that an
approval for one use cannot serve another (the TSB signs every use with 1).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

from softhsm_py import errors

_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_HEAD = struct.Struct("<HH")
MAX_VALUE = 0xFFFF


class T(IntEnum):
    """Element types."""

    APPROVAL_COUNT = 0x0003
    OPERATION = 0x003B
    TIME_MINUTES = 0x0055
    TOKEN_COUNT = 0x0059
    GROUP_COUNT = 0x005A
    QUORUM = 0x005B
    SECONDS = 0x0107
    LABEL = 0x1002
    RULE_USE = 0x104E
    RULE_BLOCK = 0x104F
    RULE_UNBLOCK = 0x1050
    RULE_MODIFY = 0x1051
    PUBLIC_KEY = 0x1052
    CERTIFICATE = 0x1053  # softhsm-py
    TIMESTAMP = 0x1054
    APPROVAL_TOKEN = 0x1055  # softhsm-py
    DER_SIGNATURE = 0x1056
    USE_PAYLOAD = 0x1057
    MODIFY_PAYLOAD = 0x1058
    ONBOARDED_CERTIFICATE = 0x1059  # softhsm-py


class Op(IntEnum):
    """EkaOperation values (module docstring)."""

    SIGN = 1
    BLOCK = 2
    UNBLOCK = 3
    MODIFY = 4
    DECRYPT = 5
    UNWRAP = 6
    CERTIFICATE = 7


Element = tuple[int, bytes]


# -- writing ----------------------------------------------------------------------------------


def element(kind: int, value: bytes) -> bytes:
    if len(value) > MAX_VALUE:
        raise errors.DataLenRange()  # an element holds at most 64 KiB
    return _HEAD.pack(kind, len(value)) + value + b"\x00" * (-len(value) % 4)


def u32(kind: int, value: int) -> bytes:
    return element(kind, _U32.pack(value))


def container(*elements: bytes) -> bytes:
    body = b"".join(elements)
    return _U32.pack(len(body)) + body


# -- reading ----------------------------------------------------------------------------------


def elements(body: bytes) -> list[Element]:
    """The elements of a container's body (no header); ValueError unless exactly that."""
    out: list[Element] = []
    pos, end = 0, len(body)
    while pos < end:
        if end - pos < _HEAD.size:
            raise ValueError("truncated element header")
        kind, length = _HEAD.unpack_from(body, pos)
        pos += _HEAD.size
        padded = length + (-length % 4)
        if end - pos < padded:
            raise ValueError("truncated element")
        if any(body[pos + length : pos + padded]):
            raise ValueError("non-zero padding")
        out.append((kind, bytes(body[pos : pos + length])))
        pos += padded
    return out


def parse_container(data: bytes) -> list[Element]:
    if len(data) < _U32.size or _U32.unpack_from(data)[0] != len(data) - _U32.size:
        raise ValueError("container length does not match")
    return elements(data[_U32.size :])


def read_u32(value: bytes) -> int:
    if len(value) != _U32.size:
        raise ValueError("not a u32")
    return int(_U32.unpack(value)[0])


class Reader:
    """Elements in a fixed order: ``take(kind)`` the next one, which must be of that kind."""

    def __init__(self, items: list[Element]) -> None:
        self.items, self.pos = items, 0

    def peek(self) -> int | None:
        return self.items[self.pos][0] if self.pos < len(self.items) else None

    def take(self, kind: int) -> bytes:
        if self.peek() != kind:
            raise ValueError(f"expected element 0x{kind:04x}")
        value = self.items[self.pos][1]
        self.pos += 1
        return value

    def take_u32(self, kind: int) -> int:
        return read_u32(self.take(kind))

    def take_text(self) -> str:
        return self.take(T.LABEL).decode("utf-8")

    def done(self) -> None:
        if self.pos != len(self.items):
            raise ValueError("trailing elements")


# -- the timestamp and the approval token (6.4) -------------------------------------------------


@dataclass(frozen=True)
class Timestamp:
    """EkaTimeStamp: the payload, the HSM's time, the timestamp key's name. ``raw`` is the whole
    container (header included): what the timestamp key signs."""

    payload_kind: int  # T.USE_PAYLOAD or T.MODIFY_PAYLOAD
    payload: bytes
    seconds: int
    key_name: str
    raw: bytes


def build_timestamp(payload_kind: int, payload: bytes, seconds: int, key_name: str) -> bytes:
    return container(
        element(payload_kind, payload),
        element(T.SECONDS, _U64.pack(seconds)),
        element(T.LABEL, key_name.encode("utf-8")),
    )


def parse_timestamp(raw: bytes) -> Timestamp:
    reader = Reader(parse_container(raw))
    kind = reader.peek()
    if kind not in (T.USE_PAYLOAD, T.MODIFY_PAYLOAD):
        raise ValueError("timestamp without a payload")
    payload = reader.take(kind)
    seconds = reader.take(T.SECONDS)
    if len(seconds) != _U64.size:
        raise ValueError("seconds is not a u64")
    name = reader.take_text()
    reader.done()
    return Timestamp(kind, payload, int(_U64.unpack(seconds)[0]), name, bytes(raw))


@dataclass(frozen=True)
class ApprovalToken:
    """``approvalToBeSigned``: what every approver of one request signs, byte for byte."""

    operation: int
    key_name: str
    timestamp: Timestamp
    timestamp_signature: bytes  # the DerSignature element: AlgorithmIdentifier + BIT STRING
    payload_kind: int
    payload: bytes
    raw: bytes


def build_approval_token(operation: int, key_name: str, timestamp: bytes, signature_der: bytes) -> bytes:
    stamp = parse_timestamp(timestamp)
    return container(
        u32(T.OPERATION, operation),
        element(T.LABEL, key_name.encode("utf-8")),
        element(T.TIMESTAMP, timestamp),
        element(T.DER_SIGNATURE, signature_der),
        element(stamp.payload_kind, stamp.payload),
    )


def parse_approval_token(raw: bytes) -> ApprovalToken:
    """ValueError unless ``raw`` is an approval token with the payload twice, equal."""
    reader = Reader(parse_container(raw))
    operation = reader.take_u32(T.OPERATION)
    key_name = reader.take_text()
    stamp = parse_timestamp(reader.take(T.TIMESTAMP))
    signature = reader.take(T.DER_SIGNATURE)
    payload = reader.take(stamp.payload_kind)
    reader.done()
    if payload != stamp.payload:
        raise ValueError("the payload differs from the timestamp's")
    return ApprovalToken(operation, key_name, stamp, signature, stamp.payload_kind, payload, bytes(raw))


# -- a signed approval (6.6): token, signature, approver ----------------------------------------


@dataclass(frozen=True)
class SignedApproval:
    """One approver's approval: the token it signed, its signature (the DerSignature shape:
    algorithm and signature), and its public key (SPKI) or certificate."""

    token: bytes
    signature_der: bytes
    public_key: bytes | None
    certificate: bytes | None


def build_signed_approval(
    token: bytes, signature_der: bytes, *, public_key: bytes | None = None, certificate: bytes | None = None
) -> bytes:
    if (public_key is None) == (certificate is None):
        raise ValueError("a signed approval names its approver by public key or by certificate")
    who = element(T.PUBLIC_KEY, public_key) if public_key is not None else None
    if who is None:
        assert certificate is not None
        who = element(T.CERTIFICATE, certificate)
    return container(element(T.APPROVAL_TOKEN, token), element(T.DER_SIGNATURE, signature_der), who)


def parse_signed_approval(raw: bytes) -> SignedApproval:
    reader = Reader(parse_container(raw))
    token = reader.take(T.APPROVAL_TOKEN)
    signature = reader.take(T.DER_SIGNATURE)
    if reader.peek() == T.PUBLIC_KEY:
        public_key, certificate = reader.take(T.PUBLIC_KEY), None
    else:
        public_key, certificate = None, reader.take(T.CERTIFICATE)
    reader.done()
    return SignedApproval(token, signature, public_key, certificate)


__all__ = [
    "ApprovalToken",
    "Op",
    "Reader",
    "SignedApproval",
    "T",
    "Timestamp",
    "build_approval_token",
    "build_signed_approval",
    "build_timestamp",
    "container",
    "element",
    "parse_approval_token",
    "parse_container",
    "parse_signed_approval",
    "parse_timestamp",
    "u32",
]
