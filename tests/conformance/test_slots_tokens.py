"""Slot and token management (PKCS#11 3.0, 5.5): slots, token info, C_InitToken, C_InitPIN,
C_SetPIN, PIN rules and lockout."""

from __future__ import annotations

import re

import pytest

from support.constants import UNAVAILABLE_INFORMATION, ReturnValue, SlotFlag, TokenFlag, UserType
from support.pkcs11 import SO_PIN, USER_PIN, Module, ffi, padded, spec_departure, text

USER_FLAGS = TokenFlag.USER_PIN_COUNT_LOW | TokenFlag.USER_PIN_FINAL_TRY | TokenFlag.USER_PIN_LOCKED
SO_FLAGS = TokenFlag.SO_PIN_COUNT_LOW | TokenFlag.SO_PIN_FINAL_TRY | TokenFlag.SO_PIN_LOCKED
LOCKOUT = 3  # pin_lockout in the test configuration (softhsm-py)


# ------------------------------------------------------------------------------- slots


def test_fresh_directory_has_one_empty_slot(module: Module) -> None:
    assert len(module.slot_list()) == 1
    slot = module.empty_slot()
    assert module.slot_list(True) == [slot]  # its (uninitialised) token is present
    info = module.slot_info(slot)
    assert info.flags & SlotFlag.TOKEN_PRESENT
    token = module.token_info(slot)
    assert not token.flags & TokenFlag.TOKEN_INITIALIZED


def test_always_exactly_one_uninitialised_slot(module: Module) -> None:
    slots = [module.init_token(f"token{i}") for i in range(3)]
    assert len(set(slots)) == 3
    assert len(module.empty_slots()) == 1
    assert len(module.slot_list()) == 4
    # Still true after a restart of the library.
    assert module.finalize() == ReturnValue.OK
    module.initialize()
    assert len(module.empty_slots()) == 1
    assert {text(module.token_info(s).label) for s in module.slot_list()} >= {"token0", "token1", "token2"}


@spec_departure("SoftHSMv2", clause="CLIENTS.md, not the spec: slot ids derived from the serial (32-bit)")
def test_slot_ids_are_small(module: Module) -> None:
    """Java's SunPKCS11 reads `slot = N` as an int."""
    for i in range(3):
        module.init_token(f"token{i}")
    assert module.finalize() == ReturnValue.OK
    module.initialize()
    assert all(0 <= s < 256 for s in module.slot_list()), module.slot_list()


def test_slot_list_short_buffer(module: Module) -> None:
    module.init_token("a")
    module.init_token("b")
    count = ffi.new("CK_ULONG *")
    module.check("C_GetSlotList", False, ffi.NULL, count)
    assert count[0] == 3
    slots = ffi.new("CK_SLOT_ID[3]")
    for short in (0, 1, 2):
        count[0] = short
        module.expect("BUFFER_TOO_SMALL", "C_GetSlotList", False, slots, count)
        assert count[0] == 3
    count[0] = 3
    module.check("C_GetSlotList", False, slots, count)
    assert count[0] == 3 and len({slots[i] for i in range(3)}) == 3


def test_slot_list_larger_buffer(module: Module) -> None:
    slots = ffi.new("CK_SLOT_ID[8]")
    count = ffi.new("CK_ULONG *", 8)
    module.check("C_GetSlotList", True, slots, count)
    assert count[0] == 1


def test_slot_info_strings(module: Module) -> None:
    info = module.slot_info(module.empty_slot())
    raw = bytes(ffi.buffer(info.slotDescription)) + bytes(ffi.buffer(info.manufacturerID))
    assert b"\0" not in raw
    assert not info.flags & ~0x7  # only TOKEN_PRESENT, REMOVABLE_DEVICE, HW_SLOT are defined


# ------------------------------------------------------------------------------- token info


def test_token_info_of_new_token(module: Module) -> None:
    slot = module.init_token("my token")
    info = module.token_info(slot)
    assert text(info.label) == "my token"
    raw = b"".join(
        bytes(ffi.buffer(getattr(info, f))) for f in ("label", "manufacturerID", "model", "serialNumber")
    )
    assert b"\0" not in raw
    assert text(info.serialNumber)
    flags = int(info.flags)
    assert flags & TokenFlag.TOKEN_INITIALIZED and flags & TokenFlag.RNG and flags & TokenFlag.LOGIN_REQUIRED
    assert not flags & (TokenFlag.USER_PIN_INITIALIZED | TokenFlag.WRITE_PROTECTED | USER_FLAGS | SO_FLAGS)
    assert info.ulMinPinLen <= info.ulMaxPinLen
    # CK_UNAVAILABLE_INFORMATION is allowed for the session counts (3.0 3.2 CK_TOKEN_INFO).
    assert info.ulSessionCount in (0, UNAVAILABLE_INFORMATION)
    assert info.ulRwSessionCount in (0, UNAVAILABLE_INFORMATION)
    if flags & 0x40:  # CKF_CLOCK_ON_TOKEN: utcTime is YYYYMMDDhhmmss00
        assert re.fullmatch(rb"\d{14}00", bytes(ffi.buffer(info.utcTime)))
    module.init_pin(slot)
    assert module.token_flags(slot) & TokenFlag.USER_PIN_INITIALIZED


