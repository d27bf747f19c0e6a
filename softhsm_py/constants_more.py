"""The enumerations of ``softhsm_py.constants`` that module start (``pkcs11-tool -L``) never
needs: key, certificate and profile types, mechanism-parameter values and rare flags. Import them
from ``softhsm_py.constants`` as always; that module loads this one on first use of a name (PEP 562).
"""

from enum import IntEnum, IntFlag


class CertificateType(IntEnum):
    """CK_CERTIFICATE_TYPE: CKA_CERTIFICATE_TYPE values (CKC_*)."""

    X_509 = 0x0000
    X_509_ATTR_CERT = 0x0001
    WTLS = 0x0002
    VENDOR_DEFINED = 0x80000000


class CertificateCategory(IntEnum):
    """CKA_CERTIFICATE_CATEGORY values (CK_CERTIFICATE_CATEGORY_*)."""

    UNSPECIFIED = 0
    TOKEN_USER = 1
    AUTHORITY = 2
    OTHER_ENTITY = 3


class SecurityDomain(IntEnum):
    """CKA_JAVA_MIDP_SECURITY_DOMAIN values (CK_SECURITY_DOMAIN_*)."""

    UNSPECIFIED = 0
    MANUFACTURER = 1
    OPERATOR = 2
    THIRD_PARTY = 3


class HardwareFeatureType(IntEnum):
    """CK_HW_FEATURE_TYPE: CKA_HW_FEATURE_TYPE values (CKH_*)."""

    MONOTONIC_COUNTER = 0x0001
    CLOCK = 0x0002
    USER_INTERFACE = 0x0003
    VENDOR_DEFINED = 0x80000000


class Profile(IntEnum):
    """CK_PROFILE_ID: CKA_PROFILE_ID values of CKO_PROFILE objects (CKP_*)."""

    INVALID_ID = 0x0000
    BASELINE_PROVIDER = 0x0001
    EXTENDED_PROVIDER = 0x0002
    AUTHENTICATION_TOKEN = 0x0003
    PUBLIC_CERTIFICATES_TOKEN = 0x0004
    VENDOR_DEFINED = 0x80000000


class KeyType(IntEnum):
    """CK_KEY_TYPE: CKA_KEY_TYPE values (CKK_*)."""

    RSA = 0x0000
    DSA = 0x0001
    DH = 0x0002
    EC = 0x0003
    ECDSA = EC  # pre-3.0 name, same value
    X9_42_DH = 0x0004
    KEA = 0x0005
    GENERIC_SECRET = 0x0010
    RC2 = 0x0011
    RC4 = 0x0012
    DES = 0x0013
    DES2 = 0x0014
    DES3 = 0x0015
    CAST = 0x0016
    CAST3 = 0x0017
    CAST128 = 0x0018
    CAST5 = CAST128  # pre-3.0 name, same value
    RC5 = 0x0019
    IDEA = 0x001A
    SKIPJACK = 0x001B
    BATON = 0x001C
    JUNIPER = 0x001D
    CDMF = 0x001E
    AES = 0x001F
    BLOWFISH = 0x0020
    TWOFISH = 0x0021
    SECURID = 0x0022
    HOTP = 0x0023
    ACTI = 0x0024
    CAMELLIA = 0x0025
    ARIA = 0x0026
    MD5_HMAC = 0x0027
    SHA_1_HMAC = 0x0028
    RIPEMD128_HMAC = 0x0029
    RIPEMD160_HMAC = 0x002A
    SHA256_HMAC = 0x002B
    SHA384_HMAC = 0x002C
    SHA512_HMAC = 0x002D
    SHA224_HMAC = 0x002E
    SEED = 0x002F
    GOSTR3410 = 0x0030
    GOSTR3411 = 0x0031
    GOST28147 = 0x0032
    CHACHA20 = 0x0033
    POLY1305 = 0x0034
    AES_XTS = 0x0035
    SHA3_224_HMAC = 0x0036
    SHA3_256_HMAC = 0x0037
    SHA3_384_HMAC = 0x0038
    SHA3_512_HMAC = 0x0039
    BLAKE2B_160_HMAC = 0x003A
    BLAKE2B_256_HMAC = 0x003B
    BLAKE2B_384_HMAC = 0x003C
    BLAKE2B_512_HMAC = 0x003D
    SALSA20 = 0x003E
    X2RATCHET = 0x003F
    EC_EDWARDS = 0x0040
    EC_MONTGOMERY = 0x0041
    HKDF = 0x0042
    SHA512_224_HMAC = 0x0043
    SHA512_256_HMAC = 0x0044
    SHA512_T_HMAC = 0x0045
    ML_KEM = 0x0049  # 3.2
    ML_DSA = 0x004A  # 3.2
    VENDOR_DEFINED = 0x80000000


