"""PKCS#11 3.0 constants (pkcs11t.h) as enums, named as python-pkcs11 names them.

One IntEnum or IntFlag per constant prefix, the prefix dropped: CKA_SENSITIVE is
Attribute.SENSITIVE, CKM_SHA256_RSA_PKCS is Mechanism.SHA256_RSA_PKCS. Values follow the
OASIS PKCS#11 3.0 header. Where an older name shares a value with the 3.0 name (CKK_ECDSA,
CKM_ECDSA_KEY_PAIR_GEN, CKM_CAST5_*, ...), the 3.0 name is the member and the old name an
alias. From 3.1 and 3.2, only what the module implements or answers is here, each marked "3.2"
(ML-DSA, ML-KEM, encapsulation, the new return values); HSS, XMSS, SLH-DSA, IKE, trust objects
and validation objects are not.
"""

import importlib
from enum import IntEnum, IntFlag
from typing import TYPE_CHECKING

# CK_ULONG is 64 bits on LP64 platforms (Linux and macOS on x86_64 / arm64).
UNAVAILABLE_INFORMATION = 0xFFFFFFFFFFFFFFFF  # CK_UNAVAILABLE_INFORMATION, ~0UL
EFFECTIVELY_INFINITE = 0  # CK_EFFECTIVELY_INFINITE
INVALID_HANDLE = 0  # CK_INVALID_HANDLE
CK_TRUE = 1
CK_FALSE = 0
ARRAY_ATTRIBUTE = 0x40000000  # CKF_ARRAY_ATTRIBUTE: value is a template or a list
VENDOR_DEFINED = 0x80000000  # first vendor-defined value of every CK_ULONG enumeration


