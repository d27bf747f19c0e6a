"""Sessions, login and logout (PKCS#11 3.0, 5.6), random numbers (5.15), legacy parallel
functions (5.16) and C_WaitForSlotEvent (5.5)."""

from __future__ import annotations

import pytest

from support.constants import DONT_BLOCK, ReturnValue, SessionFlag, SessionState, UserType, rv_name
from support.pkcs11 import SO_PIN, USER_PIN, Module, ffi, spec_departure


def open_rv(module: Module, slot: int, flags: int) -> str:
    h = ffi.new("CK_SESSION_HANDLE *")
    return rv_name(module.rv("C_OpenSession", slot, flags, ffi.NULL, ffi.NULL, h))


# ------------------------------------------------------------------------------- C_OpenSession


def test_open_session_needs_serial_flag(module: Module) -> None:
    slot = module.ready_token()
    assert open_rv(module, slot, 0) == "SESSION_PARALLEL_NOT_SUPPORTED"
    assert open_rv(module, slot, SessionFlag.RW_SESSION) == "SESSION_PARALLEL_NOT_SUPPORTED"


def test_open_session_on_empty_slot(module: Module) -> None:
    slot = module.empty_slot()
    for flags in (SessionFlag.SERIAL_SESSION, SessionFlag.SERIAL_SESSION | SessionFlag.RW_SESSION):
        assert open_rv(module, slot, flags) == "TOKEN_NOT_RECOGNIZED"


def test_open_session_invalid_slot(module: Module) -> None:
    module.ready_token()
    bad = max(module.slot_list()) + 1000
    assert open_rv(module, bad, SessionFlag.SERIAL_SESSION) == "SLOT_ID_INVALID"


def test_session_handles(module: Module) -> None:
    slot = module.ready_token()
    handles = [module.open(slot, rw=bool(i % 2)) for i in range(10)]
    assert len(set(handles)) == 10 and 0 not in handles  # CK_INVALID_HANDLE is 0
    for h in handles:
        info = module.session_info(h)
        assert info.slotID == slot
        assert info.flags & SessionFlag.SERIAL_SESSION
        assert bool(info.flags & SessionFlag.RW_SESSION) == (handles.index(h) % 2 == 1)
        assert info.ulDeviceError == 0


# ------------------------------------------------------------------------------- session states


def test_states_public(module: Module) -> None:
    slot = module.ready_token()
    ro, rw = module.open(slot, rw=False), module.open(slot)
    assert module.state(ro) == SessionState.RO_PUBLIC_SESSION
    assert module.state(rw) == SessionState.RW_PUBLIC_SESSION


@pytest.mark.parametrize("login_in", ["ro", "rw"])
def test_states_user(module: Module, login_in: str) -> None:
    """The login is shared by every session of the application with the token (5.6)."""
    slot = module.ready_token()
    ro, rw = module.open(slot, rw=False), module.open(slot)
    module.login(ro if login_in == "ro" else rw)
    assert module.state(ro) == SessionState.RO_USER_FUNCTIONS
    assert module.state(rw) == SessionState.RW_USER_FUNCTIONS
    later_ro, later_rw = module.open(slot, rw=False), module.open(slot)  # new sessions inherit it
    assert module.state(later_ro) == SessionState.RO_USER_FUNCTIONS
    assert module.state(later_rw) == SessionState.RW_USER_FUNCTIONS
    module.check("C_Logout", later_rw)
    for h in (ro, rw, later_ro):
        assert module.state(h) in (SessionState.RO_PUBLIC_SESSION, SessionState.RW_PUBLIC_SESSION)
    assert module.state(rw) == SessionState.RW_PUBLIC_SESSION


def test_states_so(module: Module) -> None:
    slot = module.ready_token()
    a, b = module.open(slot), module.open(slot)
    module.login(a, UserType.SO, SO_PIN)
    assert module.state(a) == SessionState.RW_SO_FUNCTIONS
    assert module.state(b) == SessionState.RW_SO_FUNCTIONS
    module.check("C_Logout", b)
    assert module.state(a) == SessionState.RW_PUBLIC_SESSION


def test_login_is_per_token(module: Module) -> None:
    one, two = module.ready_token("one"), module.ready_token("two")
    h1, h2 = module.open(one), module.open(two)
    module.login(h1)
    assert module.state(h2) == SessionState.RW_PUBLIC_SESSION
    module.login(h2, UserType.SO, SO_PIN)
    assert module.state(h1) == SessionState.RW_USER_FUNCTIONS
    assert module.state(h2) == SessionState.RW_SO_FUNCTIONS


