"""Random templates at the C ABI: whatever a caller sends, the module answers with a specific
CK_RV, never CKR_GENERAL_ERROR (our code for "a bug was hit"), never a crash, and stays usable.

Values are raw bytes of random lengths for a mix of real, vendor and unknown attribute types, with
the class and key type drawn from real and bogus values, through C_CreateObject, C_GenerateKey,
C_SetAttributeValue, C_CopyObject and C_FindObjectsInit.
"""

from __future__ import annotations

import struct
from collections import Counter

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from support.constants import Attribute
from support.objects import (
    Ctx,
    copy_rv,
    create,
    create_rv,
    data_template,
    find_init_rv,
    generate_key,
    set_rv,
    user_ctx,
)
from support.pkcs11 import Module

ULONG = struct.Struct("=Q")
# Real attribute types of every kind (bool, ulong, bytes, big integers, dates, templates, mechanism
# lists), NSS's vendor ones and PKCS#11 3.2's, plus arbitrary numbers.
TYPES = st.one_of(
    st.sampled_from(
        [0x0, 0x1, 0x2, 0x3, 0x10, 0x11, 0x100, 0x102, 0x103, 0x104, 0x105, 0x106, 0x107, 0x108, 0x109,
         0x10A, 0x10B, 0x10C, 0x110, 0x111, 0x120, 0x121, 0x122, 0x123, 0x124, 0x125, 0x126, 0x127,
         0x128, 0x161, 0x162, 0x163, 0x164, 0x165, 0x170, 0x171, 0x172, 0x180, 0x181, 0x202, 0x210,
         0x40000211, 0x40000212, 0x40000600, 0xCE536301, 0x633, 0x61D, 0x637, 0x636, 0x4]
    ),
    st.integers(min_value=0, max_value=2**64 - 1),
)  # fmt: skip
CLASSES = st.sampled_from([0, 1, 2, 3, 4, 5, 7, 0xCE534353, 2**64 - 1])
KEY_TYPES = st.sampled_from([0, 3, 0x10, 0x1F, 0x33, 0x40, 0x41, 0x2B, 0xFFFF])
VALUES = st.one_of(
    st.binary(max_size=40),
    st.sampled_from([b"\x00", b"\x01", b"\x02", ULONG.pack(0), ULONG.pack(16), ULONG.pack(2**64 - 1)]),
)


@st.composite
def templates(draw: st.DrawFn) -> list[tuple[int, bytes]]:
    items = draw(st.lists(st.tuples(TYPES, VALUES), max_size=8))
    if draw(st.booleans()):
        items.append((Attribute.CLASS, ULONG.pack(draw(CLASSES))))
    if draw(st.booleans()):
        items.append((Attribute.KEY_TYPE, ULONG.pack(draw(KEY_TYPES))))
    if draw(st.booleans()):  # CKA_VALUE_LEN, so that some key generations can succeed
        items.append((0x161, ULONG.pack(draw(st.sampled_from([0, 16, 24, 32, 33, 2**64 - 1])))))
    return draw(st.permutations(items))


SETTINGS = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def _ok(rv: str) -> str:
    assert rv != "GENERAL_ERROR", "the module hit an internal error"
    return rv


def _still_usable(ctx: Ctx) -> None:
    create(ctx.module, ctx.h, data_template("after the storm"))


def test_create_object(module: Module) -> None:
    ctx, seen = _ctx(module), Counter()

    @SETTINGS
    @given(template=templates())
    @example(template=[(Attribute.CLASS, ULONG.pack(0))])  # a data object: one that must be made
    def run(template: list[tuple[int, bytes]]) -> None:
        seen[_ok(create_rv(module, ctx.h, template)[0])] += 1

    run()
    _varied(seen)
    _still_usable(ctx)


def test_generate_key(module: Module) -> None:
    ctx, seen = _ctx(module), Counter()

    @SETTINGS
    @given(template=templates(), mechanism=st.sampled_from([0x1080, 0x350, 0x4028, 0x1081, 0xFFFFFFFF]))
    @example(template=[(0x161, ULONG.pack(32))], mechanism=0x1080)  # an AES-256 key
    def run(template: list[tuple[int, bytes]], mechanism: int) -> None:
        seen[_ok(generate_key(module, ctx.h, mechanism, template)[0])] += 1

    run()
    _varied(seen)
    _still_usable(ctx)


def test_set_copy_and_find(module: Module) -> None:
    ctx, seen = _ctx(module), Counter()
    obj = create(module, ctx.h, data_template("target"))

    @SETTINGS
    @given(template=templates())
    @example(template=[(0x3, b"renamed")])  # CKA_LABEL
    def run(template: list[tuple[int, bytes]]) -> None:
        seen[_ok(set_rv(module, ctx.h, obj, template))] += 1
        seen[_ok(copy_rv(module, ctx.h, obj, dict(template))[0])] += 1
        rv = _ok(find_init_rv(module, ctx.h, template)[0])
        seen[rv] += 1
        if rv == "OK":
            module.check("C_FindObjectsFinal", ctx.h)

    run()
    _varied(seen)
    _still_usable(ctx)


def _varied(seen: Counter[str]) -> None:
    """The examples reached both success and several refusals: the test is not vacuous."""
    assert seen["OK"] > 0 and len(seen) >= 4, dict(seen)


def _ctx(module: Module) -> Ctx:
    return user_ctx(module)  # one token for all the examples of a test