def test_token_info_session_counts(module: Module) -> None:
    slot = module.ready_token()
    ro, rw1, rw2 = module.open(slot, rw=False), module.open(slot), module.open(slot)
    info = module.token_info(slot)
    if info.ulSessionCount == UNAVAILABLE_INFORMATION:
        pytest.skip(f"{module.name} does not count sessions (allowed)")
    assert (info.ulSessionCount, info.ulRwSessionCount) == (3, 2)
    module.close(rw1)
    info = module.token_info(slot)
    assert (info.ulSessionCount, info.ulRwSessionCount) == (2, 1)
    module.close(ro)
    module.close(rw2)
    assert module.token_info(slot).ulSessionCount == 0


def test_serials_differ(module: Module) -> None:
    a, b = module.init_token("a"), module.init_token("b")
    assert text(module.token_info(a).serialNumber) != text(module.token_info(b).serialNumber)


# ------------------------------------------------------------------------------- C_InitToken


def test_init_token_session_exists(module: Module) -> None:
    slot = module.ready_token()
    h = module.open(slot, rw=False)
    module.expect("SESSION_EXISTS", "C_InitToken", slot, SO_PIN, len(SO_PIN), padded("again"))
    module.close(h)
    module.check("C_InitToken", slot, SO_PIN, len(SO_PIN), padded("again"))


def test_reinit_with_right_so_pin_wipes(module: Module) -> None:
    slot = module.ready_token("first")
    serial = text(module.token_info(slot).serialNumber)
    module.check("C_InitToken", slot, SO_PIN, len(SO_PIN), padded("second"))
    slot = module.slot_of("second")
    info = module.token_info(slot)
    assert not info.flags & TokenFlag.USER_PIN_INITIALIZED  # the user PIN is gone with the old contents
    assert text(info.serialNumber) == serial  # same token, re-initialised
    with module.session(slot) as h:
        module.expect("USER_PIN_NOT_INITIALIZED", "C_Login", h, UserType.USER, USER_PIN, len(USER_PIN))
        module.login(h, UserType.SO, SO_PIN)
    assert len(module.empty_slots()) == 1


def test_reinit_checks_the_current_so_pin(module: Module) -> None:
    slot = module.init_token("t")
    new = b"newsopin"
    with module.session(slot) as h:
        module.login(h, UserType.SO, SO_PIN)
        module.check("C_SetPIN", h, SO_PIN, len(SO_PIN), new, len(new))
    module.expect("PIN_INCORRECT", "C_InitToken", slot, SO_PIN, len(SO_PIN), padded("t2"))
    module.check("C_InitToken", slot, new, len(new), padded("t2"))
    assert text(module.token_info(module.slot_of("t2")).label) == "t2"


def test_reinit_with_wrong_so_pin(module: Module) -> None:
    slot = module.ready_token("keep")
    wrong = b"wrongpin"
    module.expect("PIN_INCORRECT", "C_InitToken", slot, wrong, len(wrong), padded("lost"))
    info = module.token_info(slot)
    assert text(info.label) == "keep"
    assert info.flags & TokenFlag.USER_PIN_INITIALIZED


@pytest.mark.parametrize("length", [0, 3, 256])
def test_init_token_pin_len_range(module: Module, length: int) -> None:
    pin = b"1" * length
    slot = module.empty_slot()
    module.expect(
        ("PIN_LEN_RANGE", "PIN_INCORRECT", "PIN_INVALID"), "C_InitToken", slot, pin, length, padded("x")
    )
    assert module.empty_slot() == slot


@spec_departure("SoftHSMv2", clause="3.0 5.5 C_InitToken: UTF-8 label; SoftHSMv2 takes any bytes")
def test_init_token_label_must_be_utf8(module: Module) -> None:
    slot = module.empty_slot()
    bad = b"\xff\xfe" + b" " * 30
    module.expect("ARGUMENTS_BAD", "C_InitToken", slot, SO_PIN, len(SO_PIN), bad)


