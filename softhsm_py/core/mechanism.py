"""A mechanism as a call names it: its CKM type and its parameter, as the front end parsed it."""

from __future__ import annotations

from typing import Any

from softhsm_py import errors


class Mechanism:
    """``type`` is a CKM_* value; ``param`` a ``mechanisms.params`` value (or None).

    A parameter the front end could not parse is kept as the error to raise when the core first
    asks for it: PKCS#11 ranks session, key and usage errors before CKR_MECHANISM_PARAM_INVALID,
    and only the core knows when those checks are done."""

    __slots__ = ("_error", "_param", "type")

    def __init__(self, type: int, param: Any = None, error: type[errors.PKCS11Error] | None = None) -> None:
        self.type = type
        self._param = param
        self._error = error

    @property
    def param(self) -> Any:
        if self._error is not None:
            raise self._error()
        return self._param

    def __repr__(self) -> str:  # the parameter may hold an IV or a salt: not shown
        return f"Mechanism(0x{self.type:x})"
