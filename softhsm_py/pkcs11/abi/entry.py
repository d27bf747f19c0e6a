"""The Python side of every forwarded C_* function (native/functions.h), bound per loaded copy.

Each entry unpacks the caller's pointers (marshal), calls the chapter's API function and writes
the results back. ``bind`` wraps every entry in ``boundary.guard``, the one place where an
exception becomes a CK_RV, and registers it with this copy's ``ffi`` under ``py_<name>``.
"""

from __future__ import annotations

import atexit
import functools
import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from softhsm_py import errors
from softhsm_py.constants import InitializeFlag
from softhsm_py.core.runtime import Library
from softhsm_py.pkcs11 import general, random, sessions, slots
from softhsm_py.pkcs11.abi import boundary
from softhsm_py.pkcs11.abi.marshal import MAX_LENGTH, Marshal


class _Chapter:
    """A chapter module imported on first use: module start (``pkcs11-tool -L``) needs none of
    objects, crypto or keys, which pull in the object factory, policy tables and mechanism
    parameters. The first attribute read imports the module and rebinds this module's global to
    it, so later calls pay nothing."""

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        module = importlib.import_module(f"softhsm_py.pkcs11.{self._name}")
        globals()[self._name] = module
        return getattr(module, attr)


if TYPE_CHECKING:
    from softhsm_py.pkcs11 import crypto, keys, objects
else:
    crypto, keys, objects = _Chapter("crypto"), _Chapter("keys"), _Chapter("objects")

ENTRIES: dict[str, Callable[..., None]] = {}


def entry(fn: Callable[..., None]) -> Callable[..., None]:
    ENTRIES[fn.__name__] = fn
    return fn


class MechanismArg:
    """A caller's CK_MECHANISM: its type now, its parameter parsed when the API asks (after the
    session and key checks, so those errors come first)."""

    __slots__ = ("_m", "_mech", "type")

    def __init__(self, m: Marshal, ptr: Any) -> None:
        if ptr == m.NULL:
            raise errors.ArgumentsBad()
        self._m = m
        self._mech = mech = m.ffi.cast("CK_MECHANISM *", ptr)
        self.type = int(mech.mechanism)

    def param(self) -> Any:
        return self._m.mechanism_param(self._mech, self.type)


class Out:
    """A caller's output buffer (pointer + length pointer), for the API's ``deliver`` protocol."""

    __slots__ = ("_buf", "_len", "_m")

    def __init__(self, m: Marshal, buf: Any, len_ptr: Any) -> None:
        if len_ptr == m.NULL:  # m.require, inlined
            raise errors.ArgumentsBad()
        self._m, self._buf, self._len = m, buf, len_ptr

    def deliver(self, data: bytes) -> bool:
        return self._m.bytes_out(self._buf, self._len, data)

    def fits(self, needed: int) -> bool:
        return self._m.check_out(self._buf, self._len, needed)


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
    info = general.get_info(lib)
    m.require(pInfo)
    m.struct_out(pInfo, "CK_INFO", info, _fill_info)


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
    slots.init_pin(lib, hSession, m.pin_in(pPin, ulPinLen, errors.PinLenRange))


@entry
def C_SetPIN(
    lib: Library, m: Marshal, hSession: int, pOldPin: Any, ulOldLen: int, pNewPin: Any, ulNewLen: int
) -> None:
    old, new = m.pin_in(pOldPin, ulOldLen), m.pin_in(pNewPin, ulNewLen, errors.PinLenRange)
    slots.set_pin(lib, hSession, old, new)


# -- sessions (5.6) ---------------------------------------------------------------------------------
@entry
def C_OpenSession(
    lib: Library, m: Marshal, slotID: int, flags: int, pApplication: Any, Notify: Any, phSession: Any
) -> None:
    m.require(phSession)
    # Notify callbacks are never called: we have no surrender points (3.0, 5.21).
    phSession[0] = sessions.open_session(lib, slotID, flags)


@entry
def C_CloseSession(lib: Library, m: Marshal, hSession: int) -> None:
    sessions.close_session(lib, hSession)


@entry
def C_CloseAllSessions(lib: Library, m: Marshal, slotID: int) -> None:
    sessions.close_all_sessions(lib, slotID)


@entry
def C_GetSessionInfo(lib: Library, m: Marshal, hSession: int, pInfo: Any) -> None:
    info = sessions.get_session_info(lib, hSession)
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
    sessions.get_session_info(lib, hSession)
    raise errors.FunctionNotSupported()


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
    sessions.get_session_info(lib, hSession)
    raise errors.FunctionNotSupported()


