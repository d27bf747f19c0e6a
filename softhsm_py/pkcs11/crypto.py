"""Encryption, decryption, digests, signatures and their dual-function forms (PKCS#11 3.0,
5.8-5.13).

An operation is started by an ``*Init`` (the core's gate checks the key and mechanism there, once)
and lives in its session until it ends.

Output follows 5.2. A size query (NULL buffer) is answered with a bound the context computes from
the input's length (the signature size, the block-rounded length), without running the crypto
and without consuming the input: ``C_EncryptUpdate(A, NULL)`` then ``C_EncryptUpdate(B, buf)``
encrypts B, and a later call with other data is answered for that data. A buffer below the bound
of an update is refused (CKR_BUFFER_TOO_SMALL, the bound), as SoftHSMv2 does, so an update never
consumes input it cannot deliver. A single-part or final call whose buffer is below the bound runs
the crypto (the exact length may fit: RSA decryption), and a result that does not fit is kept with
the input it belongs to: the retry gets those bytes (ECDSA is randomised: the caller gets what it
was told the length of), and a retry with other input ends the operation
(CKR_OPERATION_NOT_INITIALIZED) rather than answer for data it was not given. Any error but a short
buffer ends the operation.

An operation is used either single-part (C_Sign) or multi-part (C_SignUpdate, then C_SignFinal):
C_Sign may not follow C_SignUpdate (3.0, 5.11), and C_DigestUpdate may not follow a size query of
C_DigestFinal. Both end the operation with CKR_OPERATION_NOT_INITIALIZED (SoftHSMv2's code for
C_Sign after C_SignUpdate).

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
from softhsm_py.core import gate, operations, opstate
from softhsm_py.core.mechanism import Mechanism
from softhsm_py.core.operations import Operation
from softhsm_py.core.runtime import Library
from softhsm_py.core.session import OpKind, Session
from softhsm_py.core.tokens import session_of

DataIn = Callable[[], bytes]  # reads the caller's input; raises ArgumentsBad for a refused pointer
_DIGEST = OpKind.DIGEST
_VERIFY = OpKind.VERIFY


class Output(Protocol):
    """A caller's output buffer (3.0, 5.2)."""

    def wants_length(self) -> bool:
        """True for a size query (NULL buffer); ArgumentsBad for a NULL length pointer."""
        ...

    def room(self) -> int:
        """The size of the caller's buffer."""
        ...

    def tell(self, length: int) -> None:
        """Answer a length, deliver nothing."""
        ...

    def deliver(self, data: bytes) -> bool:
        """Write ``data`` (True), or its length for a size query (False); BufferTooSmall."""
        ...


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


def cancel(lib: Library, handle: int, kind: OpKind) -> None:
    """An ``*Init`` with a NULL mechanism: end the session's active ``kind`` operation, if it has
    one (3.0, 5.8-5.12: "can be called with pMechanism set to NULL_PTR to terminate an active
    ... operation"; ours can always be cancelled)."""
    with lib.lock:
        _, session = session_of(lib, handle)
        session.end(kind)


def _active(lib: Library, handle: int, kind: OpKind) -> tuple[Session, Operation]:
    # Two dict reads, each atomic under the GIL: no library lock (every step of every operation
    # comes here; _enter checks again, under the session lock, that the operation is still the
    # session's). Ending one takes the lock (_end), as every start does.
    session = lib.runtime.sessions.get(handle)
    if session is None:
        raise errors.SessionHandleInvalid()
    operation = session.operations.get(kind)
    if operation is None:
        raise errors.OperationNotInitialized()
    if operation.needs_context_login and not operation.context_authenticated:
        _end(lib, session, operation)
        raise errors.UserNotLoggedIn()  # no C_Login(CKU_CONTEXT_SPECIFIC) since the Init
    return session, operation


active = _active  # for the message-based functions (pkcs11.messages)


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
    step: Callable[[bytes], bytes],
    data: DataIn | None,
    out: Output,
    stage: int,
) -> None:
    """One call with output (see the module docstring): a size query is answered from the bound;
    a result is computed once per input, delivered, and the operation ends when the final result
    was delivered."""
    with session.lock:
        _enter(lib, session, operation, stage)
        try:
            given = data() if data is not None else b""
            pending = operation.pending
            if pending is None:
                bound = operation.context.output_bound(len(given), stage != _UPDATE)
                if bound is not None and out.wants_length():
                    out.tell(bound)
                    return
                if bound is not None and stage == _UPDATE and out.room() < bound:
                    out.tell(bound)
                    raise errors.BufferTooSmall(bound)
                result = step(given)
                # Kept only if not delivered now (a size query, a short buffer): the usual call
                # delivers, and writes nothing into the operation.
                try:
                    delivered = out.deliver(result)
                except errors.BufferTooSmall:
                    operation.pending, operation.pending_input = result, given
                    raise
                if not delivered:
                    operation.pending, operation.pending_input = result, given
                    return
            else:
                if operation.pending_input != given:
                    raise errors.OperationNotInitialized()  # the kept result is another input's
                if not out.deliver(pending):
                    return
                operation.pending = operation.pending_input = None
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
    _run(lib, session, operation, operation.context.run, data, out, _SINGLE_PART)


