"""What a mechanism sees and returns: KeyView, the operation contexts, MechanismImpl.

Contexts raise ``errors`` exceptions only. A context is single-use: the caller drops it once
``final``/``sign``/``oneshot`` returned or raised (except BufferTooSmall, which the caller
handles before calling here by asking ``length``/``max_output``).

Single-part-only mechanisms (RSA_PKCS, RSA_X_509, RSA_PKCS_PSS, RSA_PKCS_OAEP, ECDSA, EDDSA,
AES_KEY_WRAP*): the spec gives no code for C_*Update on them. We follow SoftHSMv2 and kryoptic,
which both answer CKR_OPERATION_NOT_INITIALIZED (and end the operation), so ``update`` raises
``errors.OperationNotInitialized``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from softhsm_py import errors
from softhsm_py.constants import Attribute, ObjectClass

T = TypeVar("T")


class OpKind(enum.Enum):
    """The kinds of operation: what a mechanism starts, and (with FIND) what a session can have
    active, one of each kind at a time."""

    ENCRYPT = "encrypt"
    DECRYPT = "decrypt"
    DIGEST = "digest"
    SIGN = "sign"
    VERIFY = "verify"
    SIGN_RECOVER = "sign_recover"
    VERIFY_RECOVER = "verify_recover"
    FIND = "find"
    # 3.2: C_VerifySignatureInit (the signature is given first)
    VERIFY_SIGNATURE = "verify_signature"
    # 3.0 message-based operations: one key, many messages
    MESSAGE_ENCRYPT = "message_encrypt"
    MESSAGE_DECRYPT = "message_decrypt"
    MESSAGE_SIGN = "message_sign"
    MESSAGE_VERIFY = "message_verify"
    # 3.2 key encapsulation: one call each (C_EncapsulateKey, C_DecapsulateKey), never kept
    ENCAPSULATE = "encapsulate"
    DECAPSULATE = "decapsulate"

    # Members are singletons compared by identity: hash them the same way, in C (Enum's own
    # __hash__ is Python code, and every call looks an OpKind up in a dict a few times).
    __hash__ = object.__hash__


class KeyView(Protocol):
    """A key object as a mechanism sees it."""

    @property
    def attrs(self) -> Mapping[int, Any]: ...  # read-only here: an owner's dict[int, Any] is one

    cache: dict[str, Any]


def cached(key: KeyView, slot: str, load: Callable[[], T]) -> T:
    """Loaded cryptography keys live in the object's cache; the owner clears it on change."""
    try:
        return key.cache[slot]
    except KeyError:
        value = key.cache[slot] = load()
        return value


def attr(key: KeyView, attribute: int, error: type[errors.PKCS11Error] = errors.GeneralError) -> Any:
    try:
        return key.attrs[attribute]
    except KeyError:
        raise error() from None


# Plain ints for the checks every key use runs (an IntEnum member is a class attribute lookup).
_CLASS = int(Attribute.CLASS)
_KEY_TYPE = int(Attribute.KEY_TYPE)


def require_class(key: KeyView, *classes: int) -> None:
    if key.attrs.get(_CLASS) not in classes:
        raise errors.KeyFunctionNotPermitted()


def require_type(key: KeyView, key_types: frozenset[int]) -> int:
    key_type = key.attrs.get(_KEY_TYPE)
    if key_type not in key_types:
        raise errors.KeyTypeInconsistent()
    return key_type


def check_size(size: int, lo: int, hi: int) -> None:
    if not lo <= size <= hi:
        raise errors.KeySizeRange()


def secret_value(key: KeyView) -> bytes:
    require_class(key, ObjectClass.SECRET_KEY)
    return bytes(attr(key, Attribute.VALUE))


# --- contexts ----------------------------------------------------------------------------------