class ReturnValue(IntEnum):
    """CK_RV: return values of every C_* function (CKR_*)."""

    OK = 0x0000
    CANCEL = 0x0001
    HOST_MEMORY = 0x0002
    SLOT_ID_INVALID = 0x0003
    GENERAL_ERROR = 0x0005
    FUNCTION_FAILED = 0x0006
    ARGUMENTS_BAD = 0x0007
    NO_EVENT = 0x0008
    NEED_TO_CREATE_THREADS = 0x0009
    CANT_LOCK = 0x000A
    ATTRIBUTE_READ_ONLY = 0x0010
    ATTRIBUTE_SENSITIVE = 0x0011
    ATTRIBUTE_TYPE_INVALID = 0x0012
    ATTRIBUTE_VALUE_INVALID = 0x0013
    ACTION_PROHIBITED = 0x001B
    DATA_INVALID = 0x0020
    DATA_LEN_RANGE = 0x0021
    DEVICE_ERROR = 0x0030
    DEVICE_MEMORY = 0x0031
    DEVICE_REMOVED = 0x0032
    ENCRYPTED_DATA_INVALID = 0x0040
    ENCRYPTED_DATA_LEN_RANGE = 0x0041
    AEAD_DECRYPT_FAILED = 0x0042
    FUNCTION_CANCELED = 0x0050
    FUNCTION_NOT_PARALLEL = 0x0051
    FUNCTION_NOT_SUPPORTED = 0x0054
    KEY_HANDLE_INVALID = 0x0060
    KEY_SIZE_RANGE = 0x0062
    KEY_TYPE_INCONSISTENT = 0x0063
    KEY_NOT_NEEDED = 0x0064
    KEY_CHANGED = 0x0065
    KEY_NEEDED = 0x0066
    KEY_INDIGESTIBLE = 0x0067
    KEY_FUNCTION_NOT_PERMITTED = 0x0068
    KEY_NOT_WRAPPABLE = 0x0069
    KEY_UNEXTRACTABLE = 0x006A
    MECHANISM_INVALID = 0x0070
    MECHANISM_PARAM_INVALID = 0x0071
    OBJECT_HANDLE_INVALID = 0x0082
    OPERATION_ACTIVE = 0x0090
    OPERATION_NOT_INITIALIZED = 0x0091
    PIN_INCORRECT = 0x00A0
    PIN_INVALID = 0x00A1
    PIN_LEN_RANGE = 0x00A2
    PIN_EXPIRED = 0x00A3
    PIN_LOCKED = 0x00A4
    SESSION_CLOSED = 0x00B0
    SESSION_COUNT = 0x00B1
    SESSION_HANDLE_INVALID = 0x00B3
    SESSION_PARALLEL_NOT_SUPPORTED = 0x00B4
    SESSION_READ_ONLY = 0x00B5
    SESSION_EXISTS = 0x00B6
    SESSION_READ_ONLY_EXISTS = 0x00B7
    SESSION_READ_WRITE_SO_EXISTS = 0x00B8
    SIGNATURE_INVALID = 0x00C0
    SIGNATURE_LEN_RANGE = 0x00C1
    TEMPLATE_INCOMPLETE = 0x00D0
    TEMPLATE_INCONSISTENT = 0x00D1
    TOKEN_NOT_PRESENT = 0x00E0
    TOKEN_NOT_RECOGNIZED = 0x00E1
    TOKEN_WRITE_PROTECTED = 0x00E2
    UNWRAPPING_KEY_HANDLE_INVALID = 0x00F0
    UNWRAPPING_KEY_SIZE_RANGE = 0x00F1
    UNWRAPPING_KEY_TYPE_INCONSISTENT = 0x00F2
    USER_ALREADY_LOGGED_IN = 0x0100
    USER_NOT_LOGGED_IN = 0x0101
    USER_PIN_NOT_INITIALIZED = 0x0102
    USER_TYPE_INVALID = 0x0103
    USER_ANOTHER_ALREADY_LOGGED_IN = 0x0104
    USER_TOO_MANY_TYPES = 0x0105
    WRAPPED_KEY_INVALID = 0x0110
    WRAPPED_KEY_LEN_RANGE = 0x0112
    WRAPPING_KEY_HANDLE_INVALID = 0x0113
    WRAPPING_KEY_SIZE_RANGE = 0x0114
    WRAPPING_KEY_TYPE_INCONSISTENT = 0x0115
    RANDOM_SEED_NOT_SUPPORTED = 0x0120
    RANDOM_NO_RNG = 0x0121
    DOMAIN_PARAMS_INVALID = 0x0130
    CURVE_NOT_SUPPORTED = 0x0140
    BUFFER_TOO_SMALL = 0x0150
    SAVED_STATE_INVALID = 0x0160
    INFORMATION_SENSITIVE = 0x0170
    STATE_UNSAVEABLE = 0x0180
    CRYPTOKI_NOT_INITIALIZED = 0x0190
    CRYPTOKI_ALREADY_INITIALIZED = 0x0191
    MUTEX_BAD = 0x01A0
    MUTEX_NOT_LOCKED = 0x01A1
    NEW_PIN_MODE = 0x01B0
    NEXT_OTP = 0x01B1
    EXCEEDED_MAX_ITERATIONS = 0x01B5
    FIPS_SELF_TEST_FAILED = 0x01B6
    LIBRARY_LOAD_FAILED = 0x01B7
    PIN_TOO_WEAK = 0x01B8
    PUBLIC_KEY_INVALID = 0x01B9
    FUNCTION_REJECTED = 0x0200
    TOKEN_RESOURCE_EXCEEDED = 0x0201
    OPERATION_CANCEL_FAILED = 0x0202
    # 3.2
    KEY_EXHAUSTED = 0x0203
    PENDING = 0x0204
    SESSION_ASYNC_NOT_SUPPORTED = 0x0205
    SEED_RANDOM_REQUIRED = 0x0206
    OPERATION_NOT_VALIDATED = 0x0207
    TOKEN_NOT_INITIALIZED = 0x0208
    PARAMETER_SET_NOT_SUPPORTED = 0x0209
    VENDOR_DEFINED = 0x80000000


