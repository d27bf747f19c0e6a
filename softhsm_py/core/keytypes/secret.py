"""Secret keys: CKK_AES (PKCS#11 3.0 6.8.2), CKK_GENERIC_SECRET (6.7.3), the HMAC key types of
``engine.hash_table`` (CKK_SHA256_HMAC, ...), CKK_HKDF, CKK_CHACHA20, CKK_DES2 / CKK_DES3 and
CKK_CAMELLIA.

They share their rows; what differs is the check of the value (AES and Camellia: 16, 24 or 32
bytes; ChaCha20: 32; DES2 / DES3: 16 / 24 bytes with odd parity) and its CKA_CHECK_VALUE. They
are wrapped and imported as their raw value. DES2 / DES3 keys record CKA_VALUE_LEN like the
others (the 3.0 table lists none for them): a host may name it, and it must then agree.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from softhsm_py.constants import Attribute as A
from softhsm_py.constants import KeyType, ObjectClass
from softhsm_py.core.keytypes.spec import Attrs, KeyTypeSpec, settle
from softhsm_py.core.objects.policy import R, compose, row
from softhsm_py.core.objects.policy_keys import SECRET_KEY
from softhsm_py.engine import keycheck
from softhsm_py.engine.hash_table import HMAC_KEY_TYPES
from softhsm_py.errors import AttributeValueInvalid

TABLE = compose(
    SECRET_KEY,
    (
        row(A.VALUE, R.SECRET_PART),  # [1,4,6,7]
        row(A.VALUE_LEN, R.ON_GENERATE_ONLY),  # [2,3,6]
    ),
)


def _checker(check_value: Callable[[bytes], bytes]) -> Callable[[Attrs, bool], None]:
    """check_material of a secret key type whose value ``check_value`` checks and fingerprints."""

    def check_material(obj: Attrs, generated: bool) -> None:
        value = obj[A.VALUE]
        kcv = check_value(value)  # AttributeValueInvalid for a length the key type refuses
        settle(obj, A.VALUE_LEN, len(value))  # VALUE_LEN asked for, VALUE of another length made
        given = obj.get(A.CHECK_VALUE)
        if given == b"":
            del obj[A.CHECK_VALUE]  # an empty check value asks for none
        elif given is None:
            obj[A.CHECK_VALUE] = kcv
        elif given != kcv:
            raise AttributeValueInvalid()

    return check_material


def _value_bits(attrs: Mapping[int, Any]) -> int:
    return 8 * len(attrs[A.VALUE])


def _spec(key_type: int, check_value: Callable[[bytes], bytes]) -> KeyTypeSpec:
    return KeyTypeSpec(
        ObjectClass.SECRET_KEY, key_type, TABLE, check_material=_checker(check_value), key_bits=_value_bits
    )


_GENERIC = (KeyType.GENERIC_SECRET, *HMAC_KEY_TYPES, KeyType.HKDF)
SPECS = (
    _spec(KeyType.AES, keycheck.aes_check_value),
    _spec(KeyType.CHACHA20, keycheck.chacha20_check_value),
    _spec(KeyType.DES2, keycheck.des_check_value(16)),
    _spec(KeyType.DES3, keycheck.des_check_value(24)),
    _spec(KeyType.CAMELLIA, keycheck.camellia_check_value),
    *(_spec(key_type, keycheck.generic_check_value) for key_type in _GENERIC),
)
