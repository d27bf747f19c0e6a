"""The Python side of ``softhsm_py_floor`` (native/shim.c): an empty embedded call.

The design's physical limit per PKCS#11 call is one call from C into the embedded interpreter
through cffi; this is that call with nothing in it, so that bench/ can report what each C_* costs
above it. It returns CKR_OK and touches no state (not even the library's: it works before
C_Initialize and after C_Finalize).
"""

from __future__ import annotations

from typing import Any

from softhsm_py.pkcs11.abi import boundary


def _floor() -> int:
    return 0


def register(ffi: Any) -> None:
    """Register the floor with this copy of the library."""
    extern = ffi.def_extern(
        name="py_softhsm_py_floor", error=boundary.GENERAL_ERROR, onerror=boundary.on_callback_error
    )
    extern(_floor)
