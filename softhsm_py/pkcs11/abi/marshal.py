"""Between C and Python: read caller pointers into values, write results into caller buffers.

Every rule about pointers lives here: a NULL pointer where the spec needs one is ArgumentsBad; an
output buffer follows one protocol (:meth:`Marshal.bytes_out`); templates are read into lists of
(type, raw bytes) and written back entry by entry.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from softhsm_py import errors
from softhsm_py.config import PIN_LEN_LIMIT
from softhsm_py.constants import UNAVAILABLE_INFORMATION, Attribute

if TYPE_CHECKING:  # the chapters' module loads the object factory: not at module start
    from softhsm_py.pkcs11.templates import RawTemplate

# Attributes whose value is itself an array of CK_ATTRIBUTE (3.0, 4.1.2 and 4.8 footnote on templates;
# 3.2's encapsulation templates carry no CKF_ARRAY_ATTRIBUTE bit, but are arrays all the same).
TEMPLATE_ATTRIBUTES = frozenset(
    {
        Attribute.WRAP_TEMPLATE,
        Attribute.UNWRAP_TEMPLATE,
        Attribute.DERIVE_TEMPLATE,
        Attribute.ENCAPSULATE_TEMPLATE,
        Attribute.DECAPSULATE_TEMPLATE,
    }
)


# No buffer is longer than this: a CK_ULONG length above it (the high bit set) cannot describe
# memory the caller owns, and Python could not even index it (OverflowError, not a CK_RV).
MAX_LENGTH = sys.maxsize


class Marshal:
    """Pointer handling for one loaded copy of the library (its own ``ffi``)."""

    def __init__(self, ffi: Any) -> None:
        self.ffi = ffi
        self.NULL = ffi.NULL
        self.memmove = ffi.memmove
        self.attribute_size = ffi.sizeof("CK_ATTRIBUTE")
        self.structs: dict[str, Any] = {}  # struct_value's answers, by C type

    # -- inputs ---------------------------------------------------------------------------------
    def require(self, ptr: Any) -> None:
        if not ptr:  # a cffi pointer is false when NULL (cheaper than comparing with ffi.NULL)
            raise errors.ArgumentsBad()

    def bytes_in(self, ptr: Any, length: int) -> bytes:
        if not ptr:
            if length:
                raise errors.ArgumentsBad()
            return b""
        if length > MAX_LENGTH:
            raise errors.ArgumentsBad()
        return self.ffi.buffer(ptr, length)[:]  # one copy; ~2x faster than cast + unpack

    def pin_in(
        self, ptr: Any, length: int, too_long: type[errors.PKCS11Error] = errors.PinIncorrect
    ) -> bytes:
        """A PIN. No protected authentication path: a NULL PIN is always a caller error. A length
        above any PIN a token may hold is ``too_long`` (PinIncorrect for a PIN to check,
        PinLenRange for one to set), answered without reading the caller's memory."""
        self.require(ptr)
        if length > PIN_LEN_LIMIT:
            raise too_long()
        return self.bytes_in(ptr, length)

    def _attribute_array(self, ptr: Any, count: int) -> Any:
        """``count`` CK_ATTRIBUTEs at ``ptr``: ArgumentsBad for NULL or a count no memory holds."""
        self.require(ptr)
        if count > MAX_LENGTH // self.attribute_size:
            raise errors.ArgumentsBad()
        return self.ffi.cast("CK_ATTRIBUTE *", ptr)

    def template_in(self, ptr: Any, count: int, depth: int = 0) -> RawTemplate:
        if count == 0:
            return []
        attrs = self._attribute_array(ptr, count)
        out: RawTemplate = []
        for i in range(count):
            attr = attrs[i]
            if attr.type in TEMPLATE_ATTRIBUTES:
                if depth or attr.ulValueLen % self.attribute_size or attr.ulValueLen > MAX_LENGTH:
                    raise errors.AttributeValueInvalid()
                value: Any = self.template_in(attr.pValue, attr.ulValueLen // self.attribute_size, depth + 1)
            else:
                value = self.bytes_in(attr.pValue, attr.ulValueLen)
            out.append((int(attr.type), value))
        return out

    def types_in(self, ptr: Any, count: int) -> list[int]:
        if count == 0:
            return []
        attrs = self._attribute_array(ptr, count)
        return [int(attrs[i].type) for i in range(count)]

    # -- outputs --------------------------------------------------------------------------------
    def ulong_out(self, ptr: Any, value: int) -> None:
        self.require(ptr)
        ptr[0] = value

    def bytes_out(self, buf: Any, len_ptr: Any, data: bytes) -> bool:
        """The output-buffer protocol (3.0, 5.2). NULL buffer: report the length, return False.
        Short buffer: report the length, raise BufferTooSmall. Else write, return True (the caller
        may then end its operation)."""
        if not len_ptr:  # require, inlined: every output goes through here
            raise errors.ArgumentsBad()
        needed = len(data)
        if not buf:
            len_ptr[0] = needed
            return False
        if len_ptr[0] < needed:
            len_ptr[0] = needed
            raise errors.BufferTooSmall(needed)
        self.ffi.memmove(buf, data, needed)
        len_ptr[0] = needed
        return True

    def ulongs_out(self, array: Any, count_ptr: Any, values: Sequence[int]) -> None:
        self.require(count_ptr)
        if not array:
            count_ptr[0] = len(values)
            return
        if count_ptr[0] < len(values):
            count_ptr[0] = len(values)
            raise errors.BufferTooSmall(len(values))
        for i, value in enumerate(values):
            array[i] = value
        count_ptr[0] = len(values)

    def padded(self, field: Any, text: str) -> None:
        """Write a blank-padded, not NUL-terminated CK_UTF8CHAR field, cut on a character edge."""
        size = len(field)
        self.ffi.memmove(field, _padded_bytes(text, size), size)

    def struct_value(self, ctype: str, value: Any, fill: Callable[[Marshal, Any, Any], None]) -> Any:
        """The ``ctype`` struct that ``fill(self, struct, value)`` fills, kept in ``structs[ctype]``:
        for an answer that never changes while the library is loaded (C_GetInfo's), built once
        and then copied whole (``ptr[0] = struct``: one copy in C)."""
        struct = self.ffi.new(f"{ctype} *")
        fill(self, struct, value)
        self.structs[ctype] = struct[0]
        return struct[0]

    def attributes_out(self, ptr: Any, count: int, answers: Sequence[Any]) -> None:
        """Answer a C_GetAttributeValue template entry by entry (3.0, 5.7 C_GetAttributeValue):
        every entry is filled or marked CK_UNAVAILABLE_INFORMATION, then the most serious error
        class met is raised (sensitive, then invalid type, then buffer too small)."""
        attrs = self.ffi.cast("CK_ATTRIBUTE *", ptr)
        worst: type[errors.PKCS11Error] | None = None
        for i in range(count):
            problem = self._attribute_out(attrs[i], answers[i])
            if problem is not None and _RANK[problem] > _RANK.get(worst, -1):
                worst = problem
        if worst is not None:
            raise worst() if worst is not errors.BufferTooSmall else errors.BufferTooSmall(0)

    def _attribute_out(self, attr: Any, answer: Any) -> type[errors.PKCS11Error] | None:
        if isinstance(answer, errors.PKCS11Error):
            attr.ulValueLen = UNAVAILABLE_INFORMATION
            return type(answer)
        if isinstance(answer, list):  # a template attribute: an array of CK_ATTRIBUTE
            return self._template_out(attr, answer)
        if not attr.pValue:
            attr.ulValueLen = len(answer)
            return None
        if attr.ulValueLen < len(answer):
            attr.ulValueLen = UNAVAILABLE_INFORMATION
            return errors.BufferTooSmall
        self.ffi.memmove(attr.pValue, answer, len(answer))
        attr.ulValueLen = len(answer)
        return None

    def _template_out(self, attr: Any, entries: RawTemplate) -> type[errors.PKCS11Error] | None:
        needed = len(entries) * self.attribute_size
        if not attr.pValue:
            attr.ulValueLen = needed
            return None
        if attr.ulValueLen < needed:
            attr.ulValueLen = UNAVAILABLE_INFORMATION
            return errors.BufferTooSmall
        inner = self.ffi.cast("CK_ATTRIBUTE *", attr.pValue)
        worst = None
        for i, (kind, value) in enumerate(entries):
            # The caller sized the inner buffers after a first call that told the lengths; the
            # types are ours to give in the same order, and always written, so that each entry's
            # type names the value in it even if the caller filled in other types.
            inner[i].type = kind
            problem = self._attribute_out(inner[i], value)
            worst = worst or problem
        attr.ulValueLen = needed
        return worst


@functools.lru_cache(maxsize=256)
def _padded_bytes(text: str, size: int) -> bytes:
    """``text`` as UTF-8, cut on a character edge to at most ``size`` bytes, blank padded."""
    data = text.encode("utf-8")
    while len(data) > size:
        text = text[:-1]
        data = text.encode("utf-8")
    return data.ljust(size, b" ")


_RANK: dict[Any, int] = {
    errors.BufferTooSmall: 0,
    errors.AttributeTypeInvalid: 1,
    errors.AttributeSensitive: 2,
}
