"""TDEA, the payment world's Triple DES, on DES2 (16-byte) and DES3 (24-byte) keys (PKCS#11's
Triple-DES mechanisms and DES2 / DES3 key objects): key generation, ECB, CBC, CBC_PAD,
the CBC-MAC (DES3_MAC, half a block) and CMAC, plain and _GENERAL.

Every DES3_* mechanism takes a DES2 key too (keying option 2). Generated keys have odd parity;
each cipher also wraps and unwraps (encryption of the key bytes), as AES does.
"""

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
    SignContext,
    StreamSign,
    StreamVerify,
    VerifyContext,
    require_type,
    secret_value,
    template_len,
)
from softhsm_py.mechanisms.blockmodes import BlockCtx, iv_of
from softhsm_py.mechanisms.params import IV8, MAC_LENGTH
from softhsm_py.mechanisms.registry import MechInfo, mechanism

F = MechanismFlag
B = engine.block_size(engine.DES3)
DES_KEYS = frozenset({KeyType.DES2, KeyType.DES3})
_KEY_LEN: dict[int, int] = {KeyType.DES2: 16, KeyType.DES3: 24}  # key type -> bytes, parity included
_EDWU = F.ENCRYPT | F.DECRYPT | F.WRAP | F.UNWRAP
_SV = F.SIGN | F.VERIFY
_BYTES = (16, 24)  # CK_MECHANISM_INFO key sizes, in bytes as for the other block ciphers


def des_key(key: KeyView) -> bytes:
    """The value of a DES2 / DES3 key usable with the DES3_* mechanisms."""
    key_type = require_type(key, DES_KEYS)
    value = secret_value(key)
    if len(value) != _KEY_LEN[key_type]:
        raise errors.KeySizeRange()
    return value


def random_key(length: int) -> bytes:
    return engine.with_odd_parity(os.urandom(length))


class _KeyGen(MechanismImpl):
    key_type: int

    def generate_key(self, mech: int, param: Any, template: Mapping[int, Any]) -> dict[int, Any]:
        if param is not None:
            raise errors.MechanismParamInvalid()
        n = _KEY_LEN[self.key_type]
        asked = template_len(template)
        if asked is not None and asked != n:
            raise errors.KeySizeRange()
        return {Attribute.KEY_TYPE: self.key_type, Attribute.VALUE: random_key(n), Attribute.VALUE_LEN: n}


@mechanism(Mechanism.DES2_KEY_GEN, info=MechInfo(16, 16, F.GENERATE))
class Des2KeyGen(_KeyGen):
    key_type = KeyType.DES2


@mechanism(Mechanism.DES3_KEY_GEN, info=MechInfo(24, 24, F.GENERATE))
class Des3KeyGen(_KeyGen):
    key_type = KeyType.DES3


@mechanism(Mechanism.DES3_ECB, info=MechInfo(*_BYTES, _EDWU))
@mechanism(Mechanism.DES3_CBC, Mechanism.DES3_CBC_PAD, info=MechInfo(*_BYTES, _EDWU), param=IV8)
class Des3Cipher(CipherWrap, MechanismImpl):
    key_types = DES_KEYS

    def _init(self, mech: int, param: Any, key: KeyView, encrypt: bool) -> CipherContext:
        if mech == Mechanism.DES3_ECB:
            if param is not None:
                raise errors.MechanismParamInvalid()
            return BlockCtx(engine.ecb(engine.DES3, des_key(key), encrypt), encrypt, False, B)
        stream = engine.cbc(engine.DES3, des_key(key), iv_of(param, B), encrypt)
        return BlockCtx(stream, encrypt, mech == Mechanism.DES3_CBC_PAD, B)

    def encrypt_init(self, mech: int, param: Any, key: KeyView) -> CipherContext:
        return self._init(mech, param, key, True)

    def decrypt_init(self, mech: int, param: Any, key: KeyView) -> CipherContext:
        return self._init(mech, param, key, False)


def _mac_len(param: Any, full: int, general: bool) -> int:
    """Plain MACs take no parameter; _GENERAL ones a CK_MAC_GENERAL_PARAMS length <= a block."""
    if not general:
        if param is not None:
            raise errors.MechanismParamInvalid()
        return full
    if not isinstance(param, int) or isinstance(param, bool) or not 1 <= param <= B:
        raise errors.MechanismParamInvalid()
    return param


def _check(full_mac: bytes, signature: bytes) -> None:
    from softhsm_py.engine import hashes

    if not hashes.equal(full_mac[: len(signature)], signature):
        raise errors.SignatureInvalid()


_GENERAL = frozenset({Mechanism.DES3_MAC_GENERAL, Mechanism.DES3_CMAC_GENERAL})
_CBC_MAC = frozenset({Mechanism.DES3_MAC, Mechanism.DES3_MAC_GENERAL})


@mechanism(Mechanism.DES3_MAC, Mechanism.DES3_CMAC, info=MechInfo(*_BYTES, _SV))
@mechanism(
    Mechanism.DES3_MAC_GENERAL, Mechanism.DES3_CMAC_GENERAL, info=MechInfo(*_BYTES, _SV), param=MAC_LENGTH
)
class Des3Mac(MechanismImpl):
    """DES3_MAC is the CBC-MAC, giving half a block (3.0: DES3_MAC_GENERAL gives up to a block);
    DES3_CMAC gives the whole block."""

    key_types = DES_KEYS

    def _start(self, mech: int, param: Any, key: KeyView) -> tuple[Any, int]:
        # The plain CBC-MAC gives half a block; every other variant up to a whole one.
        full = B // 2 if mech == Mechanism.DES3_MAC else B
        n = _mac_len(param, full, mech in _GENERAL)
        value = des_key(key)
        mac = engine.CbcMac(engine.DES3, value) if mech in _CBC_MAC else engine.Cmac(engine.DES3, value)
        return mac, n

    def sign_init(self, mech: int, param: Any, key: KeyView) -> SignContext:
        ctx, n = self._start(mech, param, key)
        return StreamSign(ctx, lambda mac: mac[:n], n)

    def verify_init(self, mech: int, param: Any, key: KeyView) -> VerifyContext:
        ctx, n = self._start(mech, param, key)
        return StreamVerify(ctx, _check, n)