class SignContext:
    def update(self, data: bytes) -> None:
        raise NotImplementedError

    def final(self) -> bytes:
        raise NotImplementedError

    def sign(self, data: bytes) -> bytes:
        self.update(data)
        return self.final()

    def run(self, data: bytes) -> bytes:
        """The single-part call (C_Sign, C_SignRecover)."""
        return self.sign(data)

    def output_bound(self, in_len: int, final: bool) -> int | None:
        """At least the length of the output a call gives for ``in_len`` more bytes of input
        (``final``: the single-part or final call, which also ends it): what a size query answers
        (3.0, 5.2), without running the crypto. None: unknown before the crypto runs."""
        return None


class VerifyContext:
    def update(self, data: bytes) -> None:
        raise NotImplementedError

    def final(self, signature: bytes) -> None:
        raise NotImplementedError

    def verify(self, data: bytes, signature: bytes) -> None:
        self.update(data)
        self.final(signature)


class CipherContext:
    def update(self, data: bytes) -> bytes:
        raise NotImplementedError

    def final(self) -> bytes:
        raise NotImplementedError

    def oneshot(self, data: bytes) -> bytes:
        return self.update(data) + self.final()

    def run(self, data: bytes) -> bytes:
        """The single-part call (C_Encrypt, C_Decrypt)."""
        return self.oneshot(data)

    def output_bound(self, in_len: int, final: bool) -> int | None:
        """At least the length of the output a call gives for ``in_len`` more bytes of input
        (``final``: the single-part or final call, which also ends it): what a size query answers
        (3.0, 5.2), without running the crypto. None: unknown before the crypto runs."""
        return None


class DigestContext:
    def update(self, data: bytes) -> None:
        raise NotImplementedError

    def update_key(self, key_bytes: bytes) -> None:
        self.update(key_bytes)

    def final(self) -> bytes:
        raise NotImplementedError

    def digest(self, data: bytes) -> bytes:
        self.update(data)
        return self.final()

    def run(self, data: bytes) -> bytes:
        """The single-part call (C_Digest)."""
        return self.digest(data)

    def output_bound(self, in_len: int, final: bool) -> int | None:
        """At least the length of the output a call gives for ``in_len`` more bytes of input
        (``final``: the single-part or final call, which also ends it): what a size query answers
        (3.0, 5.2), without running the crypto. None: unknown before the crypto runs."""
        return None


class _Hasher(Protocol):
    def update(self, data: bytes) -> None: ...
    def finalize(self) -> bytes: ...


class StreamSign(SignContext):
    """Multi-part: feed a hash/MAC, then turn its output into the signature."""

    def __init__(self, hasher: _Hasher, finish: Callable[[bytes], bytes], length: int) -> None:
        self._hasher, self._finish, self._length = hasher, finish, length

    def update(self, data: bytes) -> None:
        self._hasher.update(data)

    def final(self) -> bytes:
        return self._finish(self._hasher.finalize())

    def output_bound(self, in_len: int, final: bool) -> int:
        return self._length  # a signature's length does not depend on the data


class StreamVerify(VerifyContext):
    def __init__(self, hasher: _Hasher, check: Callable[[bytes, bytes], None], length: int) -> None:
        self._hasher, self._check, self._length = hasher, check, length

    def update(self, data: bytes) -> None:
        self._hasher.update(data)

    def final(self, signature: bytes) -> None:
        if len(signature) != self._length:
            raise errors.SignatureLenRange()
        self._check(self._hasher.finalize(), bytes(signature))


class OneShotSign(SignContext):
    """Single-part only: sign(data) works, update/final do not (see module docstring)."""

    def __init__(self, fn: Callable[[bytes], bytes], length: int) -> None:
        self._fn, self._length = fn, length

    def update(self, data: bytes) -> None:
        raise errors.OperationNotInitialized()

    def final(self) -> bytes:
        raise errors.OperationNotInitialized()

    def sign(self, data: bytes) -> bytes:
        return self._fn(bytes(data))

    def output_bound(self, in_len: int, final: bool) -> int:
        return self._length  # a signature's length does not depend on the data


