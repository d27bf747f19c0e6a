"""Byte formats between the TSB wire and PKCS#11: ECDSA/DSA signatures (PKCS#11 gives r || s, the
TSB returns DER by default; ``signatureType RAW`` is r || s), PKCS#1 DigestInfo for the
``NONESHA*_WITH_RSA`` algorithms, object identifiers, and a few paddings. Pure functions over
bytes, no cryptography: a little DER is all that is needed."""

from __future__ import annotations

# ---------------------------------------------------------------------------------- DER


class DerError(ValueError):
    """Malformed DER (the caller decides what that means for the request)."""


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def tlv(tag: int, value: bytes) -> bytes:
    return bytes([tag]) + _length(len(value)) + value


def _read(data: bytes, pos: int) -> tuple[int, bytes, int]:
    """One TLV at ``pos``: (tag, value, next position); DER's minimal lengths only."""
    if pos + 2 > len(data):
        raise DerError("truncated")
    tag = data[pos]
    first = data[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or pos + count > len(data):
            raise DerError("bad length")
        length = int.from_bytes(data[pos : pos + count], "big")
        if length < 0x80 or data[pos] == 0:
            raise DerError("non-minimal length")
        pos += count
    end = pos + length
    if end > len(data):
        raise DerError("truncated")
    return tag, data[pos:end], end


def der_integer(value: int) -> bytes:
    if value < 0:
        raise ValueError("negative")
    raw = value.to_bytes(value.bit_length() // 8 + 1, "big")  # leading 0x00 keeps it positive
    while len(raw) > 1 and raw[0] == 0 and raw[1] < 0x80:
        raw = raw[1:]
    return tlv(0x02, raw)


def _parse_integer(value: bytes) -> int:
    if not value or value[0] & 0x80:
        raise DerError("not a positive INTEGER")
    if len(value) > 1 and value[0] == 0 and value[1] < 0x80:
        raise DerError("non-minimal INTEGER")
    return int.from_bytes(value, "big")


# ---------------------------------------------------------------------------------- (r, s)


def raw_to_der(raw: bytes) -> bytes:
    """PKCS#11's r || s (equal halves) -> DER ``SEQUENCE { INTEGER r, INTEGER s }``."""
    if not raw or len(raw) % 2:
        raise ValueError("r || s must have two equal halves")
    half = len(raw) // 2
    r = int.from_bytes(raw[:half], "big")
    s = int.from_bytes(raw[half:], "big")
    return tlv(0x30, der_integer(r) + der_integer(s))


def der_to_raw(der: bytes, half: int) -> bytes:
    """DER (r, s) -> r || s with each half ``half`` bytes; DerError if it is not exactly that."""
    tag, body, end = _read(der, 0)
    if tag != 0x30 or end != len(der):
        raise DerError("not one SEQUENCE")
    tag_r, r_raw, pos = _read(body, 0)
    tag_s, s_raw, pos = _read(body, pos)
    if tag_r != 0x02 or tag_s != 0x02 or pos != len(body):
        raise DerError("not two INTEGERs")
    r, s = _parse_integer(r_raw), _parse_integer(s_raw)
    limit = 1 << (8 * half)
    if r >= limit or s >= limit:
        raise DerError("integer longer than the group order")
    return r.to_bytes(half, "big") + s.to_bytes(half, "big")


def signature_to_raw(signature: bytes, half: int) -> bytes | None:
    """A signature a client sends to /v1/verify, DER or RAW (the route has no signatureType):
    well-formed DER wins, else exactly 2 * ``half`` bytes are r || s; None if it is neither."""
    try:
        return der_to_raw(signature, half)
    except DerError:
        pass
    if len(signature) == 2 * half:
        return signature
    return None


# ---------------------------------------------------------------------------------- OIDs


def oid_to_der(dotted: str) -> bytes:
    """``"1.2.840.10045.3.1.7"`` -> DER OBJECT IDENTIFIER (tag included); ValueError if malformed."""
    parts = dotted.split(".")
    if len(parts) < 2 or not all(p.isdigit() and (p == "0" or not p.startswith("0")) for p in parts):
        raise ValueError("not a dotted object identifier")
    arcs = [int(p) for p in parts]
    if arcs[0] > 2 or (arcs[0] < 2 and arcs[1] > 39):
        raise ValueError("not a dotted object identifier")
    body = bytearray()
    for arc in [40 * arcs[0] + arcs[1], *arcs[2:]]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        body.extend(reversed(chunk))
    return tlv(0x06, bytes(body))


def der_to_oid(der: bytes) -> str:
    tag, body, end = _read(der, 0)
    if tag != 0x06 or end != len(der) or not body or body[-1] & 0x80:
        raise DerError("not an OBJECT IDENTIFIER")
    arcs: list[int] = []
    value = 0
    for byte in body:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    first = min(arcs[0] // 40, 2)
    return ".".join(str(a) for a in [first, arcs[0] - 40 * first, *arcs[1:]])


# ---------------------------------------------------------------------------------- RSA

#: DER of DigestInfo up to the digest (RFC 8017 section 9.2, note 1), by hash name
DIGEST_INFO_PREFIX: dict[str, bytes] = {
    "sha1": bytes.fromhex("3021300906052b0e03021a05000414"),
    "sha224": bytes.fromhex("302d300d06096086480165030402040500041c"),
    "sha256": bytes.fromhex("3031300d060960864801650304020105000420"),
    "sha384": bytes.fromhex("3041300d060960864801650304020205000430"),
    "sha512": bytes.fromhex("3051300d060960864801650304020305000440"),
}

DIGEST_SIZE: dict[str, int] = {"sha1": 20, "sha224": 28, "sha256": 32, "sha384": 48, "sha512": 64}


def digest_info(hash_name: str, digest: bytes) -> bytes:
    """What CKM_RSA_PKCS signs for a caller-made hash; ValueError if the length is wrong."""
    if len(digest) != DIGEST_SIZE[hash_name]:
        raise ValueError("payload is not a digest of the algorithm's hash")
    return DIGEST_INFO_PREFIX[hash_name] + digest


def left_pad(data: bytes, size: int) -> bytes:
    """Raw RSA output as the TSB returns it: the full block, zeros on the left."""
    if len(data) >= size:
        return data
    return bytes(size - len(data)) + data


def split_tag(sealed: bytes, tag_len: int) -> tuple[bytes, bytes]:
    """AEAD output ct || tag -> (ct, tag)."""
    if tag_len <= 0 or len(sealed) < tag_len:
        raise ValueError("shorter than its tag")
    return sealed[:-tag_len], sealed[-tag_len:]