def test_closing_last_session_logs_out(module: Module) -> None:
    slot = module.ready_token()
    a, b = module.open(slot), module.open(slot)
    module.login(a)
    module.close(a)
    assert module.state(b) == SessionState.RW_USER_FUNCTIONS  # b still open: still logged in
    module.close(b)
    c = module.open(slot)
    assert module.state(c) == SessionState.RW_PUBLIC_SESSION


def test_close_all_sessions(module: Module) -> None:
    one, two = module.ready_token("one"), module.ready_token("two")
    mine = [module.open(one) for _ in range(3)]
    other = module.open(two)
    module.login(mine[0])
    module.check("C_CloseAllSessions", one)
    for h in mine:
        module.expect("SESSION_HANDLE_INVALID", "C_GetSessionInfo", h, ffi.new("CK_SESSION_INFO *"))
    assert module.state(other) == SessionState.RW_PUBLIC_SESSION
    assert module.state(module.open(one)) == SessionState.RW_PUBLIC_SESSION  # the login ended with them


def test_close_session_twice(module: Module) -> None:
    slot = module.ready_token()
    h = module.open(slot)
    module.close(h)
    module.expect("SESSION_HANDLE_INVALID", "C_CloseSession", h)


def test_handles_are_not_reused(module: Module) -> None:
    slot = module.ready_token()
    closed = module.open(slot)
    module.close(closed)
    fresh = [module.open(slot) for _ in range(5)]
    assert closed not in fresh
    module.expect("SESSION_HANDLE_INVALID", "C_GetSessionInfo", closed, ffi.new("CK_SESSION_INFO *"))


# ------------------------------------------------------------------------------- C_Login rules


def test_user_already_logged_in(module: Module) -> None:
    slot = module.ready_token()
    a, b = module.open(slot), module.open(slot, rw=False)
    module.login(a)
    module.expect("USER_ALREADY_LOGGED_IN", "C_Login", a, UserType.USER, USER_PIN, len(USER_PIN))
    module.expect("USER_ALREADY_LOGGED_IN", "C_Login", b, UserType.USER, USER_PIN, len(USER_PIN))


def test_so_already_logged_in(module: Module) -> None:
    slot = module.ready_token()
    a = module.open(slot)
    module.login(a, UserType.SO, SO_PIN)
    module.expect("USER_ALREADY_LOGGED_IN", "C_Login", a, UserType.SO, SO_PIN, len(SO_PIN))


def test_user_another_already_logged_in(module: Module) -> None:
    slot = module.ready_token()
    a = module.open(slot)
    module.login(a)
    module.expect("USER_ANOTHER_ALREADY_LOGGED_IN", "C_Login", a, UserType.SO, SO_PIN, len(SO_PIN))
    module.check("C_Logout", a)
    module.login(a, UserType.SO, SO_PIN)
    module.expect("USER_ANOTHER_ALREADY_LOGGED_IN", "C_Login", a, UserType.USER, USER_PIN, len(USER_PIN))


def test_so_login_with_read_only_session(module: Module) -> None:
    slot = module.ready_token()
    rw, ro = module.open(slot), module.open(slot, rw=False)
    module.expect("SESSION_READ_ONLY_EXISTS", "C_Login", rw, UserType.SO, SO_PIN, len(SO_PIN))
    module.expect("SESSION_READ_ONLY_EXISTS", "C_Login", ro, UserType.SO, SO_PIN, len(SO_PIN))
    module.close(ro)
    module.login(rw, UserType.SO, SO_PIN)


def test_read_only_session_while_so_logged_in(module: Module) -> None:
    slot = module.ready_token()
    rw = module.open(slot)
    module.login(rw, UserType.SO, SO_PIN)
    assert open_rv(module, slot, SessionFlag.SERIAL_SESSION) == "SESSION_READ_WRITE_SO_EXISTS"
    assert open_rv(module, slot, SessionFlag.SERIAL_SESSION | SessionFlag.RW_SESSION) == "OK"


def test_user_pin_not_initialized(module: Module) -> None:
    slot = module.init_token()
    with module.session(slot) as h:
        module.expect("USER_PIN_NOT_INITIALIZED", "C_Login", h, UserType.USER, USER_PIN, len(USER_PIN))
        module.login(h, UserType.SO, SO_PIN)


@pytest.mark.parametrize("user", [3, 0x80000000, 0xFFFFFFFFFFFFFFFF])
def test_user_type_invalid(module: Module, user: int) -> None:
    slot = module.ready_token()
    with module.session(slot) as h:
        module.expect("USER_TYPE_INVALID", "C_Login", h, user, USER_PIN, len(USER_PIN))


