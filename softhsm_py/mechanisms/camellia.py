"""Camellia (RFC 3713; PKCS#11's Camellia mechanisms and key objects): key generation, ECB, CBC
and CBC_PAD, what the TSB offers. Each cipher also wraps and unwraps (encryption of the key
bytes), as AES does."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from softhsm_py import errors
from softhsm_py.constants import Attribute, KeyType, Mechanism, MechanismFlag
from softhsm_py.engine import blockciphers as engine
from softhsm_py.mechanisms.base import (
    CipherContext,
    CipherWrap,
    KeyView,
    MechanismImpl,
    require_type,
    secret_value,
    template_len,
)
from softhsm_py.mechanisms.blockmodes import BlockCtx, iv_of
from softhsm_py.mechanisms.params import IV16
from softhsm_py.mechanisms.registry import MechInfo, mechanism

F = MechanismFlag
B = engine.block_size(engine.CAMELLIA)
KEY_SIZES = engine.key_sizes(engine.CAMELLIA)
_INFO = MechInfo(min(KEY_SIZES), max(KEY_SIZES), F.ENCRYPT | F.DECRYPT | F.WRAP | F.UNWRAP)


def camellia_key(key: KeyView) -> bytes:
    require_type(key, frozenset({KeyType.CAMELLIA}))
    value = secret_value(key)
    if len(value) not in KEY_SIZES:
        raise errors.KeySizeRange()
    return value


@mechanism(Mechanism.CAMELLIA_KEY_GEN, info=MechInfo(min(KEY_SIZES), max(KEY_SIZES), F.GENERATE))
class CamelliaKeyGen(MechanismImpl):
    def generate_key(self, mech: int, param: Any, template: Mapping[int, Any]) -> dict[int, Any]:
        if param is not None:
            raise errors.MechanismParamInvalid()
        n = template_len(template)
        if n is None:
            raise errors.TemplateIncomplete()
        if n not in KEY_SIZES:
            raise errors.KeySizeRange()
        return {Attribute.KEY_TYPE: KeyType.CAMELLIA, Attribute.VALUE: os.urandom(n), Attribute.VALUE_LEN: n}


@mechanism(Mechanism.CAMELLIA_ECB, info=_INFO)
@mechanism(Mechanism.CAMELLIA_CBC, Mechanism.CAMELLIA_CBC_PAD, info=_INFO, param=IV16)
class CamelliaCipher(CipherWrap, MechanismImpl):
    key_types = frozenset({KeyType.CAMELLIA})

    def _init(self, mech: int, param: Any, key: KeyView, encrypt: bool) -> CipherContext:
        if mech == Mechanism.CAMELLIA_ECB:
            if param is not None:
                raise errors.MechanismParamInvalid()
            return BlockCtx(engine.ecb(engine.CAMELLIA, camellia_key(key), encrypt), encrypt, False, B)
        stream = engine.cbc(engine.CAMELLIA, camellia_key(key), iv_of(param, B), encrypt)
        return BlockCtx(stream, encrypt, mech == Mechanism.CAMELLIA_CBC_PAD, B)

    def encrypt_init(self, mech: int, param: Any, key: KeyView) -> CipherContext:
        return self._init(mech, param, key, True)

    def decrypt_init(self, mech: int, param: Any, key: KeyView) -> CipherContext:
        return self._init(mech, param, key, False)
