"""The message-based functions (PKCS#11 3.0, 5.9, 5.11, 5.14, 5.15): one C_Message*Init, then any
number of messages, each in one call (C_EncryptMessage) or in parts (Begin, then Next up to its
last part), until C_Message*Final.

The operation lives in its session like any other (``pkcs11.crypto``), under kinds of its own
(``OpKind.MESSAGE_*``), so a session may encrypt messages and run a C_EncryptInit at once. A
message's parameter is read when the call finds its operation (its layout is the mechanism's),
through the ``ParamIn`` the entry gives; what the token makes for the caller (a generated IV, the
tag) goes back through the parameter's ``MessageOut``. Output follows 5.2: a size query (NULL
buffer) is answered without touching the message, a short buffer is refused before the crypto
runs (every output length here is known in advance). An error other than a short buffer ends the
message in progress, never the operation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from softhsm_py import errors
from softhsm_py.core import operations
from softhsm_py.core.mechanism import Mechanism
from softhsm_py.core.operations import Operation
from softhsm_py.core.runtime import Library
from softhsm_py.core.session import OpKind, Session
from softhsm_py.core.tokens import session_of
from softhsm_py.pkcs11.crypto import DataIn, Output, active


class MessageOut(Protocol):
    """Where the token writes back into the caller's message parameter."""

    def iv(self, value: bytes) -> None: ...
    def tag(self, value: bytes) -> None: ...


# A message's parameter for the operation's mechanism: (the parsed value, its write-back or None).
ParamIn = Callable[[int], tuple[Any, MessageOut | None]]


def init(lib: Library, handle: int, kind: OpKind, mechanism: Mechanism, key_handle: int) -> None:
    """C_MessageEncryptInit, C_MessageDecryptInit, C_MessageSignInit, C_MessageVerifyInit."""
    with lib.lock:
        rt, session = session_of(lib, handle)
        if kind in session.operations:
            raise errors.OperationActive()
        session.start(kind, operations.start(rt, session, kind, mechanism, key_handle))


def final(lib: Library, handle: int, kind: OpKind) -> None:
    """C_Message*Final: ends the operation, and a message still in progress with it."""
    with lib.lock:
        _, session = session_of(lib, handle)
        session.active(kind)
        session.end(kind)


def _held(session: Session, operation: Operation) -> Any:
    """Under the session lock: the operation must still be the session's (another thread may have
    ended it since it was found); its context."""
    if session.operations.get(operation.kind) is not operation:
        raise errors.OperationNotInitialized()
    return operation.context


def _room(out: Output, needed: int) -> bool:
    """5.2 before the crypto runs: False for a size query (answered), BufferTooSmall if short."""
    if out.wants_length():
        out.tell(needed)
        return False
    if out.room() < needed:
        out.tell(needed)
        raise errors.BufferTooSmall(needed)
    return True


def _param(param_in: ParamIn, operation: Operation) -> tuple[Any, MessageOut | None]:
    return param_in(operation.mechanism)


def _give_back(back: MessageOut | None, iv: bytes | None, tag: bytes | None) -> None:
    if back is None:
        if iv is not None or tag is not None:
            raise errors.MechanismParamInvalid()
        return
    if iv is not None:
        back.iv(iv)
    if tag is not None:
        back.tag(tag)


# -- encryption and decryption ---------------------------------------------------------------------
def crypt_message(
    lib: Library, handle: int, kind: OpKind, param_in: ParamIn, aad: DataIn, data: DataIn, out: Output
) -> None:
    """C_EncryptMessage / C_DecryptMessage: the output is as long as the input (the tag travels
    in the parameter)."""
    session, operation = active(lib, handle, kind)
    with session.lock:
        context = _held(session, operation)
        if context.in_message:
            raise errors.OperationActive()  # a message begun with Begin is in progress
        param, back = _param(param_in, operation)
        given = data()
        if not _room(out, len(given)):
            return
        result, iv, tag = context.single(param, aad(), given)
        _give_back(back, iv, tag)
        out.deliver(result)


