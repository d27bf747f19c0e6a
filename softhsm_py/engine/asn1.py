"""The few DER shapes PKCS#11 key attributes use: OBJECT IDENTIFIER, OCTET STRING, PrintableString,
and the SEQUENCE / NULL of a DigestInfo. No cryptography here: the curve and hash tables build on it
at module start."""

from __future__ import annotations

from softhsm_py import errors

TAG_OCTET_STRING = 0x04
TAG_OID = 0x06
TAG_PRINTABLE_STRING = 0x13
TAG_NULL = 0x05
TAG_SEQUENCE = 0x30


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


def printable_string(text: str) -> bytes:
    return encode(TAG_PRINTABLE_STRING, text.encode("ascii"))


def sequence(*items: bytes) -> bytes:
    return encode(TAG_SEQUENCE, b"".join(items))


NULL = bytes([TAG_NULL, 0])


def _base128(n: int) -> bytes:
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes(reversed(out))


def oid(dotted: str) -> bytes:
    """DER OBJECT IDENTIFIER of a dotted OID ("1.2.840.10045.3.1.7")."""
    arcs = [int(arc) for arc in dotted.split(".")]
    if len(arcs) < 2 or arcs[0] > 2 or (arcs[0] < 2 and arcs[1] > 39):
        raise ValueError("not an OID")
    body = _base128(40 * arcs[0] + arcs[1]) + b"".join(_base128(arc) for arc in arcs[2:])
    return encode(TAG_OID, body)


def oid_dotted(der: bytes) -> str:
    """The dotted form of a DER OBJECT IDENTIFIER (what a REST front end reports)."""
    body = decode(der, TAG_OID, errors.DomainParamsInvalid)
    arcs: list[int] = []
    n = 0
    for byte in body:
        n = (n << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(n)
            n = 0
    if not arcs or body[-1] & 0x80:
        raise errors.DomainParamsInvalid()
    first = min(arcs[0] // 40, 2)
    return ".".join(str(a) for a in (first, arcs[0] - 40 * first, *arcs[1:]))
