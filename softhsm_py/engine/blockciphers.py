"""The block ciphers besides AES: TDEA (DES2 and DES3 keys) and Camellia, from cryptography's
``decrepit`` package, where it keeps the legacy ciphers. Block modes (ECB, CBC), CMAC, CBC-MAC, key
check values and DES key parity.

A DES2 key (k1 || k2) is TDEA keying option 2 and runs as k1 || k2 || k1: cryptography takes the
24-byte form without its two-key deprecation warning. Camellia keys are 16, 24 or 32 bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cryptography.hazmat.decrepit.ciphers.algorithms import Camellia, TripleDES
from cryptography.hazmat.primitives import cmac
from cryptography.hazmat.primitives.ciphers import BlockCipherAlgorithm, Cipher, modes

from softhsm_py import errors
from softhsm_py.engine.aes import Stream
from softhsm_py.engine.errmap import mapped

DES3, CAMELLIA = "des3", "camellia"


def _tdea(key: bytes) -> BlockCipherAlgorithm:
    if len(key) == 16:
        key = key + key[:8]  # keying option 2: k1 k2 k1
    return TripleDES(key)


# cipher name -> (block size, key sizes, cryptography algorithm of a key)
CIPHERS: dict[str, tuple[int, tuple[int, ...], Callable[[bytes], BlockCipherAlgorithm]]] = {
    DES3: (8, (16, 24), _tdea),
    CAMELLIA: (16, (16, 24, 32), Camellia),
}


def block_size(cipher: str) -> int:
    return CIPHERS[cipher][0]


def key_sizes(cipher: str) -> tuple[int, ...]:
    return CIPHERS[cipher][1]


def _algo(cipher: str, key: bytes) -> BlockCipherAlgorithm:
    _, sizes, make = CIPHERS[cipher]
    if len(key) not in sizes:
        raise errors.KeySizeRange()
    return make(bytes(key))


def _ctx(cipher: str, key: bytes, mode: modes.Mode, encrypt: bool) -> Stream:
    with mapped(errors.MechanismParamInvalid):
        c: Any = Cipher(_algo(cipher, key), mode)
        return c.encryptor() if encrypt else c.decryptor()


def ecb(cipher: str, key: bytes, encrypt: bool) -> Stream:
    return _ctx(cipher, key, modes.ECB(), encrypt)


def cbc(cipher: str, key: bytes, iv: bytes, encrypt: bool) -> Stream:
    return _ctx(cipher, key, modes.CBC(bytes(iv)), encrypt)


class Cmac:
    """CMAC (SP 800-38B) over the cipher's block."""

    def __init__(self, cipher: str, key: bytes) -> None:
        self.size = block_size(cipher)
        self._ctx = cmac.CMAC(_algo(cipher, key))

    def update(self, data: bytes) -> None:
        self._ctx.update(data)

    def finalize(self) -> bytes:
        return self._ctx.finalize()


class CbcMac:
    """CBC-MAC with a zero IV over the message padded with zero bytes to whole blocks (an empty
    message is one zero block): the last cipher block (FIPS 113, PKCS#11's DES3_MAC)."""

    def __init__(self, cipher: str, key: bytes) -> None:
        self.size = n = block_size(cipher)
        self._enc = cbc(cipher, key, bytes(n), encrypt=True)
        self._tail = b""
        self._last = b""

    def update(self, data: bytes) -> None:
        n = self.size
        buf = self._tail + bytes(data)
        whole = len(buf) - len(buf) % n
        if whole:
            self._last = self._enc.update(buf[:whole])[-n:]
        self._tail = buf[whole:]

    def finalize(self) -> bytes:
        if self._tail or not self._last:
            self._last = self._enc.update(self._tail.ljust(self.size, b"\0"))[-self.size :]
        return self._last


def encrypt_blocks(cipher: str, key: bytes, data: bytes, iv: bytes | None) -> bytes:
    """ECB (``iv`` None) or CBC over whole blocks, no padding: the *_ENCRYPT_DATA derivations."""
    if len(data) % block_size(cipher):
        raise errors.DataLenRange()
    stream = ecb(cipher, key, True) if iv is None else cbc(cipher, key, iv, True)
    return stream.update(bytes(data)) + stream.finalize()


def check_value(cipher: str, key: bytes) -> bytes:
    """CKA_CHECK_VALUE: the first 3 bytes of the ECB encryption of a zero block (3.0, 4.10)."""
    try:
        return encrypt_blocks(cipher, key, bytes(block_size(cipher)), None)[:3]
    except errors.KeySizeRange:
        raise errors.AttributeValueInvalid() from None


# --- DES parity --------------------------------------------------------------------------------


def _odd(byte: int) -> int:
    """``byte`` with its low bit set so that it has an odd number of one bits (FIPS 46-3)."""
    high = byte & 0xFE
    return high | (bin(high).count("1") % 2 == 0)


def with_odd_parity(key: bytes) -> bytes:
    return bytes(_odd(b) for b in key)


def has_odd_parity(key: bytes) -> bool:
    return all(bin(b).count("1") % 2 == 1 for b in key)