class ObjectClass(IntEnum):
    """CK_OBJECT_CLASS: CKA_CLASS values (CKO_*)."""

    DATA = 0x0000
    CERTIFICATE = 0x0001
    PUBLIC_KEY = 0x0002
    PRIVATE_KEY = 0x0003
    SECRET_KEY = 0x0004
    HW_FEATURE = 0x0005
    DOMAIN_PARAMETERS = 0x0006
    MECHANISM = 0x0007
    OTP_KEY = 0x0008
    PROFILE = 0x0009
    VENDOR_DEFINED = 0x80000000


class Attribute(IntEnum):
    """CK_ATTRIBUTE_TYPE: attribute types (CKA_*)."""

    CLASS = 0x0000
    TOKEN = 0x0001
    PRIVATE = 0x0002
    LABEL = 0x0003
    UNIQUE_ID = 0x0004
    APPLICATION = 0x0010
    VALUE = 0x0011
    OBJECT_ID = 0x0012
    CERTIFICATE_TYPE = 0x0080
    ISSUER = 0x0081
    SERIAL_NUMBER = 0x0082
    AC_ISSUER = 0x0083
    OWNER = 0x0084
    ATTR_TYPES = 0x0085
    TRUSTED = 0x0086
    CERTIFICATE_CATEGORY = 0x0087
    JAVA_MIDP_SECURITY_DOMAIN = 0x0088
    URL = 0x0089
    HASH_OF_SUBJECT_PUBLIC_KEY = 0x008A
    HASH_OF_ISSUER_PUBLIC_KEY = 0x008B
    NAME_HASH_ALGORITHM = 0x008C
    CHECK_VALUE = 0x0090
    KEY_TYPE = 0x0100
    SUBJECT = 0x0101
    ID = 0x0102
    SENSITIVE = 0x0103
    ENCRYPT = 0x0104
    DECRYPT = 0x0105
    WRAP = 0x0106
    UNWRAP = 0x0107
    SIGN = 0x0108
    SIGN_RECOVER = 0x0109
    VERIFY = 0x010A
    VERIFY_RECOVER = 0x010B
    DERIVE = 0x010C
    START_DATE = 0x0110
    END_DATE = 0x0111
    MODULUS = 0x0120
    MODULUS_BITS = 0x0121
    PUBLIC_EXPONENT = 0x0122
    PRIVATE_EXPONENT = 0x0123
    PRIME_1 = 0x0124
    PRIME_2 = 0x0125
    EXPONENT_1 = 0x0126
    EXPONENT_2 = 0x0127
    COEFFICIENT = 0x0128
    PUBLIC_KEY_INFO = 0x0129
    PRIME = 0x0130
    SUBPRIME = 0x0131
    BASE = 0x0132
    PRIME_BITS = 0x0133
    SUBPRIME_BITS = 0x0134
    SUB_PRIME_BITS = SUBPRIME_BITS  # pre-3.0 name, same value
    VALUE_BITS = 0x0160
    VALUE_LEN = 0x0161
    EXTRACTABLE = 0x0162
    LOCAL = 0x0163
    NEVER_EXTRACTABLE = 0x0164
    ALWAYS_SENSITIVE = 0x0165
    KEY_GEN_MECHANISM = 0x0166
    MODIFIABLE = 0x0170
    COPYABLE = 0x0171
    DESTROYABLE = 0x0172
    EC_PARAMS = 0x0180
    ECDSA_PARAMS = EC_PARAMS  # pre-3.0 name, same value
    EC_POINT = 0x0181
    SECONDARY_AUTH = 0x0200
    AUTH_PIN_FLAGS = 0x0201
    ALWAYS_AUTHENTICATE = 0x0202
    WRAP_WITH_TRUSTED = 0x0210
    OTP_FORMAT = 0x0220
    OTP_LENGTH = 0x0221
    OTP_TIME_INTERVAL = 0x0222
    OTP_USER_FRIENDLY_MODE = 0x0223
    OTP_CHALLENGE_REQUIREMENT = 0x0224
    OTP_TIME_REQUIREMENT = 0x0225
    OTP_COUNTER_REQUIREMENT = 0x0226
    OTP_PIN_REQUIREMENT = 0x0227
    OTP_USER_IDENTIFIER = 0x022A
    OTP_SERVICE_IDENTIFIER = 0x022B
    OTP_SERVICE_LOGO = 0x022C
    OTP_SERVICE_LOGO_TYPE = 0x022D
    OTP_COUNTER = 0x022E
    OTP_TIME = 0x022F
    GOSTR3410_PARAMS = 0x0250
    GOSTR3411_PARAMS = 0x0251
    GOST28147_PARAMS = 0x0252
    HW_FEATURE_TYPE = 0x0300
    RESET_ON_INIT = 0x0301
    HAS_RESET = 0x0302
    PIXEL_X = 0x0400
    PIXEL_Y = 0x0401
    RESOLUTION = 0x0402
    CHAR_ROWS = 0x0403
    CHAR_COLUMNS = 0x0404
    COLOR = 0x0405
    BITS_PER_PIXEL = 0x0406
    CHAR_SETS = 0x0480
    ENCODING_METHODS = 0x0481
    MIME_TYPES = 0x0482
    MECHANISM_TYPE = 0x0500
    REQUIRED_CMS_ATTRIBUTES = 0x0501
    DEFAULT_CMS_ATTRIBUTES = 0x0502
    SUPPORTED_CMS_ATTRIBUTES = 0x0503
    PROFILE_ID = 0x0601
    X2RATCHET_BAG = 0x0602
    X2RATCHET_BAGSIZE = 0x0603
    X2RATCHET_BOBS1STMSG = 0x0604
    X2RATCHET_CKR = 0x0605
    X2RATCHET_CKS = 0x0606
    X2RATCHET_DHP = 0x0607
    X2RATCHET_DHR = 0x0608
    X2RATCHET_DHS = 0x0609
    X2RATCHET_HKR = 0x060A
    X2RATCHET_HKS = 0x060B
    X2RATCHET_ISALICE = 0x060C
    X2RATCHET_NHKR = 0x060D
    X2RATCHET_NHKS = 0x060E
    X2RATCHET_NR = 0x060F
    X2RATCHET_NS = 0x0610
    X2RATCHET_PNS = 0x0611
    X2RATCHET_RK = 0x0612
    # 3.2 (CKA_ENCAPSULATE_TEMPLATE and CKA_DECAPSULATE_TEMPLATE carry no CKF_ARRAY_ATTRIBUTE bit)
    PARAMETER_SET = 0x061D
    ENCAPSULATE_TEMPLATE = 0x062A
    DECAPSULATE_TEMPLATE = 0x062B
    ENCAPSULATE = 0x0633
    DECAPSULATE = 0x0634
    SEED = 0x0637
    WRAP_TEMPLATE = ARRAY_ATTRIBUTE | 0x0211
    UNWRAP_TEMPLATE = ARRAY_ATTRIBUTE | 0x0212
    DERIVE_TEMPLATE = ARRAY_ATTRIBUTE | 0x0213
    ALLOWED_MECHANISMS = ARRAY_ATTRIBUTE | 0x0600
    VENDOR_DEFINED = 0x80000000