@entry
def C_Login(lib: Library, m: Marshal, hSession: int, userType: int, pPin: Any, ulPinLen: int) -> None:
    sessions.login(lib, hSession, userType, m.pin_in(pPin, ulPinLen))


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
    sessions.login(lib, hSession, userType, m.pin_in(pPin, ulPinLen))


@entry
def C_Logout(lib: Library, m: Marshal, hSession: int) -> None:
    sessions.logout(lib, hSession)


@entry
def C_SessionCancel(lib: Library, m: Marshal, hSession: int, flags: int) -> None:
    sessions.cancel(lib, hSession, flags)


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


# -- encryption, decryption, digests, signatures (5.8-5.13) -----------------------------------------
def _init(kind: str) -> Callable[..., None]:
    def init(lib: Library, m: Marshal, hSession: int, pMechanism: Any, hKey: int) -> None:
        crypto.operation_init(lib, hSession, kind, MechanismArg(m, pMechanism), hKey)

    return init


for _kind, _name in (
    ("encrypt", "C_EncryptInit"),
    ("decrypt", "C_DecryptInit"),
    ("sign", "C_SignInit"),
    ("verify", "C_VerifyInit"),
    ("sign_recover", "C_SignRecoverInit"),
    ("verify_recover", "C_VerifyRecoverInit"),
):
    ENTRIES[_name] = _init(_kind)


@entry
def C_DigestInit(lib: Library, m: Marshal, hSession: int, pMechanism: Any) -> None:
    crypto.digest_init(lib, hSession, MechanismArg(m, pMechanism))


