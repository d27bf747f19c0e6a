"""A token holding 100,000 objects (PKCS#11 3.0, 5.7.7-5.7.9): C_FindObjects still finds the one
object a template names. No timing assertion: the store's indexes (class, label, id) are what keep
this test's run time reasonable, and a regression shows as a slow test, not a failure."""

from __future__ import annotations

import pytest

from .objects_support import (
    CKA_CLASS,
    CKA_ID,
    CKA_KEY_TYPE,
    CKA_LABEL,
    CKA_PRIVATE,
    CKA_TOKEN,
    CKA_VALUE,
    CKK_GENERIC_SECRET,
    CKO_CERTIFICATE,
    CKO_SECRET_KEY,
    certificate,
    create,
    find,
    get,
    user_ctx,
)
from .pkcs11 import Module

COUNT = 100_000  # 50,000 key / certificate pairs sharing CKA_LABEL and CKA_ID, as hosts pair them


def _template(i: int) -> dict[int, object]:
    pair = i // 2
    label, ident = f"pair-{pair:05d}", pair.to_bytes(3, "big")
    common = {CKA_TOKEN: True, CKA_PRIVATE: False, CKA_LABEL: label, CKA_ID: ident}
    if i % 2:
        return {**certificate(), **common}
    value = pair.to_bytes(4, "big") * 4
    return {CKA_CLASS: CKO_SECRET_KEY, CKA_KEY_TYPE: CKK_GENERIC_SECRET, CKA_VALUE: value, **common}


def test_find_one_among_100000(module: Module) -> None:
    if module.softhsm2:
        pytest.skip(
            "SoftHSMv2's file store writes one file per object (~20 ms each): 100,000 objects "
            "take over half an hour; not a spec matter"
        )
    c = user_ctx(module)
    handles = [create(module, c.h, _template(i)) for i in range(COUNT)]
    assert len(set(handles)) == COUNT

    for pair in (0, 12_345, COUNT // 2 - 1):
        label, ident = f"pair-{pair:05d}", pair.to_bytes(3, "big")
        key, cert = handles[2 * pair], handles[2 * pair + 1]
        assert find(module, c.h, {CKA_LABEL: label, CKA_ID: ident, CKA_CLASS: CKO_SECRET_KEY}) == [key]
        assert find(module, c.h, {CKA_CLASS: CKO_CERTIFICATE, CKA_ID: ident, CKA_LABEL: label}) == [cert]
        assert sorted(find(module, c.h, {CKA_LABEL: label})) == sorted([key, cert])
        assert sorted(find(module, c.h, {CKA_ID: ident})) == sorted([key, cert])
        got = get(module, c.h, key, [CKA_LABEL, CKA_ID, CKA_CLASS])
        assert got == {CKA_LABEL: label.encode(), CKA_ID: ident, CKA_CLASS: CKO_SECRET_KEY}
    assert find(module, c.h, {CKA_LABEL: "pair-99999"}) == []
    assert find(module, c.h, {CKA_LABEL: "pair-00001", CKA_ID: (2).to_bytes(3, "big")}) == []