def crypt_message_begin(lib: Library, handle: int, kind: OpKind, param_in: ParamIn, aad: DataIn) -> None:
    session, operation = active(lib, handle, kind)
    with session.lock:
        context = _held(session, operation)
        if context.in_message:
            raise errors.OperationActive()
        param, back = _param(param_in, operation)
        iv = context.begin(param, aad())
        _give_back(back, iv, None)


def crypt_message_next(
    lib: Library, handle: int, kind: OpKind, param_in: ParamIn, data: DataIn, out: Output, last: bool
) -> None:
    session, operation = active(lib, handle, kind)
    with session.lock:
        context = _held(session, operation)
        if not context.in_message:
            raise errors.OperationNotInitialized()
        try:
            param, back = _param(param_in, operation)
            given = data()
            if not _room(out, context.output_len(len(given), last)):
                return
            result, tag = context.next(param, given, last)
            _give_back(back, None, tag)
        except errors.BufferTooSmall:
            raise
        except BaseException:
            context.end_message()
            raise
        out.deliver(result)


# -- signing and verifying -------------------------------------------------------------------------
def sign_message(lib: Library, handle: int, param_in: ParamIn, data: DataIn, out: Output) -> None:
    session, operation = active(lib, handle, OpKind.MESSAGE_SIGN)
    with session.lock:
        signing = _held(session, operation)
        if signing.in_message:
            raise errors.OperationActive()
        param, _ = _param(param_in, operation)
        context = signing.context(param)
        given = data()
        bound = context.output_bound(len(given), True)
        if bound is not None and not _room(out, bound):
            return
        out.deliver(context.sign(given))


def sign_message_begin(lib: Library, handle: int, kind: OpKind, param_in: ParamIn) -> None:
    """C_SignMessageBegin / C_VerifyMessageBegin."""
    session, operation = active(lib, handle, kind)
    with session.lock:
        signing = _held(session, operation)
        if signing.in_message:
            raise errors.OperationActive()
        param, _ = _param(param_in, operation)
        signing.begin(param)


def sign_message_next(lib: Library, handle: int, data: DataIn, out: Output | None) -> None:
    """C_SignMessageNext: ``out`` None (a NULL pulSignatureLen) feeds a part; otherwise the last
    part, and the signature comes back."""
    session, operation = active(lib, handle, OpKind.MESSAGE_SIGN)
    with session.lock:
        signing = _held(session, operation)
        context = signing.current
        if context is None:
            raise errors.OperationNotInitialized()
        try:
            given = data()
            if out is None:
                context.update(given)
                return
            bound = context.output_bound(len(given), True)
            if bound is not None and not _room(out, bound):
                return
            context.update(given)
            signature = context.final()
        except errors.BufferTooSmall:
            raise
        except BaseException:
            signing.end_message()
            raise
        signing.end_message()
        out.deliver(signature)


def verify_message(lib: Library, handle: int, param_in: ParamIn, data: DataIn, signature: DataIn) -> None:
    session, operation = active(lib, handle, OpKind.MESSAGE_VERIFY)
    with session.lock:
        verifying = _held(session, operation)
        if verifying.in_message:
            raise errors.OperationActive()
        param, _ = _param(param_in, operation)
        verifying.context(param).verify(data(), signature())


def verify_message_next(lib: Library, handle: int, data: DataIn, signature: DataIn | None) -> None:
    """C_VerifyMessageNext: ``signature`` None (NULL) feeds a part; otherwise the last part is
    checked against it, and the message ends whatever the answer."""
    session, operation = active(lib, handle, OpKind.MESSAGE_VERIFY)
    with session.lock:
        verifying = _held(session, operation)
        context = verifying.current
        if context is None:
            raise errors.OperationNotInitialized()
        try:
            context.update(data())
            if signature is not None:
                context.final(signature())
        except BaseException:
            verifying.end_message()
            raise
        if signature is not None:
            verifying.end_message()
