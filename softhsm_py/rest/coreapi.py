"""The core's vocabulary the routes need, in one place."""

from __future__ import annotations

from typing import Any

from softhsm_py.core.mechanism import Mechanism


def mechanism(mech_type: int, param: Any = None) -> Mechanism:
    """``softhsm_py.core.mechanism.Mechanism(type, param)``."""
    return Mechanism(int(mech_type), param)