class MGF(IntEnum):
    """CK_RSA_PKCS_MGF_TYPE: mask generation functions for OAEP and PSS (CKG_MGF1_*)."""

    SHA1 = 0x0001
    SHA256 = 0x0002
    SHA384 = 0x0003
    SHA512 = 0x0004
    SHA224 = 0x0005
    SHA3_224 = 0x0006
    SHA3_256 = 0x0007
    SHA3_384 = 0x0008
    SHA3_512 = 0x0009


class KDF(IntEnum):
    """CK_EC_KDF_TYPE / CK_X9_42_DH_KDF_TYPE: key derivation functions (CKD_*)."""

    NULL = 0x0001
    SHA1_KDF = 0x0002
    SHA1_KDF_ASN1 = 0x0003
    SHA1_KDF_CONCATENATE = 0x0004
    SHA224_KDF = 0x0005
    SHA256_KDF = 0x0006
    SHA384_KDF = 0x0007
    SHA512_KDF = 0x0008
    CPDIVERSIFY_KDF = 0x0009
    SHA3_224_KDF = 0x000A
    SHA3_256_KDF = 0x000B
    SHA3_384_KDF = 0x000C
    SHA3_512_KDF = 0x000D
    SHA1_KDF_SP800 = 0x000E
    SHA224_KDF_SP800 = 0x000F
    SHA256_KDF_SP800 = 0x0010
    SHA384_KDF_SP800 = 0x0011
    SHA512_KDF_SP800 = 0x0012
    SHA3_224_KDF_SP800 = 0x0013
    SHA3_256_KDF_SP800 = 0x0014
    SHA3_384_KDF_SP800 = 0x0015
    SHA3_512_KDF_SP800 = 0x0016
    BLAKE2B_160_KDF = 0x0017
    BLAKE2B_256_KDF = 0x0018
    BLAKE2B_384_KDF = 0x0019
    BLAKE2B_512_KDF = 0x001A


class PkcsOaepSource(IntEnum):
    """CK_RSA_PKCS_OAEP_SOURCE_TYPE: where the OAEP label comes from (CKZ_*)."""

    DATA_SPECIFIED = 0x0001


class Pbkdf2SaltSource(IntEnum):
    """CK_PKCS5_PBKDF2_SALT_SOURCE_TYPE (CKZ_SALT_*)."""

    SALT_SPECIFIED = 0x0001


class Pbkdf2Prf(IntEnum):
    """CK_PKCS5_PBKD2_PSEUDO_RANDOM_FUNCTION_TYPE (CKP_PKCS5_PBKD2_*)."""

    HMAC_SHA1 = 0x0001
    HMAC_GOSTR3411 = 0x0002
    HMAC_SHA224 = 0x0003
    HMAC_SHA256 = 0x0004
    HMAC_SHA384 = 0x0005
    HMAC_SHA512 = 0x0006
    HMAC_SHA512_224 = 0x0007
    HMAC_SHA512_256 = 0x0008


