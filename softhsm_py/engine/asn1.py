"""The few DER shapes PKCS#11 key attributes use: OBJECT IDENTIFIER, OCTET STRING, PrintableString."""

from __future__ import annotations

from softhsm_py import errors

TAG_OCTET_STRING = 0x04
TAG_OID = 0x06
TAG_PRINTABLE_STRING = 0x13


def encode(tag: int, body: bytes) -> bytes:
    n = len(body)
    if n < 0x80:
        return bytes([tag, n]) + body
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + body


def decode(der: bytes, tag: int, error: type[errors.PKCS11Error]) -> bytes:
    """Body of a single DER TLV of ``tag`` that spans all of ``der``; ``error`` otherwise."""
    if len(der) < 2 or der[0] != tag:
        raise error()
    first = der[1]
    if first < 0x80:
        start, n = 2, first
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or len(der) < 2 + count:
            raise error()
        start, n = 2 + count, int.from_bytes(der[2 : 2 + count], "big")
        if n < 0x80 or der[2] == 0:  # DER demands the shortest length form
            raise error()
    if start + n != len(der):
        raise error()
    return der[start:]


def octet_string(body: bytes) -> bytes:
    return encode(TAG_OCTET_STRING, body)