class OneShotVerify(VerifyContext):
    def __init__(self, fn: Callable[[bytes, bytes], None], length: int) -> None:
        self._fn, self._length = fn, length

    def update(self, data: bytes) -> None:
        raise errors.OperationNotInitialized()

    def final(self, signature: bytes) -> None:
        raise errors.OperationNotInitialized()

    def verify(self, data: bytes, signature: bytes) -> None:
        if len(signature) != self._length:
            raise errors.SignatureLenRange()
        self._fn(bytes(data), bytes(signature))


class OneShotCipher(CipherContext):
    def __init__(self, fn: Callable[[bytes], bytes], max_len: Callable[[int], int]) -> None:
        self._fn, self._max_len = fn, max_len

    def update(self, data: bytes) -> bytes:
        raise errors.OperationNotInitialized()

    def final(self) -> bytes:
        raise errors.OperationNotInitialized()

    def oneshot(self, data: bytes) -> bytes:
        return self._fn(bytes(data))

    def output_bound(self, in_len: int, final: bool) -> int:
        return self._max_len(in_len)


# --- the mechanism interface -------------------------------------------------------------------


class MechanismImpl:
    """One instance per class serves every mechanism the class registers; a function it does
    not do raises MechanismInvalid (spec: mechanism not valid for this function)."""

    key_types: frozenset[int] = frozenset()

    def sign_init(self, mech: int, param: Any, key: KeyView) -> SignContext:
        raise errors.MechanismInvalid()

    def verify_init(self, mech: int, param: Any, key: KeyView) -> VerifyContext:
        raise errors.MechanismInvalid()

    def encrypt_init(self, mech: int, param: Any, key: KeyView) -> CipherContext:
        raise errors.MechanismInvalid()

    def decrypt_init(self, mech: int, param: Any, key: KeyView) -> CipherContext:
        raise errors.MechanismInvalid()

    def digest_init(self, mech: int, param: Any) -> DigestContext:
        raise errors.MechanismInvalid()

    def generate_key(self, mech: int, param: Any, template: Mapping[int, Any]) -> dict[int, Any]:
        raise errors.MechanismInvalid()

    def generate_key_pair(
        self, mech: int, param: Any, pub_t: Mapping[int, Any], priv_t: Mapping[int, Any]
    ) -> tuple[dict[int, Any], dict[int, Any]]:
        raise errors.MechanismInvalid()

    def wrap(self, mech: int, param: Any, wrapping_key: KeyView, key_bytes: bytes) -> bytes:
        raise errors.MechanismInvalid()

    def unwrap(self, mech: int, param: Any, unwrapping_key: KeyView, wrapped: bytes) -> bytes:
        raise errors.MechanismInvalid()

    def derive(self, mech: int, param: Any, base_key: KeyView, template: Mapping[int, Any]) -> dict[int, Any]:
        raise errors.MechanismInvalid()

    def derive_keys(
        self, mech: int, param: Any, base_key: KeyView, templates: Sequence[Mapping[int, Any]]
    ) -> list[dict[int, Any]]:
        """C_DeriveKey: one material per template. Only SP 800-108 derives more than one key (its
        CK_DERIVED_KEYs); every other mechanism derives the key of the call's template."""
        if len(templates) != 1:
            raise errors.MechanismParamInvalid()
        return [self.derive(mech, param, base_key, templates[0])]

    def sign_recover_init(self, mech: int, param: Any, key: KeyView) -> SignContext:
        raise errors.MechanismInvalid()

    # -- key encapsulation (3.2): the new secret key's value and the ciphertext -------------------
    def ciphertext_len(self, mech: int, param: Any, public_key: KeyView) -> int:
        """The length of the ciphertext ``encapsulate`` gives (a C_EncapsulateKey size query)."""
        raise errors.MechanismInvalid()

    def encapsulate(self, mech: int, param: Any, public_key: KeyView) -> tuple[bytes, bytes]:
        """(shared secret, ciphertext)."""
        raise errors.MechanismInvalid()

    def decapsulate(self, mech: int, param: Any, private_key: KeyView, ciphertext: bytes) -> bytes:
        raise errors.MechanismInvalid()

    def verify_recover_init(self, mech: int, param: Any, key: KeyView) -> Any:
        raise errors.MechanismInvalid()

    def message_cipher_init(self, mech: int, param: Any, key: KeyView, encrypt: bool) -> Any:
        """The context of C_MessageEncryptInit / C_MessageDecryptInit (``mechanisms.message``):
        the AEADs have one."""
        raise errors.MechanismInvalid()

    def start(self, kind: OpKind, mech: int, param: Any, key: KeyView) -> Any:
        """The context of a ``kind`` operation with ``key``: one typed dispatch for every front end."""
        if kind is OpKind.SIGN:
            return self.sign_init(mech, param, key)
        if kind is OpKind.VERIFY:
            return self.verify_init(mech, param, key)
        if kind is OpKind.ENCRYPT:
            return self.encrypt_init(mech, param, key)
        if kind is OpKind.DECRYPT:
            return self.decrypt_init(mech, param, key)
        if kind is OpKind.SIGN_RECOVER:
            return self.sign_recover_init(mech, param, key)
        if kind is OpKind.VERIFY_RECOVER:
            return self.verify_recover_init(mech, param, key)
        if kind is OpKind.VERIFY_SIGNATURE:
            return self.verify_init(mech, param, key)
        if kind is OpKind.MESSAGE_ENCRYPT or kind is OpKind.MESSAGE_DECRYPT:
            return self.message_cipher_init(mech, param, key, kind is OpKind.MESSAGE_ENCRYPT)
        if kind is OpKind.MESSAGE_SIGN or kind is OpKind.MESSAGE_VERIFY:
            from softhsm_py.mechanisms.message import MessageSigning  # it builds on this module

            return MessageSigning(self, mech, param, key, kind is OpKind.MESSAGE_SIGN)
        raise errors.MechanismInvalid()  # DIGEST has no key (digest_init), FIND no mechanism


