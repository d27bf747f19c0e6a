"""Lookups every chapter needs: the runtime's sessions and tokens."""

from __future__ import annotations

from softhsm_py import errors
from softhsm_py.core.runtime import Library, Runtime
from softhsm_py.core.session import Session
from softhsm_py.core.token import Token


def session_of(lib: Library, handle: int) -> tuple[Runtime, Session]:
    rt = lib.runtime
    session = rt.sessions.get(handle)
    if session is None:
        raise errors.SessionHandleInvalid()
    return rt, session


def sync_tokens(rt: Runtime) -> None:
    """Bring this instance's view of the tokens up to date with the store (other processes may
    have created, re-initialised or deleted tokens). Keeps login state of unchanged tokens."""
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
        rec = records.get(slot_id)
        if rec is None or rec.serial != rt.tokens[slot_id].serial:
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
    return [s for s in rt.sessions.values() if s.slot_id == slot_id]