def test_init_token_label_utf8(module: Module) -> None:
    slot = module.init_token("jeton é")
    assert text(module.token_info(slot).label) == "jeton é"


# ------------------------------------------------------------------------------- C_InitPIN


def test_init_pin_needs_so(module: Module) -> None:
    slot = module.init_token()
    with module.session(slot) as h:
        module.expect("USER_NOT_LOGGED_IN", "C_InitPIN", h, USER_PIN, len(USER_PIN))
    assert not module.token_flags(slot) & TokenFlag.USER_PIN_INITIALIZED


def test_init_pin_user_cannot(module: Module) -> None:
    slot = module.ready_token()
    with module.session(slot) as h:
        module.login(h)
        module.expect("USER_NOT_LOGGED_IN", "C_InitPIN", h, USER_PIN, len(USER_PIN))


@pytest.mark.parametrize("length", [0, 3, 256])
def test_init_pin_len_range(module: Module, length: int) -> None:
    slot = module.init_token()
    with module.session(slot) as h:
        module.login(h, UserType.SO, SO_PIN)
        module.expect("PIN_LEN_RANGE", "C_InitPIN", h, b"1" * length, length)
    assert not module.token_flags(slot) & TokenFlag.USER_PIN_INITIALIZED


def test_init_pin_resets_user_pin(module: Module) -> None:
    slot = module.ready_token()
    other = b"another-pin"
    module.init_pin(slot, other)
    with module.session(slot) as h:
        module.expect("PIN_INCORRECT", "C_Login", h, UserType.USER, USER_PIN, len(USER_PIN))
        module.login(h, UserType.USER, other)


# ------------------------------------------------------------------------------- C_SetPIN


def test_set_pin_user(module: Module) -> None:
    slot = module.ready_token()
    new = b"brand-new"
    with module.session(slot) as h:
        module.login(h)
        module.check("C_SetPIN", h, USER_PIN, len(USER_PIN), new, len(new))
        module.check("C_Logout", h)
        module.expect("PIN_INCORRECT", "C_Login", h, UserType.USER, USER_PIN, len(USER_PIN))
        module.login(h, UserType.USER, new)


def test_set_pin_public_session_changes_user_pin(module: Module) -> None:
    """3.0 5.5 C_SetPIN: in a R/W public session it changes the normal user's PIN."""
    slot = module.ready_token()
    new = b"brand-new"
    with module.session(slot) as h:
        module.check("C_SetPIN", h, USER_PIN, len(USER_PIN), new, len(new))
        module.login(h, UserType.USER, new)


def test_set_pin_so(module: Module) -> None:
    slot = module.ready_token()
    new = b"new-so-pin"
    with module.session(slot) as h:
        module.login(h, UserType.SO, SO_PIN)
        module.check("C_SetPIN", h, SO_PIN, len(SO_PIN), new, len(new))
        module.check("C_Logout", h)
        module.expect("PIN_INCORRECT", "C_Login", h, UserType.SO, SO_PIN, len(SO_PIN))
        module.login(h, UserType.SO, new)
        module.check("C_Logout", h)
        module.login(h, UserType.USER, USER_PIN)  # the user PIN is untouched


def test_set_pin_wrong_old(module: Module) -> None:
    slot = module.ready_token()
    with module.session(slot) as h:
        module.login(h)
        module.expect("PIN_INCORRECT", "C_SetPIN", h, b"wrong-pin", 9, b"whatever", 8)


@pytest.mark.parametrize("length", [0, 3, 256])
def test_set_pin_len_range(module: Module, length: int) -> None:
    slot = module.ready_token()
    with module.session(slot) as h:
        module.login(h)
        module.expect("PIN_LEN_RANGE", "C_SetPIN", h, USER_PIN, len(USER_PIN), b"1" * length, length)
        module.check("C_Logout", h)
        module.login(h)  # the PIN did not change


def test_set_pin_read_only_session(module: Module) -> None:
    slot = module.ready_token()
    with module.session(slot, rw=False) as h:
        module.login(h)
        module.expect("SESSION_READ_ONLY", "C_SetPIN", h, USER_PIN, len(USER_PIN), b"another", 7)


def test_set_pin_user_pin_not_initialized(module: Module) -> None:
    slot = module.init_token()
    with module.session(slot) as h:
        module.expect(
            ("USER_PIN_NOT_INITIALIZED", "PIN_INCORRECT"),
            "C_SetPIN",
            h,
            USER_PIN,
            len(USER_PIN),
            b"another",
            7,
        )


# ------------------------------------------------------------------------------- wrong PINs and lockout


