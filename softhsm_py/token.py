"""A token (partition) as one library instance sees it: its slot, and who is logged in.

The persistent part (label, PIN wraps, counters, objects) lives in the store; this object holds
only the per-application login state that PKCS#11 shares between all sessions of one application
with one token (3.0, 5.6): the user type logged in and the token key that login unlocked.
"""

from __future__ import annotations

from dataclasses import dataclass

from .constants import UserType


@dataclass(eq=False)
class Token:
    slot_id: int
    serial: str
    user: UserType | None = None
    token_key: bytes | None = None  # unwrapped by the login; dropped at logout

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