# Errors of encrypt/decrypt as C_WrapKey / C_UnwrapKey name them.
_WRAP_ERRORS: dict[type[errors.PKCS11Error], type[errors.PKCS11Error]] = {
    errors.KeyTypeInconsistent: errors.WrappingKeyTypeInconsistent,
    errors.KeySizeRange: errors.WrappingKeySizeRange,
    errors.DataLenRange: errors.KeySizeRange,
}
_UNWRAP_ERRORS: dict[type[errors.PKCS11Error], type[errors.PKCS11Error]] = {
    errors.KeyTypeInconsistent: errors.UnwrappingKeyTypeInconsistent,
    errors.KeySizeRange: errors.UnwrappingKeySizeRange,
    errors.EncryptedDataInvalid: errors.WrappedKeyInvalid,
    errors.EncryptedDataLenRange: errors.WrappedKeyLenRange,
}


class CipherWrap:
    """Mixin: wrapping is encryption of the key bytes, unwrapping decryption (AES modes, RSA)."""

    def wrap(self, mech: int, param: Any, wrapping_key: KeyView, key_bytes: bytes) -> bytes:
        try:
            ctx = self.encrypt_init(mech, param, wrapping_key)  # type: ignore[attr-defined]
            return ctx.oneshot(bytes(key_bytes))
        except tuple(_WRAP_ERRORS) as exc:
            raise _WRAP_ERRORS[type(exc)]() from None

    def unwrap(self, mech: int, param: Any, unwrapping_key: KeyView, wrapped: bytes) -> bytes:
        try:
            ctx = self.decrypt_init(mech, param, unwrapping_key)  # type: ignore[attr-defined]
            return ctx.oneshot(bytes(wrapped))
        except tuple(_UNWRAP_ERRORS) as exc:
            raise _UNWRAP_ERRORS[type(exc)]() from None


def template_len(template: Mapping[int, Any]) -> int | None:
    value = template.get(Attribute.VALUE_LEN)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise errors.AttributeValueInvalid()
    return value
