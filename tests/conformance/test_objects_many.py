"""A token holding 100,000 objects (PKCS#11 3.0, 5.7.7-5.7.9): C_FindObjects still finds the one
object a template names. No timing assertion: the store's indexes (class, label, id) are what keep
this test's run time reasonable, and a regression shows as a slow test, not a failure."""

from __future__ import annotations

import pytest

from support.constants import Attribute, KeyType, ObjectClass
from support.keys import certificate
from support.objects import create, find, get, user_ctx
from support.pkcs11 import Module

COUNT = 100_000  # 50,000 key / certificate pairs sharing CKA_LABEL and CKA_ID, as hosts pair them


def _template(i: int) -> dict[int, object]:
    pair = i // 2
    label, ident = f"pair-{pair:05d}", pair.to_bytes(3, "big")
    common = {Attribute.TOKEN: True, Attribute.PRIVATE: False, Attribute.LABEL: label, Attribute.ID: ident}
    if i % 2:
        return {**certificate(), **common}
    value = pair.to_bytes(4, "big") * 4
    return {
        Attribute.CLASS: ObjectClass.SECRET_KEY,
        Attribute.KEY_TYPE: KeyType.GENERIC_SECRET,
        Attribute.VALUE: value,
        **common,
    }


@pytest.mark.slow  # each object is written durably: a minute or more
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
        assert find(
            module,
            c.h,
            {Attribute.LABEL: label, Attribute.ID: ident, Attribute.CLASS: ObjectClass.SECRET_KEY},
        ) == [key]
        assert find(
            module,
            c.h,
            {Attribute.CLASS: ObjectClass.CERTIFICATE, Attribute.ID: ident, Attribute.LABEL: label},
        ) == [cert]
        assert sorted(find(module, c.h, {Attribute.LABEL: label})) == sorted([key, cert])
        assert sorted(find(module, c.h, {Attribute.ID: ident})) == sorted([key, cert])
        got = get(module, c.h, key, [Attribute.LABEL, Attribute.ID, Attribute.CLASS])
        assert got == {
            Attribute.LABEL: label.encode(),
            Attribute.ID: ident,
            Attribute.CLASS: ObjectClass.SECRET_KEY,
        }
    assert find(module, c.h, {Attribute.LABEL: "pair-99999"}) == []
    assert find(module, c.h, {Attribute.LABEL: "pair-00001", Attribute.ID: (2).to_bytes(3, "big")}) == []
