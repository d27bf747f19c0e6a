"""Attribute values: raw CK_ATTRIBUTE bytes <-> the Python values the rest of the token uses.

Every attribute type softhsm-py supports has one value kind here. A type that is not listed
(vendor types, the PKCS#11 3.1/3.2 types of objects we do not implement such as
CKA_PUBLIC_CRC64_VALUE 0x636 or the validation attributes, X9.42 DH/KEA/OTP parts) is
CKR_ATTRIBUTE_TYPE_INVALID.

In-memory values (docs/internals.md): bool, int, bytes (byte arrays, UTF-8 strings, big-endian
integers, dates), tuple[int, ...] (CKA_ALLOWED_MECHANISMS), dict[int, value] (the *_TEMPLATE
attributes).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from datetime import date
from enum import Enum
from typing import Any

from softhsm_py.constants import Attribute as A
from softhsm_py.constants import VendorAttribute as V
from softhsm_py.errors import AttributeTypeInvalid, AttributeValueInvalid

ULONG = struct.Struct("=Q")  # native CK_ULONG: 64 bits on the LP64 platforms we build for
ULONG_MAX = (1 << 64) - 1


class Kind(Enum):
    BOOL = "bool"  # CK_BBOOL: one byte, 0 or 1
    ULONG = "ulong"  # CK_ULONG, native order
    BYTES = "bytes"  # opaque byte array
    BIGINT = "bigint"  # big-endian unsigned integer, kept as bytes
    UTF8 = "utf8"  # RFC 2279 string, kept as bytes (labels are not re-validated: hosts differ)
    DATE = "date"  # CK_DATE: "YYYYMMDD" or empty
    MECHANISMS = "mechanisms"  # CK_MECHANISM_TYPE array
    TEMPLATE = "template"  # CK_ATTRIBUTE array

    # Members are singletons: hash by identity in C, not Enum's Python-level hash of the name
    # (kinds key the per-kind tables on every attribute of every call).
    __hash__ = object.__hash__


_B, _U, _Y, _I, _S, _D = Kind.BOOL, Kind.ULONG, Kind.BYTES, Kind.BIGINT, Kind.UTF8, Kind.DATE

KINDS: dict[int, Kind] = {
    # common / storage
    A.CLASS: _U, A.TOKEN: _B, A.PRIVATE: _B, A.LABEL: _S, A.UNIQUE_ID: _S,
    A.MODIFIABLE: _B, A.COPYABLE: _B, A.DESTROYABLE: _B,
    # data objects
    A.APPLICATION: _S, A.VALUE: _Y, A.OBJECT_ID: _Y,
    # certificates
    A.CERTIFICATE_TYPE: _U, A.ISSUER: _Y, A.SERIAL_NUMBER: _Y, A.TRUSTED: _B,
    A.CERTIFICATE_CATEGORY: _U, A.JAVA_MIDP_SECURITY_DOMAIN: _U, A.URL: _S,
    A.HASH_OF_SUBJECT_PUBLIC_KEY: _Y, A.HASH_OF_ISSUER_PUBLIC_KEY: _Y,
    A.NAME_HASH_ALGORITHM: _U, A.CHECK_VALUE: _Y, A.SUBJECT: _Y,
    A.START_DATE: _D, A.END_DATE: _D, A.PUBLIC_KEY_INFO: _Y,
    # keys
    A.KEY_TYPE: _U, A.ID: _Y, A.SENSITIVE: _B, A.ENCRYPT: _B, A.DECRYPT: _B, A.WRAP: _B,
    A.UNWRAP: _B, A.SIGN: _B, A.SIGN_RECOVER: _B, A.VERIFY: _B, A.VERIFY_RECOVER: _B,
    A.DERIVE: _B, A.EXTRACTABLE: _B, A.LOCAL: _B, A.NEVER_EXTRACTABLE: _B,
    A.ALWAYS_SENSITIVE: _B, A.KEY_GEN_MECHANISM: _U, A.ALWAYS_AUTHENTICATE: _B,
    A.WRAP_WITH_TRUSTED: _B, A.VALUE_LEN: _U,
    A.ALLOWED_MECHANISMS: Kind.MECHANISMS,
    A.WRAP_TEMPLATE: Kind.TEMPLATE, A.UNWRAP_TEMPLATE: Kind.TEMPLATE,
    A.DERIVE_TEMPLATE: Kind.TEMPLATE,
    # RSA
    A.MODULUS: _I, A.MODULUS_BITS: _U, A.PUBLIC_EXPONENT: _I, A.PRIVATE_EXPONENT: _I,
    A.PRIME_1: _I, A.PRIME_2: _I, A.EXPONENT_1: _I, A.EXPONENT_2: _I, A.COEFFICIENT: _I,
    # EC, EC_EDWARDS, EC_MONTGOMERY
    A.EC_PARAMS: _Y, A.EC_POINT: _Y,
    # DSA and PKCS #3 DH keys and domain parameters
    A.PRIME: _I, A.SUBPRIME: _I, A.BASE: _I, A.PRIME_BITS: _U, A.SUBPRIME_BITS: _U, A.VALUE_BITS: _U,
    # 3.2: key encapsulation (every public / private key), ML-DSA and ML-KEM
    A.ENCAPSULATE: _B, A.DECAPSULATE: _B,
    A.ENCAPSULATE_TEMPLATE: Kind.TEMPLATE, A.DECAPSULATE_TEMPLATE: Kind.TEMPLATE,
    A.PARAMETER_SET: _U, A.SEED: _Y,
    # softhsm-py's own (constants.VendorAttribute)
    V.CREATED: _S, V.PASSWORD: _Y, V.PASSWORD_FAILURES: _U, V.ATTESTATION: _B,
    V.SKA_POLICY: _Y, V.SKA_BLOCKED: _B, V.TIMESTAMP: _B,
}  # fmt: skip


def kind(attr: int) -> Kind:
    """The value kind of ``attr``; AttributeTypeInvalid when softhsm-py does not know it."""
    try:
        return KINDS[attr]
    except (KeyError, TypeError):
        raise AttributeTypeInvalid() from None


def _check_date(raw: bytes) -> bytes:
    if raw == b"":
        return raw  # an empty CK_DATE means "no date" [spec 4.7 key objects]
    if len(raw) != 8 or not raw.isdigit():
        raise AttributeValueInvalid()
    try:
        date(int(raw[:4]), int(raw[4:6]), int(raw[6:]))
    except ValueError:
        raise AttributeValueInvalid() from None
    return raw


def _ulong(raw: bytes) -> int:
    if len(raw) != ULONG.size:
        raise AttributeValueInvalid()
    return int(ULONG.unpack(raw)[0])


# --- raw -> value ------------------------------------------------------------------------------


def decode(attr: int, raw: bytes) -> Any:
    """Decode the raw bytes of one attribute. TEMPLATE kinds read our own storage format
    (see ``encode``); the ABI layer hands live CK_ATTRIBUTE arrays to ``decode_template``."""
    k = kind(attr)
    raw = bytes(raw)
    if k is Kind.BOOL:
        if raw == b"\x00":
            return False
        if raw == b"\x01":
            return True
        raise AttributeValueInvalid()
    if k is Kind.ULONG:
        return _ulong(raw)
    if k is Kind.DATE:
        return _check_date(raw)
    if k is Kind.MECHANISMS:
        if len(raw) % ULONG.size:
            raise AttributeValueInvalid()
        return tuple(int(v[0]) for v in ULONG.iter_unpack(raw))
    if k is Kind.TEMPLATE:
        return _unpack_template(raw)
    return raw  # BYTES, BIGINT, UTF8


def decode_template(raw: dict[int, Any], *, strict: bool = True) -> dict[int, Any]:
    """Decode a whole template (the ABI layer has already split the CK_ATTRIBUTE array).

    Nested templates (CKA_WRAP_TEMPLATE inside a template) arrive as dict[int, bytes] too.
    ``strict=False`` keeps unknown types as raw bytes instead of raising, so that the factory
    can judge the class first (NSS's trust objects: AttributeValueInvalid) and a search on a
    vendor attribute is a clean miss (``factory.matches``)."""
    out: dict[int, Any] = {}
    for attr, value in raw.items():
        if not strict and attr not in KINDS:
            out[attr] = bytes(value)
        elif kind(attr) is Kind.TEMPLATE:
            if not isinstance(value, dict):
                raise AttributeValueInvalid()
            out[attr] = decode_template(value)
        else:
            out[attr] = decode(attr, value)
    return out


# --- value -> raw ------------------------------------------------------------------------------


def _is_ulong(value: Any) -> bool:
    return isinstance(value, int) and value.__class__ is not bool and 0 <= value <= ULONG_MAX


def _is_template(value: Any) -> bool:
    if not isinstance(value, dict):
        return False
    for a, v in value.items():
        if kind(a) is Kind.TEMPLATE:  # no templates inside templates
            raise AttributeValueInvalid()
        validate(a, v)
    return True


def _is_bytes(value: Any) -> bool:
    return isinstance(value, bytes)


# Well-formed in-memory values, per kind (see ``decode``).
WELL_FORMED: dict[Kind, Callable[[Any], bool]] = {
    Kind.BOOL: lambda v: v.__class__ is bool,
    Kind.ULONG: _is_ulong,
    Kind.BYTES: _is_bytes,
    Kind.BIGINT: _is_bytes,
    Kind.UTF8: _is_bytes,
    Kind.DATE: lambda v: isinstance(v, bytes) and _check_date(v) is v,
    Kind.MECHANISMS: lambda v: isinstance(v, tuple) and all(map(_is_ulong, v)),
    Kind.TEMPLATE: _is_template,
}


def validate(attr: int, value: Any) -> Any:
    """Check that ``value`` is a well-formed in-memory value for ``attr``; return it."""
    if not WELL_FORMED[kind(attr)](value):
        raise AttributeValueInvalid()
    return value


def encode(attr: int, value: Any) -> bytes:
    """Encode one attribute value. A TEMPLATE value is packed into a flat, self-describing
    form (type, length, value)* for the store: a live CK_ATTRIBUTE array holds pointers."""
    k = kind(attr)
    validate(attr, value)
    if k is Kind.BOOL:
        return b"\x01" if value else b"\x00"
    if k is Kind.ULONG:
        return ULONG.pack(value)
    if k is Kind.MECHANISMS:
        return b"".join(ULONG.pack(m) for m in value)
    if k is Kind.TEMPLATE:
        return _pack_template(value)
    return bytes(value)


def encode_template(values: dict[int, Any]) -> dict[int, bytes]:
    """Inverse of ``decode_template``: raw bytes per attribute, nested templates as dicts."""
    out: dict[int, Any] = {}
    for attr, value in values.items():
        if kind(attr) is Kind.TEMPLATE:
            validate(attr, value)
            out[attr] = encode_template(value)
        else:
            out[attr] = encode(attr, value)
    return out


def _pack_template(value: dict[int, Any]) -> bytes:
    parts = []
    for attr, v in value.items():
        raw = encode(attr, v)
        parts.append(ULONG.pack(attr) + ULONG.pack(len(raw)) + raw)
    return b"".join(parts)


def _unpack_template(raw: bytes) -> dict[int, Any]:
    out: dict[int, Any] = {}
    pos = 0
    while pos < len(raw):
        if pos + 2 * ULONG.size > len(raw):
            raise AttributeValueInvalid()
        attr = ULONG.unpack_from(raw, pos)[0]
        length = ULONG.unpack_from(raw, pos + ULONG.size)[0]
        pos += 2 * ULONG.size
        if pos + length > len(raw) or attr in out or kind(attr) is Kind.TEMPLATE:
            raise AttributeValueInvalid()
        out[attr] = decode(attr, raw[pos : pos + length])
        pos += length
    return out
