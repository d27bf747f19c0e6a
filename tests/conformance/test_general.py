"""General-purpose functions and the discovery functions (PKCS#11 3.0, 5.4)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from support.constants import InitializeFlag, InterfaceFlag, ReturnValue, rv_name
from support.pkcs11 import (
    FUNCTION_NAMES,
    FUNCTION_NAMES_32,
    FUNCTIONS,
    FUNCTIONS_32,
    INTERFACE_NAME,
    Module,
    ffi,
    spec_departure,
)

# ------------------------------------------------------------------------------- C_Initialize
# Callbacks handed to a module stay alive for the whole run: a module that uses them (SoftHSMv2)
# calls DestroyMutex from C_Finalize, after the test body returned.
_ALIVE: list[object] = []


def init_args(callbacks: int = 0, flags: int = 0, reserved: bool = False) -> tuple[object, list]:
    """A CK_C_INITIALIZE_ARGS with the first ``callbacks`` mutex functions set (working ones:
    a module may use them). Returns the args and the objects to keep alive."""
    locks: dict[int, threading.Lock] = {}

    @ffi.callback("CK_RV(CK_VOID_PTR_PTR)")
    def create(pp):
        key = len(locks) + 1
        locks[key] = threading.Lock()
        pp[0] = ffi.cast("void *", key)
        return ReturnValue.OK

    @ffi.callback("CK_RV(CK_VOID_PTR)")
    def destroy(p):
        return ReturnValue.OK if locks.pop(int(ffi.cast("uintptr_t", p)), None) else ReturnValue.MUTEX_BAD

    @ffi.callback("CK_RV(CK_VOID_PTR)")
    def lock(p):
        locks[int(ffi.cast("uintptr_t", p))].acquire()
        return ReturnValue.OK

    @ffi.callback("CK_RV(CK_VOID_PTR)")
    def unlock(p):
        locks[int(ffi.cast("uintptr_t", p))].release()
        return ReturnValue.OK

    keep = [create, destroy, lock, unlock]
    args = ffi.new("CK_C_INITIALIZE_ARGS *")
    for name, fn in list(
        zip(("CreateMutex", "DestroyMutex", "LockMutex", "UnlockMutex"), keep, strict=False)
    )[:callbacks]:
        setattr(args, name, fn)
    args.flags = flags
    if reserved:
        marker = ffi.new("int *")
        keep.append(marker)
        args.pReserved = marker
    keep.append(locks)
    _ALIVE.append(keep)
    return args, keep


def test_initialize_null_and_finalize(bare: Module) -> None:
    bare.expect("OK", "C_Initialize", ffi.NULL)
    bare.expect("OK", "C_Finalize", ffi.NULL)
    bare.expect("CRYPTOKI_NOT_INITIALIZED", "C_Finalize", ffi.NULL)
    bare.expect("OK", "C_Initialize", ffi.NULL)  # again after a finalize


def test_initialize_twice(module: Module) -> None:
    module.expect("CRYPTOKI_ALREADY_INITIALIZED", "C_Initialize", ffi.NULL)
    args, _keep = init_args(flags=InitializeFlag.OS_LOCKING_OK)
    module.expect("CRYPTOKI_ALREADY_INITIALIZED", "C_Initialize", args)


def test_initialize_reserved_not_null(bare: Module) -> None:
    args, _keep = init_args(reserved=True)
    bare.expect("ARGUMENTS_BAD", "C_Initialize", args)
    bare.expect("CRYPTOKI_NOT_INITIALIZED", "C_GetInfo", ffi.new("CK_INFO *"))


@pytest.mark.parametrize("callbacks", [1, 2, 3])
def test_initialize_some_mutex_callbacks(bare: Module, callbacks: int) -> None:
    """3.0 5.4 C_Initialize: all four mutex functions or none."""
    for flags in (0, InitializeFlag.OS_LOCKING_OK):
        args, _keep = init_args(callbacks, flags)
        bare.expect("ARGUMENTS_BAD", "C_Initialize", args)


def test_initialize_callbacks_without_os_locking(bare: Module) -> None:
    """Case 3 of 5.4: the module must use the caller's mutexes or return CKR_CANT_LOCK.
    softhsm-py locks with the OS only: CANT_LOCK. SoftHSMv2 uses the callbacks: OK."""
    args, _keep = init_args(4, 0)
    expected = "OK" if bare.softhsm2 else "CANT_LOCK"
    bare.expect(expected, "C_Initialize", args)
    if expected == "OK":
        bare.info()  # it works with our mutexes
        assert bare.finalize() == ReturnValue.OK


@pytest.mark.parametrize(
    "callbacks, flags",
    [
        (4, InitializeFlag.OS_LOCKING_OK),
        (0, InitializeFlag.OS_LOCKING_OK),
        (0, 0),
        (0, InitializeFlag.LIBRARY_CANT_CREATE_OS_THREADS),
    ],
    ids=["callbacks+os", "os", "no-flags", "cant-create-threads"],
)
def test_initialize_accepted_args(bare: Module, callbacks: int, flags: int) -> None:
    args, _keep = init_args(callbacks, flags)
    bare.expect("OK", "C_Initialize", args)
    bare.info()


def test_finalize_reserved_not_null(module: Module) -> None:
    module.expect("ARGUMENTS_BAD", "C_Finalize", ffi.new("int *"))
    module.info()  # still initialised


def test_finalize_invalidates_sessions(module: Module) -> None:
    slot = module.ready_token()
    h = module.open(slot)
    module.login(h)
    module.expect("OK", "C_Finalize", ffi.NULL)
    module.initialize()
    module.expect("SESSION_HANDLE_INVALID", "C_GetSessionInfo", h, ffi.new("CK_SESSION_INFO *"))
    h2 = module.open(module.slot_of("test"))  # SoftHSMv2 renumbers its slots at C_Initialize
    assert module.state(h2) == 2  # CKS_RW_PUBLIC_SESSION: the login did not survive


# ------------------------------------------------------------------------------- C_GetInfo


def test_get_info(module: Module) -> None:
    info = module.info()
    raw = bytes(ffi.buffer(info.manufacturerID)) + bytes(ffi.buffer(info.libraryDescription))
    assert b"\0" not in raw, "CK_INFO strings are blank padded, not NUL terminated"
    assert raw.strip(b" ")
    assert info.flags == 0  # 3.0 3.x: no flags are defined, the field must be zero
    want = (module.fl.version.major, module.fl.version.minor)
    assert (info.cryptokiVersion.major, info.cryptokiVersion.minor) == want


def test_get_info_null(module: Module) -> None:
    module.expect("ARGUMENTS_BAD", "C_GetInfo", ffi.NULL)


def _info_fields(info: Any) -> tuple[object, ...]:
    return (
        info.cryptokiVersion.major, info.cryptokiVersion.minor, bytes(info.manufacturerID), int(info.flags),
        bytes(info.libraryDescription), info.libraryVersion.major, info.libraryVersion.minor,
    )  # fmt: skip


def test_get_info_repeated_and_per_list(module: Module) -> None:
    """softhsm-py builds its CK_INFO once and copies it on every call: each call answers the whole
    struct again (over a buffer the caller dirtied), each function list its own version, and the
    answer never outlives C_Finalize."""
    first = _info_fields(module.info())
    dirty = ffi.new("CK_INFO *")
    ffi.memmove(dirty, b"\xa5" * ffi.sizeof("CK_INFO"), ffi.sizeof("CK_INFO"))
    assert module.fl.C_GetInfo(dirty) == ReturnValue.OK
    assert _info_fields(dirty) == first
    lists = [module.fl2, module.fl] + ([module.fl32] if module.fl32 is not None else [])
    for fl in lists * 2:  # and again, after the others answered
        info = ffi.new("CK_INFO *")
        assert fl.C_GetInfo(info) == ReturnValue.OK
        if not module.softhsm2:  # SoftHSMv2 answers 3.0 in its 2.40 list too
            version = (info.cryptokiVersion.major, info.cryptokiVersion.minor)
            assert version == (fl.version.major, fl.version.minor)
        assert _info_fields(info)[2:] == first[2:]
    module.finalize()
    module.expect("CRYPTOKI_NOT_INITIALIZED", "C_GetInfo", ffi.new("CK_INFO *"))
    module.initialize()
    assert _info_fields(module.info()) == first


# ------------------------------------------------------------------------------- before C_Initialize

_S = 1  # a session handle
_SLOT = 0
BEFORE_INIT = {
    "C_Finalize": lambda: (ffi.NULL,),
    "C_GetInfo": lambda: (ffi.new("CK_INFO *"),),
    "C_GetSlotList": lambda: (0, ffi.NULL, ffi.new("CK_ULONG *")),
    "C_GetSlotInfo": lambda: (_SLOT, ffi.new("CK_SLOT_INFO *")),
    "C_GetTokenInfo": lambda: (_SLOT, ffi.new("CK_TOKEN_INFO *")),
    "C_InitToken": lambda: (_SLOT, b"12345678", 8, b" " * 32),
    "C_InitPIN": lambda: (_S, b"1234", 4),
    "C_SetPIN": lambda: (_S, b"1234", 4, b"5678", 4),
    "C_OpenSession": lambda: (_SLOT, 6, ffi.NULL, ffi.NULL, ffi.new("CK_SESSION_HANDLE *")),
    "C_CloseSession": lambda: (_S,),
    "C_CloseAllSessions": lambda: (_SLOT,),
    "C_GetSessionInfo": lambda: (_S, ffi.new("CK_SESSION_INFO *")),
    "C_Login": lambda: (_S, 1, b"1234", 4),
    "C_Logout": lambda: (_S,),
    "C_SeedRandom": lambda: (_S, b"seed", 4),
    "C_GenerateRandom": lambda: (_S, ffi.new("CK_BYTE[4]"), 4),
    "C_GetFunctionStatus": lambda: (_S,),
    "C_CancelFunction": lambda: (_S,),
    "C_WaitForSlotEvent": lambda: (1, ffi.new("CK_SLOT_ID *"), ffi.NULL),
    "C_LoginUser": lambda: (_S, 1, b"1234", 4, ffi.NULL, 0),
    "C_SessionCancel": lambda: (_S, 0),
}


@pytest.mark.parametrize("name", sorted(BEFORE_INIT))
def test_before_initialize(bare: Module, name: str) -> None:
    if name in ("C_LoginUser", "C_SessionCancel"):
        bare.require_3_0()
    bare.expect("CRYPTOKI_NOT_INITIALIZED", name, *BEFORE_INIT[name]())


def test_not_initialized_after_finalize(module: Module) -> None:
    slot = module.ready_token()
    h = module.open(slot)
    assert module.finalize() == ReturnValue.OK
    module.expect("CRYPTOKI_NOT_INITIALIZED", "C_GetSessionInfo", h, ffi.new("CK_SESSION_INFO *"))
    module.expect("CRYPTOKI_NOT_INITIALIZED", "C_GenerateRandom", h, ffi.new("CK_BYTE[1]"), 1)


# ------------------------------------------------------------------------------- C_GetFunctionList


def test_get_function_list(bare: Module) -> None:
    """Pure discovery: works before C_Initialize, every entry is set."""
    pp = ffi.new("CK_VOID_PTR *")
    assert bare.lib.C_GetFunctionList(pp) == ReturnValue.OK
    fl = ffi.cast("CK_FUNCTION_LIST *", pp[0])
    assert fl.version.major == 2 or (fl.version.major, fl.version.minor) == (3, 0)
    for name, _, v3 in FUNCTIONS:
        if not v3:
            assert getattr(fl, name) != ffi.NULL, name


def test_get_function_list_null(bare: Module) -> None:
    assert rv_name(bare.lib.C_GetFunctionList(ffi.NULL)) == "ARGUMENTS_BAD"


def test_function_list_matches_exports(bare: Module) -> None:
    """The table entries are the exported C_* symbols (hosts mix both), but C_GetInfo: each
    list's own reports that list's version (3.2 5.4: the version of the interface chosen)."""
    for name, _, v3 in FUNCTIONS:
        if v3 and bare.fl3 is None:
            continue
        if not bare.has_symbol(name) or (name == "C_GetInfo" and not bare.softhsm2):
            continue
        entry = ffi.cast("void *", getattr(bare.fl, name))
        assert entry == ffi.cast("void *", getattr(bare.lib, name)), name


def test_get_info_reports_the_interface_chosen(module: Module) -> None:
    """C_GetInfo's cryptokiVersion through each function list is that list's version."""
    lists = [module.fl2, module.fl3, module.fl32]
    for fl in (fl for fl in lists if fl is not None):
        info = ffi.new("CK_INFO *")
        assert fl.C_GetInfo(info) == ReturnValue.OK
        got = (info.cryptokiVersion.major, info.cryptokiVersion.minor)
        assert got == (fl.version.major, fl.version.minor)


# ------------------------------------------------------------------------------- C_GetInterfaceList


def interfaces(module: Module) -> list[tuple[bytes, tuple[int, int], int]]:
    count = ffi.new("CK_ULONG *")
    module.check("C_GetInterfaceList", ffi.NULL, count)
    array = ffi.new("CK_INTERFACE[]", count[0])
    module.check("C_GetInterfaceList", array, count)
    out = []
    for i in range(count[0]):
        version = ffi.cast("CK_VERSION *", array[i].pFunctionList)
        out.append((ffi.string(array[i].pInterfaceName), (version.major, version.minor), int(array[i].flags)))
    return out


def test_get_interface_list(bare: Module) -> None:
    bare.require_3_0()
    found = interfaces(bare)
    assert all(name == INTERFACE_NAME for name, _, _ in found)
    versions = [version for _, version, _ in found]
    assert (3, 0) in versions and (2, 40) in versions
    assert versions[0] == (3, 0), "the preferred (first) interface is 3.0"
    if not bare.softhsm2:
        assert (3, 2) in versions


def test_get_interface_list_short_buffer(bare: Module) -> None:
    bare.require_3_0()
    count = ffi.new("CK_ULONG *")
    bare.check("C_GetInterfaceList", ffi.NULL, count)
    needed = count[0]
    assert needed >= 2
    array = ffi.new("CK_INTERFACE[]", needed)
    count[0] = needed - 1
    bare.expect("BUFFER_TOO_SMALL", "C_GetInterfaceList", array, count)
    assert count[0] == needed
    count[0] = 0
    bare.expect("BUFFER_TOO_SMALL", "C_GetInterfaceList", array, count)
    assert count[0] == needed


def test_get_interface_list_null_count(bare: Module) -> None:
    bare.require_3_0()
    bare.expect("ARGUMENTS_BAD", "C_GetInterfaceList", ffi.NULL, ffi.NULL)
    bare.expect("ARGUMENTS_BAD", "C_GetInterfaceList", ffi.new("CK_INTERFACE[4]"), ffi.NULL)


# ------------------------------------------------------------------------------- C_GetInterface


def get_interface(module: Module, name: bytes | None, version: tuple[int, int] | None, flags: int = 0):
    pp = ffi.new("CK_INTERFACE **")
    v = ffi.new("CK_VERSION *", {"major": version[0], "minor": version[1]}) if version else ffi.NULL
    rv = module.rv("C_GetInterface", name if name is not None else ffi.NULL, v, pp, flags)
    return rv_name(rv), pp[0]


@pytest.mark.parametrize("version", [(3, 2), (3, 0), (2, 40)])
def test_get_interface_by_version(bare: Module, version: tuple[int, int]) -> None:
    bare.require_3_2() if version == (3, 2) else bare.require_3_0()
    rv, iface = get_interface(bare, INTERFACE_NAME, version)
    assert rv == "OK"
    assert ffi.string(iface.pInterfaceName) == INTERFACE_NAME
    fl = ffi.cast("CK_VERSION *", iface.pFunctionList)
    assert (fl.major, fl.minor) == version
    struct = {
        (3, 2): "CK_FUNCTION_LIST_3_2 *",
        (3, 0): "CK_FUNCTION_LIST_3_0 *",
        (2, 40): "CK_FUNCTION_LIST *",
    }
    table = ffi.cast(struct[version], iface.pFunctionList)
    names = [n for n, _, added in FUNCTIONS_32 if added <= version]
    for name in names:
        assert getattr(table, name) != ffi.NULL, name


def test_get_interface_default(bare: Module) -> None:
    bare.require_3_0()
    for name in (None, INTERFACE_NAME):
        rv, iface = get_interface(bare, name, None)
        assert rv == "OK"
        fl = ffi.cast("CK_VERSION *", iface.pFunctionList)
        assert (fl.major, fl.minor) == (3, 0)


@pytest.mark.parametrize(
    "name, version",
    [(b"Vendor NSS", None), (b"Vendor NSS", (3, 0)), (b"PKCS 11 ", None), (b"", None),
     (INTERFACE_NAME, (9, 9)), (INTERFACE_NAME, (3, 1)), (None, (2, 11))],
)  # fmt: skip
def test_get_interface_unknown(bare: Module, name: bytes | None, version: tuple[int, int] | None) -> None:
    """An unknown name or version fails cleanly (NSS asks for its own vendor interface)."""
    bare.require_3_0()
    rv, _ = get_interface(bare, name, version)
    assert rv == "ARGUMENTS_BAD"


def test_get_interface_flags(bare: Module) -> None:
    """Asking for a flag no interface has (CKF_INTERFACE_FORK_SAFE) finds nothing, unless listed."""
    bare.require_3_0()
    listed = any(flags & InterfaceFlag.FORK_SAFE for _, _, flags in interfaces(bare))
    rv, _ = get_interface(bare, INTERFACE_NAME, (3, 0), InterfaceFlag.FORK_SAFE)
    assert rv == ("OK" if listed else "ARGUMENTS_BAD")


def test_get_interface_null_out(bare: Module) -> None:
    bare.require_3_0()
    bare.expect("ARGUMENTS_BAD", "C_GetInterface", INTERFACE_NAME, ffi.NULL, ffi.NULL, 0)


def test_functions_h_is_complete() -> None:
    """The loader's view of native/functions.h: 68 functions in 2.40, 92 in 3.0, 104 in 3.2."""
    assert len([n for n, _, v3 in FUNCTIONS if not v3]) == 68
    assert len(FUNCTION_NAMES) == 92
    assert len(FUNCTION_NAMES_32) == 104 and FUNCTION_NAMES_32[:92] == FUNCTION_NAMES
    assert FUNCTION_NAMES[:4] == ["C_Initialize", "C_Finalize", "C_GetInfo", "C_GetFunctionList"]


@spec_departure("SoftHSMv2", clause="3.0 5.4 C_GetInterface: SoftHSMv2 2.6.1 is a 2.40 module")
def test_is_a_3_0_module(bare: Module) -> None:
    assert bare.has_symbol("C_GetInterface") and bare.has_symbol("C_GetInterfaceList")
    assert bare.fl3 is not None
