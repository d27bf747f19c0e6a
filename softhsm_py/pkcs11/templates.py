"""CK_ATTRIBUTE arrays as the ABI reads them, and their decoding into the core's values."""

from __future__ import annotations

from typing import Any

from softhsm_py import errors
from softhsm_py.core.objects import codec

# (type, bytes | RawTemplate for the template attributes), in the caller's order.
RawTemplate = list[tuple[int, Any]]
Attrs = dict[int, Any]


def raw_dict(template: RawTemplate) -> dict[int, Any]:
    """A caller's template as {type: raw}; a type given twice with different values is
    inconsistent (3.0, 4.1.1)."""
    out: dict[int, Any] = {}
    for kind, value in template:
        if isinstance(value, list):
            value = raw_dict(value)
        if kind in out and out[kind] != value:
            raise errors.TemplateInconsistent()
        out[kind] = value
    return out


def decode(template: RawTemplate, *, strict: bool = False) -> Attrs:
    return codec.decode_template(raw_dict(template), strict=strict)


def encode_answer(kind: int, value: Any) -> Any:
    """An attribute value as the ABI writes it: bytes, or [(type, bytes)] for a template."""
    if isinstance(value, dict):
        return list(codec.encode_template(value).items())
    return codec.encode(kind, value)