class VendorAttribute(IntEnum):
    """softhsm-py's own attributes (CKA_VENDOR_DEFINED | 'SH' ...): set by the core only, never by
    a template. A REST front end needs them; PKCS#11 hosts may read the readable ones."""

    CREATED = VENDOR_DEFINED | 0x53480001  # UTF-8 ISO 8601 UTC time the key entered the token
    PASSWORD = VENDOR_DEFINED | 0x53480002  # the key password's slow salted hash: never readable
    PASSWORD_FAILURES = VENDOR_DEFINED | 0x53480003  # wrong key passwords in a row: never readable
    ATTESTATION = VENDOR_DEFINED | 0x53480004  # CK_BBOOL: the partition's attestation key
    # Smart Key Attributes (core.ska): a private key's multi-authorization policy, as its
    # canonical TLV encoding (TSB.md 6.4), and its keyStatus.blocked; readable, never settable.
    SKA_POLICY = VENDOR_DEFINED | 0x53480005
    SKA_BLOCKED = VENDOR_DEFINED | 0x53480006  # CK_BBOOL
    TIMESTAMP = VENDOR_DEFINED | 0x53480007  # CK_BBOOL: the partition's SKA timestamp key


class UserType(IntEnum):
    """CK_USER_TYPE (CKU_*)."""

    SO = 0
    USER = 1
    CONTEXT_SPECIFIC = 2


