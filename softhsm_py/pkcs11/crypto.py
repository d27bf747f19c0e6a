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

Threads may share a session: each step runs under the session's lock and first checks that its
operation is still the session's (another thread may have ended it, and started another, since
``_active`` found it); an operation ends only if it is still the session's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from softhsm_py import errors
from softhsm_py.constants import Attribute, ObjectClass
from softhsm_py.core.handles import ObjectRef
from softhsm_py.core.runtime import Library
from softhsm_py.core.session import OpKind, Session
from softhsm_py.mechanisms import registry
from softhsm_py.pkcs11.common import session_of
from softhsm_py.pkcs11.objects import attrs_of

# The attribute that must be TRUE on a key for each kind of operation (3.0, 4.8-4.10 tables).
USAGE = {
    OpKind.ENCRYPT: Attribute.ENCRYPT,
    OpKind.DECRYPT: Attribute.DECRYPT,
    OpKind.SIGN: Attribute.SIGN,
    OpKind.VERIFY: Attribute.VERIFY,
    OpKind.SIGN_RECOVER: Attribute.SIGN_RECOVER,
    OpKind.VERIFY_RECOVER: Attribute.VERIFY_RECOVER,
}
# The same as plain ints, and the constants usable_key reads: an IntEnum member costs a class
# attribute lookup, and comparing with one a Python-level __eq__, on every key use.
_USAGE: dict[OpKind, int] = {kind: int(attribute) for kind, attribute in USAGE.items()}
_CLASS = int(Attribute.CLASS)
_ALLOWED_MECHANISMS = int(Attribute.ALLOWED_MECHANISMS)
_ALWAYS_AUTHENTICATE = int(Attribute.ALWAYS_AUTHENTICATE)
_KEY_CLASSES = frozenset(
    int(c) for c in (ObjectClass.SECRET_KEY, ObjectClass.PRIVATE_KEY, ObjectClass.PUBLIC_KEY)
)


# OpKind by value, and each member as itself: the ABI passes names, tests may pass either
# (a dict lookup; ``OpKind(name)`` runs Enum's Python-level lookup on every call).
_KIND: dict[Any, OpKind] = {**{k.value: k for k in OpKind}, **{k: k for k in OpKind}}
_DIGEST = OpKind.DIGEST
_VERIFY = OpKind.VERIFY
_INIT = {k: f"{k.value}_init" for k in OpKind}  # the MechanismImpl method that starts each kind


def _kind(name: Any) -> OpKind:
    try:
        return _KIND[name]
    except (KeyError, TypeError):
        return OpKind(name)  # the ValueError Enum gives for anything else


class Output(Protocol):
    def deliver(self, data: bytes) -> bool: ...


@dataclass(eq=False, slots=True)
class Operation:
    kind: OpKind
    mechanism: int
    context: Any
    needs_context_login: bool = False  # CKA_ALWAYS_AUTHENTICATE (3.0, 4.9)
    context_authenticated: bool = False
    pending: bytes | None = None  # a computed result waiting for a big enough buffer
    stage: int = 0  # the kind of call that used it so far: _SINGLE_PART, _UPDATE or _FINAL

    def __repr__(self) -> str:
        return f"Operation({self.kind.value}, mechanism=0x{self.mechanism:x})"


def usable_key(
    lib: Library, session: Session, key_handle: int, usage: int | None, mechanism: int | None
) -> ObjectRef:
    """The key for an operation, after the checks every key use shares: ``usage`` is the attribute
    that must be TRUE, ``mechanism`` the one its CKA_ALLOWED_MECHANISMS must allow (None for a key
    that is an operation's data, like the key C_WrapKey wraps). Caller holds the lock."""
    rt = lib.runtime
    try:
        ref = rt.handles.get(key_handle)
        if ref.slot_id != session.slot_id:
            raise errors.ObjectHandleInvalid()
        attrs = attrs_of(rt, session, ref)
    except errors.ObjectHandleInvalid:
        raise errors.KeyHandleInvalid() from None
    if attrs.get(_CLASS) not in _KEY_CLASSES:
        raise errors.KeyHandleInvalid()
    if usage is not None and attrs.get(usage) is not True:
        raise errors.KeyFunctionNotPermitted()
    allowed = attrs.get(_ALLOWED_MECHANISMS)
    # An empty list restricts nothing (as SoftHSMv2).
    if allowed and mechanism is not None and mechanism not in allowed:
        raise errors.MechanismInvalid()  # 3.0, 4.6: the key may not be used with this mechanism
    return ref


def operation_init(lib: Library, handle: int, kind_name: str, mechanism: Any, key_handle: int) -> None:
    kind = _kind(kind_name)
    with lib.lock:
        _, session = session_of(lib, handle)
        if kind in session.operations:
            raise errors.OperationActive()
        impl = registry.lookup(mechanism.type)
        ref = usable_key(lib, session, key_handle, _USAGE[kind], mechanism.type)
        start: Callable[..., Any] | None = getattr(impl, _INIT[kind], None)
        if start is None:
            raise errors.MechanismInvalid()
        context = start(mechanism.type, mechanism.param(), ref)
        always_auth = ref.attrs.get(_ALWAYS_AUTHENTICATE) is True
        session.start(kind, Operation(kind, mechanism.type, context, always_auth))


