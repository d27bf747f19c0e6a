"""Slot and token management (PKCS#11 3.0, 5.5): slots, token info, C_InitToken, C_InitPIN, C_SetPIN."""

from __future__ import annotations

import time

from softhsm_py import errors
from softhsm_py.constants import SlotFlag, TokenFlag
from softhsm_py.core import tokens
from softhsm_py.core.runtime import Library
from softhsm_py.core.tokens import check_slot, empty_slot, sessions_on, sync_tokens
from softhsm_py.log import get_logger
from softhsm_py.mechanisms import registry
from softhsm_py.store import TokenRecord

log = get_logger()

MODEL = "softhsm-py"
HARDWARE_VERSION = (0, 0)
FIRMWARE_VERSION = (0, 1)


# Answers are plain slotted classes, read-only by convention: ``dataclasses`` would cost ~5 ms
# of every module start (tests/conformance/test_startup.py).


class SlotInfo:
    __slots__ = ("description", "firmware_version", "flags", "hardware_version", "manufacturer")

    def __init__(
        self,
        description: str,
        manufacturer: str,
        flags: int,
        hardware_version: tuple[int, int],
        firmware_version: tuple[int, int],
    ) -> None:
        self.description = description
        self.manufacturer = manufacturer
        self.flags = flags
        self.hardware_version = hardware_version
        self.firmware_version = firmware_version


class TokenInfo:
    __slots__ = (
        "flags",
        "label",
        "manufacturer",
        "max_pin_len",
        "min_pin_len",
        "model",
        "rw_session_count",
        "serial",
        "session_count",
        "utc_time",
    )

    def __init__(
        self,
        label: str,
        manufacturer: str,
        model: str,
        serial: str,
        flags: int,
        session_count: int,
        rw_session_count: int,
        max_pin_len: int,
        min_pin_len: int,
        utc_time: str,
    ) -> None:
        self.label = label
        self.manufacturer = manufacturer
        self.model = model
        self.serial = serial
        self.flags = flags
        self.session_count = session_count
        self.rw_session_count = rw_session_count
        self.max_pin_len = max_pin_len
        self.min_pin_len = min_pin_len
        self.utc_time = utc_time


def get_slot_list(lib: Library, token_present: bool) -> list[int]:
    """Every slot with a token, then the empty slot (it holds an uninitialised token: 'present')."""
    rt = lib.runtime
    with lib.lock:
        sync_tokens(rt)
        return [*sorted(rt.tokens), empty_slot(rt)]


def get_slot_info(lib: Library, slot_id: int) -> SlotInfo:
    rt = lib.runtime
    with lib.lock:
        check_slot(rt, slot_id)
    return SlotInfo(
        description=f"softhsm-py slot {slot_id}",
        manufacturer="softhsm-py",
        flags=int(SlotFlag.TOKEN_PRESENT),
        hardware_version=HARDWARE_VERSION,
        firmware_version=FIRMWARE_VERSION,
    )


def _pin_flags(failures: int, lockout: int, low: int, final: int, locked: int) -> int:
    if failures >= lockout:
        return locked
    if failures and failures == lockout - 1:
        return low | final
    return low if failures else 0


def _token_flags(rec: TokenRecord | None, lockout: int) -> int:
    # DUAL_CRYPTO_OPERATIONS: C_DigestEncryptUpdate and its siblings work (pkcs11.crypto).
    flags = (
        TokenFlag.RNG | TokenFlag.LOGIN_REQUIRED | TokenFlag.CLOCK_ON_TOKEN | TokenFlag.DUAL_CRYPTO_OPERATIONS
    )
    if rec is None:
        return int(flags)
    flags |= TokenFlag.TOKEN_INITIALIZED
    if rec.user_pin_initialized:
        flags |= TokenFlag.USER_PIN_INITIALIZED
    flags |= _pin_flags(
        rec.user_failures,
        lockout,
        TokenFlag.USER_PIN_COUNT_LOW,
        TokenFlag.USER_PIN_FINAL_TRY,
        TokenFlag.USER_PIN_LOCKED,
    )
    flags |= _pin_flags(
        rec.so_failures,
        lockout,
        TokenFlag.SO_PIN_COUNT_LOW,
        TokenFlag.SO_PIN_FINAL_TRY,
        TokenFlag.SO_PIN_LOCKED,
    )
    return int(flags)


def get_token_info(lib: Library, slot_id: int) -> TokenInfo:
    rt = lib.runtime
    with lib.lock:
        present = check_slot(rt, slot_id)
        rec = rt.store.token(slot_id) if present else None
        mine = sessions_on(rt, slot_id)
    return TokenInfo(
        label=rec.label if rec else "",
        manufacturer="softhsm-py",
        model=MODEL,
        serial=rec.serial if rec else "",
        flags=_token_flags(rec, rt.config.pin_lockout),
        session_count=len(mine),
        rw_session_count=sum(1 for s in mine if s.rw),
        max_pin_len=rt.config.pin_max_len,
        min_pin_len=rt.config.pin_min_len,
        utc_time=time.strftime("%Y%m%d%H%M%S00", time.gmtime()),
    )


def get_mechanism_list(lib: Library, slot_id: int) -> list[int]:
    rt = lib.runtime
    with lib.lock:
        check_slot(rt, slot_id)
    return sorted(registry.infos())


def get_mechanism_info(lib: Library, slot_id: int, mechanism: int) -> registry.MechInfo:
    rt = lib.runtime
    with lib.lock:
        check_slot(rt, slot_id)
    return registry.info(mechanism)  # MechanismInvalid for one we do not implement


def decode_label(label: bytes) -> str:
    """A CK_UTF8CHAR[32] label, blank padded (3.0, 5.5 C_InitToken)."""
    try:
        return label.rstrip(b" \0").decode("utf-8")
    except UnicodeDecodeError:
        raise errors.ArgumentsBad() from None


def init_token(lib: Library, slot_id: int, so_pin: bytes, label: bytes) -> None:
    tokens.init_token(lib, slot_id, so_pin, decode_label(label))
