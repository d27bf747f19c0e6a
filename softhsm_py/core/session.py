"""Sessions: their handle, slot, read/write flag, state and active operations."""

from __future__ import annotations

import threading
from typing import Any

from softhsm_py import errors
from softhsm_py.constants import SessionFlag, SessionState, UserType
from softhsm_py.core.token import Token
from softhsm_py.mechanisms.base import OpKind

__all__ = ["OpKind", "Session"]


class Session:
    """Compared by identity; no repr of its own (its operations may hold keys)."""

    __slots__ = ("handle", "lock", "operations", "rw", "slot_id", "token")

    def __init__(
        self,
        handle: int,
        slot_id: int,
        rw: bool,
        token: Token,
        lock: threading.RLock | None = None,
        operations: dict[OpKind, Any] | None = None,
    ) -> None:
        self.handle = handle
        self.slot_id = slot_id
        self.rw = rw
        self.token = token
        # Serialises calls on one session (hosts may share a session between threads); never held
        # while calling into the host.
        self.lock = threading.RLock() if lock is None else lock
        self.operations = {} if operations is None else operations

    @property
    def flags(self) -> SessionFlag:
        return SessionFlag.SERIAL_SESSION | (SessionFlag.RW_SESSION if self.rw else 0)

    @property
    def state(self) -> SessionState:
        user = self.token.user
        if user is UserType.SO:
            return SessionState.RW_SO_FUNCTIONS
        if user is UserType.USER:
            return SessionState.RW_USER_FUNCTIONS if self.rw else SessionState.RO_USER_FUNCTIONS
        return SessionState.RW_PUBLIC_SESSION if self.rw else SessionState.RO_PUBLIC_SESSION

    def start(self, kind: OpKind, operation: Any) -> None:
        if kind in self.operations:
            raise errors.OperationActive()
        self.operations[kind] = operation

    def active(self, kind: OpKind) -> Any:
        try:
            return self.operations[kind]
        except KeyError:
            raise errors.OperationNotInitialized() from None

    def end(self, kind: OpKind) -> None:
        self.operations.pop(kind, None)

    def end_all(self) -> None:
        self.operations.clear()