def digest_init(lib: Library, handle: int, mechanism: Any) -> None:
    with lib.lock:
        session = lib.runtime.sessions.get(handle)
        if session is None:
            raise errors.SessionHandleInvalid()
        operations = session.operations
        if _DIGEST in operations:
            raise errors.OperationActive()
        mech = mechanism.type
        context = registry.lookup(mech).digest_init(mech, mechanism.param())
        operations[_DIGEST] = Operation(_DIGEST, mech, context)  # session.start, checked above


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


# The context method of each single-part function (C_Encrypt, C_Digest, C_Sign, ...).
_SINGLE = {
    OpKind.ENCRYPT: "oneshot",
    OpKind.DECRYPT: "oneshot",
    OpKind.DIGEST: "digest",
    OpKind.SIGN: "sign",
    OpKind.SIGN_RECOVER: "sign",
    OpKind.VERIFY_RECOVER: "recover",
}


def single(lib: Library, handle: int, kind_name: str, data: bytes, out: Output) -> None:
    kind = _kind(kind_name)
    session, operation = _active(lib, handle, kind)
    with session.lock:  # _run(..., _SINGLE_PART), inlined: the hot path of every small operation
        operations = session.operations
        if operations.get(kind) is not operation or operation.stage > _SINGLE_PART:
            _enter(lib, session, operation, _SINGLE_PART)  # raises: ended, or used multi-part
        operation.stage = _SINGLE_PART
        try:
            pending = operation.pending
            if pending is None:
                pending = operation.pending = getattr(operation.context, _SINGLE[kind])(data)
            if out.deliver(pending):
                operation.pending = None
                with lib.lock:  # _end, inlined
                    if operations.get(kind) is operation:
                        del operations[kind]
        except errors.BufferTooSmall:
            raise
        except BaseException:
            _end(lib, session, operation)
            raise


def update(lib: Library, handle: int, kind_name: str, data: bytes, out: Output | None) -> None:
    kind = _kind(kind_name)
    session, operation = _active(lib, handle, kind)
    if out is None:  # digest, sign, verify: nothing comes back until the final call
        _call(lib, session, operation, lambda: operation.context.update(data), _UPDATE)
    else:
        _run(lib, session, operation, lambda: operation.context.update(data), out, _UPDATE)


def final(lib: Library, handle: int, kind_name: str, out: Output) -> None:
    kind = _kind(kind_name)
    session, operation = _active(lib, handle, kind)
    _run(lib, session, operation, operation.context.final, out, _FINAL)


def verify(lib: Library, handle: int, data: bytes, signature: bytes) -> None:
    session, operation = _active(lib, handle, _VERIFY)
    with session.lock:  # _call(..., _SINGLE_PART), inlined
        _enter(lib, session, operation, _SINGLE_PART)
        try:
            operation.context.verify(data, signature)
        finally:
            _end(lib, session, operation)


def verify_final(lib: Library, handle: int, signature: bytes) -> None:
    session, operation = _active(lib, handle, OpKind.VERIFY)
    _call(lib, session, operation, lambda: operation.context.final(signature), _FINAL)


def abandon(lib: Library, handle: int, *kind_names: str) -> None:
    """End the operations a call refused for its arguments was continuing (the ABI found a NULL
    pointer before the call got here): any error but a short buffer ends them (3.0, 5.2). Quiet
    when there is nothing to end; the caller raises the arguments' error."""
    with lib.lock:
        if not lib.is_running():
            return
        session = lib.runtime.sessions.get(handle)
        if session is not None:
            for name in kind_names:
                session.end(_kind(name))


def digest_key(lib: Library, handle: int, key_handle: int) -> None:
    with lib.lock:
        _, session = session_of(lib, handle)
        operation = session.active(OpKind.DIGEST)
        ref = usable_key(lib, session, key_handle, None, None)
        if ref.attrs.get(Attribute.CLASS) != ObjectClass.SECRET_KEY or Attribute.VALUE not in ref.attrs:
            session.end(OpKind.DIGEST)
            raise errors.KeyIndigestible()
        value = ref.attrs[Attribute.VALUE]
    _call(lib, session, operation, lambda: operation.context.update_key(value), _UPDATE)


def dual_update(lib: Library, handle: int, first: str, second: str, data: bytes, out: Output) -> None:
    """C_DigestEncryptUpdate, C_DecryptDigestUpdate, C_SignEncryptUpdate, C_DecryptVerifyUpdate:
    the cipher side gives the output; the other side is fed the plaintext exactly once, even when
    the caller first asks for the length."""
    first_kind, second_kind = _kind(first), _kind(second)
    session, op_first = _active(lib, handle, first_kind)
    _, op_second = _active(lib, handle, second_kind)
    if first_kind is OpKind.DECRYPT:  # decrypt, then digest/verify the plaintext
        cipher, other = op_first, op_second

        def step() -> bytes:
            plain = cipher.context.update(data)
            _call(lib, session, other, lambda: other.context.update(plain), _UPDATE)
            return plain
    else:  # digest/sign the plaintext, then encrypt it
        cipher, other = op_second, op_first

        def step() -> bytes:
            _call(lib, session, other, lambda: other.context.update(data), _UPDATE)
            return cipher.context.update(data)

    _run(lib, session, cipher, step, out, _UPDATE)
