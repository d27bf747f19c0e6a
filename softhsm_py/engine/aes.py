"""AES block modes, GCM, CCM, key wrap (RFC 3394 / RFC 5649) and CMAC.

Mode objects stream bytes through cryptography; block alignment, padding hold-back and AEAD
buffering are the mechanism layer's business (it knows which CKR each misuse gets).
"""

from __future__ import annotations

from typing import Any, Protocol

from cryptography.hazmat.primitives import cmac, keywrap
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESCCM, AESGCM

from softhsm_py import errors
from softhsm_py.engine.errmap import mapped

BLOCK = 16
KEY_SIZES = (16, 24, 32)
GCM_IV_RANGE = (8, 128)  # what cryptography's GCM accepts, in bytes
GCM_TAG_BITS = frozenset({32, 64, 96, 104, 112, 120, 128})  # SP 800-38D 5.2.1.2
CCM_NONCE_RANGE = (7, 13)  # RFC 3610 / SP 800-38C, bytes
CCM_MAC_LENS = frozenset({4, 6, 8, 10, 12, 14, 16})


class Stream(Protocol):
    def update(self, data: bytes) -> bytes: ...
    def finalize(self) -> bytes: ...


# A key as the modes take it: its bytes, or the cipher object made from them once (``algo``), which
# a caller may keep with the key object (making it costs ~1.3 us of every operation's start).
Key = bytes | algorithms.AES


def _algo(key: bytes) -> algorithms.AES:
    if len(key) not in KEY_SIZES:
        raise errors.KeySizeRange()
    return algorithms.AES(bytes(key))


algo = _algo


def _ctx(
    key: Key, mode: modes.ECB | modes.ModeWithInitializationVector | modes.ModeWithNonce, encrypt: bool
) -> Stream:
    with mapped(errors.MechanismParamInvalid):
        cipher = Cipher(key if isinstance(key, algorithms.AES) else _algo(key), mode)
        return cipher.encryptor() if encrypt else cipher.decryptor()


def ecb(key: Key, encrypt: bool) -> Stream:
    return _ctx(key, modes.ECB(), encrypt)


def cbc(key: Key, iv: bytes, encrypt: bool) -> Stream:
    return _ctx(key, modes.CBC(bytes(iv)), encrypt)


def ctr(key: Key, counter_block: bytes, encrypt: bool) -> Stream:
    return _ctx(key, modes.CTR(bytes(counter_block)), encrypt)


# The one-shot AEAD takes at most this much data and AAD (cryptography's limit, 2**31 - 1): longer
# single parts stream.
_ONE_SHOT_MAX = (1 << 31) - 1


class GcmEncryptor:
    """Streams ciphertext; finalize returns the (possibly truncated) tag. The streaming context is
    made on the first update (~2.6 us): a single-part encryption (``seal``) never needs it and runs
    the one-shot AEAD instead. The caller checked the IV length and the tag length
    (GCM_IV_RANGE, GCM_TAG_BITS): nothing else can fail in making either."""

    def __init__(self, key: bytes, iv: bytes, aad: bytes, tag_len: int, aead: AESGCM | None = None) -> None:
        self._key, self._iv, self._aad, self._tag_len = key, bytes(iv), bytes(aad), tag_len
        self._aead = aead
        self._stream: Any = None

    def _ctx(self) -> Any:
        ctx = self._stream
        if ctx is None:
            with mapped(errors.MechanismParamInvalid):
                ctx = self._stream = Cipher(_algo(self._key), modes.GCM(self._iv)).encryptor()
            if self._aad:
                ctx.authenticate_additional_data(self._aad)
        return ctx

    def update(self, data: bytes) -> bytes:
        return bytes(self._ctx().update(data))

    def finalize(self) -> bytes:
        ctx = self._ctx()
        return bytes(ctx.finalize() + ctx.tag[: self._tag_len])

    def seal(self, data: bytes) -> bytes:
        """ciphertext || tag of ``data`` alone, before any update (GCM's tag cut to its first
        tag_len bytes is the shorter tag, SP 800-38D 7.1)."""
        if self._stream is not None or len(data) > _ONE_SHOT_MAX or len(self._aad) > _ONE_SHOT_MAX:
            return self.update(data) + self.finalize()
        aead = self._aead if self._aead is not None else gcm_aead(self._key)
        sealed = aead.encrypt(self._iv, bytes(data), self._aad or None)
        return sealed[: len(sealed) - 16 + self._tag_len]


def gcm_aead(key: bytes) -> AESGCM:
    """The one-shot GCM object of ``key`` (which a caller may keep with the key object)."""
    _algo(key)
    return AESGCM(bytes(key))


