"""One exception class per CK_RV, raised below the ABI boundary and turned into its code there.

Messages are fixed: an exception never carries caller data (PINs, key bytes, templates), so
``str(exc)`` and ``repr(exc)`` show only the class name and the CKR name.
"""

from typing import Any, ClassVar

from softhsm_py.constants import ReturnValue


class PKCS11Error(Exception):
    """Base of every PKCS#11 error; ``rv`` is the CK_RV the boundary returns."""

    rv: ClassVar[ReturnValue] = ReturnValue.GENERAL_ERROR

    def __init__(self) -> None:
        super().__init__(f"CKR_{self.rv.name}")

    def __str__(self) -> str:
        return f"{type(self).__name__}: CKR_{self.rv.name}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(CKR_{self.rv.name})"

    def __reduce__(self) -> tuple[type["PKCS11Error"], tuple[Any, ...]]:
        return (type(self), ())


class Cancel(PKCS11Error):
    rv = ReturnValue.CANCEL


class HostMemory(PKCS11Error):
    rv = ReturnValue.HOST_MEMORY


class SlotIdInvalid(PKCS11Error):
    rv = ReturnValue.SLOT_ID_INVALID


class GeneralError(PKCS11Error):
    rv = ReturnValue.GENERAL_ERROR


class FunctionFailed(PKCS11Error):
    rv = ReturnValue.FUNCTION_FAILED


class ArgumentsBad(PKCS11Error):
    rv = ReturnValue.ARGUMENTS_BAD


class NoEvent(PKCS11Error):
    rv = ReturnValue.NO_EVENT


class NeedToCreateThreads(PKCS11Error):
    rv = ReturnValue.NEED_TO_CREATE_THREADS


class CantLock(PKCS11Error):
    rv = ReturnValue.CANT_LOCK


class AttributeReadOnly(PKCS11Error):
    rv = ReturnValue.ATTRIBUTE_READ_ONLY


class AttributeSensitive(PKCS11Error):
    rv = ReturnValue.ATTRIBUTE_SENSITIVE


class AttributeTypeInvalid(PKCS11Error):
    rv = ReturnValue.ATTRIBUTE_TYPE_INVALID


class AttributeValueInvalid(PKCS11Error):
    rv = ReturnValue.ATTRIBUTE_VALUE_INVALID


class ActionProhibited(PKCS11Error):
    rv = ReturnValue.ACTION_PROHIBITED


class DataInvalid(PKCS11Error):
    rv = ReturnValue.DATA_INVALID


class DataLenRange(PKCS11Error):
    rv = ReturnValue.DATA_LEN_RANGE


class DeviceError(PKCS11Error):
    rv = ReturnValue.DEVICE_ERROR


class DeviceMemory(PKCS11Error):
    rv = ReturnValue.DEVICE_MEMORY


class DeviceRemoved(PKCS11Error):
    rv = ReturnValue.DEVICE_REMOVED


class EncryptedDataInvalid(PKCS11Error):
    rv = ReturnValue.ENCRYPTED_DATA_INVALID


class EncryptedDataLenRange(PKCS11Error):
    rv = ReturnValue.ENCRYPTED_DATA_LEN_RANGE


class AeadDecryptFailed(PKCS11Error):
    rv = ReturnValue.AEAD_DECRYPT_FAILED


class FunctionCanceled(PKCS11Error):
    rv = ReturnValue.FUNCTION_CANCELED


class FunctionNotParallel(PKCS11Error):
    rv = ReturnValue.FUNCTION_NOT_PARALLEL


class FunctionNotSupported(PKCS11Error):
    rv = ReturnValue.FUNCTION_NOT_SUPPORTED


class KeyHandleInvalid(PKCS11Error):
    rv = ReturnValue.KEY_HANDLE_INVALID


class KeySizeRange(PKCS11Error):
    rv = ReturnValue.KEY_SIZE_RANGE


class KeyTypeInconsistent(PKCS11Error):
    rv = ReturnValue.KEY_TYPE_INCONSISTENT


class KeyNotNeeded(PKCS11Error):
    rv = ReturnValue.KEY_NOT_NEEDED


