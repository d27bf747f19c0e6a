"""objects/codec.py: raw CK_ATTRIBUTE bytes <-> values, per value kind."""

from __future__ import annotations

import contextlib
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from softhsm_py.constants import Attribute as A
from softhsm_py.core.objects import codec
from softhsm_py.core.objects.codec import KINDS, Kind
from softhsm_py.errors import AttributeTypeInvalid, AttributeValueInvalid

ULONG_MAX = 2**64 - 1
SIMPLE = [a for a, k in KINDS.items() if k is not Kind.TEMPLATE]


def values(kind: Kind) -> st.SearchStrategy:
    if kind is Kind.BOOL:
        return st.booleans()
    if kind is Kind.ULONG:
        return st.integers(0, ULONG_MAX)
    if kind is Kind.DATE:
        return st.one_of(
            st.just(b""), st.dates().map(lambda d: f"{d.year:04d}{d.month:02d}{d.day:02d}".encode())
        )
    if kind is Kind.MECHANISMS:
        return st.lists(st.integers(0, ULONG_MAX), max_size=6).map(tuple)
    if kind is Kind.TEMPLATE:
        return st.dictionaries(
            st.sampled_from([A.TOKEN, A.SENSITIVE, A.LABEL, A.KEY_TYPE]).map(int), st.none()
        ).map(lambda d: {a: _sample(a) for a in d})
    return st.binary(max_size=64)


def _sample(attr: int) -> object:
    return {Kind.BOOL: True, Kind.ULONG: 7, Kind.UTF8: b"x"}[KINDS[attr]]


@given(st.sampled_from(sorted(KINDS)).flatmap(lambda a: st.tuples(st.just(a), values(KINDS[a]))))
def test_every_kind_round_trips(pair: tuple[int, object]) -> None:
    attr, value = pair
    assert codec.decode(attr, codec.encode(attr, value)) == value


@pytest.mark.parametrize("raw", [b"", b"\x02", b"\xff", b"\x00\x00", b"\x01\x00"])
def test_bool_is_one_byte_zero_or_one(raw: bytes) -> None:
    with pytest.raises(AttributeValueInvalid):
        codec.decode(A.SENSITIVE, raw)


def test_bool_decodes() -> None:
    assert codec.decode(A.TOKEN, b"\x01") is True
    assert codec.decode(A.TOKEN, b"\x00") is False


@given(st.binary().filter(lambda b: len(b) != 8))
def test_ulong_needs_eight_bytes(raw: bytes) -> None:
    with pytest.raises(AttributeValueInvalid):
        codec.decode(A.CLASS, raw)


def test_ulong_is_native_order() -> None:
    assert codec.encode(A.VALUE_LEN, 32) == struct.pack("=Q", 32)
    assert codec.decode(A.KEY_GEN_MECHANISM, struct.pack("=Q", ULONG_MAX)) == ULONG_MAX


@pytest.mark.parametrize("raw", [b"2024131", b"20241301", b"20240230", b"2024-1-1", b"abcdefgh", b"0"])
def test_bad_dates(raw: bytes) -> None:
    with pytest.raises(AttributeValueInvalid):
        codec.decode(A.START_DATE, raw)


def test_dates() -> None:
    assert codec.decode(A.END_DATE, b"") == b""
    assert codec.decode(A.END_DATE, b"20240229") == b"20240229"


def test_mechanisms() -> None:
    raw = struct.pack("=QQ", 0x1, 0x1082)
    assert codec.decode(A.ALLOWED_MECHANISMS, raw) == (1, 0x1082)
    with pytest.raises(AttributeValueInvalid):
        codec.decode(A.ALLOWED_MECHANISMS, raw[:-1])


@pytest.mark.parametrize("attr", [0x636, 0x623, 0xCE536301, 0x80000000, A.GOSTR3410_PARAMS, A.OTP_FORMAT, -1])
def test_unknown_types_are_type_invalid(attr: int) -> None:
    with pytest.raises(AttributeTypeInvalid):
        codec.kind(attr)
    with pytest.raises(AttributeTypeInvalid):
        codec.decode(attr, b"\x00")
    with pytest.raises(AttributeTypeInvalid):
        codec.encode(attr, b"\x00")


@pytest.mark.parametrize(
    ("attr", "value"),
    [
        (A.TOKEN, 1),
        (A.CLASS, True),
        (A.CLASS, -1),
        (A.CLASS, 2**64),
        (A.LABEL, "text"),
        (A.ALLOWED_MECHANISMS, [1, 2]),
        (A.WRAP_TEMPLATE, {A.WRAP_TEMPLATE: {}}),
        (A.WRAP_TEMPLATE, {A.TOKEN: 1}),
        (A.START_DATE, b"2024"),
    ],
)
def test_validate_rejects_wrong_shapes(attr: int, value: object) -> None:
    with pytest.raises(AttributeValueInvalid):
        codec.encode(attr, value)


def test_decode_template_nested() -> None:
    raw = {
        A.CLASS: struct.pack("=Q", 4),
        A.SENSITIVE: b"\x01",
        A.WRAP_TEMPLATE: {A.EXTRACTABLE: b"\x00", A.LABEL: b"k"},
    }
    decoded = codec.decode_template(raw)
    assert decoded == {A.CLASS: 4, A.SENSITIVE: True, A.WRAP_TEMPLATE: {A.EXTRACTABLE: False, A.LABEL: b"k"}}
    assert codec.encode_template(decoded) == raw


def test_decode_template_refuses_unknown_and_bad() -> None:
    with pytest.raises(AttributeTypeInvalid):
        codec.decode_template({0x636: b""})
    with pytest.raises(AttributeValueInvalid):
        codec.decode_template({A.WRAP_TEMPLATE: b"not a dict"})
    with pytest.raises(AttributeValueInvalid):
        codec.decode_template({A.TOKEN: b"\x05"})


@given(st.binary(max_size=40))
def test_stored_template_garbage_never_crashes(raw: bytes) -> None:
    with contextlib.suppress(AttributeValueInvalid, AttributeTypeInvalid):
        codec.decode(A.UNWRAP_TEMPLATE, raw)


def test_lenient_decode_keeps_unknown_types_raw() -> None:
    raw = {A.CLASS: struct.pack("=Q", 0xCE534353), 0xCE536301: b"\x01"}
    assert codec.decode_template(raw, strict=False) == {A.CLASS: 0xCE534353, 0xCE536301: b"\x01"}
    with pytest.raises(AttributeValueInvalid):  # known types are still checked
        codec.decode_template({A.TOKEN: b"\x02"}, strict=False)
