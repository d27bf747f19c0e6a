"""AES ciphers: ECB, CBC, CBC_PAD, CTR, GCM, CCM, key wrap (RFC 3394) and KWP (RFC 5649); GCM and
CCM also encrypt messages (the message-based functions, ``mechanisms.message``).

Each cipher also wraps / unwraps (encryption of the key bytes). RFC 5649 is 3.0's
CKM_AES_KEY_WRAP_KWP (0x210B) and also answers to CKM_AES_KEY_WRAP_PAD (0x210A): 2.40 defines that
number as RFC 3394 over PKCS#7-padded data, but SoftHSMv2 implements RFC 5649 under it, and hosts
written for SoftHSMv2 send it.
"""

from __future__ import annotations

from typing import Any

from softhsm_py import errors
from softhsm_py.constants import KeyType, Mechanism, MechanismFlag
from softhsm_py.engine import aes as engine
from softhsm_py.mechanisms.base import (
    CipherContext,
    CipherWrap,
    KeyView,
    MechanismImpl,
    OneShotCipher,
    cached,
    require_type,
    secret_value,
)
from softhsm_py.mechanisms.message import AeadMessage, AeadMessages, AeadScheme
from softhsm_py.mechanisms.params import (
    IV16,
    OPTIONAL_IV,
    CcmMessageParams,
    CcmParams,
    CtrParams,
    GcmMessageParams,
    GcmParams,
)
from softhsm_py.mechanisms.registry import MechInfo, mechanism

B = engine.BLOCK
_ED = MechanismFlag.ENCRYPT | MechanismFlag.DECRYPT
_EDWU = _ED | MechanismFlag.WRAP | MechanismFlag.UNWRAP
_INFO = MechInfo(16, 32, _EDWU)
_MESSAGES = MechanismFlag.MESSAGE_ENCRYPT | MechanismFlag.MESSAGE_DECRYPT
_KW_DEFAULT_IV = bytes.fromhex("a6a6a6a6a6a6a6a6")  # RFC 3394 2.2.3.1
_KWP_DEFAULT_ICV = bytes.fromhex("a65959a6")  # RFC 5649 3
_RFC_5649 = frozenset({Mechanism.AES_KEY_WRAP_KWP, Mechanism.AES_KEY_WRAP_PAD})


def aes_key(key: KeyView) -> bytes:
    require_type(key, frozenset({KeyType.AES}))
    value = secret_value(key)
    if len(value) not in engine.KEY_SIZES:
        raise errors.KeySizeRange()
    return value


def aes_algo(key: KeyView) -> engine.Key:
    """The key as the block modes take it, made once per key object and kept in its cache
    (cleared whenever its attributes change): the checks of ``aes_key`` ran when it was made."""
    return cached(key, "aes.algo", lambda: engine.algo(aes_key(key)))


def _pkcs7_pad(data: bytes) -> bytes:
    n = B - len(data) % B
    return data + bytes([n]) * n


def _pkcs7_unpad(block: bytes) -> bytes:
    n = block[-1]
    # Compare every pad byte so the time does not depend on where the padding breaks.
    bad = (n == 0) | (n > B)
    for i in range(1, B + 1):
        bad |= (i <= n) & (block[-i] != n)
    if bad:
        raise errors.EncryptedDataInvalid()
    return block[: B - n]