class KeyChanged(PKCS11Error):
    rv = ReturnValue.KEY_CHANGED


class KeyNeeded(PKCS11Error):
    rv = ReturnValue.KEY_NEEDED


class KeyIndigestible(PKCS11Error):
    rv = ReturnValue.KEY_INDIGESTIBLE


class KeyFunctionNotPermitted(PKCS11Error):
    rv = ReturnValue.KEY_FUNCTION_NOT_PERMITTED


class KeyNotWrappable(PKCS11Error):
    rv = ReturnValue.KEY_NOT_WRAPPABLE


class KeyUnextractable(PKCS11Error):
    rv = ReturnValue.KEY_UNEXTRACTABLE


class MechanismInvalid(PKCS11Error):
    rv = ReturnValue.MECHANISM_INVALID


class MechanismParamInvalid(PKCS11Error):
    rv = ReturnValue.MECHANISM_PARAM_INVALID


class ObjectHandleInvalid(PKCS11Error):
    rv = ReturnValue.OBJECT_HANDLE_INVALID


class OperationActive(PKCS11Error):
    rv = ReturnValue.OPERATION_ACTIVE


class OperationNotInitialized(PKCS11Error):
    rv = ReturnValue.OPERATION_NOT_INITIALIZED


class PinIncorrect(PKCS11Error):
    rv = ReturnValue.PIN_INCORRECT


class PinInvalid(PKCS11Error):
    rv = ReturnValue.PIN_INVALID


class PinLenRange(PKCS11Error):
    rv = ReturnValue.PIN_LEN_RANGE


class PinExpired(PKCS11Error):
    rv = ReturnValue.PIN_EXPIRED


class PinLocked(PKCS11Error):
    rv = ReturnValue.PIN_LOCKED


class SessionClosed(PKCS11Error):
    rv = ReturnValue.SESSION_CLOSED


class SessionCount(PKCS11Error):
    rv = ReturnValue.SESSION_COUNT


class SessionHandleInvalid(PKCS11Error):
    rv = ReturnValue.SESSION_HANDLE_INVALID


class SessionParallelNotSupported(PKCS11Error):
    rv = ReturnValue.SESSION_PARALLEL_NOT_SUPPORTED


class SessionReadOnly(PKCS11Error):
    rv = ReturnValue.SESSION_READ_ONLY


class SessionExists(PKCS11Error):
    rv = ReturnValue.SESSION_EXISTS


class SessionReadOnlyExists(PKCS11Error):
    rv = ReturnValue.SESSION_READ_ONLY_EXISTS


class SessionReadWriteSoExists(PKCS11Error):
    rv = ReturnValue.SESSION_READ_WRITE_SO_EXISTS


class SignatureInvalid(PKCS11Error):
    rv = ReturnValue.SIGNATURE_INVALID


class SignatureLenRange(PKCS11Error):
    rv = ReturnValue.SIGNATURE_LEN_RANGE


class TemplateIncomplete(PKCS11Error):
    rv = ReturnValue.TEMPLATE_INCOMPLETE


class TemplateInconsistent(PKCS11Error):
    rv = ReturnValue.TEMPLATE_INCONSISTENT


class TokenNotPresent(PKCS11Error):
    rv = ReturnValue.TOKEN_NOT_PRESENT


class TokenNotRecognized(PKCS11Error):
    rv = ReturnValue.TOKEN_NOT_RECOGNIZED


class TokenWriteProtected(PKCS11Error):
    rv = ReturnValue.TOKEN_WRITE_PROTECTED


class UnwrappingKeyHandleInvalid(PKCS11Error):
    rv = ReturnValue.UNWRAPPING_KEY_HANDLE_INVALID


class UnwrappingKeySizeRange(PKCS11Error):
    rv = ReturnValue.UNWRAPPING_KEY_SIZE_RANGE


class UnwrappingKeyTypeInconsistent(PKCS11Error):
    rv = ReturnValue.UNWRAPPING_KEY_TYPE_INCONSISTENT


class UserAlreadyLoggedIn(PKCS11Error):
    rv = ReturnValue.USER_ALREADY_LOGGED_IN


