"""Races of the session chapter made deterministic: the PIN check of C_Login runs outside the
library lock (scrypt is slow), so other threads' calls land in the middle of a login. Here the
store's ``verify_pin`` waits until the other call is done."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from softhsm_py import errors
from softhsm_py.config import Config
from softhsm_py.constants import SessionFlag, SessionState, UserType
from softhsm_py.core import sessions
from softhsm_py.core.runtime import Library, Runtime
from softhsm_py.pkcs11 import sessions as session_info
from softhsm_py.pkcs11 import slots
from softhsm_py.store import open_store

COST = 10
SO_PIN = b"so-pin-0000"
RW = int(SessionFlag.SERIAL_SESSION | SessionFlag.RW_SESSION)
RO = int(SessionFlag.SERIAL_SESSION)


class PausedPinCheck:
    """The runtime's store, with ``verify_pin`` stopping after the PIN was found right until
    ``resume`` is set (``checking`` tells the test it got there)."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self.checking = threading.Event()
        self.resume = threading.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def verify_pin(self, *args: Any, **kwargs: Any) -> bytes:
        key = self._store.verify_pin(*args, **kwargs)
        self.checking.set()
        assert self.resume.wait(30)
        return key


@pytest.fixture
def lib(tmp_path: Path):
    token_dir = tmp_path / "tokens"
    store = open_store(token_dir, kdf_cost=COST)
    library = Library()
    library.start(Runtime(config=Config(token_dir=token_dir, kdf_cost=COST), store=store))
    slots.init_token(library, 0, SO_PIN, b"races".ljust(32))
    try:
        yield library
    finally:
        library.stop()
        store.close()


def login_in_thread(lib: Library, handle: int, user: UserType, pin: bytes) -> tuple[threading.Thread, list]:
    result: list = []

    def run() -> None:
        try:
            sessions.login(lib, handle, int(user), pin)
            result.append("OK")
        except errors.PKCS11Error as exc:
            result.append(type(exc))

    thread = threading.Thread(target=run)
    thread.start()
    return thread, result


def test_read_only_session_opened_during_an_so_login(lib: Library) -> None:
    """3.0 5.6: the SO logs in only while no R/O session exists, and no R/O session opens while
    the SO is logged in. A R/O session opened during the SO's PIN check must fail the login."""
    rw = sessions.open_session(lib, 0, RW)
    store = lib.runtime.store = PausedPinCheck(lib.runtime.store)
    thread, result = login_in_thread(lib, rw, UserType.SO, SO_PIN)
    assert store.checking.wait(30)
    ro = sessions.open_session(lib, 0, RO)  # nobody is logged in yet: allowed
    store.resume.set()
    thread.join(30)
    assert result == [errors.SessionReadOnlyExists]
    assert session_info.get_session_info(lib, ro).state == int(SessionState.RO_PUBLIC_SESSION)
    assert session_info.get_session_info(lib, rw).state == int(SessionState.RW_PUBLIC_SESSION)


class SlotTakenMeanwhile:
    """The runtime's store, with another process initialising the slot between our look at the
    empty slot and our own write (the race of two C_InitToken on one slot)."""

    def __init__(self, store: Any, other: Any) -> None:
        self._store, self._other = store, other

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def create_token(self, slot_id: int, label: str, so_pin: bytes) -> Any:
        self._other.create_token(slot_id, "the winner", b"winner-pin")
        return self._store.create_token(slot_id, label, so_pin)


def test_init_token_race_loser_gets_a_clear_code_and_a_log_line(lib: Library, tmp_path: Path) -> None:
    """Issue 16, item 6: the loser got CKR_TOKEN_NOT_RECOGNIZED and no log line. It gets
    CKR_FUNCTION_FAILED, a log line saying what happened, and the winner's token is untouched."""
    from support.logs import log_to

    rt = lib.runtime
    other = open_store(rt.config.token_dir, kdf_cost=COST)
    rt.store = SlotTakenMeanwhile(rt.store, other)  # type: ignore[assignment]
    try:
        with log_to(tmp_path / "log" / "races.log") as logged, pytest.raises(errors.FunctionFailed):
            slots.init_token(lib, 1, SO_PIN, b"the loser".ljust(32))
        assert "slot 1 was initialised by another process during this call" in logged()
        assert [(t.slot_id, t.label) for t in other.tokens()] == [(0, "races"), (1, "the winner")]
        other.verify_pin(1, UserType.SO, b"winner-pin", 3)  # the winner's PIN, not ours
        assert 1 in slots.get_slot_list(lib, True) and 2 in slots.get_slot_list(lib, True)
    finally:
        other.close()


def test_the_login_ends_with_the_slots_last_session_only(lib: Library) -> None:
    """core.sessions keeps the sessions by slot too (closing one never scans every session): the
    login goes with the last session of its slot, whatever the other slot's sessions do."""
    slots.init_token(lib, 1, SO_PIN, b"other".ljust(32))
    mine = [sessions.open_session(lib, 0, RW) for _ in range(3)]
    other = [sessions.open_session(lib, 1, RO) for _ in range(2)]
    sessions.login(lib, mine[0], int(UserType.SO), SO_PIN)
    for handle in other:  # the other slot's last session closes: slot 0's login stays
        sessions.close_session(lib, handle)
    assert session_info.get_session_info(lib, mine[2]).state == SessionState.RW_SO_FUNCTIONS
    sessions.close_session(lib, mine[0])  # the one that logged in: the others keep the login
    sessions.close_session(lib, mine[1])
    assert session_info.get_session_info(lib, mine[2]).state == SessionState.RW_SO_FUNCTIONS
    sessions.close_session(lib, mine[2])
    again = sessions.open_session(lib, 0, RW)
    assert session_info.get_session_info(lib, again).state == SessionState.RW_PUBLIC_SESSION
    rt = lib.runtime
    assert list(rt.slot_sessions) == [0] and list(rt.slot_sessions[0]) == [again]