class SessionState(IntEnum):
    """CK_STATE: CK_SESSION_INFO.state (CKS_*)."""

    RO_PUBLIC_SESSION = 0
    RO_USER_FUNCTIONS = 1
    RW_PUBLIC_SESSION = 2
    RW_USER_FUNCTIONS = 3
    RW_SO_FUNCTIONS = 4


class SlotFlag(IntFlag):
    """CK_SLOT_INFO.flags (CKF_*)."""

    TOKEN_PRESENT = 0x0001
    REMOVABLE_DEVICE = 0x0002
    HW_SLOT = 0x0004


class TokenFlag(IntFlag):
    """CK_TOKEN_INFO.flags (CKF_*)."""

    RNG = 0x00000001
    WRITE_PROTECTED = 0x00000002
    LOGIN_REQUIRED = 0x00000004
    USER_PIN_INITIALIZED = 0x00000008
    RESTORE_KEY_NOT_NEEDED = 0x00000020
    CLOCK_ON_TOKEN = 0x00000040
    PROTECTED_AUTHENTICATION_PATH = 0x00000100
    DUAL_CRYPTO_OPERATIONS = 0x00000200
    TOKEN_INITIALIZED = 0x00000400
    SECONDARY_AUTHENTICATION = 0x00000800
    USER_PIN_COUNT_LOW = 0x00010000
    USER_PIN_FINAL_TRY = 0x00020000
    USER_PIN_LOCKED = 0x00040000
    USER_PIN_TO_BE_CHANGED = 0x00080000
    SO_PIN_COUNT_LOW = 0x00100000
    SO_PIN_FINAL_TRY = 0x00200000
    SO_PIN_LOCKED = 0x00400000
    SO_PIN_TO_BE_CHANGED = 0x00800000
    ERROR_STATE = 0x01000000


class SessionFlag(IntFlag):
    """CK_SESSION_INFO.flags and C_OpenSession flags (CKF_*)."""

    RW_SESSION = 0x0002
    SERIAL_SESSION = 0x0004


class MechanismFlag(IntFlag):
    """CK_MECHANISM_INFO.flags (CKF_*)."""

    HW = 0x00000001
    MESSAGE_ENCRYPT = 0x00000002
    MESSAGE_DECRYPT = 0x00000004
    MESSAGE_SIGN = 0x00000008
    MESSAGE_VERIFY = 0x00000010
    MULTI_MESSAGE = 0x00000020  # spelt CKF_MULTI_MESSGE in the 3.0 header
    FIND_OBJECTS = 0x00000040
    ENCRYPT = 0x00000100
    DECRYPT = 0x00000200
    DIGEST = 0x00000400
    SIGN = 0x00000800
    SIGN_RECOVER = 0x00001000
    VERIFY = 0x00002000
    VERIFY_RECOVER = 0x00004000
    GENERATE = 0x00008000
    GENERATE_KEY_PAIR = 0x00010000
    WRAP = 0x00020000
    UNWRAP = 0x00040000
    DERIVE = 0x00080000
    EC_F_P = 0x00100000
    EC_F_2M = 0x00200000
    EC_ECPARAMETERS = 0x00400000
    EC_OID = 0x00800000
    EC_NAMEDCURVE = EC_OID  # pre-3.0 name, same value
    EC_UNCOMPRESS = 0x01000000
    EC_COMPRESS = 0x02000000
    EC_CURVENAME = 0x04000000
    ENCAPSULATE = 0x10000000  # 3.2
    DECAPSULATE = 0x20000000  # 3.2
    EXTENSION = 0x80000000


