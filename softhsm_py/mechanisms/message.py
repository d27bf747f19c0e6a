"""The message-based functions at the mechanism layer (PKCS#11 3.0, 5.9-5.15): one key, many
messages, each with its own parameter.

AEAD (AES-GCM, AES-CCM, ChaCha20-Poly1305): each message's parameter names its IV (nonce) and
tag. On encryption the token may make the IV (``ivGenerator``, 3.0 2.12): CKG_GENERATE and
CKG_GENERATE_RANDOM fill the bits after the caller's fixed ones from the OS's CSPRNG,
CKG_GENERATE_COUNTER puts a counter there (zero for the operation's first message),
CKG_GENERATE_COUNTER_XOR XORs that counter into the caller's bits; the whole IV goes back to the
caller, as the tag does (the ABI writes both into the caller's parameter). The AEADs are one
shot: a message given in parts (Begin / Next) is buffered and sealed or opened at its last part,
so a decryption never releases plaintext before its tag checked out.

Signatures: a message is a fresh signing (verifying) context of the mechanism, with the
operation's key; a message's own parameter, when it has one, replaces the one given to the Init.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from softhsm_py import errors
from softhsm_py.constants import GeneratorFunction
from softhsm_py.mechanisms.base import KeyView, MechanismImpl, SignContext, VerifyContext

G = GeneratorFunction
_MIN_FREE_BITS = 32  # IV bits a generator must have to itself (a counter, or random bits)


class IvSource:
    """The IVs of one message-based encryption: the counter of the counter generators lives here,
    so two messages of one C_MessageEncryptInit never share a generated IV."""

    __slots__ = ("_counter",)

    def __init__(self) -> None:
        self._counter = 0

    def next(self, given: bytes, fixed_bits: int, generator: int) -> tuple[bytes, bool]:
        """(the message's IV, whether the token made it)."""
        if generator == G.NO_GENERATE:
            return bytes(given), False
        total = 8 * len(given)
        free = total - fixed_bits
        if generator not in (G.GENERATE, G.GENERATE_RANDOM, G.GENERATE_COUNTER, G.GENERATE_COUNTER_XOR):
            raise errors.MechanismParamInvalid()
        if fixed_bits < 0 or free < _MIN_FREE_BITS:
            raise errors.MechanismParamInvalid()
        mask = (1 << free) - 1
        caller = int.from_bytes(given, "big")
        if generator in (G.GENERATE, G.GENERATE_RANDOM):
            low = int.from_bytes(os.urandom((free + 7) // 8), "big") & mask
        else:
            if self._counter > mask:
                raise errors.KeyExhausted()  # every counter value of these bits was used
            low = self._counter if generator == G.GENERATE_COUNTER else (caller & mask) ^ self._counter
            self._counter += 1
        return ((caller & ~mask) | low).to_bytes(len(given), "big"), True


class AeadMessage:
    """One message's shape, read from its parameter: the IV (as given), how to make it, the tag
    length, the tag given (decryption), and for CCM the announced data length."""

    __slots__ = ("data_len", "fixed_bits", "generator", "iv", "tag", "tag_len")

    def __init__(
        self,
        iv: bytes,
        fixed_bits: int,
        generator: int,
        tag: bytes,
        tag_len: int,
        data_len: int | None = None,
    ) -> None:
        self.iv, self.fixed_bits, self.generator = iv, fixed_bits, generator
        self.tag, self.tag_len, self.data_len = tag, tag_len, data_len

    def same_shape(self, other: AeadMessage) -> bool:
        """The parameters of one message's parts must agree (its IV was fixed at Begin)."""
        return (len(self.iv), self.tag_len, self.data_len) == (len(other.iv), other.tag_len, other.data_len)


class AeadScheme:
    """One AEAD as the message functions use it (the mechanism module makes it)."""

    def __init__(
        self,
        read: Callable[[Any, bool], AeadMessage],
        seal: Callable[[bytes, bytes, bytes, bytes, int], tuple[bytes, bytes]],
        open_: Callable[[bytes, bytes, bytes, bytes, bytes], bytes],
    ) -> None:
        self.read = read  # (param, encrypt) -> AeadMessage; MechanismParamInvalid
        self.seal = seal  # (key, iv, aad, data, tag_len) -> (ciphertext, tag)
        self.open = open_  # (key, iv, aad, ciphertext, tag) -> plaintext


class AeadMessages:
    """The context of C_MessageEncryptInit / C_MessageDecryptInit with an AEAD."""

    def __init__(self, scheme: AeadScheme, key: bytes, encrypt: bool) -> None:
        self._scheme, self._key, self.encrypt = scheme, key, encrypt
        self._ivs = IvSource()
        self._open: tuple[AeadMessage, bytes, bytes] | None = None  # Begin's shape, IV, AAD
        self._parts = bytearray()

    @property
    def in_message(self) -> bool:
        """A message was begun (Begin) and not yet ended."""
        return self._open is not None

    def _iv(self, shape: AeadMessage) -> tuple[bytes, bool]:
        if not self.encrypt:
            return shape.iv, False
        return self._ivs.next(shape.iv, shape.fixed_bits, shape.generator)

    def _run(self, shape: AeadMessage, iv: bytes, aad: bytes, data: bytes) -> tuple[bytes, bytes | None]:
        if shape.data_len is not None and shape.data_len != len(data):
            raise errors.DataLenRange() if self.encrypt else errors.EncryptedDataLenRange()
        if self.encrypt:
            out, tag = self._scheme.seal(self._key, iv, aad, data, shape.tag_len)
            return out, tag
        return self._scheme.open(self._key, iv, aad, data, shape.tag), None

    def single(self, param: Any, aad: bytes, data: bytes) -> tuple[bytes, bytes | None, bytes | None]:
        """C_EncryptMessage / C_DecryptMessage: (output, generated IV or None, tag or None)."""
        shape = self._scheme.read(param, self.encrypt)
        iv, made = self._iv(shape)
        out, tag = self._run(shape, iv, aad, data)
        return out, (iv if made else None), tag

    def begin(self, param: Any, aad: bytes) -> bytes | None:
        """C_*MessageBegin: the generated IV (to give back) or None."""
        shape = self._scheme.read(param, self.encrypt)
        iv, made = self._iv(shape)
        self._open, self._parts = (shape, iv, bytes(aad)), bytearray()
        return iv if made else None

    def output_len(self, data_len: int, last: bool) -> int:
        """What C_*MessageNext gives for ``data_len`` more bytes: nothing before the last part."""
        return len(self._parts) + data_len if last else 0

    def next(self, param: Any, data: bytes, last: bool) -> tuple[bytes, bytes | None]:
        """C_*MessageNext: (output, tag or None); the message ends with its last part."""
        if self._open is None:
            raise errors.OperationNotInitialized()
        begun, iv, aad = self._open
        shape = self._scheme.read(param, self.encrypt)  # a decryption's tag comes with the last part
        if not shape.same_shape(begun):
            raise errors.MechanismParamInvalid()
        self._parts += data
        if not last:
            return b"", None
        whole = bytes(self._parts)
        self.end_message()
        return self._run(shape if not self.encrypt else begun, iv, aad, whole)

    def end_message(self) -> None:
        self._open, self._parts = None, bytearray()


class MessageSigning:
    """The context of C_MessageSignInit / C_MessageVerifyInit: messages signed (verified) with the
    operation's key by fresh contexts of the mechanism."""

    def __init__(self, impl: MechanismImpl, mech: int, param: Any, key: KeyView, sign: bool) -> None:
        self._impl, self._mech, self._param, self._key, self.sign = impl, mech, param, key, sign
        self.current: SignContext | VerifyContext | None = None
        try:
            self.context(None)  # the key and parameter are checked now, at the Init
        except errors.MechanismParamInvalid:
            if param is not None:
                raise  # else each message must bring the parameter the mechanism needs

    def context(self, param: Any) -> Any:
        """A context for one message (its own parameter, or the Init's)."""
        chosen = self._param if param is None else param
        if self.sign:
            return self._impl.sign_init(self._mech, chosen, self._key)
        return self._impl.verify_init(self._mech, chosen, self._key)

    @property
    def in_message(self) -> bool:
        return self.current is not None

    def begin(self, param: Any) -> None:
        self.current = self.context(param)

    def end_message(self) -> None:
        self.current = None
