"""CKK_RSA: PKCS#11 3.0 6.1.2 (public key) and 6.1.3 (private key) objects.

Footnote numbers in brackets, see ``objects.policy``. The crypto is in ``engine.keycheck`` and
``engine.pkcs8``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from softhsm_py.constants import Attribute as A
from softhsm_py.constants import KeyType, ObjectClass
from softhsm_py.core.keytypes.spec import Attrs, KeyTypeSpec, big, fill, int_of, settle, settle_spki
from softhsm_py.core.objects.policy import R, compose, row
from softhsm_py.core.objects.policy_keys import PRIVATE_KEY, PUBLIC_KEY
from softhsm_py.engine import keycheck, pkcs8

PUBLIC_TABLE = compose(
    PUBLIC_KEY,
    (
        row(A.MODULUS, R.REQUIRED_ON_CREATE | R.FORBIDDEN_ON_GENERATE),  # [1,4]
        row(A.MODULUS_BITS, R.FORBIDDEN_ON_CREATE | R.REQUIRED_ON_GENERATE),  # [2,3]
        row(A.PUBLIC_EXPONENT, R.REQUIRED_ON_CREATE),  # [1]
    ),
)

PRIVATE_TABLE = compose(
    PRIVATE_KEY,
    (
        row(A.MODULUS, R.KEY_PART),  # [1,4,6]
        row(A.PUBLIC_EXPONENT, R.FORBIDDEN_ON_GENERATE | R.FORBIDDEN_ON_UNWRAP),  # [4,6]
        row(A.PRIVATE_EXPONENT, R.SECRET_PART),  # [1,4,6,7]
        row(A.PRIME_1, R.CRT_PART),  # [4,6,7]
        row(A.PRIME_2, R.CRT_PART),
        row(A.EXPONENT_1, R.CRT_PART),
        row(A.EXPONENT_2, R.CRT_PART),
        row(A.COEFFICIENT, R.CRT_PART),
    ),
)

# The private parts in PKCS#8 order (n, e, d, p, q, dP, dQ, qInv).
_PARTS = (
    A.MODULUS, A.PUBLIC_EXPONENT, A.PRIVATE_EXPONENT, A.PRIME_1, A.PRIME_2,
    A.EXPONENT_1, A.EXPONENT_2, A.COEFFICIENT,
)  # fmt: skip


def _modulus_bits(attrs: Mapping[int, Any]) -> int:
    return (int_of(attrs, A.MODULUS) or 0).bit_length()


def _public_spki(attrs: Mapping[int, Any]) -> bytes:
    return keycheck.rsa_public(int_of(attrs, A.MODULUS) or 0, int_of(attrs, A.PUBLIC_EXPONENT) or 0)


def _check_public(obj: Attrs, generated: bool) -> None:
    if generated:
        settle(obj, A.MODULUS_BITS, _modulus_bits(obj))
        return
    spki = _public_spki(obj)
    settle(obj, A.MODULUS_BITS, _modulus_bits(obj))  # a generated modulus must be the size asked for
    settle_spki(obj, spki)


def _check_private(obj: Attrs, generated: bool) -> None:
    if generated:
        return
    parts = keycheck.rsa_private(
        n=int_of(obj, A.MODULUS) or 0,
        d=int_of(obj, A.PRIVATE_EXPONENT) or 0,
        e=int_of(obj, A.PUBLIC_EXPONENT),
        p=int_of(obj, A.PRIME_1),
        q=int_of(obj, A.PRIME_2),
        dmp1=int_of(obj, A.EXPONENT_1),
        dmq1=int_of(obj, A.EXPONENT_2),
        iqmp=int_of(obj, A.COEFFICIENT),
    )
    # The spec lets an importer omit the CRT parts [4,6,7]; a working key needs them.
    fill(obj, A.PUBLIC_EXPONENT, parts.e)
    fill(obj, A.PRIME_1, parts.p)
    fill(obj, A.PRIME_2, parts.q)
    fill(obj, A.EXPONENT_1, parts.dmp1)
    fill(obj, A.EXPONENT_2, parts.dmq1)
    fill(obj, A.COEFFICIENT, parts.iqmp)
    settle_spki(obj, parts.spki)


def _export_private(attrs: Mapping[int, Any]) -> bytes:
    n, e, d, p, q, dmp1, dmq1, iqmp = (int.from_bytes(attrs[a], "big") for a in _PARTS)
    return pkcs8.rsa_encode((n, e, d, p, q, dmp1, dmq1, iqmp))


def _import_private(der: bytes) -> Attrs:
    return {int(a): big(v) for a, v in zip(_PARTS, pkcs8.rsa_decode(der), strict=True)}


def _import_public(der: bytes) -> Attrs:
    n, e = keycheck.rsa_from_spki(der)
    return {A.MODULUS: big(n), A.PUBLIC_EXPONENT: big(e)}


SPECS = (
    KeyTypeSpec(
        ObjectClass.PUBLIC_KEY,
        KeyType.RSA,
        PUBLIC_TABLE,
        check_material=_check_public,
        key_bits=_modulus_bits,
        public_info=_public_spki,
        import_public=_import_public,
    ),
    KeyTypeSpec(
        ObjectClass.PRIVATE_KEY,
        KeyType.RSA,
        PRIVATE_TABLE,
        check_material=_check_private,
        key_bits=_modulus_bits,
        public_info=_public_spki,
        export_private=_export_private,
        import_private=_import_private,
    ),
)