def _ends_on_bad_arguments(*kinds: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """A call on an active operation whose pointers are refused (ArgumentsBad) ends that operation
    like any other error (3.0, 5.2): the ABI checks the pointers before the api layer sees the
    call, so this wrapper ends it (``crypto.abandon``) before the error goes on."""

    def wrap(fn: Callable[..., None]) -> Callable[..., None]:
        @functools.wraps(fn)
        def call(lib: Library, m: Marshal, hSession: int, *args: Any) -> None:
            try:
                fn(lib, m, hSession, *args)
            except errors.ArgumentsBad:
                crypto.abandon(lib, hSession, *kinds)
                raise

        return call

    return wrap


def _single(kind: str) -> Callable[..., None]:
    """C_Encrypt, C_Decrypt, C_Digest, C_Sign, C_SignRecover, C_VerifyRecover: data in, data out."""

    @_ends_on_bad_arguments(kind)
    def single(lib: Library, m: Marshal, hSession: int, pIn: Any, ulIn: int, pOut: Any, pulOut: Any) -> None:
        crypto.single(lib, hSession, kind, m.bytes_in(pIn, ulIn), Out(m, pOut, pulOut))

    return single


def _update(kind: str) -> Callable[..., None]:
    """C_EncryptUpdate, C_DecryptUpdate (with output)."""

    @_ends_on_bad_arguments(kind)
    def update(lib: Library, m: Marshal, hSession: int, pIn: Any, ulIn: int, pOut: Any, pulOut: Any) -> None:
        crypto.update(lib, hSession, kind, m.bytes_in(pIn, ulIn), Out(m, pOut, pulOut))

    return update


def _feed(kind: str) -> Callable[..., None]:
    """C_DigestUpdate, C_SignUpdate, C_VerifyUpdate (no output)."""

    @_ends_on_bad_arguments(kind)
    def feed(lib: Library, m: Marshal, hSession: int, pIn: Any, ulIn: int) -> None:
        crypto.update(lib, hSession, kind, m.bytes_in(pIn, ulIn), None)

    return feed


def _final(kind: str) -> Callable[..., None]:
    """C_EncryptFinal, C_DecryptFinal, C_DigestFinal, C_SignFinal."""

    @_ends_on_bad_arguments(kind)
    def final(lib: Library, m: Marshal, hSession: int, pOut: Any, pulOut: Any) -> None:
        crypto.final(lib, hSession, kind, Out(m, pOut, pulOut))

    return final


for _kind, _single_name, _update_name, _final_name in (
    ("encrypt", "C_Encrypt", "C_EncryptUpdate", "C_EncryptFinal"),
    ("decrypt", "C_Decrypt", "C_DecryptUpdate", "C_DecryptFinal"),
):
    ENTRIES[_single_name] = _single(_kind)
    ENTRIES[_update_name] = _update(_kind)
    ENTRIES[_final_name] = _final(_kind)
for _kind, _single_name, _update_name, _final_name in (
    ("digest", "C_Digest", "C_DigestUpdate", "C_DigestFinal"),
    ("sign", "C_Sign", "C_SignUpdate", "C_SignFinal"),
):
    ENTRIES[_single_name] = _single(_kind)
    ENTRIES[_update_name] = _feed(_kind)
    ENTRIES[_final_name] = _final(_kind)
ENTRIES["C_SignRecover"] = _single("sign_recover")
ENTRIES["C_VerifyRecover"] = _single("verify_recover")
ENTRIES["C_VerifyUpdate"] = _feed("verify")


@entry
def C_DigestKey(lib: Library, m: Marshal, hSession: int, hKey: int) -> None:
    crypto.digest_key(lib, hSession, hKey)


@entry
@_ends_on_bad_arguments("verify")
def C_Verify(
    lib: Library, m: Marshal, hSession: int, pData: Any, ulDataLen: int, pSignature: Any, ulSignatureLen: int
) -> None:
    crypto.verify(lib, hSession, m.bytes_in(pData, ulDataLen), m.bytes_in(pSignature, ulSignatureLen))


@entry
@_ends_on_bad_arguments("verify")
def C_VerifyFinal(lib: Library, m: Marshal, hSession: int, pSignature: Any, ulSignatureLen: int) -> None:
    crypto.verify_final(lib, hSession, m.bytes_in(pSignature, ulSignatureLen))


def _dual(first: str, second: str) -> Callable[..., None]:
    """C_DigestEncryptUpdate and its siblings (3.0, 5.13): two updates on one buffer."""

    @_ends_on_bad_arguments(first, second)
    def dual(lib: Library, m: Marshal, hSession: int, pIn: Any, ulIn: int, pOut: Any, pulOut: Any) -> None:
        crypto.dual_update(lib, hSession, first, second, m.bytes_in(pIn, ulIn), Out(m, pOut, pulOut))

    return dual


ENTRIES["C_DigestEncryptUpdate"] = _dual("digest", "encrypt")
ENTRIES["C_DecryptDigestUpdate"] = _dual("decrypt", "digest")
ENTRIES["C_SignEncryptUpdate"] = _dual("sign", "encrypt")
ENTRIES["C_DecryptVerifyUpdate"] = _dual("decrypt", "verify")


# -- keys (5.14) -------------------------------------------------------------------------------------
@entry
def C_GenerateKey(
    lib: Library, m: Marshal, hSession: int, pMechanism: Any, pTemplate: Any, ulCount: int, phKey: Any
) -> None:
    m.require(phKey)
    mech = MechanismArg(m, pMechanism)
    phKey[0] = keys.generate_key(lib, hSession, mech, m.template_in(pTemplate, ulCount))


@entry
def C_GenerateKeyPair(
    lib: Library,
    m: Marshal,
    hSession: int,
    pMechanism: Any,
    pPublicKeyTemplate: Any,
    ulPublicKeyAttributeCount: int,
    pPrivateKeyTemplate: Any,
    ulPrivateKeyAttributeCount: int,
    phPublicKey: Any,
    phPrivateKey: Any,
) -> None:
    m.require(phPublicKey)
    m.require(phPrivateKey)
    mech = MechanismArg(m, pMechanism)
    public = m.template_in(pPublicKeyTemplate, ulPublicKeyAttributeCount)
    private = m.template_in(pPrivateKeyTemplate, ulPrivateKeyAttributeCount)
    phPublicKey[0], phPrivateKey[0] = keys.generate_key_pair(lib, hSession, mech, public, private)


@entry
def C_WrapKey(
    lib: Library,
    m: Marshal,
    hSession: int,
    pMechanism: Any,
    hWrappingKey: int,
    hKey: int,
    pWrappedKey: Any,
    pulWrappedKeyLen: Any,
) -> None:
    keys.wrap_key(
        lib, hSession, MechanismArg(m, pMechanism), hWrappingKey, hKey, Out(m, pWrappedKey, pulWrappedKeyLen)
    )


@entry
def C_UnwrapKey(
    lib: Library,
    m: Marshal,
    hSession: int,
    pMechanism: Any,
    hUnwrappingKey: int,
    pWrappedKey: Any,
    ulWrappedKeyLen: int,
    pTemplate: Any,
    ulAttributeCount: int,
    phKey: Any,
) -> None:
    m.require(phKey)
    mech = MechanismArg(m, pMechanism)
    wrapped = m.bytes_in(pWrappedKey, ulWrappedKeyLen)
    template = m.template_in(pTemplate, ulAttributeCount)
    phKey[0] = keys.unwrap_key(lib, hSession, mech, hUnwrappingKey, wrapped, template)


@entry
def C_DeriveKey(
    lib: Library,
    m: Marshal,
    hSession: int,
    pMechanism: Any,
    hBaseKey: int,
    pTemplate: Any,
    ulAttributeCount: int,
    phKey: Any,
) -> None:
    m.require(phKey)
    mech = MechanismArg(m, pMechanism)
    phKey[0] = keys.derive_key(lib, hSession, mech, hBaseKey, m.template_in(pTemplate, ulAttributeCount))


# -- random numbers (5.15) and legacy parallel functions (5.16) ---------------------------------------
@entry
def C_SeedRandom(lib: Library, m: Marshal, hSession: int, pSeed: Any, ulSeedLen: int) -> None:
    random.seed_random(lib, hSession, m.bytes_in(pSeed, ulSeedLen))


@entry
def C_GenerateRandom(lib: Library, m: Marshal, hSession: int, RandomData: Any, ulRandomLen: int) -> None:
    if ulRandomLen:
        m.require(RandomData)
        if ulRandomLen > MAX_LENGTH:  # no buffer is that long (os.urandom would raise OverflowError)
            raise errors.ArgumentsBad()
    data = random.generate_random(lib, hSession, ulRandomLen)
    m.ffi.memmove(RandomData, data, len(data))


@entry
def C_GetFunctionStatus(lib: Library, m: Marshal, hSession: int) -> None:
    sessions.get_session_info(lib, hSession)
    raise errors.FunctionNotParallel()  # legacy: always this code (3.0, 5.16)


@entry
def C_CancelFunction(lib: Library, m: Marshal, hSession: int) -> None:
    sessions.get_session_info(lib, hSession)
    raise errors.FunctionNotParallel()


@entry
def C_WaitForSlotEvent(lib: Library, m: Marshal, flags: int, pSlot: Any, pReserved: Any) -> None:
    lib.runtime  # noqa: B018 (raises CryptokiNotInitialized)
    if pReserved != m.NULL:
        raise errors.ArgumentsBad()
    m.require(pSlot)
    if flags & 1:  # CKF_DONT_BLOCK: our slots never change by themselves
        raise errors.NoEvent()
    raise errors.FunctionNotSupported()


# -- the message-based functions of 3.0 (5.10, 5.12, 5.14 of the 3.0 spec) are not implemented ------
def _not_supported(lib: Library, m: Marshal, hSession: int, *rest: Any) -> None:
    sessions.get_session_info(lib, hSession)
    raise errors.FunctionNotSupported()


NOT_SUPPORTED = (
    "C_MessageEncryptInit", "C_EncryptMessage", "C_EncryptMessageBegin", "C_EncryptMessageNext",
    "C_MessageEncryptFinal", "C_MessageDecryptInit", "C_DecryptMessage", "C_DecryptMessageBegin",
    "C_DecryptMessageNext", "C_MessageDecryptFinal", "C_MessageSignInit", "C_SignMessage",
    "C_SignMessageBegin", "C_SignMessageNext", "C_MessageSignFinal", "C_MessageVerifyInit",
    "C_VerifyMessage", "C_VerifyMessageBegin", "C_VerifyMessageNext", "C_MessageVerifyFinal",
)  # fmt: skip
for _name in NOT_SUPPORTED:
    ENTRIES[_name] = _not_supported


def _fork_counter(ffi: Any, lib_c: Any) -> Any:
    """The shim's fork counter as a one-item memoryview (reading ``[0]`` is a C-level load), or
    None for a native library built before the shim had one."""
    get = getattr(lib_c, "shim_fork_counter", None)
    if get is None:
        return None
    return memoryview(ffi.buffer(get(), ffi.sizeof("unsigned long"))).cast("L")  # "L": unsigned long


def bind(ffi: Any, lib_c: Any) -> Library:
    """Register this copy's ``py_C_*`` functions; return its fresh library state."""
    library = Library(_fork_counter(ffi, lib_c))
    m = Marshal(ffi)
    for name, fn in ENTRIES.items():
        call = functools.partial(fn, library, m)
        guarded = boundary.guard(functools.update_wrapper(call, fn))
        ffi.def_extern(name=f"py_{name}", error=boundary.GENERAL_ERROR, onerror=boundary.on_callback_error)(
            guarded
        )
    # Once Python's own exit hooks run, calls from the host's later exit handlers must not enter
    # the dying interpreter: the shim answers them itself.
    atexit.register(lib_c.shim_python_exiting)
    lib_c.shim_set_ready()
    return library