class UserNotLoggedIn(PKCS11Error):
    rv = ReturnValue.USER_NOT_LOGGED_IN


class UserPinNotInitialized(PKCS11Error):
    rv = ReturnValue.USER_PIN_NOT_INITIALIZED


class UserTypeInvalid(PKCS11Error):
    rv = ReturnValue.USER_TYPE_INVALID


class UserAnotherAlreadyLoggedIn(PKCS11Error):
    rv = ReturnValue.USER_ANOTHER_ALREADY_LOGGED_IN


class UserTooManyTypes(PKCS11Error):
    rv = ReturnValue.USER_TOO_MANY_TYPES


class WrappedKeyInvalid(PKCS11Error):
    rv = ReturnValue.WRAPPED_KEY_INVALID


class WrappedKeyLenRange(PKCS11Error):
    rv = ReturnValue.WRAPPED_KEY_LEN_RANGE


class WrappingKeyHandleInvalid(PKCS11Error):
    rv = ReturnValue.WRAPPING_KEY_HANDLE_INVALID


class WrappingKeySizeRange(PKCS11Error):
    rv = ReturnValue.WRAPPING_KEY_SIZE_RANGE


class WrappingKeyTypeInconsistent(PKCS11Error):
    rv = ReturnValue.WRAPPING_KEY_TYPE_INCONSISTENT


class RandomSeedNotSupported(PKCS11Error):
    rv = ReturnValue.RANDOM_SEED_NOT_SUPPORTED


class RandomNoRng(PKCS11Error):
    rv = ReturnValue.RANDOM_NO_RNG


class DomainParamsInvalid(PKCS11Error):
    rv = ReturnValue.DOMAIN_PARAMS_INVALID


class CurveNotSupported(PKCS11Error):
    rv = ReturnValue.CURVE_NOT_SUPPORTED


class BufferTooSmall(PKCS11Error):
    """The output buffer is too short; ``needed`` is the length the caller must supply."""

    rv = ReturnValue.BUFFER_TOO_SMALL

    def __init__(self, needed: int) -> None:
        super().__init__()
        self.needed = needed

    def __reduce__(self) -> tuple[type[PKCS11Error], tuple[Any, ...]]:
        return (type(self), (self.needed,))


class SavedStateInvalid(PKCS11Error):
    rv = ReturnValue.SAVED_STATE_INVALID


class InformationSensitive(PKCS11Error):
    rv = ReturnValue.INFORMATION_SENSITIVE


class StateUnsaveable(PKCS11Error):
    rv = ReturnValue.STATE_UNSAVEABLE


class CryptokiNotInitialized(PKCS11Error):
    rv = ReturnValue.CRYPTOKI_NOT_INITIALIZED


class CryptokiAlreadyInitialized(PKCS11Error):
    rv = ReturnValue.CRYPTOKI_ALREADY_INITIALIZED


class MutexBad(PKCS11Error):
    rv = ReturnValue.MUTEX_BAD


class MutexNotLocked(PKCS11Error):
    rv = ReturnValue.MUTEX_NOT_LOCKED


class NewPinMode(PKCS11Error):
    rv = ReturnValue.NEW_PIN_MODE


class NextOtp(PKCS11Error):
    rv = ReturnValue.NEXT_OTP


class ExceededMaxIterations(PKCS11Error):
    rv = ReturnValue.EXCEEDED_MAX_ITERATIONS


class FipsSelfTestFailed(PKCS11Error):
    rv = ReturnValue.FIPS_SELF_TEST_FAILED


class LibraryLoadFailed(PKCS11Error):
    rv = ReturnValue.LIBRARY_LOAD_FAILED


class PinTooWeak(PKCS11Error):
    rv = ReturnValue.PIN_TOO_WEAK


class PublicKeyInvalid(PKCS11Error):
    rv = ReturnValue.PUBLIC_KEY_INVALID


class FunctionRejected(PKCS11Error):
    rv = ReturnValue.FUNCTION_REJECTED


class TokenResourceExceeded(PKCS11Error):
    rv = ReturnValue.TOKEN_RESOURCE_EXCEEDED


class OperationCancelFailed(PKCS11Error):
    rv = ReturnValue.OPERATION_CANCEL_FAILED


