"""HMAC (SHA-1, SHA-2, SHA-3; plain and _GENERAL) and AES-CMAC (plain and _GENERAL)."""

from __future__ import annotations

from typing import Any

from softhsm_py import errors
from softhsm_py.constants import KeyType, Mechanism, MechanismFlag
from softhsm_py.engine import aes as engine_aes
from softhsm_py.engine import hash_table, hashes
from softhsm_py.mechanisms.base import (
    KeyView,
    MechanismImpl,
    SignContext,
    StreamSign,
    StreamVerify,
    VerifyContext,
    require_type,
    secret_value,
)
from softhsm_py.mechanisms.params import MAC_LENGTH
from softhsm_py.mechanisms.registry import MechInfo, mechanism

_SV = MechanismFlag.SIGN | MechanismFlag.VERIFY

# mechanism -> (hash name, its own HMAC key type), and _GENERAL variant -> plain mechanism.
_HMAC: dict[int, tuple[str, int]] = {}
_HMAC_GENERAL: dict[int, int] = {}
for _h in hash_table.HASHES:
    if _h.hmac is not None and _h.hmac_general is not None and _h.hmac_key_type is not None:
        _HMAC[_h.hmac] = (_h.name, _h.hmac_key_type)
        _HMAC_GENERAL[_h.hmac_general] = _h.hmac
HMAC_KEY_BYTES = (1, 1024)  # generic secrets of any practical length


def _mac_len(param: Any, full: int, general: bool, minimum: int = 1) -> int:
    """Plain MACs take no parameter; _GENERAL ones a CK_MAC_GENERAL_PARAMS length <= full."""
    if not general:
        if param is not None:
            raise errors.MechanismParamInvalid()
        return full
    if not isinstance(param, int) or isinstance(param, bool) or not minimum <= param <= full:
        raise errors.MechanismParamInvalid()
    return param


def _check(full_mac: bytes, signature: bytes) -> None:
    if not hashes.equal(full_mac[: len(signature)], signature):
        raise errors.SignatureInvalid()


def _aes_key(key: KeyView) -> bytes:
    require_type(key, frozenset({KeyType.AES}))
    value = secret_value(key)
    if len(value) not in engine_aes.KEY_SIZES:
        raise errors.KeySizeRange()
    return value


class _Mac(MechanismImpl):
    """A MAC family: ``_start`` gives the running MAC and the length of its output."""

    def _start(self, mech: int, param: Any, key: KeyView) -> tuple[Any, int]:
        raise NotImplementedError

    def sign_init(self, mech: int, param: Any, key: KeyView) -> SignContext:
        ctx, n = self._start(mech, param, key)
        return StreamSign(ctx, lambda mac: mac[:n], n)

    def verify_init(self, mech: int, param: Any, key: KeyView) -> VerifyContext:
        ctx, n = self._start(mech, param, key)
        return StreamVerify(ctx, _check, n)


@mechanism(*_HMAC, info=MechInfo(*HMAC_KEY_BYTES, _SV))
@mechanism(*_HMAC_GENERAL, info=MechInfo(*HMAC_KEY_BYTES, _SV), param=MAC_LENGTH)
class Hmac(_Mac):
    key_types = frozenset({KeyType.GENERIC_SECRET, *(kt for _, kt in _HMAC.values())})

    def _start(self, mech: int, param: Any, key: KeyView) -> tuple[hashes.Hmac, int]:
        base = _HMAC_GENERAL.get(mech, mech)
        name, own_type = _HMAC[base]
        key_type = require_type(key, self.key_types)
        if key_type not in (KeyType.GENERIC_SECRET, own_type):
            raise errors.KeyTypeInconsistent()
        value = secret_value(key)
        if not value or len(value) > HMAC_KEY_BYTES[1]:
            raise errors.KeySizeRange()
        ctx = hashes.Hmac(name, value)
        return ctx, _mac_len(param, ctx.size, mech in _HMAC_GENERAL)


@mechanism(Mechanism.AES_CMAC, info=MechInfo(16, 32, _SV))
@mechanism(Mechanism.AES_CMAC_GENERAL, info=MechInfo(16, 32, _SV), param=MAC_LENGTH)
class AesCmac(_Mac):
    key_types = frozenset({KeyType.AES})

    def _start(self, mech: int, param: Any, key: KeyView) -> tuple[engine_aes.Cmac, int]:
        n = _mac_len(param, engine_aes.BLOCK, mech == Mechanism.AES_CMAC_GENERAL)
        return engine_aes.Cmac(_aes_key(key)), n


@mechanism(Mechanism.AES_MAC, info=MechInfo(16, 32, _SV))
@mechanism(Mechanism.AES_MAC_GENERAL, info=MechInfo(16, 32, _SV), param=MAC_LENGTH)
class AesMac(_Mac):
    """CBC-MAC (python-pkcs11 signs with it when an AES key names no mechanism): AES_MAC gives half
    a block, AES_MAC_GENERAL the length its CK_MAC_GENERAL_PARAMS asks for (3.0, 2.14)."""

    key_types = frozenset({KeyType.AES})

    def _start(self, mech: int, param: Any, key: KeyView) -> tuple[engine_aes.CbcMac, int]:
        if mech == Mechanism.AES_MAC:
            return engine_aes.CbcMac(_aes_key(key)), _mac_len(param, engine_aes.BLOCK, False) // 2
        return engine_aes.CbcMac(_aes_key(key)), _mac_len(param, engine_aes.BLOCK, True)
