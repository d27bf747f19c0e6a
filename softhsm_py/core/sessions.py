"""Sessions and logins: open/close, login and logout (the rules of PKCS#11 3.0, 5.6, which every
front end keeps: a REST partition is a logged-in session too)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from softhsm_py import errors
from softhsm_py.constants import SessionFlag, UserType
from softhsm_py.core import events
from softhsm_py.core.runtime import Library, Runtime
from softhsm_py.core.session import Session

if TYPE_CHECKING:
    from softhsm_py.core.operations import Operation
from softhsm_py.core.tokens import check_slot, session_of, sessions_on, sync_tokens, token_of
from softhsm_py.log import get_logger
from softhsm_py.store import TokenRecord

log = get_logger()


# Plain ints: IntFlag's operators are Python code.
_SERIAL_SESSION = int(SessionFlag.SERIAL_SESSION)
_RW_SESSION = int(SessionFlag.RW_SESSION)
_ASYNC_SESSION = 0x8  # CKF_ASYNC_SESSION (3.2): every call here completes before it returns


def open_session(lib: Library, slot_id: int, flags: int) -> int:
    if not flags & _SERIAL_SESSION:
        raise errors.SessionParallelNotSupported()
    if flags & _ASYNC_SESSION:
        raise errors.SessionAsyncNotSupported()
    rw = bool(flags & _RW_SESSION)
    rt = lib.runtime
    # The token list is re-read from the store (cheap while nothing was committed), so a token
    # another process deleted fails here as before. The read is I/O: before the library lock,
    # which other threads' calls need meanwhile (the store has a lock of its own).
    listed: list[TokenRecord] | None
    try:
        listed = rt.store.tokens()
    except Exception:
        if lib._runtime is not rt:  # C_Finalize in another thread closed the store meanwhile
            raise errors.CryptokiNotInitialized() from None
        raise
    with lib.lock:
        if lib.runtime is not rt:  # finalised (and maybe initialised again) meanwhile
            rt, listed = lib.runtime, None
        sync_tokens(rt, listed)  # token_of, inlined
        token = rt.tokens.get(slot_id)
        if token is None:
            token = token_of(rt, slot_id)  # raises TokenNotRecognized or SlotIdInvalid
        if rw and rt.store.read_only:
            raise errors.TokenWriteProtected()  # only read-only sessions (3.0, 5.6 C_OpenSession)
        if not rw and token.so_logged_in:
            raise errors.SessionReadWriteSoExists()
        handle = next(rt.session_ids)
        session = rt.sessions[handle] = Session(handle, slot_id, rw, token)
        rt.slot_sessions.setdefault(slot_id, {})[handle] = session
    return handle


def discard(rt: Runtime, session: Session) -> None:
    """Forget a session: its operations, its session objects and, if it was the last session of
    this application on its token, the login (3.0, 5.6 C_CloseSession). Caller holds the lock."""
    session.end_all()
    rt.sessions.pop(session.handle, None)
    on_slot = rt.slot_sessions.get(session.slot_id)
    if on_slot is not None:
        on_slot.pop(session.handle, None)
        if not on_slot:
            del rt.slot_sessions[session.slot_id]
    rt.handles.drop_session_objects(session.handle)
    if not on_slot:  # the slot's last session of this application
        session.token.log_out()
        rt.handles.forget_private(session.slot_id)


def close_session(lib: Library, handle: int) -> None:
    with lib.lock:
        rt = lib.runtime  # session_of, inlined
        session = rt.sessions.get(handle)
        if session is None:
            raise errors.SessionHandleInvalid()
        discard(rt, session)


def close_all_sessions(lib: Library, slot_id: int) -> None:
    with lib.lock:
        rt = lib.runtime  # under the lock: C_Finalize in another thread closes its store
        check_slot(rt, slot_id)
        for session in sessions_on(rt, slot_id):
            discard(rt, session)


def login(lib: Library, handle: int, user_type: int, pin: bytes) -> None:
    with lib.lock:
        rt, session = session_of(lib, handle)
        try:
            user = UserType(user_type)
        except ValueError:
            raise errors.UserTypeInvalid() from None
        token = session.token
        if user is UserType.CONTEXT_SPECIFIC:
            operation = _awaiting_context_login(session)
            if token.user is None:
                raise errors.UserNotLoggedIn()
            user = token.user
        else:
            operation = None
            if token.user is user:
                raise errors.UserAlreadyLoggedIn()
            if token.user is not None:
                raise errors.UserAnotherAlreadyLoggedIn()
            if user is UserType.SO and any(not s.rw for s in sessions_on(rt, session.slot_id)):
                raise errors.SessionReadOnlyExists()
    # The PIN check runs scrypt (~0.1 s): outside the library lock so other threads keep going.
    try:
        if operation is not None and operation.password is not None:
            from softhsm_py.core import passwords  # loads the object layer: not at module start

            passwords.check(lib, handle, operation.key_handle, operation.password, pin)  # the key's own
            key = b""
        else:
            key = rt.store.verify_pin(session.slot_id, user, pin, rt.config.pin_lockout)
    except errors.PKCS11Error as exc:
        events.login(rt, session, UserType.CONTEXT_SPECIFIC if operation is not None else user, exc)
        raise
    with lib.lock:
        if rt.sessions.get(handle) is not session:  # closed by another thread meanwhile
            raise errors.SessionClosed()
        if operation is not None:
            operation.context_authenticated = True
        else:
            if token.user is not None:  # another thread logged in while we checked the PIN
                raise (
                    errors.UserAlreadyLoggedIn if token.user is user else errors.UserAnotherAlreadyLoggedIn
                )()
            if user is UserType.SO and any(not s.rw for s in sessions_on(rt, session.slot_id)):
                raise errors.SessionReadOnlyExists()  # opened by another thread while we checked the PIN
            token.log_in(user, key)
    events.login(rt, session, UserType.CONTEXT_SPECIFIC if operation is not None else user)
    if operation is None:
        log.info("%s logged in on slot %d", user.name, session.slot_id)


def _awaiting_context_login(session: Session) -> Operation:
    """The active operation whose key asks for a context login (CKA_ALWAYS_AUTHENTICATE or a key
    password; 3.0, 4.9 and 5.6 C_Login): one not yet authenticated first (a session may have a
    signature and a decryption waiting), else one that already is."""
    found = None
    for operation in session.operations.values():
        # Sessions hold operations.Operation values (and FIND's queue): duck-typed, so that module
        # start does not load the operation layer.
        if getattr(operation, "needs_context_login", False):
            if not operation.context_authenticated:
                return operation
            found = found or operation
    if found is None:
        raise errors.OperationNotInitialized()
    return found


def logout(lib: Library, handle: int) -> None:
    with lib.lock:
        rt, session = session_of(lib, handle)
        token = session.token
        if token.user is None:
            raise errors.UserNotLoggedIn()
        events.logout(rt, session, token.user)
        token.log_out()
        # 3.0, 5.6 C_Logout: handles to private objects become invalid and private session objects
        # are destroyed; we also end the operations, which may be using private keys.
        for other in sessions_on(rt, session.slot_id):
            other.end_all()
        rt.handles.forget_private(session.slot_id)
    log.info("logged out on slot %d", session.slot_id)