def update(lib: Library, handle: int, kind: OpKind, data: DataIn, out: Output | None) -> None:
    """C_EncryptUpdate, C_DecryptUpdate (with ``out``), C_DigestUpdate, C_SignUpdate, C_VerifyUpdate."""
    session, operation = _active(lib, handle, kind)
    if out is None:  # digest, sign, verify: nothing comes back until the final call
        _call(lib, session, operation, lambda: _feed(operation, data()), _UPDATE)
    else:
        _run(lib, session, operation, operation.context.update, data, out, _UPDATE)


def _feed(operation: Operation, given: bytes) -> None:
    operation.context.update(given)
    opstate.feed(operation, given)  # what C_GetOperationState saves


def final(lib: Library, handle: int, kind: OpKind, out: Output) -> None:
    """C_EncryptFinal, C_DecryptFinal, C_DigestFinal, C_SignFinal."""
    session, operation = _active(lib, handle, kind)
    _run(lib, session, operation, lambda _: operation.context.final(), None, out, _FINAL)


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


# -- 3.2: the signature first (C_VerifySignatureInit), then the data --------------------------------
_VERIFY_SIGNATURE = OpKind.VERIFY_SIGNATURE


def verify_signature_init(
    lib: Library, handle: int, mechanism: Mechanism | None, key_handle: int, signature: bytes
) -> None:
    """``mechanism`` None (a NULL pMechanism) ends the active operation, if there is one (3.2,
    5.15; CKR_OPERATION_NOT_INITIALIZED is not among C_VerifySignatureInit's codes)."""
    with lib.lock:
        rt, session = session_of(lib, handle)
        if mechanism is None:
            session.end(_VERIFY_SIGNATURE)
            return
        if _VERIFY_SIGNATURE in session.operations:
            raise errors.OperationActive()
        operation = operations.start(rt, session, _VERIFY_SIGNATURE, mechanism, key_handle)
        operation.signature = bytes(signature)
        session.start(_VERIFY_SIGNATURE, operation)


def verify_signature(lib: Library, handle: int, data: DataIn) -> None:
    session, operation = _active(lib, handle, _VERIFY_SIGNATURE)
    signature = operation.signature or b""
    _call(lib, session, operation, lambda: operation.context.verify(data(), signature), _SINGLE_PART)


def verify_signature_update(lib: Library, handle: int, data: DataIn) -> None:
    update(lib, handle, _VERIFY_SIGNATURE, data, None)


def verify_signature_final(lib: Library, handle: int) -> None:
    session, operation = _active(lib, handle, _VERIFY_SIGNATURE)
    signature = operation.signature or b""
    _call(lib, session, operation, lambda: operation.context.final(signature), _FINAL)


def digest_key(lib: Library, handle: int, key_handle: int) -> None:
    with lib.lock:
        rt, session = session_of(lib, handle)
        operation = session.active(_DIGEST)
        ref = gate.usable_key(rt, session, key_handle, None, None)
        if ref.attrs.get(Attribute.CLASS) != ObjectClass.SECRET_KEY or Attribute.VALUE not in ref.attrs:
            session.end(_DIGEST)
            raise errors.KeyIndigestible()
        value = ref.attrs[Attribute.VALUE]
    operation.transcript = None  # a state would hold the key's value: not saveable (core.opstate)
    _call(lib, session, operation, lambda: operation.context.update_key(value), _UPDATE)


def dual_update(lib: Library, handle: int, first: OpKind, second: OpKind, data: DataIn, out: Output) -> None:
    """C_DigestEncryptUpdate, C_DecryptDigestUpdate, C_SignEncryptUpdate, C_DecryptVerifyUpdate:
    the cipher side gives the output; the other side is fed the plaintext exactly once, even when
    the caller first asks for the length."""
    session, op_first = _active(lib, handle, first)
    _, op_second = _active(lib, handle, second)
    if first is OpKind.DECRYPT:  # decrypt, then digest/verify the plaintext
        cipher, other = op_first, op_second

        def step(given: bytes) -> bytes:
            plain = cipher.context.update(given)
            _call(lib, session, other, lambda: other.context.update(plain), _UPDATE)
            return plain
    else:  # digest/sign the plaintext, then encrypt it
        cipher, other = op_second, op_first

        def step(given: bytes) -> bytes:
            _call(lib, session, other, lambda: other.context.update(given), _UPDATE)
            return cipher.context.update(given)

    try:
        _run(lib, session, cipher, step, data, out, _UPDATE)
    except errors.BufferTooSmall:
        raise
    except BaseException:
        _end(lib, session, other)  # any error but a short buffer ends both (3.0, 5.2)
        raise
