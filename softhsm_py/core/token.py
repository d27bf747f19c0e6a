"""A token (partition) as one library instance sees it: its slot, and who is logged in.

The persistent part (label, PIN wraps, counters, objects) lives in the store; this object holds
only the per-application login state that PKCS#11 shares between all sessions of one application
with one token (3.0, 5.6): the user type logged in and the token key that login unlocked.
"""

from __future__ import annotations

from softhsm_py.constants import UserType


class Token:
    """Compared by identity: every session on a slot shares its one Token."""

    __slots__ = ("serial", "slot_id", "token_key", "user")

    def __init__(
        self,
        slot_id: int,
        serial: str,
        user: UserType | None = None,
        token_key: bytes | None = None,  # unwrapped by the login; dropped at logout
    ) -> None:
        self.slot_id = slot_id
        self.serial = serial
        self.user = user
        self.token_key = token_key

    def __repr__(self) -> str:  # never show the key
        who = self.user.name if self.user is not None else "nobody"
        return f"Token(slot={self.slot_id}, serial={self.serial}, login={who})"

    def log_in(self, user: UserType, token_key: bytes) -> None:
        self.user = user
        self.token_key = token_key

    def log_out(self) -> None:
        self.user = None
        self.token_key = None

    @property
    def user_logged_in(self) -> bool:
        return self.user is UserType.USER

    @property
    def so_logged_in(self) -> bool:
        return self.user is UserType.SO
