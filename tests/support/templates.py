"""CK_ATTRIBUTE arrays packed with cffi (``Template``) and read back (``Query``).

    t = Template({Attribute.CLASS: ObjectClass.DATA, Attribute.LABEL: "x"})   # t.ptr, len(t)
    q = Query([Attribute.LABEL]); q.run(module, h, obj); q.value(0)           # b"x"

Values: ``bool`` for CK_BBOOL attributes, ``int`` for CK_ULONG ones, ``bytes`` otherwise (a ``str``
is UTF-8 encoded on the way in), ``list[int]`` for CKA_ALLOWED_MECHANISMS and ``dict`` for the
template attributes (CKA_WRAP_TEMPLATE & co). ``None`` as a value means a NULL pValue with length 0.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .constants import UNAVAILABLE_INFORMATION, Attribute, NssAttribute, rv_name
from .pkcs11 import Module, ffi

A = Attribute
BOOL_ATTRS = frozenset({
    A.TOKEN, A.PRIVATE, A.TRUSTED, A.SENSITIVE, A.ENCRYPT, A.DECRYPT, A.WRAP, A.UNWRAP, A.SIGN,
    A.SIGN_RECOVER, A.VERIFY, A.VERIFY_RECOVER, A.DERIVE, A.EXTRACTABLE, A.LOCAL, A.NEVER_EXTRACTABLE,
    A.ALWAYS_SENSITIVE, A.MODIFIABLE, A.COPYABLE, A.DESTROYABLE, A.ALWAYS_AUTHENTICATE,
    A.WRAP_WITH_TRUSTED, NssAttribute.TRUST_STEP_UP_APPROVED,
})  # fmt: skip
ULONG_ATTRS = frozenset({
    A.CLASS, A.CERTIFICATE_TYPE, A.CERTIFICATE_CATEGORY, A.KEY_TYPE, A.MODULUS_BITS, A.VALUE_LEN,
    A.KEY_GEN_MECHANISM, NssAttribute.TRUST_SERVER_AUTH, NssAttribute.TRUST_CLIENT_AUTH,
    NssAttribute.TRUST_CODE_SIGNING, NssAttribute.TRUST_EMAIL_PROTECTION,
})  # fmt: skip
ULONG = struct.Struct("=Q" if ffi.sizeof("CK_ULONG") == 8 else "=I")

Values = Mapping[int, Any] | Iterable[tuple[int, Any]]


def encode(value: Any) -> bytes:
    if isinstance(value, bool):
        return b"\x01" if value else b"\x00"
    if isinstance(value, int):
        return ULONG.pack(value)
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, list | tuple):
        return b"".join(ULONG.pack(v) for v in value)
    return bytes(value)


def decode(kind: int, raw: bytes) -> Any:
    if kind in BOOL_ATTRS and len(raw) == 1:
        return raw != b"\x00"
    if kind in ULONG_ATTRS and len(raw) == ULONG.size:
        return ULONG.unpack(raw)[0]
    if kind == A.ALLOWED_MECHANISMS:
        return [v[0] for v in ULONG.iter_unpack(raw)]
    return raw


class Template:
    """A CK_ATTRIBUTE array from ``{type: value}`` or ``[(type, value), ...]`` (repeats allowed),
    and every buffer it points to, kept alive as long as it is. ``ptr`` is never NULL, even when
    empty (SoftHSMv2 refuses a NULL template with a zero count)."""

    def __init__(self, items: Values | None = None) -> None:
        items = items or {}
        pairs = list(items.items()) if isinstance(items, Mapping) else list(items)
        self.pairs = pairs
        self.count = len(pairs)
        self.array = ffi.new("CK_ATTRIBUTE[]", max(len(pairs), 1))
        self._keep: list[Any] = []
        for i, (kind, value) in enumerate(pairs):
            self.array[i].type = kind
            if value is None:
                self.array[i].pValue, self.array[i].ulValueLen = ffi.NULL, 0
            elif isinstance(value, dict):
                inner = Template(value)
                self._keep.append(inner)
                self.array[i].pValue = inner.array
                self.array[i].ulValueLen = len(inner) * ffi.sizeof("CK_ATTRIBUTE")
            else:
                raw = encode(value)
                buf = ffi.new("CK_BYTE[]", max(len(raw), 1))
                ffi.memmove(buf, raw, len(raw))
                self._keep.append(buf)
                self.array[i].pValue, self.array[i].ulValueLen = buf, len(raw)

    def __len__(self) -> int:
        return self.count

    @property
    def ptr(self) -> Any:
        return self.array


class Query:
    """A C_GetAttributeValue template: one entry per type with a buffer of ``size`` bytes
    (None: pValue NULL, the module reports the length)."""

    def __init__(self, types: Sequence[int], sizes: Sequence[int | None] | int | None = 1024) -> None:
        self.types = list(types)
        sizes = [sizes] * len(self.types) if sizes is None or isinstance(sizes, int) else list(sizes)
        self.array = ffi.new("CK_ATTRIBUTE[]", max(len(self.types), 1))
        self._bufs: list[Any] = []
        for i, (kind, size) in enumerate(zip(self.types, sizes, strict=True)):
            self.array[i].type = kind
            if size is None:
                self.array[i].pValue, self.array[i].ulValueLen = ffi.NULL, 0
                self._bufs.append(None)
            else:
                buf = ffi.new("CK_BYTE[]", max(size, 1))
                self._bufs.append(buf)
                self.array[i].pValue, self.array[i].ulValueLen = buf, size

    def run(self, module: Module, h: int, obj: int) -> str:
        return rv_name(module.rv("C_GetAttributeValue", h, obj, self.array, len(self.types)))

    def length(self, i: int) -> int:
        return int(self.array[i].ulValueLen)

    def value(self, i: int) -> Any:
        """The decoded value of entry ``i``; None when unavailable or not asked for."""
        n = self.length(i)
        if self._bufs[i] is None or n == UNAVAILABLE_INFORMATION:
            return None
        return decode(self.types[i], bytes(ffi.buffer(self._bufs[i], n)))


def cbytes(data: bytes) -> Any:
    """A CK_BYTE array for an input buffer (never NULL, even empty)."""
    return ffi.new("CK_BYTE[]", max(len(data), 1)) if not data else ffi.new("CK_BYTE[]", bytes(data))
