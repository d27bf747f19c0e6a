"""What a front end may know of a named key: ``KeyInfo``, built from the readable attributes only,
and the public names of key algorithms (what the attestation statement and the REST service say).
"""

from __future__ import annotations

from typing import Any

from softhsm_py.constants import Attribute as A
from softhsm_py.constants import KeyType, ObjectClass
from softhsm_py.constants import VendorAttribute as V
from softhsm_py.core.objects import factory

# key type -> (algorithm name, algorithm OID) as the TSB names them (TSB.md 3.1 and 5). Edwards
# and Montgomery keys name their curve's OID here; EC keys give the curve separately.
ALGORITHMS: dict[int, tuple[str, str]] = {
    KeyType.RSA: ("RSA", "1.2.840.113549.1.1.1"),
    KeyType.EC: ("EC", "1.2.840.10045.2.1"),
    KeyType.AES: ("AES", "2.16.840.1.101.3.4.1"),
    KeyType.CHACHA20: ("ChaCha20", "1.2.840.113549.1.9.16.3.18"),
    KeyType.SHA256_HMAC: ("HMACSHA256", "1.2.840.113549.2.9"),
    KeyType.GENERIC_SECRET: ("GENERIC_SECRET", "1.2.840.113549.2.9"),
}
EDWARDS_NAMES = {"1.3.101.112": "ED", "1.3.101.113": "ED", "1.3.101.110": "X", "1.3.101.111": "X"}


def oid_dotted(der: bytes) -> str | None:
    """The dotted form of a DER OBJECT IDENTIFIER (CKA_EC_PARAMS), or None if it is not one."""
    if len(der) < 3 or der[0] != 0x06 or der[1] != len(der) - 2:
        return None
    body, parts, value = der[2:], [], 0
    for byte in body:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            parts.append(value)
            value = 0
    if not parts:
        return None
    first = min(parts[0] // 40, 2)
    return ".".join(str(p) for p in (first, parts[0] - 40 * first, *parts[1:]))


def readable(attrs: dict[int, Any]) -> dict[int, Any]:
    """The attributes any front end may show: what C_GetAttributeValue would give."""
    out = {}
    for kind in attrs:
        try:
            out[kind] = factory.read(attrs, kind)
        except Exception:  # AttributeSensitive / TypeInvalid: not shown
            continue
    return out


class KeyInfo:
    """A snapshot of one named key (see ``core.partition``). Never holds a secret value."""

    __slots__ = (
        "algorithm",
        "algorithm_oid",
        "attrs",
        "created",
        "curve_oid",
        "has_password",
        "key_size",
        "key_type",
        "name",
        "object_class",
        "public_attrs",
        "spki",
    )

    def __init__(self, name: str, attrs: dict[int, Any], public_attrs: dict[int, Any] | None) -> None:
        main = attrs
        self.name = name
        self.object_class = int(main[A.CLASS])
        self.key_type = int(main[A.KEY_TYPE])
        self.has_password = V.PASSWORD in main
        self.attrs = readable(main)
        self.public_attrs = readable(public_attrs) if public_attrs is not None else None
        spki = main.get(A.PUBLIC_KEY_INFO) or (public_attrs or {}).get(A.PUBLIC_KEY_INFO)
        self.spki: bytes | None = bytes(spki) if spki else None
        created = main.get(V.CREATED)
        self.created: str | None = created.decode() if isinstance(created, bytes) else None
        self.curve_oid: str | None = None
        self.key_size: int | None = None
        self.algorithm, self.algorithm_oid = ALGORITHMS.get(self.key_type, ("UNKNOWN", "0.0"))
        if A.EC_PARAMS in main:
            curve = oid_dotted(bytes(main[A.EC_PARAMS]))
            if self.key_type == KeyType.EC:
                self.curve_oid = curve
            elif curve is not None:
                self.algorithm, self.algorithm_oid = EDWARDS_NAMES.get(curve, "ED"), curve
        if A.MODULUS in main:
            self.key_size = int.from_bytes(main[A.MODULUS], "big").bit_length()
        elif self.object_class == ObjectClass.SECRET_KEY and A.VALUE_LEN in main:
            self.key_size = 8 * int(main[A.VALUE_LEN])

    def __repr__(self) -> str:
        return f"KeyInfo({self.name!r}, {self.algorithm})"

    @property
    def generated(self) -> bool:
        """Made inside the token (CKA_LOCAL), not imported or unwrapped."""
        return self.attrs.get(A.LOCAL) is True