# -- 3.2


class KeyExhausted(PKCS11Error):
    rv = ReturnValue.KEY_EXHAUSTED


class Pending(PKCS11Error):
    rv = ReturnValue.PENDING


class SessionAsyncNotSupported(PKCS11Error):
    rv = ReturnValue.SESSION_ASYNC_NOT_SUPPORTED


class SeedRandomRequired(PKCS11Error):
    rv = ReturnValue.SEED_RANDOM_REQUIRED


class OperationNotValidated(PKCS11Error):
    rv = ReturnValue.OPERATION_NOT_VALIDATED


class TokenNotInitialized(PKCS11Error):
    rv = ReturnValue.TOKEN_NOT_INITIALIZED


class ParameterSetNotSupported(PKCS11Error):
    rv = ReturnValue.PARAMETER_SET_NOT_SUPPORTED


class VendorDefined(PKCS11Error):
    rv = ReturnValue.VENDOR_DEFINED


# -- the core's own refinements: named keys and key passwords (what a REST front end reports by
# its own codes); through PKCS#11 each is its base class's CK_RV.


class KeyNotFound(KeyHandleInvalid):
    """No key of that name in the partition. ``name`` is the name asked for (a caller's words,
    not a secret: a REST answer repeats it, as the TSB's "Key with name X not found" does)."""

    def __init__(self, name: str | None = None) -> None:
        super().__init__()
        self.name = name


class KeyExists(TemplateInconsistent):
    """A key of that name exists already."""


class KeyNameInvalid(TemplateInconsistent):
    """Not a name a key may have (empty, reserved, or with the derivation path's '/')."""


class KeyNameAmbiguous(KeyHandleInvalid):
    """Several keys of one kind share that name (PKCS#11 hosts may do that): none is guessed."""


class KeyPasswordIncorrect(PinIncorrect):
    """The key has a password and the caller gave none, or another."""


class KeyPasswordLocked(PinLocked):
    """Too many wrong key passwords in a row: the key refuses every use until the password is
    set anew."""


# -- Smart Key Attributes (core.ska): through PKCS#11 a refused use of a policy key is
# CKR_KEY_FUNCTION_NOT_PERMITTED (no PKCS#11 call can carry approvals); a REST front end tells
# the cases apart by class.


class ApprovalRequired(KeyFunctionNotPermitted):
    """The key's policy asks for approvals for this operation and none (or too few, or not yet,
    or no longer valid) came with the call."""


class KeyBlocked(KeyFunctionNotPermitted):
    """The key is blocked (keyStatus.blocked): every use but unblocking is refused."""


class ApprovalInvalid(KeyFunctionNotPermitted):
    """A presented approval does not verify: bad signature, not over this request's blob, an
    approver the policy does not name, a timestamp this partition did not sign."""


class NoPolicy(KeyFunctionNotPermitted):
    """The operation is for keys with Smart Key Attributes, and this key has none (a key created
    without a policy can never get one)."""


class PolicyInvalid(TemplateInconsistent):
    """A policy that does not parse or breaks a rule (TSB.md 6.1). ``detail`` names the field at
    fault in a fixed text (never a value)."""

    def __init__(self, detail: str = "") -> None:
        super().__init__()
        self.detail = detail


class RequestNotFound(ArgumentsBad):
    """No multi-authorization request with that id in the partition."""


class TaskNotFound(ArgumentsBad):
    """No approval task with that id (for this approver) in the partition."""


class RequestFinished(ArgumentsBad):
    """The request is no longer pending (executed, failed, expired, rejected or cancelled)."""


class ApproverNotFound(ArgumentsBad):
    """No onboarded (or pending) approver of that name in the partition."""


class ApproverExists(ArgumentsBad):
    """An approver of that name exists already."""


class OneTimeCodeInvalid(PinIncorrect):
    """The approver's one-time code is wrong, used or expired."""


class ApproverUnauthenticated(ArgumentsBad):
    """An approver's proof of possession (its signature over a timestamp) does not verify."""


class TimestampOff(ArgumentsBad):
    """An approver's timestamp is outside the allowed clock skew."""
