"""The simple key derivations (PKCS#11 3.0, 2.43): CONCATENATE_BASE_AND_KEY, _BASE_AND_DATA,
_DATA_AND_BASE, XOR_BASE_AND_DATA, EXTRACT_KEY_FROM_KEY; and the encryption derivations
AES_ECB / AES_CBC / DES3_ECB / DES3_CBC _ENCRYPT_DATA: the new key is the ciphertext of the data
under the base key.

Key type and length follow the template as for every derivation (``kdf.output_len``): a generic
secret by default, as long as the material, which a shorter key takes from its leading end; a
key type or length that needs more bytes than there are is TemplateInconsistent (DataLenRange for
the encryption derivations, as PKCS#11 2.20 names it). Derived DES keys get their parity bits set.

The simple derivations hand the base key's bits to the new key, so the new key keeps their
protection (2.43): ``inherits_protection`` tells the core to make it sensitive if a source key is,
unextractable if one is, and to take the other settings from the base key when the template
names none. And a key made from a protected (sensitive or unextractable) key must keep all of its
bits, none truncated away (TemplateInconsistent otherwise): a key of one unknown byte and
fifteen known ones (CONCATENATE_DATA_AND_BASE, then truncated, or EXTRACT_KEY_FROM_KEY of one
byte) would give the protected key away a byte at a time, by guessing each byte against a MAC
made with the short key. The spec allows the truncation; a token that guards its keys may not.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from softhsm_py import errors
from softhsm_py.constants import Attribute, KeyType, Mechanism, MechanismFlag
from softhsm_py.engine import aes as engine_aes
from softhsm_py.engine import blockciphers, hash_table
from softhsm_py.mechanisms.aes import aes_key
from softhsm_py.mechanisms.base import KeyView, MechanismImpl, secret_value
from softhsm_py.mechanisms.des import DES_KEYS, des_key
from softhsm_py.mechanisms.kdf import key_material, output_len
from softhsm_py.mechanisms.params import (
    AES_CBC_DATA,
    BIT_INDEX,
    DES_CBC_DATA,
    STRING_DATA,
    CbcEncryptData,
    KeyHandle,
)
from softhsm_py.mechanisms.registry import MechInfo, mechanism

M = Mechanism
_INFO = MechInfo(0, 0, MechanismFlag.DERIVE)  # any secret key, of any length
# The base key of a simple derivation is a secret key of any type (2.43): the key gate refuses
# every other type (KEY_TYPE_INCONSISTENT), as it does for the other mechanisms.
SECRET_KEY_TYPES = frozenset(
    {
        KeyType.GENERIC_SECRET,
        KeyType.AES,
        KeyType.CHACHA20,
        KeyType.CAMELLIA,
        KeyType.HKDF,
        *DES_KEYS,
        *hash_table.HMAC_KEY_TYPES,
    }
)


def _protected(key: KeyView) -> bool:
    return key.attrs.get(Attribute.SENSITIVE) is not False or key.attrs.get(Attribute.EXTRACTABLE) is not True


def _data(param: Any) -> bytes:
    if not isinstance(param, bytes) or not param:
        raise errors.MechanismParamInvalid()
    return param


def extract_bits(value: bytes, start: int, length: int) -> bytes:
    """``length`` bytes of ``value`` read from bit ``start`` (bit 0 the first byte's most
    significant), wrapping around its end (3.0, 2.43.7)."""
    bits = 8 * len(value)
    whole = int.from_bytes(value, "big")
    rotated = ((whole << start) | (whole >> (bits - start))) & ((1 << bits) - 1) if start else whole
    return rotated.to_bytes(len(value), "big")[:length]


@mechanism(M.CONCATENATE_BASE_AND_KEY, info=_INFO, param=KeyHandle)
@mechanism(
    M.CONCATENATE_BASE_AND_DATA,
    M.CONCATENATE_DATA_AND_BASE,
    M.XOR_BASE_AND_DATA,
    info=_INFO,
    param=STRING_DATA,
)
@mechanism(M.EXTRACT_KEY_FROM_KEY, info=_INFO, param=BIT_INDEX)
class SimpleDerive(MechanismImpl):
    key_types = SECRET_KEY_TYPES
    inherits_protection = True

    def derive(self, mech: int, param: Any, base_key: KeyView, template: Mapping[int, Any]) -> dict[int, Any]:
        base = secret_value(base_key)
        protected = _protected(base_key)
        if mech == M.CONCATENATE_BASE_AND_KEY:
            if not isinstance(param, KeyHandle) or param.value is None:
                raise errors.MechanismParamInvalid()  # the core resolves the handle
            material, protected = base + param.value, protected or param.protected
        elif mech == M.CONCATENATE_BASE_AND_DATA:
            material = base + _data(param)
        elif mech == M.CONCATENATE_DATA_AND_BASE:
            material = _data(param) + base
        elif mech == M.XOR_BASE_AND_DATA:
            data = _data(param)
            if protected and len(data) < len(base):
                raise errors.TemplateInconsistent()  # the new key would hold only part of the base
            material = bytes(a ^ b for a, b in zip(base, data, strict=False))
        else:
            if not isinstance(param, int) or isinstance(param, bool) or not 0 <= param < 8 * len(base):
                raise errors.MechanismParamInvalid()
            material = extract_bits(base, param, len(base))
        key_type, n = output_len(template, len(material), len(material))
        if protected and n < len(material):
            raise errors.TemplateInconsistent()  # see the module docstring
        return key_material(key_type, material[:n])


def _encrypted(template: Mapping[int, Any], ciphertext: bytes) -> dict[int, Any]:
    key_type, n = output_len(template, len(ciphertext), None)
    if n > len(ciphertext):
        raise errors.DataLenRange()  # the data is too short for the key asked for
    return key_material(key_type, ciphertext[:n])


def _cbc_param(param: Any, block: int) -> CbcEncryptData:
    if not isinstance(param, CbcEncryptData) or len(param.iv) != block or not param.data:
        raise errors.MechanismParamInvalid()
    return param


@mechanism(M.AES_ECB_ENCRYPT_DATA, info=MechInfo(16, 32, MechanismFlag.DERIVE), param=STRING_DATA)
@mechanism(M.AES_CBC_ENCRYPT_DATA, info=MechInfo(16, 32, MechanismFlag.DERIVE), param=AES_CBC_DATA)
class AesEncryptData(MechanismImpl):
    key_types = frozenset({KeyType.AES})

    def derive(self, mech: int, param: Any, base_key: KeyView, template: Mapping[int, Any]) -> dict[int, Any]:
        key = aes_key(base_key)
        if mech == M.AES_ECB_ENCRYPT_DATA:
            data, stream = _data(param), engine_aes.ecb(key, True)
        else:
            p = _cbc_param(param, engine_aes.BLOCK)
            data, stream = p.data, engine_aes.cbc(key, p.iv, True)
        if len(data) % engine_aes.BLOCK:
            raise errors.DataLenRange()
        return _encrypted(template, stream.update(data) + stream.finalize())


@mechanism(M.DES3_ECB_ENCRYPT_DATA, info=MechInfo(16, 24, MechanismFlag.DERIVE), param=STRING_DATA)
@mechanism(M.DES3_CBC_ENCRYPT_DATA, info=MechInfo(16, 24, MechanismFlag.DERIVE), param=DES_CBC_DATA)
class Des3EncryptData(MechanismImpl):
    key_types = DES_KEYS

    def derive(self, mech: int, param: Any, base_key: KeyView, template: Mapping[int, Any]) -> dict[int, Any]:
        key = des_key(base_key)
        des3 = blockciphers.DES3
        if mech == M.DES3_ECB_ENCRYPT_DATA:
            data, iv = _data(param), None
        else:
            p = _cbc_param(param, blockciphers.block_size(des3))
            data, iv = p.data, p.iv
        return _encrypted(template, blockciphers.encrypt_blocks(des3, key, data, iv))
