"""The tokens (partitions) as this runtime sees them, and the sessions on them.

The store is the truth: other processes create, re-initialise and delete tokens, so every lookup
first brings ``Runtime.tokens`` up to date (cheap while nothing was committed)."""

from __future__ import annotations

from softhsm_py import errors
from softhsm_py.constants import UserType
from softhsm_py.core import events
from softhsm_py.core.runtime import Library, Runtime
from softhsm_py.core.session import Session
from softhsm_py.core.token import Token
from softhsm_py.log import get_logger
from softhsm_py.store import SlotTaken, TokenRecord

log = get_logger()


def session_of(lib: Library, handle: int) -> tuple[Runtime, Session]:
    rt = lib.runtime
    session = rt.sessions.get(handle)
    if session is None:
        raise errors.SessionHandleInvalid()
    return rt, session


def sync_tokens(rt: Runtime, listed: list[TokenRecord] | None = None) -> None:
    """Bring this instance's view of the tokens up to date with the store (other processes may
    have created, re-initialised or deleted tokens). Keeps login state of unchanged tokens.
    ``listed``: the store's listing, if the caller read it already (outside the library lock)."""
    if listed is None:
        listed = rt.store.tokens()
    tokens = rt.tokens
    if len(listed) == len(tokens):  # the usual case, nothing changed: one pass, no rebuilding
        for rec in listed:
            token = tokens.get(rec.slot_id)
            if token is None or token.serial != rec.serial:
                break
        else:
            return
    records = {rec.slot_id: rec for rec in listed}
    for slot_id in list(rt.tokens):
        record = records.get(slot_id)
        if record is None or record.serial != rt.tokens[slot_id].serial:
            del rt.tokens[slot_id]
    for slot_id, rec in records.items():
        if slot_id not in rt.tokens:
            rt.tokens[slot_id] = Token(slot_id=slot_id, serial=rec.serial)


def empty_slot(rt: Runtime) -> int:
    """The one slot without a token: the smallest id no token uses."""
    used = set(rt.tokens)
    slot_id = 0
    while slot_id in used:
        slot_id += 1
    return slot_id


def token_of(rt: Runtime, slot_id: int) -> Token:
    """The token in ``slot_id``; TokenNotRecognized for the empty slot, SlotIdInvalid otherwise."""
    sync_tokens(rt)
    token = rt.tokens.get(slot_id)
    if token is None:
        if slot_id == empty_slot(rt):
            raise errors.TokenNotRecognized()
        raise errors.SlotIdInvalid()
    return token


def check_slot(rt: Runtime, slot_id: int) -> bool:
    """True if the slot holds a token, False for the empty slot; SlotIdInvalid for any other."""
    sync_tokens(rt)
    if slot_id in rt.tokens:
        return True
    if slot_id == empty_slot(rt):
        return False
    raise errors.SlotIdInvalid()


def sessions_on(rt: Runtime, slot_id: int) -> list[Session]:
    on_slot = rt.slot_sessions.get(slot_id)
    return [] if on_slot is None else list(on_slot.values())


# -- partition administration: C_InitToken, C_InitPIN, C_SetPIN and the CLI's delete-token --


def check_pin_len(lib: Library, pin: bytes) -> None:
    config = lib.runtime.config
    if not config.pin_min_len <= len(pin) <= config.pin_max_len:
        raise errors.PinLenRange()


