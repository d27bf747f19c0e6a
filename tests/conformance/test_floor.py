"""``softhsm_py_floor``: softhsm-py's empty embedded call (native/shim.c), the floor bench/ measures
every C_* call against. Reached by dlsym on the module's handle, as the benchmark's driver does."""

from __future__ import annotations

from support.pkcs11 import Module, ffi


def test_floor_answers_ok_and_touches_no_state(bare: Module) -> None:
    floor = bare.floor()
    if bare.softhsm2:
        assert floor is None  # softhsm-py's own symbol: SoftHSMv2 has none
        return
    assert floor is not None
    assert floor() == 0  # before C_Initialize: it needs no library state ...
    bare.expect("CRYPTOKI_NOT_INITIALIZED", "C_GetSlotList", False, ffi.NULL, ffi.new("CK_ULONG *"))
    bare.initialize()  # ... and made none: the library is not initialised by it
    assert floor() == 0
    assert bare.finalize() == 0
    assert floor() == 0