def test_context_specific_without_operation(module: Module) -> None:
    """3.0 5.6 C_Login: CKU_CONTEXT_SPECIFIC outside an operation is CKR_OPERATION_NOT_INITIALIZED."""
    slot = module.ready_token()
    with module.session(slot) as h:
        module.login(h)
        module.expect(
            ("OPERATION_NOT_INITIALIZED", "USER_NOT_LOGGED_IN"),
            "C_Login", h, UserType.CONTEXT_SPECIFIC, USER_PIN, len(USER_PIN),
        )  # fmt: skip
        assert module.state(h) == SessionState.RW_USER_FUNCTIONS


@spec_departure("SoftHSMv2", clause="3.0 5.6 C_Logout: CKR_USER_NOT_LOGGED_IN; SoftHSMv2 returns OK")
def test_logout_not_logged_in(module: Module) -> None:
    slot = module.ready_token()
    with module.session(slot) as h:
        module.expect("USER_NOT_LOGGED_IN", "C_Logout", h)
        module.login(h)
        module.check("C_Logout", h)
        module.expect("USER_NOT_LOGGED_IN", "C_Logout", h)


def test_login_user_3_0(module: Module) -> None:
    module.require_3_0()
    slot = module.ready_token()
    with module.session(slot) as h:
        module.check("C_LoginUser", h, UserType.USER, USER_PIN, len(USER_PIN), ffi.NULL, 0)
        assert module.state(h) == SessionState.RW_USER_FUNCTIONS
        module.expect(
            "USER_ALREADY_LOGGED_IN", "C_LoginUser", h, UserType.USER, USER_PIN, len(USER_PIN), ffi.NULL, 0
        )
        module.check("C_Logout", h)
        module.expect("USER_TYPE_INVALID", "C_LoginUser", h, 7, USER_PIN, len(USER_PIN), ffi.NULL, 0)
        module.expect("PIN_INCORRECT", "C_LoginUser", h, UserType.USER, b"wrong-pin", 9, ffi.NULL, 0)
        module.expect(
            "SESSION_HANDLE_INVALID", "C_LoginUser", h + 1000, UserType.USER, USER_PIN, 8, ffi.NULL, 0
        )
        module.expect("ARGUMENTS_BAD", "C_LoginUser", h, UserType.USER, ffi.NULL, 8, ffi.NULL, 0)


def test_session_cancel(module: Module) -> None:
    module.require_3_0()
    slot = module.ready_token()
    with module.session(slot) as h:
        module.check("C_SessionCancel", h, 0)
        module.check("C_SessionCancel", h, 0x3FF00)  # every operation flag: nothing active, nothing to do
        module.expect("SESSION_HANDLE_INVALID", "C_SessionCancel", h + 1000, 0)


# ------------------------------------------------------------------------------- random numbers


def test_generate_random(module: Module) -> None:
    slot = module.ready_token()
    with module.session(slot, rw=False) as h:  # no login needed
        a, b = module.random(h, 32), module.random(h, 32)
        assert a != b and len(a) == 32
        big = module.random(h, 100_000)
        assert len(set(big)) == 256
        module.check("C_GenerateRandom", h, ffi.new("CK_BYTE[1]"), 0)


def test_seed_random(module: Module) -> None:
    slot = module.ready_token()
    with module.session(slot) as h:
        module.expect(("OK", "RANDOM_SEED_NOT_SUPPORTED"), "C_SeedRandom", h, b"some seed", 9)
        module.random(h, 16)


# ------------------------------------------------------------------------------- legacy and events


def test_legacy_parallel_functions(module: Module) -> None:
    slot = module.ready_token()
    with module.session(slot) as h:
        module.expect("FUNCTION_NOT_PARALLEL", "C_GetFunctionStatus", h)
        module.expect("FUNCTION_NOT_PARALLEL", "C_CancelFunction", h)


def test_wait_for_slot_event_dont_block(module: Module) -> None:
    slot = ffi.new("CK_SLOT_ID *")
    module.expect("NO_EVENT", "C_WaitForSlotEvent", DONT_BLOCK, slot, ffi.NULL)
    module.ready_token()  # creating a token is no slot event for an application that made it
    assert module.rv("C_WaitForSlotEvent", DONT_BLOCK, slot, ffi.NULL) in (
        ReturnValue.NO_EVENT,
        ReturnValue.OK,
    )
