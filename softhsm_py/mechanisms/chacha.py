"""CKM_CHACHA20_POLY1305 (RFC 8439). Multi-part calls buffer until final: the AEAD is one shot. It
also encrypts messages (``mechanisms.message``): each brings its nonce, the tag comes back apart."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from softhsm_py import errors
from softhsm_py.constants import KeyType, Mechanism, MechanismFlag
from softhsm_py.engine import chacha as engine
from softhsm_py.mechanisms.base import (
    CipherContext,
    CipherWrap,
    KeyView,
    MechanismImpl,
    require_type,
    secret_value,
)
from softhsm_py.mechanisms.message import AeadMessage, AeadMessages, AeadScheme
from softhsm_py.mechanisms.params import ChaCha20Poly1305MessageParams, ChaCha20Poly1305Params
from softhsm_py.mechanisms.registry import MechInfo, mechanism

_FLAGS = MechanismFlag.ENCRYPT | MechanismFlag.DECRYPT | MechanismFlag.WRAP | MechanismFlag.UNWRAP
_MESSAGES = MechanismFlag.MESSAGE_ENCRYPT | MechanismFlag.MESSAGE_DECRYPT


class _Buffered(CipherContext):
    def __init__(self, fn: Callable[[bytes], bytes], delta: int) -> None:
        self._fn, self._delta, self._buf = fn, delta, b""

    def update(self, data: bytes) -> bytes:
        self._buf += bytes(data)
        return b""

    def final(self) -> bytes:
        buf, self._buf = self._buf, b""
        return self._fn(buf)

    def output_bound(self, in_len: int, final: bool) -> int:
        # An update gives nothing; its bound is the input's length all the same (see _GcmDecrypt).
        return max(0, len(self._buf) + in_len + self._delta) if final else in_len


def _message(param: Any, encrypt: bool) -> AeadMessage:
    # No generator: the nonce is always the caller's (CK_SALSA20_CHACHA20_POLY1305_MSG_PARAMS).
    if not isinstance(param, ChaCha20Poly1305MessageParams) or len(param.nonce) != engine.NONCE_LEN:
        raise errors.MechanismParamInvalid()
    return AeadMessage(param.nonce, 0, 0, param.tag, engine.TAG_LEN)


def _seal(key: bytes, nonce: bytes, aad: bytes, data: bytes, tag_len: int) -> tuple[bytes, bytes]:
    out = engine.seal(key, nonce, aad, data)
    return out[: len(data)], out[len(data) :]


def _open(key: bytes, nonce: bytes, aad: bytes, data: bytes, tag: bytes) -> bytes:
    return engine.open_(key, nonce, aad, data + tag)


_MESSAGE_SCHEME = AeadScheme(_message, _seal, _open)


@mechanism(
    Mechanism.CHACHA20_POLY1305,
    info=MechInfo(32, 32, _FLAGS | _MESSAGES),
    param=ChaCha20Poly1305Params,
    message_param=ChaCha20Poly1305MessageParams,
)
class ChaCha20Poly1305(CipherWrap, MechanismImpl):
    key_types = frozenset({KeyType.CHACHA20})

    def _start(self, param: Any, key: KeyView) -> tuple[bytes, ChaCha20Poly1305Params]:
        if not isinstance(param, ChaCha20Poly1305Params) or len(param.nonce) != engine.NONCE_LEN:
            raise errors.MechanismParamInvalid()  # 64-bit nonces are not in cryptography
        require_type(key, self.key_types)
        value = secret_value(key)
        if len(value) != engine.KEY_LEN:
            raise errors.KeySizeRange()
        return value, param

    def encrypt_init(self, mech: int, param: Any, key: KeyView) -> CipherContext:
        k, p = self._start(param, key)
        return _Buffered(lambda d: engine.seal(k, p.nonce, p.aad, d), engine.TAG_LEN)

    def decrypt_init(self, mech: int, param: Any, key: KeyView) -> CipherContext:
        k, p = self._start(param, key)
        return _Buffered(lambda d: engine.open_(k, p.nonce, p.aad, d), -engine.TAG_LEN)

    def message_cipher_init(self, mech: int, param: Any, key: KeyView, encrypt: bool) -> AeadMessages:
        if param is not None:
            raise errors.MechanismParamInvalid()
        require_type(key, self.key_types)
        value = secret_value(key)
        if len(value) != engine.KEY_LEN:
            raise errors.KeySizeRange()
        return AeadMessages(_MESSAGE_SCHEME, value, encrypt)
