"""ChaCha20-Poly1305 (RFC 8439) as a one-shot AEAD; the mechanism layer buffers multi-part calls."""

from __future__ import annotations

from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from softhsm_py import errors
from softhsm_py.engine.errmap import mapped

KEY_LEN = 32
NONCE_LEN = 12  # cryptography implements the IETF 96-bit nonce only
TAG_LEN = 16


def _aead(key: bytes) -> ChaCha20Poly1305:
    if len(key) != KEY_LEN:
        raise errors.KeySizeRange()
    return ChaCha20Poly1305(bytes(key))


def seal(key: bytes, nonce: bytes, aad: bytes, data: bytes) -> bytes:
    with mapped(errors.MechanismParamInvalid):
        return _aead(key).encrypt(bytes(nonce), bytes(data), bytes(aad) or None)


def open_(key: bytes, nonce: bytes, aad: bytes, data: bytes) -> bytes:
    if len(data) < TAG_LEN:
        raise errors.EncryptedDataLenRange()
    with mapped(errors.MechanismParamInvalid):
        return _aead(key).decrypt(bytes(nonce), bytes(data), bytes(aad) or None)
