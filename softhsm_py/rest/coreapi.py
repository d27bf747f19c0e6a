"""The core's vocabulary, imported lazily: the REST package loads before anything opens a
partition (OpenAPI generation, ``--help``), and this keeps ``softhsm_py.core.partition`` out of
module import."""

from __future__ import annotations

from typing import Any


def mechanism(mech_type: int, param: Any = None) -> Any:
    """``softhsm_py.core.partition.Mechanism(type, param)``."""
    from softhsm_py.core.partition import Mechanism

    return Mechanism(int(mech_type), param)