def wrong_login(module: Module, h: int, user: int = UserType.USER) -> str:
    return module.expect(("PIN_INCORRECT", "PIN_LOCKED"), "C_Login", h, user, b"wrong-pin", 9)


def test_wrong_pin(module: Module) -> None:
    slot = module.ready_token()
    with module.session(slot) as h:
        module.expect("PIN_INCORRECT", "C_Login", h, UserType.USER, b"wrong-pin", 9)
        module.expect("PIN_INCORRECT", "C_Login", h, UserType.SO, b"wrong-pin", 9)
        assert module.state(h) == 2  # still public
        module.login(h)  # the right one still works


@spec_departure("SoftHSMv2", clause="3.0 5.5 CK_TOKEN_INFO flags: no PIN counters, no lockout")
def test_user_pin_lockout_flags(module: Module) -> None:
    slot = module.ready_token()
    with module.session(slot) as h:
        assert module.token_flags(slot) & USER_FLAGS == 0
        assert wrong_login(module, h) == "PIN_INCORRECT"
        assert module.token_flags(slot) & USER_FLAGS == TokenFlag.USER_PIN_COUNT_LOW
        assert wrong_login(module, h) == "PIN_INCORRECT"
        assert (
            module.token_flags(slot) & USER_FLAGS
            == TokenFlag.USER_PIN_COUNT_LOW | TokenFlag.USER_PIN_FINAL_TRY
        )
        wrong_login(module, h)  # the last try: PIN_INCORRECT or PIN_LOCKED
        assert module.token_flags(slot) & USER_FLAGS == TokenFlag.USER_PIN_LOCKED
        # Locked: even the right PIN is refused, and SetPIN too.
        module.expect("PIN_LOCKED", "C_Login", h, UserType.USER, USER_PIN, len(USER_PIN))
        module.expect("PIN_LOCKED", "C_SetPIN", h, USER_PIN, len(USER_PIN), b"another", 7)
        assert module.token_flags(slot) & TokenFlag.USER_PIN_LOCKED
        # The SO is not locked out by the user's failures.
        assert module.token_flags(slot) & SO_FLAGS == 0
        module.login(h, UserType.SO, SO_PIN)
        # ... and unlocks the user by setting a new PIN.
        module.check("C_InitPIN", h, USER_PIN, len(USER_PIN))
        module.check("C_Logout", h)
        assert module.token_flags(slot) & USER_FLAGS == 0
        module.login(h)


@spec_departure("SoftHSMv2", clause="3.0 5.5 CK_TOKEN_INFO flags: no PIN counters")
def test_right_pin_resets_the_count(module: Module) -> None:
    slot = module.ready_token()
    with module.session(slot) as h:
        for _ in range(LOCKOUT - 1):
            wrong_login(module, h)
        assert module.token_flags(slot) & TokenFlag.USER_PIN_FINAL_TRY
        module.login(h)
        assert module.token_flags(slot) & USER_FLAGS == 0
        module.check("C_Logout", h)
        for _ in range(LOCKOUT - 1):
            assert wrong_login(module, h) == "PIN_INCORRECT"


@spec_departure("SoftHSMv2", clause="3.0 5.5 CK_TOKEN_INFO flags: no PIN counters, no lockout")
def test_so_pin_lockout(module: Module) -> None:
    slot = module.ready_token()
    with module.session(slot) as h:
        for _ in range(LOCKOUT):
            wrong_login(module, h, UserType.SO)
        assert module.token_flags(slot) & SO_FLAGS == TokenFlag.SO_PIN_LOCKED
        module.expect("PIN_LOCKED", "C_Login", h, UserType.SO, SO_PIN, len(SO_PIN))
        # A locked SO cannot re-initialise the token either.
        module.expect("SESSION_EXISTS", "C_InitToken", slot, SO_PIN, len(SO_PIN), padded("x"))
    module.expect("PIN_LOCKED", "C_InitToken", slot, SO_PIN, len(SO_PIN), padded("x"))
    with module.session(slot) as h:
        module.login(h)  # the user is not affected


def test_lockout_survives_restart(module: Module) -> None:
    """The failure count is kept on the token, not in the library's memory."""
    module.departure("SoftHSMv2", clause="3.0 5.5 CK_TOKEN_INFO flags: no PIN counters")
    slot = module.ready_token()
    with module.session(slot) as h:
        for _ in range(LOCKOUT):
            wrong_login(module, h)
    assert module.finalize() == ReturnValue.OK
    module.initialize()
    slot = module.slot_of("test")
    assert module.token_flags(slot) & TokenFlag.USER_PIN_LOCKED
