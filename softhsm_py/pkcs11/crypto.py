"""Encryption, decryption, digests, signatures and their dual-function forms (PKCS#11 3.0,
5.8-5.13).

An operation is started by an ``*Init`` (key and mechanism checks happen there, once) and lives in
its session until it ends. Output follows one rule: the result of a step is computed once and kept
in the operation until the caller's buffer is big enough, so a size query or a short buffer never
runs the crypto twice (ECDSA is randomised: the caller gets the bytes whose length it was told)
and never ends the operation; any other error ends it.

An operation is used either single-part (C_Sign) or multi-part (C_SignUpdate, then C_SignFinal),
and a kept result goes only to the call of the kind that computed it: C_Sign may not follow
C_SignUpdate (3.0, 5.11), and C_DigestUpdate after a size query of C_DigestFinal would otherwise
be answered with the digest computed before it. Both end the operation with
CKR_OPERATION_NOT_INITIALIZED (SoftHSMv2's code for C_Sign after C_SignUpdate).

Inputs arrive as ``DataIn`` callables that read the caller's buffer: a refused pointer
(ArgumentsBad) is then an error of the step like any other, and ends the operation (3.0, 5.2).

Threads may share a session: each step runs under the session's lock and first checks that its
operation is still the session's (another thread may have ended it, and started another, since
``_active`` found it); an operation ends only if it is still the session's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from softhsm_py import errors
from softhsm_py.constants import Attribute, ObjectClass
from softhsm_py.core import gate, operations
from softhsm_py.core.mechanism import Mechanism
from softhsm_py.core.operations import Operation
from softhsm_py.core.runtime import Library
from softhsm_py.core.session import OpKind, Session
from softhsm_py.core.tokens import session_of

DataIn = Callable[[], bytes]  # reads the caller's input; raises ArgumentsBad for a refused pointer
_DIGEST = OpKind.DIGEST
_VERIFY = OpKind.VERIFY


class Output(Protocol):
    def deliver(self, data: bytes) -> bool: ...


def operation_init(lib: Library, handle: int, kind: OpKind, mechanism: Mechanism, key_handle: int) -> None:
    with lib.lock:
        rt, session = session_of(lib, handle)
        if kind in session.operations:
            raise errors.OperationActive()
        session.start(kind, operations.start(rt, session, kind, mechanism, key_handle))


def digest_init(lib: Library, handle: int, mechanism: Mechanism) -> None:
    with lib.lock:
        session = lib.runtime.sessions.get(handle)
        if session is None:
            raise errors.SessionHandleInvalid()
        operations_ = session.operations
        if _DIGEST in operations_:
            raise errors.OperationActive()
        context = operations.start_digest(mechanism)
        operations_[_DIGEST] = Operation(_DIGEST, mechanism.type, context)  # session.start, checked above


def _active(lib: Library, handle: int, kind: OpKind) -> tuple[Session, Operation]:
    with lib.lock:
        session = lib.runtime.sessions.get(handle)
        if session is None:
            raise errors.SessionHandleInvalid()
        operations = session.operations
        operation = operations.get(kind)
        if operation is None:
            raise errors.OperationNotInitialized()
        if operation.needs_context_login and not operation.context_authenticated:
            del operations[kind]
            raise errors.UserNotLoggedIn()  # no C_Login(CKU_CONTEXT_SPECIFIC) since the Init
    return session, operation


# The kinds of call that use an operation (Operation.stage; 0 before the first).
_SINGLE_PART, _UPDATE, _FINAL = 1, 2, 3


def _end(lib: Library, session: Session, operation: Operation) -> None:
    """End ``operation`` if it is still its session's: another thread may have ended it (C_Logout,
    C_CloseSession, a call of its own) and started another of its kind meanwhile. Under the
    library lock, like every start."""
    with lib.lock:
        operations = session.operations
        if operations.get(operation.kind) is operation:
            del operations[operation.kind]


def _enter(lib: Library, session: Session, operation: Operation, stage: int) -> None:
    """Under the session lock, before a step: the operation must still be the session's, and the
    call must fit the ones before it (see the module docstring)."""
    if session.operations.get(operation.kind) is not operation:  # ended since _active found it
        with lib.lock:
            closed = not lib.is_running() or lib.runtime.sessions.get(session.handle) is not session
        raise (errors.SessionClosed if closed else errors.OperationNotInitialized)()
    last = operation.stage
    if last != stage:
        if last and not (last == _UPDATE and stage == _FINAL and operation.pending is None):
            _end(lib, session, operation)
            raise errors.OperationNotInitialized()
        operation.stage = stage


def _run(
    lib: Library,
    session: Session,
    operation: Operation,
    step: Callable[[], bytes],
    out: Output,
    stage: int,
) -> None:
    """Compute once, deliver, and end the operation when the final result was delivered."""
    with session.lock:
        _enter(lib, session, operation, stage)
        try:
            if operation.pending is None:
                operation.pending = step()
            if out.deliver(operation.pending):
                operation.pending = None
                if stage != _UPDATE:
                    _end(lib, session, operation)
        except errors.BufferTooSmall:
            raise
        except BaseException:
            _end(lib, session, operation)
            raise


def _call(lib: Library, session: Session, operation: Operation, step: Callable[[], Any], stage: int) -> Any:
    """A step without output (update of a digest or signature, verification)."""
    with session.lock:
        _enter(lib, session, operation, stage)
        try:
            result = step()
        except BaseException:
            _end(lib, session, operation)
            raise
        if stage != _UPDATE:
            _end(lib, session, operation)
        return result


def single(lib: Library, handle: int, kind: OpKind, data: DataIn, out: Output) -> None:
    """C_Encrypt, C_Decrypt, C_Digest, C_Sign, C_SignRecover, C_VerifyRecover."""
    session, operation = _active(lib, handle, kind)
    with session.lock:  # _run(..., _SINGLE_PART), inlined: the hot path of every small operation
        operations_ = session.operations
        if operations_.get(kind) is not operation or operation.stage > _SINGLE_PART:
            _enter(lib, session, operation, _SINGLE_PART)  # raises: ended, or used multi-part
        operation.stage = _SINGLE_PART
        try:
            pending = operation.pending
            if pending is None:
                pending = operation.pending = operation.context.run(data())
            if out.deliver(pending):
                operation.pending = None
                with lib.lock:  # _end, inlined
                    if operations_.get(kind) is operation:
                        del operations_[kind]
        except errors.BufferTooSmall:
            raise
        except BaseException:
            _end(lib, session, operation)
            raise


def update(lib: Library, handle: int, kind: OpKind, data: DataIn, out: Output | None) -> None:
    """C_EncryptUpdate, C_DecryptUpdate (with ``out``), C_DigestUpdate, C_SignUpdate, C_VerifyUpdate."""
    session, operation = _active(lib, handle, kind)
    if out is None:  # digest, sign, verify: nothing comes back until the final call
        _call(lib, session, operation, lambda: operation.context.update(data()), _UPDATE)
    else:
        _run(lib, session, operation, lambda: operation.context.update(data()), out, _UPDATE)


def final(lib: Library, handle: int, kind: OpKind, out: Output) -> None:
    """C_EncryptFinal, C_DecryptFinal, C_DigestFinal, C_SignFinal."""
    session, operation = _active(lib, handle, kind)
    _run(lib, session, operation, operation.context.final, out, _FINAL)


def verify(lib: Library, handle: int, data: DataIn, signature: DataIn) -> None:
    session, operation = _active(lib, handle, _VERIFY)
    with session.lock:  # _call(..., _SINGLE_PART), inlined
        _enter(lib, session, operation, _SINGLE_PART)
        try:
            operation.context.verify(data(), signature())
        finally:
            _end(lib, session, operation)


def verify_final(lib: Library, handle: int, signature: DataIn) -> None:
    session, operation = _active(lib, handle, _VERIFY)
    _call(lib, session, operation, lambda: operation.context.final(signature()), _FINAL)


def digest_key(lib: Library, handle: int, key_handle: int) -> None:
    with lib.lock:
        rt, session = session_of(lib, handle)
        operation = session.active(_DIGEST)
        ref = gate.usable_key(rt, session, key_handle, None, None)
        if ref.attrs.get(Attribute.CLASS) != ObjectClass.SECRET_KEY or Attribute.VALUE not in ref.attrs:
            session.end(_DIGEST)
            raise errors.KeyIndigestible()
        value = ref.attrs[Attribute.VALUE]
    _call(lib, session, operation, lambda: operation.context.update_key(value), _UPDATE)


def dual_update(lib: Library, handle: int, first: OpKind, second: OpKind, data: DataIn, out: Output) -> None:
    """C_DigestEncryptUpdate, C_DecryptDigestUpdate, C_SignEncryptUpdate, C_DecryptVerifyUpdate:
    the cipher side gives the output; the other side is fed the plaintext exactly once, even when
    the caller first asks for the length."""
    session, op_first = _active(lib, handle, first)
    _, op_second = _active(lib, handle, second)
    if first is OpKind.DECRYPT:  # decrypt, then digest/verify the plaintext
        cipher, other = op_first, op_second

        def step() -> bytes:
            plain = cipher.context.update(data())
            _call(lib, session, other, lambda: other.context.update(plain), _UPDATE)
            return plain
    else:  # digest/sign the plaintext, then encrypt it
        cipher, other = op_second, op_first

        def step() -> bytes:
            given = data()
            _call(lib, session, other, lambda: other.context.update(given), _UPDATE)
            return cipher.context.update(given)

    try:
        _run(lib, session, cipher, step, out, _UPDATE)
    except errors.BufferTooSmall:
        raise
    except BaseException:
        _end(lib, session, other)  # any error but a short buffer ends both (3.0, 5.2)
        raise
