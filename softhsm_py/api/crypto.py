"""Placeholder until the crypto chapter is wired: every function says CKR_FUNCTION_NOT_SUPPORTED."""

from __future__ import annotations

from typing import Any

from .. import errors
from ..library import Library
from .common import session_of


def __getattr__(name: str) -> Any:
    def not_supported(lib: Library, handle: int, *args: Any) -> Any:
        with lib.lock:
            session_of(lib, handle)
        raise errors.FunctionNotSupported()

    return not_supported
