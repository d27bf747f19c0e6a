"""The Python side of every forwarded C_* function (native/functions.h), bound per loaded copy.

Each entry unpacks the caller's pointers (marshal), calls the chapter (``softhsm_py.pkcs11``) or
the core, and writes the results back; nothing else. ``bind`` wraps every entry in
``boundary.guard``, the one place where an exception becomes a CK_RV, and registers it with this
copy's ``ffi`` under ``py_<name>`` (``binding.Binding``, which also installs tracing and fault
injection when they are asked for). The entries of 5.8-5.14 live in ``entry_crypto`` and
``entry_keys``; the registry of all of them in ``entries``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from softhsm_py import errors
from softhsm_py.constants import DONT_BLOCK, InitializeFlag
from softhsm_py.core import random, slotevents, tokens
from softhsm_py.core import sessions as core_sessions
from softhsm_py.core.runtime import Library
from softhsm_py.pkcs11 import general, slots
from softhsm_py.pkcs11 import sessions as session_info

# The other entry modules register their entries on import.
from softhsm_py.pkcs11.abi import entry_crypto, entry_keys, entry_message  # noqa: F401
from softhsm_py.pkcs11.abi.entries import Chapter, Out, entry, not_supported
from softhsm_py.pkcs11.abi.marshal import MAX_LENGTH, Marshal

if TYPE_CHECKING:
    from softhsm_py.pkcs11 import objects
else:
    # Module start (``pkcs11-tool -L``) needs no object chapter: it loads on first use.
    objects = Chapter("objects", globals())


# -- general (5.4) ---------------------------------------------------------------------------------
@entry
def C_Initialize(lib: Library, m: Marshal, pInitArgs: Any) -> None:
    args = None
    if pInitArgs != m.NULL:
        a = m.ffi.cast("CK_C_INITIALIZE_ARGS *", pInitArgs)
        if a.pReserved != m.NULL:
            raise errors.ArgumentsBad()
        given = sum(f != m.NULL for f in (a.CreateMutex, a.DestroyMutex, a.LockMutex, a.UnlockMutex))
        args = general.InitArgs(mutex_functions=given, flags=int(a.flags) & int(InitializeFlag(3)))
    general.initialize(lib, args)


@entry
def C_Finalize(lib: Library, m: Marshal, pReserved: Any) -> None:
    if pReserved != m.NULL:
        raise errors.ArgumentsBad()
    general.finalize(lib)


@entry
def C_GetInfo(lib: Library, m: Marshal, pInfo: Any) -> None:
    # The answer never changes while the library is loaded: built on the first call, then copied
    # whole (the runtime check stays, and first: CKR_CRYPTOKI_NOT_INITIALIZED before a NULL pInfo).
    info = m.structs.get("CK_INFO")
    if info is None:
        info = m.struct_value("CK_INFO", general.get_info(lib), _fill_info)
    lib.runtime  # noqa: B018 (raises CryptokiNotInitialized)
    if not pInfo:
        raise errors.ArgumentsBad()
    pInfo[0] = info


def _fill_info(m: Marshal, pInfo: Any, info: general.Info) -> None:
    pInfo.cryptokiVersion.major, pInfo.cryptokiVersion.minor = info.cryptoki_version
    m.padded(pInfo.manufacturerID, info.manufacturer)
    pInfo.flags = info.flags
    m.padded(pInfo.libraryDescription, info.description)
    pInfo.libraryVersion.major, pInfo.libraryVersion.minor = info.library_version


# -- slots and tokens (5.5) -------------------------------------------------------------------------
@entry
def C_GetSlotList(lib: Library, m: Marshal, tokenPresent: int, pSlotList: Any, pulCount: Any) -> None:
    # The library state first (CRYPTOKI_NOT_INITIALIZED before ARGUMENTS_BAD, as C_GetInfo does).
    m.ulongs_out(pSlotList, pulCount, slots.get_slot_list(lib, bool(tokenPresent)))


@entry
def C_GetSlotInfo(lib: Library, m: Marshal, slotID: int, pInfo: Any) -> None:
    info = slots.get_slot_info(lib, slotID)
    m.require(pInfo)
    m.padded(pInfo.slotDescription, info.description)
    m.padded(pInfo.manufacturerID, info.manufacturer)
    pInfo.flags = info.flags
    pInfo.hardwareVersion.major, pInfo.hardwareVersion.minor = info.hardware_version
    pInfo.firmwareVersion.major, pInfo.firmwareVersion.minor = info.firmware_version


@entry
def C_GetTokenInfo(lib: Library, m: Marshal, slotID: int, pInfo: Any) -> None:
    info = slots.get_token_info(lib, slotID)
    m.require(pInfo)
    m.padded(pInfo.label, info.label)
    m.padded(pInfo.manufacturerID, info.manufacturer)
    m.padded(pInfo.model, info.model)
    m.padded(pInfo.serialNumber, info.serial)
    pInfo.flags = info.flags
    pInfo.ulMaxSessionCount = 0  # CK_EFFECTIVELY_INFINITE
    pInfo.ulSessionCount = info.session_count
    pInfo.ulMaxRwSessionCount = 0
    pInfo.ulRwSessionCount = info.rw_session_count
    pInfo.ulMaxPinLen = info.max_pin_len
    pInfo.ulMinPinLen = info.min_pin_len
    for name in ("ulTotalPublicMemory", "ulFreePublicMemory", "ulTotalPrivateMemory", "ulFreePrivateMemory"):
        setattr(pInfo, name, 0xFFFFFFFFFFFFFFFF)  # CK_UNAVAILABLE_INFORMATION
    pInfo.hardwareVersion.major, pInfo.hardwareVersion.minor = slots.HARDWARE_VERSION
    pInfo.firmwareVersion.major, pInfo.firmwareVersion.minor = slots.FIRMWARE_VERSION
    m.padded(pInfo.utcTime, info.utc_time)


@entry
def C_GetMechanismList(lib: Library, m: Marshal, slotID: int, pMechanismList: Any, pulCount: Any) -> None:
    m.ulongs_out(pMechanismList, pulCount, slots.get_mechanism_list(lib, slotID))


@entry
def C_GetMechanismInfo(lib: Library, m: Marshal, slotID: int, type: int, pInfo: Any) -> None:
    info = slots.get_mechanism_info(lib, slotID, type)
    m.require(pInfo)
    pInfo.ulMinKeySize, pInfo.ulMaxKeySize, pInfo.flags = info.min_key, info.max_key, int(info.flags)


@entry
def C_InitToken(lib: Library, m: Marshal, slotID: int, pPin: Any, ulPinLen: int, pLabel: Any) -> None:
    pin = m.pin_in(pPin, ulPinLen, errors.PinLenRange)
    m.require(pLabel)
    slots.init_token(lib, slotID, pin, m.bytes_in(pLabel, 32))


@entry
def C_InitPIN(lib: Library, m: Marshal, hSession: int, pPin: Any, ulPinLen: int) -> None:
    tokens.init_pin(lib, hSession, m.pin_in(pPin, ulPinLen, errors.PinLenRange))


@entry
def C_SetPIN(
    lib: Library, m: Marshal, hSession: int, pOldPin: Any, ulOldLen: int, pNewPin: Any, ulNewLen: int
) -> None:
    old, new = m.pin_in(pOldPin, ulOldLen), m.pin_in(pNewPin, ulNewLen, errors.PinLenRange)
    tokens.set_pin(lib, hSession, old, new)


# -- sessions (5.6) ---------------------------------------------------------------------------------
@entry
def C_OpenSession(
    lib: Library, m: Marshal, slotID: int, flags: int, pApplication: Any, Notify: Any, phSession: Any
) -> None:
    m.require(phSession)
    # Notify callbacks are never called: we have no surrender points (3.0, 5.21).
    phSession[0] = core_sessions.open_session(lib, slotID, flags)


@entry
def C_CloseSession(lib: Library, m: Marshal, hSession: int) -> None:
    core_sessions.close_session(lib, hSession)


@entry
def C_CloseAllSessions(lib: Library, m: Marshal, slotID: int) -> None:
    core_sessions.close_all_sessions(lib, slotID)


@entry
def C_GetSessionInfo(lib: Library, m: Marshal, hSession: int, pInfo: Any) -> None:
    info = session_info.get_session_info(lib, hSession)
    m.require(pInfo)
    pInfo.slotID, pInfo.state, pInfo.flags, pInfo.ulDeviceError = (
        info.slot_id,
        info.state,
        info.flags,
        info.device_error,
    )


@entry
def C_GetOperationState(
    lib: Library, m: Marshal, hSession: int, pOperationState: Any, pulOperationStateLen: Any
) -> None:
    session_info.get_session_info(lib, hSession)
    m.require(pulOperationStateLen)
    session_info.get_operation_state(lib, hSession, Out(m, pOperationState, pulOperationStateLen))


@entry
def C_SetOperationState(
    lib: Library,
    m: Marshal,
    hSession: int,
    pOperationState: Any,
    ulOperationStateLen: int,
    hEncryptionKey: int,
    hAuthenticationKey: int,
) -> None:
    session_info.get_session_info(lib, hSession)
    m.require(pOperationState)
    state = m.bytes_in(pOperationState, ulOperationStateLen)
    session_info.set_operation_state(lib, hSession, state, hEncryptionKey, hAuthenticationKey)


@entry
def C_Login(lib: Library, m: Marshal, hSession: int, userType: int, pPin: Any, ulPinLen: int) -> None:
    core_sessions.login(lib, hSession, userType, m.pin_in(pPin, ulPinLen))


@entry
def C_LoginUser(
    lib: Library,
    m: Marshal,
    hSession: int,
    userType: int,
    pPin: Any,
    ulPinLen: int,
    pUsername: Any,
    ulUsernameLen: int,
) -> None:
    if m.bytes_in(pUsername, ulUsernameLen):
        raise errors.ArgumentsBad()  # tokens here have no user names, only the SO and the user
    core_sessions.login(lib, hSession, userType, m.pin_in(pPin, ulPinLen))


@entry
def C_Logout(lib: Library, m: Marshal, hSession: int) -> None:
    core_sessions.logout(lib, hSession)


@entry
def C_SessionCancel(lib: Library, m: Marshal, hSession: int, flags: int) -> None:
    session_info.cancel(lib, hSession, flags)


@entry
def C_GetSessionValidationFlags(lib: Library, m: Marshal, hSession: int, type: int, pFlags: Any) -> None:
    m.ulong_out(pFlags, session_info.validation_flags(lib, hSession, type))


# The asynchronous functions of 3.2 (5.21): no session is ever asynchronous (CKF_ASYNC_SESSION is
# refused by C_OpenSession), so there is nothing to complete, name or join.
@not_supported
def C_AsyncComplete(lib: Library, m: Marshal, hSession: int, pFunctionName: Any, pResult: Any) -> None:
    session_info.get_session_info(lib, hSession)
    raise errors.FunctionNotSupported()


@not_supported
def C_AsyncGetID(lib: Library, m: Marshal, hSession: int, pFunctionName: Any, pulID: Any) -> None:
    session_info.get_session_info(lib, hSession)
    raise errors.FunctionNotSupported()


@not_supported
def C_AsyncJoin(
    lib: Library, m: Marshal, hSession: int, pFunctionName: Any, ulID: int, pData: Any, ulData: int
) -> None:
    session_info.get_session_info(lib, hSession)
    raise errors.FunctionNotSupported()


# -- objects (5.7) ------------------------------------------------------------------------------------
@entry
def C_CreateObject(
    lib: Library, m: Marshal, hSession: int, pTemplate: Any, ulCount: int, phObject: Any
) -> None:
    m.require(phObject)
    phObject[0] = objects.create_object(lib, hSession, m.template_in(pTemplate, ulCount))


@entry
def C_CopyObject(
    lib: Library, m: Marshal, hSession: int, hObject: int, pTemplate: Any, ulCount: int, phNewObject: Any
) -> None:
    m.require(phNewObject)
    phNewObject[0] = objects.copy_object(lib, hSession, hObject, m.template_in(pTemplate, ulCount))


@entry
def C_DestroyObject(lib: Library, m: Marshal, hSession: int, hObject: int) -> None:
    objects.destroy_object(lib, hSession, hObject)


@entry
def C_GetObjectSize(lib: Library, m: Marshal, hSession: int, hObject: int, pulSize: Any) -> None:
    m.require(pulSize)
    pulSize[0] = objects.get_object_size(lib, hSession, hObject)


@entry
def C_GetAttributeValue(
    lib: Library, m: Marshal, hSession: int, hObject: int, pTemplate: Any, ulCount: int
) -> None:
    answers = objects.get_attribute_value(lib, hSession, hObject, m.types_in(pTemplate, ulCount))
    m.attributes_out(pTemplate, ulCount, answers)


@entry
def C_SetAttributeValue(
    lib: Library, m: Marshal, hSession: int, hObject: int, pTemplate: Any, ulCount: int
) -> None:
    objects.set_attribute_value(lib, hSession, hObject, m.template_in(pTemplate, ulCount))


@entry
def C_FindObjectsInit(lib: Library, m: Marshal, hSession: int, pTemplate: Any, ulCount: int) -> None:
    objects.find_objects_init(lib, hSession, m.template_in(pTemplate, ulCount))


@entry
def C_FindObjects(
    lib: Library, m: Marshal, hSession: int, phObject: Any, ulMaxObjectCount: int, pulObjectCount: Any
) -> None:
    m.require(pulObjectCount)
    if ulMaxObjectCount:
        m.require(phObject)
    found = objects.find_objects(lib, hSession, ulMaxObjectCount)
    for i, handle in enumerate(found):
        phObject[i] = handle
    pulObjectCount[0] = len(found)


@entry
def C_FindObjectsFinal(lib: Library, m: Marshal, hSession: int) -> None:
    objects.find_objects_final(lib, hSession)


# -- random numbers (5.15) and legacy parallel functions (5.16) ---------------------------------------
@entry
def C_SeedRandom(lib: Library, m: Marshal, hSession: int, pSeed: Any, ulSeedLen: int) -> None:
    random.seed_random(lib, hSession, m.bytes_in(pSeed, ulSeedLen))


@entry
def C_GenerateRandom(lib: Library, m: Marshal, hSession: int, RandomData: Any, ulRandomLen: int) -> None:
    if ulRandomLen and (not RandomData or ulRandomLen > MAX_LENGTH):
        # NULL, or longer than any buffer can be (os.urandom would raise OverflowError)
        raise errors.ArgumentsBad()
    m.memmove(RandomData, random.generate_random(lib, hSession, ulRandomLen), ulRandomLen)


@entry
def C_GetFunctionStatus(lib: Library, m: Marshal, hSession: int) -> None:
    session_info.get_session_info(lib, hSession)
    raise errors.FunctionNotParallel()  # legacy: always this code (3.0, 5.16)


@entry
def C_CancelFunction(lib: Library, m: Marshal, hSession: int) -> None:
    session_info.get_session_info(lib, hSession)
    raise errors.FunctionNotParallel()


@entry
def C_WaitForSlotEvent(lib: Library, m: Marshal, flags: int, pSlot: Any, pReserved: Any) -> None:
    lib.runtime  # noqa: B018 (raises CryptokiNotInitialized)
    if pReserved != m.NULL:
        raise errors.ArgumentsBad()
    m.require(pSlot)
    pSlot[0] = slotevents.wait(lib, block=not flags & DONT_BLOCK)


def _fork_counter(ffi: Any, lib_c: Any) -> Any:
    """The shim's fork counter as a one-item memoryview (reading ``[0]`` is a C-level load), or
    None for a native library built before the shim had one."""
    get = getattr(lib_c, "shim_fork_counter", None)
    if get is None:
        return None
    return memoryview(ffi.buffer(get(), ffi.sizeof("unsigned long"))).cast("L")  # "L": unsigned long


def bind(ffi: Any, lib_c: Any) -> Library:
    """Register this copy's ``py_C_*`` functions; return its fresh library state."""
    from softhsm_py.pkcs11.abi import floor
    from softhsm_py.pkcs11.abi.binding import Binding

    library = Library(_fork_counter(ffi, lib_c))
    library.binding = Binding(ffi, library)  # keeps the registered callbacks' owner alive
    floor.register(ffi)
    # Nothing is registered with the host's interpreter that points into the library (an atexit
    # hook calling a C function of ours crashed every host that unloads us): once the interpreter
    # finalises, the shim sees it by itself and answers calls from later exit handlers alone.
    lib_c.shim_set_ready()
    return library