class PrfDataType(IntEnum):
    """CK_PRF_DATA_TYPE: the fields of an SP 800-108 KDF's PRF input (CK_SP800_108_*)."""

    ITERATION_VARIABLE = 0x0001
    OPTIONAL_COUNTER = 0x0002
    DKM_LENGTH = 0x0003
    BYTE_ARRAY = 0x0004


class DkmLengthMethod(IntEnum):
    """CK_SP800_108_DKM_LENGTH_METHOD: what an SP 800-108 DKM length field counts."""

    SUM_OF_KEYS = 0x0001
    SUM_OF_SEGMENTS = 0x0002


class GeneratorFunction(IntEnum):
    """CK_GENERATOR_FUNCTION: IV / nonce generation of message-based AEAD (CKG_*)."""

    NO_GENERATE = 0x0000
    GENERATE = 0x0001
    GENERATE_COUNTER = 0x0002
    GENERATE_RANDOM = 0x0003
    GENERATE_COUNTER_XOR = 0x0004


class HkdfSaltType(IntEnum):
    """CK_HKDF_PARAMS.ulSaltType (CKF_HKDF_SALT_*): one value, not a mask."""

    NULL = 0x0001
    DATA = 0x0002
    KEY = 0x0004


class Notification(IntEnum):
    """CK_NOTIFICATION: events passed to a CK_NOTIFY callback (CKN_*)."""

    SURRENDER = 0
    OTP_CHANGED = 1


class InterfaceFlag(IntFlag):
    """CK_INTERFACE.flags (CKF_INTERFACE_*)."""

    FORK_SAFE = 0x0001


class OtpFlag(IntFlag):
    """CK_OTP_FLAGS parameter of OTP mechanisms (CKF_*)."""

    NEXT_OTP = 0x0001
    EXCLUDE_TIME = 0x0002
    EXCLUDE_COUNTER = 0x0004
    EXCLUDE_CHALLENGE = 0x0008
    EXCLUDE_PIN = 0x0010
    USER_FRIENDLY_OTP = 0x0020


class MLDSAParameterSet(IntEnum):
    """CK_ML_DSA_PARAMETER_SET_TYPE: CKA_PARAMETER_SET of ML-DSA keys (CKP_ML_DSA_*, 3.2)."""

    ML_DSA_44 = 0x0001
    ML_DSA_65 = 0x0002
    ML_DSA_87 = 0x0003


class MLKEMParameterSet(IntEnum):
    """CK_ML_KEM_PARAMETER_SET_TYPE: CKA_PARAMETER_SET of ML-KEM keys (CKP_ML_KEM_*, 3.2)."""

    ML_KEM_512 = 0x0001
    ML_KEM_768 = 0x0002
    ML_KEM_1024 = 0x0003


class HedgeType(IntEnum):
    """CK_HEDGE_TYPE: hedged or deterministic post-quantum signatures (CKH_*, 3.2)."""

    HEDGE_PREFERRED = 0x0000
    HEDGE_REQUIRED = 0x0001
    DETERMINISTIC_REQUIRED = 0x0002


class SessionValidationFlag(IntEnum):
    """CK_SESSION_VALIDATION_FLAGS_TYPE of C_GetSessionValidationFlags (CKS_*, 3.2)."""

    LAST_VALIDATION_OK = 0x0001


for _enum in (
    CertificateType,
    CertificateCategory,
    SecurityDomain,
    HardwareFeatureType,
    Profile,
    KeyType,
    MGF,
    KDF,
    PkcsOaepSource,
    Pbkdf2SaltSource,
    Pbkdf2Prf,
    GeneratorFunction,
    HkdfSaltType,
    Notification,
    InterfaceFlag,
    OtpFlag,
    MLDSAParameterSet,
    MLKEMParameterSet,
    HedgeType,
    SessionValidationFlag,
):
    _enum.__module__ = "softhsm_py.constants"
del _enum
