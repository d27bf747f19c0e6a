"""Who may read and write which objects: session state x object kind (PKCS#11 3.0, 4.3 and 5.7).

One table, like SoftHSMv2's access.cpp. Rows are the session states; columns the kinds of object
(session or token object, public or private). A missing right raises the code the spec names for
that situation.
"""

from __future__ import annotations

from softhsm_py import errors
from softhsm_py.constants import SessionState as S

R, W = "r", "w"
# (token object, private object) -> rights, per session state.
_RIGHTS: dict[S, dict[tuple[bool, bool], str]] = {
    S.RO_PUBLIC_SESSION: {(False, False): R + W, (True, False): R},
    S.RW_PUBLIC_SESSION: {(False, False): R + W, (True, False): R + W},
    S.RO_USER_FUNCTIONS: {(False, False): R + W, (False, True): R + W, (True, False): R, (True, True): R},
    S.RW_USER_FUNCTIONS: {
        (False, False): R + W,
        (False, True): R + W,
        (True, False): R + W,
        (True, True): R + W,
    },
    S.RW_SO_FUNCTIONS: {(False, False): R + W, (True, False): R + W},
}


def can_read(state: S, token_object: bool, private: bool) -> bool:
    return R in _RIGHTS[state].get((token_object, private), "")


def check_read(state: S, token_object: bool, private: bool) -> None:
    if not can_read(state, token_object, private):
        raise errors.ObjectHandleInvalid()  # a private object does not exist for this session


def check_write(state: S, token_object: bool, private: bool) -> None:
    """Creating, changing or destroying such an object in a session of this state."""
    if W in _RIGHTS[state].get((token_object, private), ""):
        return
    if private and state not in (S.RO_USER_FUNCTIONS, S.RW_USER_FUNCTIONS):
        raise errors.UserNotLoggedIn()
    raise errors.SessionReadOnly()