def init_token(lib: Library, slot_id: int, so_pin: bytes, text: str) -> None:
    rt = lib.runtime
    # The whole call holds the library lock (its scrypt runs take a fraction of a second): no
    # session may open on a token while it is being created or wiped.
    with lib.lock:
        present = check_slot(rt, slot_id)
        if sessions_on(rt, slot_id):
            raise errors.SessionExists()
        if rt.store.read_only:
            raise errors.TokenWriteProtected()
        if not present:
            check_pin_len(lib, so_pin)
            try:
                rt.store.create_token(slot_id, text, so_pin)
            except SlotTaken:
                # Another process initialised this slot since we looked. Re-initialising its new
                # token with our PIN would wipe what it just made: nothing is changed.
                log.warning(
                    "C_InitToken: slot %d was initialised by another process during this call;"
                    " nothing was changed (C_GetSlotList shows the next empty slot)",
                    slot_id,
                )
                events.token(rt, "token_init_race", slot_id, None, text)
                raise errors.FunctionFailed() from None
            log.info("token created in slot %d", slot_id)
            events.token(rt, "token_init", slot_id, _serial(rt, slot_id), text)
        else:
            try:
                rt.store.verify_pin(slot_id, UserType.SO, so_pin, rt.config.pin_lockout)
            except errors.PKCS11Error as exc:
                events.token(rt, "token_reinit_refused", slot_id, _serial(rt, slot_id))
                if getattr(exc, "locked_now", False):
                    events.token(rt, "pin_locked", slot_id, _serial(rt, slot_id))
                raise
            check_pin_len(lib, so_pin)
            rt.store.reinit_token(slot_id, text, so_pin)
            log.info("token in slot %d re-initialised", slot_id)
            events.token(rt, "token_reinit", slot_id, _serial(rt, slot_id), text)
        token = rt.tokens.pop(slot_id, None)
        if token is not None:
            token.log_out()
            rt.handles.forget_slot(slot_id)
        sync_tokens(rt)


def init_pin(lib: Library, session_handle: int, pin: bytes) -> None:
    with lib.lock:
        rt, session = session_of(lib, session_handle)
        if not session.rw:
            raise errors.SessionReadOnly()
        token = session.token
        if not token.so_logged_in or token.token_key is None:
            raise errors.UserNotLoggedIn()
        key = token.token_key
    check_pin_len(lib, pin)
    with lib.lock:
        if rt.sessions.get(session_handle) is not session or not session.token.so_logged_in:
            raise errors.SessionClosed()  # closed (and so logged out) by another thread meanwhile
    rt.store.init_user_pin(session.slot_id, key, pin)
    log.info("user PIN initialised on slot %d", session.slot_id)
    events.pin_initialised(rt, session)


def set_pin(lib: Library, session_handle: int, old_pin: bytes, new_pin: bytes) -> None:
    with lib.lock:
        rt, session = session_of(lib, session_handle)
        if not session.rw:
            raise errors.SessionReadOnly()
        who = UserType.SO if session.token.so_logged_in else UserType.USER
    try:
        key = rt.store.verify_pin(session.slot_id, who, old_pin, rt.config.pin_lockout)
    except errors.PKCS11Error as exc:
        events.login(rt, session, who, exc)  # a PIN try, as a login's
        raise
    check_pin_len(lib, new_pin)
    rt.store.change_pin(session.slot_id, who, key, new_pin)
    log.info("%s PIN changed on slot %d", who.name, session.slot_id)
    events.pin_changed(rt, session, who)


def delete_token(lib: Library, slot_id: int, so_pin: bytes) -> None:
    """Remove a token and all its objects (not a PKCS#11 function: the CLI's ``delete-token``).
    Needs the SO PIN, like re-initialisation, and no open session of ours on it."""
    rt = lib.runtime
    with lib.lock:
        if not check_slot(rt, slot_id):
            raise errors.TokenNotRecognized()
        if sessions_on(rt, slot_id):
            raise errors.SessionExists()
        if rt.store.read_only:
            raise errors.TokenWriteProtected()
    serial = _serial(rt, slot_id)
    try:
        rt.store.verify_pin(slot_id, UserType.SO, so_pin, rt.config.pin_lockout)
    except errors.PKCS11Error:
        events.token(rt, "token_delete_refused", slot_id, serial)
        raise
    rt.store.delete_token(slot_id)
    with lib.lock:
        rt.tokens.pop(slot_id, None)
        rt.handles.forget_slot(slot_id)
    log.info("token in slot %d deleted", slot_id)
    events.token(rt, "token_delete", slot_id, serial)


def _serial(rt: Runtime, slot_id: int) -> str | None:
    """The token's serial for an audit record (only read when an audit log is kept)."""
    if not rt.audit.enabled:
        return None
    record = rt.store.token(slot_id)
    return None if record is None else record.serial
