"""CKK_EC: PKCS#11 3.0 6.3.3 (public key) and 6.3.4 (private key) objects, and what every key
on a curve shares: EC_EDWARDS and EC_MONTGOMERY (``edwards``) have the same rows and hooks and
differ only in the curves they accept (the family column of ``engine.curves``).

Footnote numbers in brackets, see ``objects.policy``. The crypto is in ``engine.keycheck`` and
``engine.pkcs8``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from softhsm_py.constants import Attribute as A
from softhsm_py.constants import KeyType, ObjectClass
from softhsm_py.core.keytypes.spec import Attrs, KeyTypeSpec, settle_spki
from softhsm_py.core.objects.policy import R, compose, row
from softhsm_py.core.objects.policy_keys import PRIVATE_KEY, PUBLIC_KEY
from softhsm_py.engine import curves, keycheck, pkcs8

PUBLIC_TABLE = compose(
    PUBLIC_KEY,
    (
        row(A.EC_PARAMS, R.REQUIRED_ON_CREATE | R.REQUIRED_ON_GENERATE),  # [1,3]
        row(A.EC_POINT, R.REQUIRED_ON_CREATE | R.FORBIDDEN_ON_GENERATE),  # [1,4]
    ),
)
PRIVATE_TABLE = compose(
    PRIVATE_KEY,
    (
        row(A.EC_PARAMS, R.KEY_PART),  # [1,4,6]
        row(A.VALUE, R.SECRET_PART),  # [1,4,6,7]
    ),
)


def curve_key_specs(key_type: int, family: str) -> tuple[KeyTypeSpec, KeyTypeSpec]:
    """(public, private) specs of a key type whose keys lie on the curves of ``family``."""

    def curve(attrs: Mapping[int, Any]) -> curves.Curve:
        return keycheck.curve_of(family, attrs[A.EC_PARAMS])

    def check_public(obj: Attrs, generated: bool) -> None:
        if generated:
            return
        obj[A.EC_POINT], spki = keycheck.ec_public(curve(obj), obj[A.EC_POINT])
        settle_spki(obj, spki)

    def check_private(obj: Attrs, generated: bool) -> None:
        if generated:
            return
        settle_spki(obj, keycheck.ec_private(curve(obj), obj[A.VALUE]))

    def key_bits(attrs: Mapping[int, Any]) -> int:
        return curve(attrs).bits

    def public_spki(attrs: Mapping[int, Any]) -> bytes:
        return keycheck.ec_public(curve(attrs), attrs[A.EC_POINT])[1]

    def private_spki(attrs: Mapping[int, Any]) -> bytes:
        return keycheck.ec_private(curve(attrs), attrs[A.VALUE])

    def export_private(attrs: Mapping[int, Any]) -> bytes:
        return pkcs8.curve_encode(curve(attrs), attrs[A.VALUE])

    def import_private(der: bytes) -> Attrs:
        on, value = pkcs8.curve_decode(family, der)
        return {A.EC_PARAMS: on.oid_der, A.VALUE: value}

    def import_public(der: bytes) -> Attrs:
        on, point = keycheck.curve_from_spki(family, der)
        return {A.EC_PARAMS: on.oid_der, A.EC_POINT: point}

    public = KeyTypeSpec(
        ObjectClass.PUBLIC_KEY,
        key_type,
        PUBLIC_TABLE,
        check_material=check_public,
        key_bits=key_bits,
        public_info=public_spki,
        import_public=import_public,
    )
    private = KeyTypeSpec(
        ObjectClass.PRIVATE_KEY,
        key_type,
        PRIVATE_TABLE,
        check_material=check_private,
        key_bits=key_bits,
        public_info=private_spki,
        export_private=export_private,
        import_private=import_private,
    )
    return public, private


SPECS = curve_key_specs(KeyType.EC, curves.EC)