def gcm_decrypt(key: bytes, iv: bytes, aad: bytes, tag_len: int, data: bytes) -> bytes:
    """One shot over ciphertext || tag: no plaintext leaves before the tag checks out."""
    if len(data) < tag_len:
        raise errors.EncryptedDataLenRange()
    body, tag = data[: len(data) - tag_len], data[len(data) - tag_len :]
    with mapped(errors.MechanismParamInvalid):
        ctx = Cipher(_algo(key), modes.GCM(bytes(iv), tag, min_tag_length=tag_len)).decryptor()
    if aad:
        ctx.authenticate_additional_data(bytes(aad))
    out = ctx.update(body)
    with mapped():
        return out + ctx.finalize()


def gcm_seal(key: bytes, iv: bytes, aad: bytes, tag_len: int, data: bytes) -> tuple[bytes, bytes]:
    """(ciphertext, tag) of one message: the message-based functions return the tag apart."""
    ctx = GcmEncryptor(key, iv, aad, tag_len)
    out = ctx.update(bytes(data)) + ctx.finalize()
    return out[: len(data)], out[len(data) :]


# --- CCM (SP 800-38C): one shot, cryptography's AEAD --------------------------------------------


def _ccm(key: bytes, mac_len: int) -> AESCCM:
    _algo(key)
    with mapped(errors.MechanismParamInvalid):
        return AESCCM(bytes(key), tag_length=mac_len)


def ccm_seal(key: bytes, nonce: bytes, aad: bytes, mac_len: int, data: bytes) -> bytes:
    """ciphertext || MAC."""
    aead = _ccm(key, mac_len)
    with mapped(errors.DataLenRange):
        return aead.encrypt(bytes(nonce), bytes(data), bytes(aad) or None)


def ccm_open(key: bytes, nonce: bytes, aad: bytes, mac_len: int, data: bytes) -> bytes:
    """The plaintext of ciphertext || MAC, released only when the MAC checks out."""
    if len(data) < mac_len:
        raise errors.EncryptedDataLenRange()
    aead = _ccm(key, mac_len)
    with mapped(errors.EncryptedDataLenRange):
        return aead.decrypt(bytes(nonce), bytes(data), bytes(aad) or None)


# --- key wrap ----------------------------------------------------------------------------------


def wrap(kek: bytes, data: bytes) -> bytes:
    """RFC 3394: data a multiple of 8 bytes, at least 16."""
    _algo(kek)
    if len(data) < 16 or len(data) % 8:
        raise errors.DataLenRange()
    return keywrap.aes_key_wrap(bytes(kek), bytes(data))


def unwrap(kek: bytes, data: bytes) -> bytes:
    _algo(kek)
    if len(data) < 24 or len(data) % 8:
        raise errors.EncryptedDataLenRange()
    with mapped(errors.EncryptedDataInvalid):
        return keywrap.aes_key_unwrap(bytes(kek), bytes(data))


def wrap_pad(kek: bytes, data: bytes) -> bytes:
    """RFC 5649 (KWP): any non-empty length."""
    _algo(kek)
    if not data:
        raise errors.DataLenRange()
    return keywrap.aes_key_wrap_with_padding(bytes(kek), bytes(data))


def unwrap_pad(kek: bytes, data: bytes) -> bytes:
    _algo(kek)
    if len(data) < 16 or len(data) % 8:
        raise errors.EncryptedDataLenRange()
    with mapped(errors.EncryptedDataInvalid):
        return keywrap.aes_key_unwrap_with_padding(bytes(kek), bytes(data))


# --- CMAC --------------------------------------------------------------------------------------


class Cmac:
    size = BLOCK

    def __init__(self, key: bytes) -> None:
        self._ctx = cmac.CMAC(_algo(key))

    def update(self, data: bytes) -> None:
        self._ctx.update(data)

    def finalize(self) -> bytes:
        return self._ctx.finalize()


# --- CBC-MAC (CKM_AES_MAC) ----------------------------------------------------------------------


class CbcMac:
    """CBC-MAC with a zero IV, the message padded with zero bytes to a whole number of blocks
    (an empty message is one zero block): the last cipher block is the MAC."""

    size = BLOCK

    def __init__(self, key: bytes) -> None:
        self._enc = _ctx(key, modes.CBC(bytes(BLOCK)), encrypt=True)
        self._tail = b""
        self._last = b""

    def update(self, data: bytes) -> None:
        buf = self._tail + bytes(data)
        whole = len(buf) - len(buf) % BLOCK
        if whole:
            self._last = self._enc.update(buf[:whole])[-BLOCK:]
        self._tail = buf[whole:]

    def finalize(self) -> bytes:
        if self._tail or not self._last:
            self._last = self._enc.update(self._tail.ljust(BLOCK, b"\0"))[-BLOCK:]
        return self._last