class InitializeFlag(IntFlag):
    """CK_C_INITIALIZE_ARGS.flags (CKF_*)."""

    LIBRARY_CANT_CREATE_OS_THREADS = 0x0001
    OS_LOCKING_OK = 0x0002


DONT_BLOCK = 0x0001  # CKF_DONT_BLOCK, flags of C_WaitForSlotEvent
END_OF_MESSAGE = 0x0001  # CKF_END_OF_MESSAGE, flags of C_*MessageNext


# The enumerations module start (`pkcs11-tool -L`) never needs live in two modules loaded on
# first use of a name (PEP 562): `from softhsm_py.constants import Mechanism` works as always.
if TYPE_CHECKING:
    from softhsm_py.constants_mechanisms import Mechanism as Mechanism  # "X as X": re-exported
    from softhsm_py.constants_more import KDF as KDF
    from softhsm_py.constants_more import MGF as MGF
    from softhsm_py.constants_more import CertificateCategory as CertificateCategory
    from softhsm_py.constants_more import CertificateType as CertificateType
    from softhsm_py.constants_more import DkmLengthMethod as DkmLengthMethod
    from softhsm_py.constants_more import GeneratorFunction as GeneratorFunction
    from softhsm_py.constants_more import HardwareFeatureType as HardwareFeatureType
    from softhsm_py.constants_more import HedgeType as HedgeType
    from softhsm_py.constants_more import HkdfSaltType as HkdfSaltType
    from softhsm_py.constants_more import InterfaceFlag as InterfaceFlag
    from softhsm_py.constants_more import KeyType as KeyType
    from softhsm_py.constants_more import MLDSAParameterSet as MLDSAParameterSet
    from softhsm_py.constants_more import MLKEMParameterSet as MLKEMParameterSet
    from softhsm_py.constants_more import Notification as Notification
    from softhsm_py.constants_more import OtpFlag as OtpFlag
    from softhsm_py.constants_more import Pbkdf2Prf as Pbkdf2Prf
    from softhsm_py.constants_more import Pbkdf2SaltSource as Pbkdf2SaltSource
    from softhsm_py.constants_more import PkcsOaepSource as PkcsOaepSource
    from softhsm_py.constants_more import PrfDataType as PrfDataType
    from softhsm_py.constants_more import Profile as Profile
    from softhsm_py.constants_more import SecurityDomain as SecurityDomain
    from softhsm_py.constants_more import SessionValidationFlag as SessionValidationFlag

_MORE = (
    "CertificateType", "CertificateCategory", "SecurityDomain", "HardwareFeatureType", "Profile",
    "KeyType", "MGF", "KDF", "PkcsOaepSource", "Pbkdf2SaltSource", "Pbkdf2Prf", "PrfDataType",
    "DkmLengthMethod", "GeneratorFunction", "HkdfSaltType", "Notification", "InterfaceFlag", "OtpFlag",
    "MLDSAParameterSet", "MLKEMParameterSet", "HedgeType", "SessionValidationFlag",
)  # fmt: skip
_LAZY = {"Mechanism": "softhsm_py.constants_mechanisms"} | dict.fromkeys(_MORE, "softhsm_py.constants_more")


def __getattr__(name: str) -> object:
    home = _LAZY.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(home)
    for other, where in _LAZY.items():  # bind the whole module's names: later reads are plain
        if where == home:
            globals()[other] = getattr(module, other)
    return globals()[name]


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
