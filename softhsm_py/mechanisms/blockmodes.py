"""ECB and CBC with or without PKCS #7 padding (*_CBC_PAD), for any block size: the context of
TDEA and Camellia (AES's in mechanisms/aes.py follows the same rules for its 16-byte block). Whole
blocks go to the engine's stream; the padding and the hold-back of the last block are done here,
where the CKR of each misuse is known. ``output_bound`` answers size queries without the crypto.
"""

from __future__ import annotations

from typing import Any

from softhsm_py import errors
from softhsm_py.engine.aes import Stream
from softhsm_py.mechanisms.base import CipherContext


def pkcs7_pad(data: bytes, block: int) -> bytes:
    n = block - len(data) % block
    return data + bytes([n]) * n


def pkcs7_unpad(last: bytes, block: int) -> bytes:
    """The last decrypted block without its padding; EncryptedDataInvalid for bad padding."""
    n = last[-1]
    # Compare every pad byte so the time does not depend on where the padding breaks.
    bad = (n == 0) | (n > block)
    for i in range(1, block + 1):
        bad |= (i <= n) & (last[-i] != n)
    if bad:
        raise errors.EncryptedDataInvalid()
    return last[: block - n]


def iv_of(param: Any, block: int) -> bytes:
    if not isinstance(param, bytes) or len(param) != block:
        raise errors.MechanismParamInvalid()
    return param


class BlockCtx(CipherContext):
    """ECB / CBC over ``block``-byte blocks, PKCS #7 padded when ``pad``."""

    def __init__(self, stream: Stream, encrypt: bool, pad: bool, block: int) -> None:
        self._stream, self._encrypt, self._pad, self._block = stream, encrypt, pad, block
        self._buf = b""

    def _hold_back(self) -> int:
        # CBC_PAD decryption keeps the last full block: it carries the padding.
        b = self._block
        if self._pad and not self._encrypt and self._buf and len(self._buf) % b == 0:
            return b
        return len(self._buf) % b

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
            return self._stream.update(pkcs7_pad(buf, self._block)) + self._stream.finalize()
        if len(buf) != self._block:
            raise errors.EncryptedDataLenRange()
        return pkcs7_unpad(self._stream.update(buf) + self._stream.finalize(), self._block)

    def oneshot(self, data: bytes) -> bytes:
        if not self._pad and len(data) % self._block:
            raise errors.DataLenRange() if self._encrypt else errors.EncryptedDataLenRange()
        return super().oneshot(data)

    def output_bound(self, in_len: int, final: bool) -> int:
        # Whole blocks only; CBC_PAD encryption adds a block at the end, decryption holds one back.
        b = self._block
        total = len(self._buf) + in_len
        if final:
            if self._pad and self._encrypt:
                return (total // b + 1) * b
            return total - total % b
        if self._pad and not self._encrypt and total and total % b == 0:
            return total - b
        return total - total % b
