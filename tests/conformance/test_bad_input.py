"""Bad input to every implemented function: NULL pointers, invalid slot ids, invalid and closed
session handles. The module must answer with the right CKR, never crash, never print."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from support.constants import DONT_BLOCK, SessionFlag, UserType, rv_name
from support.pkcs11 import SO_PIN, USER_PIN, Module, ffi, padded, spec_departure

NULL = ffi.NULL
V3_ONLY = {"C_LoginUser", "C_SessionCancel"}


@dataclass
class Setup:
    """A token with a user PIN, an SO session logged in, plus the empty slot."""

    slot: int
    empty: int
    h: int  # an RW session, SO logged in (C_InitPIN needs one)
    invalid_slot: int


@pytest.fixture
def setup(module: Module) -> Setup:
    slot = module.ready_token()
    h = module.open(slot)
    module.login(h, UserType.SO, SO_PIN)
    return Setup(slot, module.empty_slot(), h, max(module.slot_list()) + 1000)


def call(module: Module, name: str, *args: object) -> str:
    if name in V3_ONLY:
        module.require_3_0()
    return rv_name(module.rv(name, *args))


# ------------------------------------------------------------------------------- NULL pointers

NULL_ARGS: dict[str, Callable[[Setup], tuple]] = {
    "C_GetInfo": lambda s: (NULL,),
    "C_GetSlotList count": lambda s: (False, NULL, NULL),
    "C_GetSlotList count with list": lambda s: (True, ffi.new("CK_SLOT_ID[4]"), NULL),
    "C_GetSlotInfo": lambda s: (s.slot, NULL),
    "C_GetSlotInfo empty slot": lambda s: (s.empty, NULL),
    "C_GetTokenInfo": lambda s: (s.slot, NULL),
    "C_GetTokenInfo empty slot": lambda s: (s.empty, NULL),
    "C_InitToken pin": lambda s: (s.empty, NULL, 8, padded("x")),
    "C_InitToken label": lambda s: (s.empty, SO_PIN, len(SO_PIN), NULL),
    "C_InitPIN": lambda s: (s.h, NULL, 8),
    "C_SetPIN old": lambda s: (s.h, NULL, 8, b"newpin12", 8),
    "C_SetPIN new": lambda s: (s.h, SO_PIN, len(SO_PIN), NULL, 8),
    "C_OpenSession": lambda s: (
        s.slot,
        SessionFlag.SERIAL_SESSION | SessionFlag.RW_SESSION,
        NULL,
        NULL,
        NULL,
    ),
    "C_GetSessionInfo": lambda s: (s.h, NULL),
    "C_Login": lambda s: (s.h, UserType.USER, NULL, 8),
    "C_SeedRandom": lambda s: (s.h, NULL, 8),
    "C_GenerateRandom": lambda s: (s.h, NULL, 8),
    "C_WaitForSlotEvent slot": lambda s: (DONT_BLOCK, NULL, NULL),
    "C_WaitForSlotEvent reserved": lambda s: (DONT_BLOCK, ffi.new("CK_SLOT_ID *"), ffi.new("int *")),
    "C_LoginUser": lambda s: (s.h, UserType.USER, NULL, 8, NULL, 0),
}
NULL_DEPARTURES = {
    # SoftHSMv2 answers CKR_NO_EVENT without looking at its arguments.
    "C_WaitForSlotEvent slot": "3.0 5.5 C_WaitForSlotEvent: pSlot NULL is ARGUMENTS_BAD",
    "C_WaitForSlotEvent reserved": "3.0 5.5 C_WaitForSlotEvent: pReserved must be NULL_PTR",
}


def cases(table: dict, departures: dict[str, str]) -> list:
    return [
        pytest.param(
            case, marks=[spec_departure("SoftHSMv2", clause=departures[case])] if case in departures else []
        )
        for case in sorted(table)
    ]


@pytest.mark.parametrize("case", cases(NULL_ARGS, NULL_DEPARTURES))
def test_null_pointer(module: Module, setup: Setup, case: str) -> None:
    name = case.split()[0]
    assert call(module, name, *NULL_ARGS[case](setup)) == "ARGUMENTS_BAD"


def test_null_pointers_change_nothing(module: Module, setup: Setup) -> None:
    """A refused call leaves the token as it was (3.0 5.1: all or nothing)."""
    call(module, "C_InitPIN", setup.h, NULL, 8)
    call(module, "C_SetPIN", setup.h, SO_PIN, len(SO_PIN), NULL, 8)
    call(module, "C_InitToken", setup.empty, SO_PIN, len(SO_PIN), NULL)
    module.check("C_Logout", setup.h)
    module.login(setup.h, UserType.SO, SO_PIN)
    module.check("C_Logout", setup.h)
    module.login(setup.h, UserType.USER, USER_PIN)
    assert len(module.empty_slots()) == 1


# ------------------------------------------------------------------------------- invalid slot ids

SLOT_FUNCTIONS: dict[str, Callable[[int], tuple]] = {
    "C_GetSlotInfo": lambda slot: (slot, ffi.new("CK_SLOT_INFO *")),
    "C_GetTokenInfo": lambda slot: (slot, ffi.new("CK_TOKEN_INFO *")),
    "C_InitToken": lambda slot: (slot, SO_PIN, len(SO_PIN), padded("x")),
    "C_OpenSession": lambda slot: (
        slot,
        SessionFlag.SERIAL_SESSION,
        NULL,
        NULL,
        ffi.new("CK_SESSION_HANDLE *"),
    ),
    "C_CloseAllSessions": lambda slot: (slot,),
}


@pytest.mark.parametrize("which", ["next", "2**32-1", "2**63", "2**64-1"])
@pytest.mark.parametrize("name", sorted(SLOT_FUNCTIONS))
def test_invalid_slot(module: Module, setup: Setup, name: str, which: str) -> None:
    slot = {"next": setup.invalid_slot, "2**32-1": 2**32 - 1, "2**63": 2**63, "2**64-1": 2**64 - 1}[which]
    if slot in module.slot_list():
        pytest.skip("that id is a real slot here")
    assert call(module, name, *SLOT_FUNCTIONS[name](slot)) == "SLOT_ID_INVALID"


def test_empty_slot_functions(module: Module, setup: Setup) -> None:
    """The empty slot is a valid slot: its info and its (uninitialised) token info are readable."""
    module.slot_info(setup.empty)
    module.token_info(setup.empty)
    assert call(module, "C_CloseAllSessions", setup.empty) in ("OK", "TOKEN_NOT_RECOGNIZED")


# ------------------------------------------------------------------------------- invalid session handles

SESSION_FUNCTIONS: dict[str, Callable[[int], tuple]] = {
    "C_InitPIN": lambda h: (h, USER_PIN, len(USER_PIN)),
    "C_SetPIN": lambda h: (h, USER_PIN, len(USER_PIN), b"newpin12", 8),
    "C_CloseSession": lambda h: (h,),
    "C_GetSessionInfo": lambda h: (h, ffi.new("CK_SESSION_INFO *")),
    "C_Login": lambda h: (h, UserType.USER, USER_PIN, len(USER_PIN)),
    "C_Logout": lambda h: (h,),
    "C_SeedRandom": lambda h: (h, b"seed", 4),
    "C_GenerateRandom": lambda h: (h, ffi.new("CK_BYTE[8]"), 8),
    "C_GetFunctionStatus": lambda h: (h,),
    "C_CancelFunction": lambda h: (h,),
    "C_LoginUser": lambda h: (h, UserType.USER, USER_PIN, len(USER_PIN), NULL, 0),
    "C_SessionCancel": lambda h: (h, 0),
}
# The legacy functions may answer FUNCTION_NOT_PARALLEL before looking at the handle (3.0 5.16).
LEGACY = {"C_GetFunctionStatus", "C_CancelFunction"}


def expected_for_bad_handle(name: str) -> tuple[str, ...]:
    return (
        ("SESSION_HANDLE_INVALID", "FUNCTION_NOT_PARALLEL") if name in LEGACY else ("SESSION_HANDLE_INVALID",)
    )


@pytest.mark.parametrize("handle", [0, 0xDEADBEEF, 2**64 - 1])
@pytest.mark.parametrize("name", sorted(SESSION_FUNCTIONS))
def test_invalid_session_handle(module: Module, setup: Setup, name: str, handle: int) -> None:
    if handle == setup.h:
        pytest.skip("that is the live handle")
    assert call(module, name, *SESSION_FUNCTIONS[name](handle)) in expected_for_bad_handle(name)


@pytest.mark.parametrize("how", ["C_CloseSession", "C_CloseAllSessions"])
@pytest.mark.parametrize("name", sorted(SESSION_FUNCTIONS))
def test_closed_session_handle(module: Module, setup: Setup, name: str, how: str) -> None:
    h = module.open(setup.slot)
    module.check(how, h if how == "C_CloseSession" else setup.slot)
    assert call(module, name, *SESSION_FUNCTIONS[name](h)) in expected_for_bad_handle(name)


def test_session_of_finalised_library(module: Module, setup: Setup) -> None:
    """After C_Finalize and C_Initialize, old handles are invalid (nothing leaks across)."""
    old = setup.h
    assert module.finalize() == 0
    module.initialize()
    slot = module.slot_of("test")
    fresh = module.open(slot)
    if fresh == old:
        pytest.skip(f"{module.name} numbers sessions from the start again (allowed)")
    module.expect("SESSION_HANDLE_INVALID", "C_GetSessionInfo", old, ffi.new("CK_SESSION_INFO *"))


# ------------------------------------------------------------------------------- wrong user types


@pytest.mark.parametrize("user", [3, 4, 0xFFFF, 2**64 - 1])
def test_wrong_user_type(module: Module, setup: Setup, user: int) -> None:
    module.check("C_Logout", setup.h)
    assert call(module, "C_Login", setup.h, user, USER_PIN, len(USER_PIN)) == "USER_TYPE_INVALID"
    assert module.state(setup.h) == 2


@pytest.mark.parametrize("user", [3, 2**64 - 1])
def test_wrong_user_type_login_user(module: Module, setup: Setup, user: int) -> None:
    module.check("C_Logout", setup.h)
    assert call(module, "C_LoginUser", setup.h, user, USER_PIN, len(USER_PIN), NULL, 0) == "USER_TYPE_INVALID"


# ------------------------------------------------------------------------------- absurd lengths


@spec_departure("SoftHSMv2", clause="3.0 5.15 C_GenerateRandom: CKR_HOST_MEMORY; SoftHSMv2 exits", run=False)
def test_generate_random_absurd_length(module: Module, setup: Setup) -> None:
    """A length no host memory can hold: a clean error (CKR_HOST_MEMORY is the spec's word for it),
    not CKR_GENERAL_ERROR with a MemoryError traceback in the log, and never a dead process."""
    buf = ffi.new("CK_BYTE[16]")
    assert call(module, "C_GenerateRandom", setup.h, buf, 2**62) in ("HOST_MEMORY", "ARGUMENTS_BAD")
    module.random(setup.h, 16)  # and the session still works
