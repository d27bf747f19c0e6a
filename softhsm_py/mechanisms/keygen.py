"""Secret key generation: AES, generic secrets, ChaCha20.

Returns the material attributes (CKA_VALUE, CKA_VALUE_LEN where the key type has it) plus
CKA_KEY_TYPE; the object factory applies the rest of the template and the defaults.
A missing CKA_VALUE_LEN where the spec requires it -> TemplateIncomplete; a length outside the
mechanism's range -> KeySizeRange.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from softhsm_py import errors
from softhsm_py.constants import Attribute, KeyType, Mechanism, MechanismFlag
from softhsm_py.engine import aes as engine_aes
from softhsm_py.engine import chacha as engine_chacha
from softhsm_py.mechanisms.base import MechanismImpl, template_len
from softhsm_py.mechanisms.registry import MechInfo, mechanism

GENERIC_BYTES = (1, 1024)


def _random_key(key_type: int, length: int) -> dict[int, Any]:
    return {Attribute.KEY_TYPE: key_type, Attribute.VALUE: os.urandom(length), Attribute.VALUE_LEN: length}


def _no_param(param: Any) -> None:
    if param is not None:
        raise errors.MechanismParamInvalid()


@mechanism(Mechanism.AES_KEY_GEN, info=MechInfo(16, 32, MechanismFlag.GENERATE))
class AesKeyGen(MechanismImpl):
    def generate_key(self, mech: int, param: Any, template: Mapping[int, Any]) -> dict[int, Any]:
        _no_param(param)
        n = template_len(template)
        if n is None:
            raise errors.TemplateIncomplete()
        if n not in engine_aes.KEY_SIZES:
            raise errors.KeySizeRange()
        return _random_key(KeyType.AES, n)


@mechanism(Mechanism.GENERIC_SECRET_KEY_GEN, info=MechInfo(*GENERIC_BYTES, MechanismFlag.GENERATE))
class GenericSecretKeyGen(MechanismImpl):
    def generate_key(self, mech: int, param: Any, template: Mapping[int, Any]) -> dict[int, Any]:
        _no_param(param)
        n = template_len(template)
        if n is None:
            raise errors.TemplateIncomplete()
        if not GENERIC_BYTES[0] <= n <= GENERIC_BYTES[1]:
            raise errors.KeySizeRange()
        return _random_key(KeyType.GENERIC_SECRET, n)


@mechanism(Mechanism.CHACHA20_KEY_GEN, info=MechInfo(32, 32, MechanismFlag.GENERATE))
class ChaCha20KeyGen(MechanismImpl):
    def generate_key(self, mech: int, param: Any, template: Mapping[int, Any]) -> dict[int, Any]:
        _no_param(param)
        n = template_len(template)
        if n is not None and n != engine_chacha.KEY_LEN:
            raise errors.KeySizeRange()
        # The length is fixed, so a template need not name it; the object still records it, as
        # every secret key in our tables does.
        return _random_key(KeyType.CHACHA20, engine_chacha.KEY_LEN)