class _BlockCtx(CipherContext):
    """ECB / CBC with or without PKCS#7 padding; whole blocks go to the engine."""

    def __init__(self, stream: engine.Stream, encrypt: bool, pad: bool) -> None:
        self._stream, self._encrypt, self._pad = stream, encrypt, pad
        self._buf = b""

    def _hold_back(self) -> int:
        # CBC_PAD decryption keeps the last full block: it carries the padding.
        if self._pad and not self._encrypt and self._buf and len(self._buf) % B == 0:
            return B
        return len(self._buf) % B

    def update(self, data: bytes) -> bytes:
        self._buf += bytes(data)
        keep = self._hold_back()
        ready, self._buf = self._buf[: len(self._buf) - keep], self._buf[len(self._buf) - keep :]
        return self._stream.update(ready) if ready else b""

    def final(self) -> bytes:
        buf, self._buf = self._buf, b""
        if not self._pad:
            if buf:
                raise errors.DataLenRange() if self._encrypt else errors.EncryptedDataLenRange()
            return self._stream.finalize()
        if self._encrypt:
            return self._stream.update(_pkcs7_pad(buf)) + self._stream.finalize()
        if len(buf) != B:
            raise errors.EncryptedDataLenRange()
        return _pkcs7_unpad(self._stream.update(buf) + self._stream.finalize())

    def oneshot(self, data: bytes) -> bytes:
        if not self._pad and len(data) % B:
            raise errors.DataLenRange() if self._encrypt else errors.EncryptedDataLenRange()
        return super().oneshot(data)

    def output_bound(self, in_len: int, final: bool) -> int:
        total = len(self._buf) + in_len
        if final:
            if self._pad and self._encrypt:
                return (total // B + 1) * B
            return total - total % B
        if self._pad and not self._encrypt and total and total % B == 0:
            return total - B
        return total - total % B


def _iv(param: Any) -> bytes:
    if not isinstance(param, bytes) or len(param) != B:
        raise errors.MechanismParamInvalid()
    return param


@mechanism(Mechanism.AES_ECB, info=_INFO)
class AesEcb(CipherWrap, MechanismImpl):
    key_types = frozenset({KeyType.AES})

    def _init(self, param: Any, key: KeyView, encrypt: bool) -> CipherContext:
        if param is not None:
            raise errors.MechanismParamInvalid()
        return _BlockCtx(engine.ecb(aes_algo(key), encrypt), encrypt, pad=False)

    def encrypt_init(self, mech: int, param: Any, key: KeyView) -> CipherContext:
        return self._init(param, key, True)

    def decrypt_init(self, mech: int, param: Any, key: KeyView) -> CipherContext:
        return self._init(param, key, False)


@mechanism(Mechanism.AES_CBC, Mechanism.AES_CBC_PAD, info=_INFO, param=IV16)
class AesCbc(CipherWrap, MechanismImpl):
    key_types = frozenset({KeyType.AES})

    def _init(self, mech: int, param: Any, key: KeyView, encrypt: bool) -> CipherContext:
        stream = engine.cbc(aes_algo(key), _iv(param), encrypt)
        return _BlockCtx(stream, encrypt, pad=mech == Mechanism.AES_CBC_PAD)

    def encrypt_init(self, mech: int, param: Any, key: KeyView) -> CipherContext:
        return self._init(mech, param, key, True)

    def decrypt_init(self, mech: int, param: Any, key: KeyView) -> CipherContext:
        return self._init(mech, param, key, False)


class _CtrCtx(CipherContext):
    def __init__(self, stream: engine.Stream, limit: int, encrypt: bool) -> None:
        self._stream, self._left, self._encrypt = stream, limit, encrypt

    def update(self, data: bytes) -> bytes:
        if len(data) > self._left:  # the counter would wrap inside its ulCounterBits
            raise errors.DataLenRange() if self._encrypt else errors.EncryptedDataLenRange()
        self._left -= len(data)
        return self._stream.update(bytes(data))

    def final(self) -> bytes:
        return self._stream.finalize()

    def output_bound(self, in_len: int, final: bool) -> int:
        return in_len


@mechanism(Mechanism.AES_CTR, info=MechInfo(16, 32, _ED), param=CtrParams)
class AesCtr(MechanismImpl):
    key_types = frozenset({KeyType.AES})

    def _init(self, param: Any, key: KeyView, encrypt: bool) -> CipherContext:
        if not isinstance(param, CtrParams) or len(param.cb) != B or not 1 <= param.counter_bits <= 128:
            raise errors.MechanismParamInvalid()
        mask = (1 << param.counter_bits) - 1
        blocks = (1 << param.counter_bits) - (int.from_bytes(param.cb, "big") & mask)
        # cryptography counts over all 128 bits: equal to a c-bit counter until it would wrap.
        return _CtrCtx(engine.ctr(aes_algo(key), param.cb, encrypt), blocks * B, encrypt)

    def encrypt_init(self, mech: int, param: Any, key: KeyView) -> CipherContext:
        return self._init(param, key, True)

    def decrypt_init(self, mech: int, param: Any, key: KeyView) -> CipherContext:
        return self._init(param, key, False)


class _GcmEncrypt(CipherContext):
    def __init__(self, ctx: engine.GcmEncryptor, tag_len: int) -> None:
        self._ctx, self._tag_len = ctx, tag_len

    def update(self, data: bytes) -> bytes:
        return self._ctx.update(bytes(data))

    def final(self) -> bytes:
        return self._ctx.finalize()

    def oneshot(self, data: bytes) -> bytes:
        return self._ctx.seal(data)

    def output_bound(self, in_len: int, final: bool) -> int:
        return in_len + (self._tag_len if final else 0)


class _GcmDecrypt(CipherContext):
    """Buffers until final: plaintext is released only after the tag verified."""

    def __init__(self, key: bytes, p: GcmParams) -> None:
        self._key, self._p, self._buf = key, p, b""

    def update(self, data: bytes) -> bytes:
        self._buf += bytes(data)
        return b""

    def final(self) -> bytes:
        buf, self._buf = self._buf, b""
        return engine.gcm_decrypt(self._key, self._p.iv, self._p.aad, self._p.tag_bits // 8, buf)

    def output_bound(self, in_len: int, final: bool) -> int:
        if final:
            return max(0, len(self._buf) + in_len - self._p.tag_bits // 8)
        # An update gives nothing (the plaintext waits for the tag), but a bound of 0 makes hosts
        # that repeat a size query answered 0 (PyKCS11) never send the data: answer its length.
        return in_len


def _gcm_params(param: Any) -> GcmParams:
    lo, hi = engine.GCM_IV_RANGE
    if (
        not isinstance(param, GcmParams)
        or not lo <= len(param.iv) <= hi
        or param.tag_bits not in engine.GCM_TAG_BITS
    ):
        raise errors.MechanismParamInvalid()
    return param


def _gcm_message(param: Any, encrypt: bool) -> AeadMessage:
    lo, hi = engine.GCM_IV_RANGE
    if (
        not isinstance(param, GcmMessageParams)
        or not lo <= len(param.iv) <= hi
        or param.tag_bits not in engine.GCM_TAG_BITS
    ):
        raise errors.MechanismParamInvalid()
    return AeadMessage(param.iv, param.iv_fixed_bits, param.generator, param.tag, param.tag_bits // 8)


def _gcm_open(key: bytes, iv: bytes, aad: bytes, data: bytes, tag: bytes) -> bytes:
    return engine.gcm_decrypt(key, iv, aad, len(tag), data + tag)


def _gcm_seal(key: bytes, iv: bytes, aad: bytes, data: bytes, tag_len: int) -> tuple[bytes, bytes]:
    return engine.gcm_seal(key, iv, aad, tag_len, data)


_GCM_MESSAGES = AeadScheme(_gcm_message, _gcm_seal, _gcm_open)


@mechanism(
    Mechanism.AES_GCM,
    info=MechInfo(16, 32, _EDWU | _MESSAGES),
    param=GcmParams,
    message_param=GcmMessageParams,
)
class AesGcm(CipherWrap, MechanismImpl):
    key_types = frozenset({KeyType.AES})

    def encrypt_init(self, mech: int, param: Any, key: KeyView) -> CipherContext:
        p = _gcm_params(param)
        value = aes_key(key)
        aead = cached(key, "aes.gcm", lambda: engine.gcm_aead(value))
        ctx = engine.GcmEncryptor(value, p.iv, p.aad, p.tag_bits // 8, aead)
        return _GcmEncrypt(ctx, p.tag_bits // 8)

    def decrypt_init(self, mech: int, param: Any, key: KeyView) -> CipherContext:
        p = _gcm_params(param)
        return _GcmDecrypt(aes_key(key), p)

    def message_cipher_init(self, mech: int, param: Any, key: KeyView, encrypt: bool) -> AeadMessages:
        if param is not None:
            raise errors.MechanismParamInvalid()  # each message brings its own
        return AeadMessages(_GCM_MESSAGES, aes_key(key), encrypt)


# --- CCM (3.0 2.13.2; SP 800-38C) ------------------------------------------------------------------


def _ccm_check(nonce: bytes, mac_len: int, data_len: int) -> None:
    lo, hi = engine.CCM_NONCE_RANGE
    if not lo <= len(nonce) <= hi or mac_len not in engine.CCM_MAC_LENS:
        raise errors.MechanismParamInvalid()
    if data_len < 0 or data_len >= 1 << (8 * (15 - len(nonce))):
        raise errors.MechanismParamInvalid()  # the length field has 15 - nonce bytes


class _CcmCtx(CipherContext):
    """One shot (CCM authenticates the length first): parts are buffered until final."""

    def __init__(self, key: bytes, p: CcmParams, encrypt: bool) -> None:
        self._key, self._p, self._encrypt, self._buf = key, p, encrypt, b""

    def update(self, data: bytes) -> bytes:
        self._buf += bytes(data)
        return b""

    def final(self) -> bytes:
        buf, self._buf = self._buf, b""
        p = self._p
        if self._encrypt:
            if len(buf) != p.data_len:
                raise errors.DataLenRange()
            return engine.ccm_seal(self._key, p.nonce, p.aad, p.mac_len, buf)
        if len(buf) != p.data_len + p.mac_len:
            raise errors.EncryptedDataLenRange()
        return engine.ccm_open(self._key, p.nonce, p.aad, p.mac_len, buf)

    def output_bound(self, in_len: int, final: bool) -> int:
        if not final:
            return in_len  # nothing comes back, but see _GcmDecrypt: answer the input's length
        total = len(self._buf) + in_len
        return total + self._p.mac_len if self._encrypt else max(0, total - self._p.mac_len)


def _ccm_message(param: Any, encrypt: bool) -> AeadMessage:
    if not isinstance(param, CcmMessageParams):
        raise errors.MechanismParamInvalid()
    _ccm_check(param.nonce, param.mac_len, param.data_len)
    return AeadMessage(
        param.nonce, param.nonce_fixed_bits, param.generator, param.mac, param.mac_len, param.data_len
    )


def _ccm_seal(key: bytes, nonce: bytes, aad: bytes, data: bytes, mac_len: int) -> tuple[bytes, bytes]:
    out = engine.ccm_seal(key, nonce, aad, mac_len, data)
    return out[: len(data)], out[len(data) :]


def _ccm_open(key: bytes, nonce: bytes, aad: bytes, data: bytes, mac: bytes) -> bytes:
    return engine.ccm_open(key, nonce, aad, len(mac), data + mac)


_CCM_MESSAGES = AeadScheme(_ccm_message, _ccm_seal, _ccm_open)


@mechanism(
    Mechanism.AES_CCM,
    info=MechInfo(16, 32, _EDWU | _MESSAGES),
    param=CcmParams,
    message_param=CcmMessageParams,
)
class AesCcm(CipherWrap, MechanismImpl):
    key_types = frozenset({KeyType.AES})

    def _init(self, param: Any, key: KeyView, encrypt: bool) -> CipherContext:
        if not isinstance(param, CcmParams):
            raise errors.MechanismParamInvalid()
        _ccm_check(param.nonce, param.mac_len, param.data_len)
        return _CcmCtx(aes_key(key), param, encrypt)

    def encrypt_init(self, mech: int, param: Any, key: KeyView) -> CipherContext:
        return self._init(param, key, True)

    def decrypt_init(self, mech: int, param: Any, key: KeyView) -> CipherContext:
        return self._init(param, key, False)

    def message_cipher_init(self, mech: int, param: Any, key: KeyView, encrypt: bool) -> AeadMessages:
        if param is not None:
            raise errors.MechanismParamInvalid()
        return AeadMessages(_CCM_MESSAGES, aes_key(key), encrypt)


def _kw_param(param: Any, default: bytes) -> None:
    # cryptography implements only the default IV / ICV; another one cannot be honoured.
    if param is not None and param != default:
        raise errors.MechanismParamInvalid()


@mechanism(
    Mechanism.AES_KEY_WRAP,
    Mechanism.AES_KEY_WRAP_KWP,
    Mechanism.AES_KEY_WRAP_PAD,
    info=_INFO,
    param=OPTIONAL_IV,
)
class AesKeyWrap(CipherWrap, MechanismImpl):
    """Single-part only: C_Encrypt / C_Decrypt and C_WrapKey / C_UnwrapKey."""

    key_types = frozenset({KeyType.AES})

    def encrypt_init(self, mech: int, param: Any, key: KeyView) -> CipherContext:
        kwp = mech in _RFC_5649
        _kw_param(param, _KWP_DEFAULT_ICV if kwp else _KW_DEFAULT_IV)
        kek = aes_key(key)
        if kwp:
            return OneShotCipher(lambda d: engine.wrap_pad(kek, d), lambda n: (n + 7) // 8 * 8 + 8)
        return OneShotCipher(lambda d: engine.wrap(kek, d), lambda n: n + 8)

    def decrypt_init(self, mech: int, param: Any, key: KeyView) -> CipherContext:
        kwp = mech in _RFC_5649
        _kw_param(param, _KWP_DEFAULT_ICV if kwp else _KW_DEFAULT_IV)
        kek = aes_key(key)
        fn = engine.unwrap_pad if kwp else engine.unwrap
        return OneShotCipher(lambda d: fn(kek, d), lambda n: max(0, n - 8))
