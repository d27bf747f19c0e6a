"""Helpers for the mechanism conformance tests (tests/conformance/test_mech_*.py).

Everything goes through the C ABI of the module under test (``pkcs11.Module``): CK_MECHANISM with
its parameter struct built with cffi, templates, key generation and import, and wrappers for
the calls whose output follows the two-call protocol (size query with a NULL buffer, then the
real call). The constants are written from the PKCS#11 3.0 specification, like pkcs11.py's, so
that the tests stay an oracle independent of ``softhsm_py.constants``.

The independent side of every check is pyca/cryptography (and the ``openssl`` CLI once).
"""

from __future__ import annotations

import functools
import importlib.util
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa, x448, x25519

from .pkcs11 import CKR, CKU_USER, USER_PIN, Module, ffi

# ------------------------------------------------------------------------------- constants (3.0)
CKR_MORE = {
    "ATTRIBUTE_VALUE_INVALID": 0x13, "ENCRYPTED_DATA_INVALID": 0x40, "ENCRYPTED_DATA_LEN_RANGE": 0x41,
    "KEY_HANDLE_INVALID": 0x60, "KEY_SIZE_RANGE": 0x62, "KEY_TYPE_INCONSISTENT": 0x63,
    "KEY_NOT_NEEDED": 0x64, "KEY_CHANGED": 0x65, "KEY_NEEDED": 0x66, "KEY_INDIGESTIBLE": 0x67,
    "KEY_FUNCTION_NOT_PERMITTED": 0x68, "KEY_NOT_WRAPPABLE": 0x69, "KEY_UNEXTRACTABLE": 0x6A,
    "MECHANISM_PARAM_INVALID": 0x71, "SIGNATURE_INVALID": 0xC0, "SIGNATURE_LEN_RANGE": 0xC1,
    "TEMPLATE_INCOMPLETE": 0xD0, "TEMPLATE_INCONSISTENT": 0xD1,
    "UNWRAPPING_KEY_HANDLE_INVALID": 0xF0, "UNWRAPPING_KEY_SIZE_RANGE": 0xF1,
    "UNWRAPPING_KEY_TYPE_INCONSISTENT": 0xF2, "WRAPPED_KEY_INVALID": 0x110,
    "WRAPPED_KEY_LEN_RANGE": 0x112, "WRAPPING_KEY_HANDLE_INVALID": 0x113,
    "WRAPPING_KEY_SIZE_RANGE": 0x114, "WRAPPING_KEY_TYPE_INCONSISTENT": 0x115,
    "DOMAIN_PARAMS_INVALID": 0x130, "CURVE_NOT_SUPPORTED": 0x140,
}  # fmt: skip
ALL_CKR = {**CKR, **CKR_MORE}
NAME_OF_CKR = {v: k for k, v in ALL_CKR.items()}


def rvn(rv: int) -> str:
    return NAME_OF_CKR.get(int(rv), hex(int(rv)))


class CKO:
    DATA, CERTIFICATE, PUBLIC_KEY, PRIVATE_KEY, SECRET_KEY = 0, 1, 2, 3, 4


class CKK:
    RSA, EC, GENERIC_SECRET, AES = 0x0, 0x3, 0x10, 0x1F
    SHA_1_HMAC, SHA256_HMAC, SHA384_HMAC, SHA512_HMAC, SHA224_HMAC = 0x28, 0x2B, 0x2C, 0x2D, 0x2E
    CHACHA20, EC_EDWARDS, EC_MONTGOMERY, HKDF = 0x33, 0x40, 0x41, 0x42


class CKA:
    CLASS, TOKEN, PRIVATE, LABEL, VALUE = 0x0, 0x1, 0x2, 0x3, 0x11
    TRUSTED = 0x86
    KEY_TYPE, ID, SENSITIVE, ENCRYPT, DECRYPT, WRAP, UNWRAP = 0x100, 0x102, 0x103, 0x104, 0x105, 0x106, 0x107
    SIGN, SIGN_RECOVER, VERIFY, VERIFY_RECOVER, DERIVE = 0x108, 0x109, 0x10A, 0x10B, 0x10C
    MODULUS, MODULUS_BITS, PUBLIC_EXPONENT, PRIVATE_EXPONENT = 0x120, 0x121, 0x122, 0x123
    PRIME_1, PRIME_2, EXPONENT_1, EXPONENT_2, COEFFICIENT = 0x124, 0x125, 0x126, 0x127, 0x128
    VALUE_LEN, EXTRACTABLE, LOCAL, NEVER_EXTRACTABLE, ALWAYS_SENSITIVE = 0x161, 0x162, 0x163, 0x164, 0x165
    KEY_GEN_MECHANISM, MODIFIABLE = 0x166, 0x170
    EC_PARAMS, EC_POINT = 0x180, 0x181
    ALWAYS_AUTHENTICATE, WRAP_WITH_TRUSTED = 0x202, 0x210
    WRAP_TEMPLATE, UNWRAP_TEMPLATE, DERIVE_TEMPLATE = 0x40000211, 0x40000212, 0x40000213
    ALLOWED_MECHANISMS = 0x40000600


TEMPLATE_ATTRS = {CKA.WRAP_TEMPLATE, CKA.UNWRAP_TEMPLATE, CKA.DERIVE_TEMPLATE}


class CKM:
    RSA_PKCS_KEY_PAIR_GEN, RSA_PKCS, RSA_X_509 = 0x0, 0x1, 0x3
    SHA1_RSA_PKCS, RSA_PKCS_OAEP, RSA_PKCS_PSS, SHA1_RSA_PKCS_PSS = 0x6, 0x9, 0xD, 0xE
    SHA256_RSA_PKCS, SHA384_RSA_PKCS, SHA512_RSA_PKCS = 0x40, 0x41, 0x42
    SHA256_RSA_PKCS_PSS, SHA384_RSA_PKCS_PSS, SHA512_RSA_PKCS_PSS = 0x43, 0x44, 0x45
    SHA224_RSA_PKCS, SHA224_RSA_PKCS_PSS = 0x46, 0x47
    SHA512_224, SHA512_256 = 0x48, 0x4C
    SHA3_256_RSA_PKCS, SHA3_384_RSA_PKCS, SHA3_512_RSA_PKCS = 0x60, 0x61, 0x62
    SHA3_256_RSA_PKCS_PSS, SHA3_384_RSA_PKCS_PSS, SHA3_512_RSA_PKCS_PSS = 0x63, 0x64, 0x65
    SHA3_224_RSA_PKCS, SHA3_224_RSA_PKCS_PSS = 0x66, 0x67
    SHA_1, SHA_1_HMAC, SHA_1_HMAC_GENERAL = 0x220, 0x221, 0x222
    SHA256, SHA256_HMAC, SHA256_HMAC_GENERAL = 0x250, 0x251, 0x252
    SHA224, SHA224_HMAC, SHA224_HMAC_GENERAL = 0x255, 0x256, 0x257
    SHA384, SHA384_HMAC, SHA384_HMAC_GENERAL = 0x260, 0x261, 0x262
    SHA512, SHA512_HMAC, SHA512_HMAC_GENERAL = 0x270, 0x271, 0x272
    SHA3_256, SHA3_256_HMAC, SHA3_256_HMAC_GENERAL = 0x2B0, 0x2B1, 0x2B2
    SHA3_224, SHA3_224_HMAC, SHA3_224_HMAC_GENERAL = 0x2B5, 0x2B6, 0x2B7
    SHA3_384, SHA3_384_HMAC, SHA3_384_HMAC_GENERAL = 0x2C0, 0x2C1, 0x2C2
    SHA3_512, SHA3_512_HMAC, SHA3_512_HMAC_GENERAL = 0x2D0, 0x2D1, 0x2D2
    GENERIC_SECRET_KEY_GEN = 0x350
    EC_KEY_PAIR_GEN, ECDSA, ECDSA_SHA1, ECDSA_SHA224 = 0x1040, 0x1041, 0x1042, 0x1043
    ECDSA_SHA256, ECDSA_SHA384, ECDSA_SHA512 = 0x1044, 0x1045, 0x1046
    ECDSA_SHA3_224, ECDSA_SHA3_256, ECDSA_SHA3_384, ECDSA_SHA3_512 = 0x1047, 0x1048, 0x1049, 0x104A
    ECDH1_DERIVE, ECDH1_COFACTOR_DERIVE = 0x1050, 0x1051
    EC_EDWARDS_KEY_PAIR_GEN, EC_MONTGOMERY_KEY_PAIR_GEN, EDDSA = 0x1055, 0x1056, 0x1057
    AES_KEY_GEN, AES_ECB, AES_CBC, AES_MAC, AES_MAC_GENERAL = 0x1080, 0x1081, 0x1082, 0x1083, 0x1084
    AES_CBC_PAD, AES_CTR, AES_GCM, AES_CCM, AES_CTS = 0x1085, 0x1086, 0x1087, 0x1088, 0x1089
    AES_CMAC, AES_CMAC_GENERAL = 0x108A, 0x108B
    AES_ECB_ENCRYPT_DATA, AES_CBC_ENCRYPT_DATA = 0x1104, 0x1105
    CHACHA20_KEY_GEN, CHACHA20 = 0x1225, 0x1226
    AES_KEY_WRAP, AES_KEY_WRAP_PAD, AES_KEY_WRAP_KWP = 0x2109, 0x210A, 0x210B
    CHACHA20_POLY1305 = 0x4021
    HKDF_DERIVE, HKDF_DATA, HKDF_KEY_GEN = 0x402A, 0x402B, 0x402C


class CKF:
    """CK_MECHANISM_INFO flags."""

    HW = 0x1
    MESSAGE_ENCRYPT, MESSAGE_DECRYPT, MESSAGE_SIGN, MESSAGE_VERIFY = 0x2, 0x4, 0x8, 0x10
    MULTI_MESSAGE, FIND_OBJECTS = 0x20, 0x40
    ENCRYPT, DECRYPT, DIGEST, SIGN, SIGN_RECOVER = 0x100, 0x200, 0x400, 0x800, 0x1000
    VERIFY, VERIFY_RECOVER, GENERATE, GENERATE_KEY_PAIR = 0x2000, 0x4000, 0x8000, 0x10000
    WRAP, UNWRAP, DERIVE = 0x20000, 0x40000, 0x80000
    EC_F_P, EC_F_2M, EC_ECPARAMETERS, EC_OID = 0x100000, 0x200000, 0x400000, 0x800000
    EC_UNCOMPRESS, EC_COMPRESS, EC_CURVENAME = 0x1000000, 0x2000000, 0x4000000
    EXTENSION = 0x80000000


class CKG:
    MGF1_SHA1, MGF1_SHA256, MGF1_SHA384, MGF1_SHA512, MGF1_SHA224 = 1, 2, 3, 4, 5


class CKD:
    NULL, SHA1_KDF, SHA224_KDF, SHA256_KDF, SHA384_KDF, SHA512_KDF = 1, 2, 5, 6, 7, 8


CKZ_DATA_SPECIFIED = 1
HKDF_SALT_NULL, HKDF_SALT_DATA, HKDF_SALT_KEY = 1, 2, 4

# DER of the curve OIDs (CKA_EC_PARAMS).
P256 = bytes.fromhex("06082a8648ce3d030107")
P384 = bytes.fromhex("06052b81040022")
P521 = bytes.fromhex("06052b81040023")
SECP256K1 = bytes.fromhex("06052b8104000a")
P192 = bytes.fromhex("06082a8648ce3d030101")  # as `openssl ecparam -name NAME -outform DER` writes them
P224 = bytes.fromhex("06052b81040021")
BRAINPOOL_P256 = bytes.fromhex("06092b2403030208010107")
BRAINPOOL_P384 = bytes.fromhex("06092b240303020801010b")
BRAINPOOL_P512 = bytes.fromhex("06092b240303020801010d")
ED25519_OID = bytes.fromhex("06032b6570")
ED448_OID = bytes.fromhex("06032b6571")
X25519_OID = bytes.fromhex("06032b656e")
X448_OID = bytes.fromhex("06032b656f")
CURVES = {P256: ec.SECP256R1(), P384: ec.SECP384R1(), P521: ec.SECP521R1(), SECP256K1: ec.SECP256K1(),
          P192: ec.SECP192R1(), P224: ec.SECP224R1(), BRAINPOOL_P256: ec.BrainpoolP256R1(),
          BRAINPOOL_P384: ec.BrainpoolP384R1(), BRAINPOOL_P512: ec.BrainpoolP512R1()}  # fmt: skip
CURVE_IDS = {P256: "P-256", P384: "P-384", P521: "P-521", SECP256K1: "secp256k1", P192: "P-192",
             P224: "P-224", BRAINPOOL_P256: "brainpoolP256r1", BRAINPOOL_P384: "brainpoolP384r1",
             BRAINPOOL_P512: "brainpoolP512r1"}  # fmt: skip

# hash name <-> mechanisms, for parametrisation
HASH_MECH = {"sha1": CKM.SHA_1, "sha224": CKM.SHA224, "sha256": CKM.SHA256, "sha384": CKM.SHA384,
             "sha512": CKM.SHA512, "sha3-224": CKM.SHA3_224, "sha3-256": CKM.SHA3_256,
             "sha3-384": CKM.SHA3_384, "sha3-512": CKM.SHA3_512}  # fmt: skip
MGF1 = {"sha1": CKG.MGF1_SHA1, "sha224": CKG.MGF1_SHA224, "sha256": CKG.MGF1_SHA256,
        "sha384": CKG.MGF1_SHA384, "sha512": CKG.MGF1_SHA512}  # fmt: skip


def crypto_hash(name: str) -> Any:
    from cryptography.hazmat.primitives import hashes

    return {
        "sha1": hashes.SHA1, "sha224": hashes.SHA224, "sha256": hashes.SHA256, "sha384": hashes.SHA384,
        "sha512": hashes.SHA512, "sha3-224": hashes.SHA3_224, "sha3-256": hashes.SHA3_256,
        "sha3-384": hashes.SHA3_384, "sha3-512": hashes.SHA3_512,
        "sha512-224": hashes.SHA512_224, "sha512-256": hashes.SHA512_256,
    }[name]()  # fmt: skip


def digest(name: str, data: bytes) -> bytes:
    from cryptography.hazmat.primitives import hashes

    h = hashes.Hash(crypto_hash(name))
    h.update(data)
    return h.finalize()


# ------------------------------------------------------------------------------- DER bits
def der_octet_string(data: bytes) -> bytes:
    n = len(data)
    if n < 0x80:
        return b"\x04" + bytes([n]) + data
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return b"\x04" + bytes([0x80 | len(size)]) + size + data


def der_unwrap_octet_string(data: bytes) -> bytes:
    """CKA_EC_POINT is an OCTET STRING (as SoftHSMv2 writes it); accept a raw point too."""
    if data[:1] != b"\x04" or len(data) < 2:
        return data
    n, off = data[1], 2
    if n & 0x80:
        k = n & 0x7F
        n, off = int.from_bytes(data[2 : 2 + k], "big"), 2 + k
    return data[off:] if off + n == len(data) else data


# DigestInfo prefixes (RFC 8017 9.2 note 1)
DIGEST_INFO = {
    "sha1": bytes.fromhex("3021300906052b0e03021a05000414"),
    "sha224": bytes.fromhex("302d300d06096086480165030402040500041c"),
    "sha256": bytes.fromhex("3031300d060960864801650304020105000420"),
    "sha384": bytes.fromhex("3041300d060960864801650304020205000430"),
    "sha512": bytes.fromhex("3051300d060960864801650304020305000440"),
}


# ------------------------------------------------------------------------------- templates
class Template:
    """A CK_ATTRIBUTE array built from {type: value}: bool -> CK_BBOOL, int -> CK_ULONG,
    bytes/str -> bytes, list/tuple of int -> CK_ULONG array (CKA_ALLOWED_MECHANISMS), dict -> a
    nested CK_ATTRIBUTE array (CKA_WRAP_TEMPLATE & co). Keeps every buffer alive."""

    def __init__(self, attrs: dict[int, Any] | None = None) -> None:
        attrs = attrs or {}
        self._keep: list[Any] = []
        self.count = len(attrs)
        self.ptr = ffi.new("CK_ATTRIBUTE[]", max(self.count, 1)) if attrs else ffi.NULL
        for i, (kind, value) in enumerate(attrs.items()):
            buf, size = self._encode(value)
            self.ptr[i].type = kind
            self.ptr[i].pValue = buf
            self.ptr[i].ulValueLen = size

    def _encode(self, value: Any) -> tuple[Any, int]:
        if isinstance(value, bool):
            buf = ffi.new("CK_BBOOL *", value)
            size = 1
        elif isinstance(value, int):
            buf = ffi.new("CK_ULONG *", value)
            size = ffi.sizeof("CK_ULONG")
        elif isinstance(value, str):
            return self._encode(value.encode())
        elif isinstance(value, bytes | bytearray):
            if not value:
                return ffi.NULL, 0
            buf = ffi.new("CK_BYTE[]", bytes(value))
            size = len(value)
        elif isinstance(value, list | tuple):
            buf = ffi.new("CK_ULONG[]", list(value) or [0])
            size = len(value) * ffi.sizeof("CK_ULONG")
        elif isinstance(value, dict):
            inner = Template(value)
            self._keep.append(inner)
            return inner.ptr, inner.count * ffi.sizeof("CK_ATTRIBUTE")
        else:
            raise TypeError(value)
        self._keep.append(buf)
        return buf, size


def cbytes(data: bytes) -> Any:
    """A CK_BYTE array for an input buffer (never NULL, even empty)."""
    return ffi.new("CK_BYTE[]", max(len(data), 1)) if not data else ffi.new("CK_BYTE[]", bytes(data))


# ------------------------------------------------------------------------------- mechanisms
class Mech:
    """A CK_MECHANISM with its parameter (a cffi struct pointer or raw bytes) kept alive."""

    def __init__(
        self, mechanism: int, param: Any = None, keep: Sequence[Any] = (), length: int | None = None
    ):
        self.type = mechanism
        self._keep = list(keep)
        self.ptr = ffi.new("CK_MECHANISM *")
        self.ptr.mechanism = mechanism
        if param is None:
            self.ptr.pParameter, self.ptr.ulParameterLen = ffi.NULL, 0
        elif isinstance(param, bytes | bytearray):
            buf = ffi.new("CK_BYTE[]", bytes(param)) if param else ffi.NULL
            self._keep.append(buf)
            self.ptr.pParameter, self.ptr.ulParameterLen = buf, len(param)
        else:  # a cffi struct pointer
            self._keep.append(param)
            self.ptr.pParameter = param
            self.ptr.ulParameterLen = ffi.sizeof(ffi.typeof(param).item) if length is None else length

    def __repr__(self) -> str:
        return f"Mech(0x{self.type:x})"


def mech(mechanism: int, param: Any = None) -> Mech:
    return param if isinstance(param, Mech) else Mech(mechanism, param)


def _buf(data: bytes, keep: list[Any]) -> Any:
    if not data:
        return ffi.NULL
    b = ffi.new("CK_BYTE[]", bytes(data))
    keep.append(b)
    return b


def gcm(iv: bytes, aad: bytes = b"", tag_bits: int = 128) -> Mech:
    keep: list[Any] = []
    p = ffi.new("CK_GCM_PARAMS *")
    p.pIv, p.ulIvLen, p.ulIvBits = _buf(iv, keep), len(iv), len(iv) * 8
    p.pAAD, p.ulAADLen, p.ulTagBits = _buf(aad, keep), len(aad), tag_bits
    return Mech(CKM.AES_GCM, p, keep)


def ctr(cb: bytes, counter_bits: int = 128) -> Mech:
    p = ffi.new("CK_AES_CTR_PARAMS *")
    p.ulCounterBits = counter_bits
    ffi.memmove(p.cb, cb, 16)
    return Mech(CKM.AES_CTR, p)


def chacha_poly(nonce: bytes, aad: bytes = b"") -> Mech:
    keep: list[Any] = []
    p = ffi.new("CK_SALSA20_CHACHA20_POLY1305_PARAMS *")
    p.pNonce, p.ulNonceLen = _buf(nonce, keep), len(nonce)
    p.pAAD, p.ulAADLen = _buf(aad, keep), len(aad)
    return Mech(CKM.CHACHA20_POLY1305, p, keep)


def oaep(hash_name: str = "sha1", mgf_name: str | None = None, label: bytes = b"") -> Mech:
    keep: list[Any] = []
    p = ffi.new("CK_RSA_PKCS_OAEP_PARAMS *")
    p.hashAlg, p.mgf = HASH_MECH[hash_name], MGF1[mgf_name or hash_name]
    p.source = CKZ_DATA_SPECIFIED
    p.pSourceData, p.ulSourceDataLen = _buf(label, keep), len(label)
    return Mech(CKM.RSA_PKCS_OAEP, p, keep)


def pss(mechanism: int, hash_name: str, salt_len: int | None = None, mgf_name: str | None = None) -> Mech:
    p = ffi.new("CK_RSA_PKCS_PSS_PARAMS *")
    p.hashAlg, p.mgf = HASH_MECH[hash_name], MGF1[mgf_name or hash_name]
    p.sLen = len(digest(hash_name, b"")) if salt_len is None else salt_len
    return Mech(mechanism, p)


def ecdh(public: bytes, kdf: int = CKD.NULL, shared: bytes = b"", mechanism: int = CKM.ECDH1_DERIVE) -> Mech:
    keep: list[Any] = []
    p = ffi.new("CK_ECDH1_DERIVE_PARAMS *")
    p.kdf = kdf
    p.pSharedData, p.ulSharedDataLen = _buf(shared, keep), len(shared)
    p.pPublicData, p.ulPublicDataLen = _buf(public, keep), len(public)
    return Mech(mechanism, p, keep)


def hkdf(
    mechanism: int = CKM.HKDF_DERIVE,
    prf: int = CKM.SHA256,
    salt: bytes | None = None,
    info: bytes = b"",
    extract: bool = True,
    expand: bool = True,
    salt_key: int = 0,
) -> Mech:
    keep: list[Any] = []
    p = ffi.new("CK_HKDF_PARAMS *")
    p.bExtract, p.bExpand, p.prfHashMechanism = extract, expand, prf
    if salt_key:
        p.ulSaltType, p.hSaltKey = HKDF_SALT_KEY, salt_key
    elif salt:
        p.ulSaltType = HKDF_SALT_DATA
        p.pSalt, p.ulSaltLen = _buf(salt, keep), len(salt)
    else:
        p.ulSaltType = HKDF_SALT_NULL
    p.pInfo, p.ulInfoLen = _buf(info, keep), len(info)
    return Mech(mechanism, p, keep)


def mac_general(mechanism: int, length: int) -> Mech:
    return Mech(mechanism, ffi.new("CK_ULONG *", length))


# ------------------------------------------------------------------------------- the token
class CallError(AssertionError):
    def __init__(self, function: str, rv: int) -> None:
        self.function, self.rv, self.name = function, rv, rvn(rv)
        super().__init__(f"{function} returned CKR_{self.name}")


class Token:
    """A logged-in R/W user session on a fresh token of ``module``."""

    def __init__(self, module: Module) -> None:
        self.m = module
        self.slot = module.ready_token()
        self.h = module.open(self.slot)
        module.login(self.h, CKU_USER, USER_PIN)

    @property
    def softhsm2(self) -> bool:
        return self.m.softhsm2

    # -- raw -----------------------------------------------------------------------------------
    def rv(self, name: str, *args: Any) -> str:
        """Call ``name`` with this session first; return the CKR name."""
        return rvn(self.m.rv(name, self.h, *args))

    def ok(self, name: str, *args: Any) -> None:
        rv = self.m.rv(name, self.h, *args)
        if rv != 0:
            raise CallError(name, rv)

    def expect(self, expected: str | Iterable[str], name: str, *args: Any) -> str:
        allowed = (expected,) if isinstance(expected, str) else tuple(expected)
        got = self.rv(name, *args)
        assert got in allowed, f"{name}: expected CKR_{'/'.join(allowed)}, got CKR_{got}"
        return got

    # -- objects -------------------------------------------------------------------------------
    def create(self, attrs: dict[int, Any]) -> int:
        t, out = Template(attrs), ffi.new("CK_OBJECT_HANDLE *")
        self.ok("C_CreateObject", t.ptr, t.count, out)
        return int(out[0])

    def get(self, obj: int, kind: int) -> bytes:
        attr = ffi.new("CK_ATTRIBUTE *", {"type": kind, "pValue": ffi.NULL, "ulValueLen": 0})
        self.ok("C_GetAttributeValue", obj, attr, 1)
        buf = ffi.new("CK_BYTE[]", max(int(attr.ulValueLen), 1))
        attr.pValue = buf
        self.ok("C_GetAttributeValue", obj, attr, 1)
        return bytes(ffi.buffer(buf, int(attr.ulValueLen)))

    def get_bool(self, obj: int, kind: int) -> bool:
        return self.get(obj, kind) != b"\x00"

    def get_ulong(self, obj: int, kind: int) -> int:
        return int(ffi.cast("CK_ULONG *", ffi.from_buffer(self.get(obj, kind)))[0])

    def get_rv(self, obj: int, kind: int) -> str:
        attr = ffi.new("CK_ATTRIBUTE *", {"type": kind, "pValue": ffi.NULL, "ulValueLen": 0})
        return self.rv("C_GetAttributeValue", obj, attr, 1)

    def set(self, obj: int, attrs: dict[int, Any]) -> None:
        t = Template(attrs)
        self.ok("C_SetAttributeValue", obj, t.ptr, t.count)

    # -- keys ----------------------------------------------------------------------------------
    def generate_key(self, mechanism: int | Mech, attrs: dict[int, Any], with_class: bool = True) -> int:
        """C_GenerateKey; the template gets CKA_CLASS (as pkcs11-tool sends it) unless told not to."""
        if with_class:
            attrs = {CKA.CLASS: CKO.SECRET_KEY, **attrs}
        mm, t = mech(mechanism) if isinstance(mechanism, int) else mechanism, Template(attrs)
        out = ffi.new("CK_OBJECT_HANDLE *")
        self.ok("C_GenerateKey", mm.ptr, t.ptr, t.count, out)
        return int(out[0])

    def generate_pair(
        self,
        mechanism: int | Mech,
        pub: dict[int, Any],
        priv: dict[int, Any] | None = None,
        with_class: bool = True,
    ) -> tuple[int, int]:
        """C_GenerateKeyPair; both templates get CKA_CLASS unless told not to."""
        if with_class:
            pub, priv = {CKA.CLASS: CKO.PUBLIC_KEY, **pub}, {CKA.CLASS: CKO.PRIVATE_KEY, **(priv or {})}
        mm = mech(mechanism) if isinstance(mechanism, int) else mechanism
        tp, tq = Template(pub), Template(priv or {})
        hp, hq = ffi.new("CK_OBJECT_HANDLE *"), ffi.new("CK_OBJECT_HANDLE *")
        self.ok("C_GenerateKeyPair", mm.ptr, tp.ptr, tp.count, tq.ptr, tq.count, hp, hq)
        return int(hp[0]), int(hq[0])

    def secret(self, value: bytes, key_type: int = CKK.AES, **extra: Any) -> int:
        """Import a session secret key usable for everything (override with CKA names)."""
        attrs: dict[int, Any] = {
            CKA.CLASS: CKO.SECRET_KEY, CKA.KEY_TYPE: key_type, CKA.TOKEN: False, CKA.VALUE: value,
            CKA.ENCRYPT: True, CKA.DECRYPT: True, CKA.SIGN: True, CKA.VERIFY: True,
            CKA.WRAP: True, CKA.UNWRAP: True, CKA.DERIVE: True, CKA.EXTRACTABLE: True,
            CKA.SENSITIVE: False,
        }  # fmt: skip
        attrs.update({getattr(CKA, k): v for k, v in extra.items()})
        return self.create(attrs)

    def aes(self, size: int = 32, **extra: Any) -> tuple[int, bytes]:
        value = bytes(range(1, size + 1))
        return self.secret(value, CKK.AES, **extra), value

    def wrap(self, mechanism: Mech, wrapping: int, key: int) -> bytes:
        n = ffi.new("CK_ULONG *")
        self.ok("C_WrapKey", mechanism.ptr, wrapping, key, ffi.NULL, n)
        buf = ffi.new("CK_BYTE[]", max(int(n[0]), 1))
        self.ok("C_WrapKey", mechanism.ptr, wrapping, key, buf, n)
        return bytes(ffi.buffer(buf, int(n[0])))

    def wrap_rv(self, mechanism: Mech, wrapping: int, key: int) -> str:
        n = ffi.new("CK_ULONG *", 4096)
        buf = ffi.new("CK_BYTE[]", 4096)
        return self.rv("C_WrapKey", mechanism.ptr, wrapping, key, buf, n)

    def unwrap(self, mechanism: Mech, key: int, wrapped: bytes, attrs: dict[int, Any]) -> int:
        t, out = Template(attrs), ffi.new("CK_OBJECT_HANDLE *")
        self.ok("C_UnwrapKey", mechanism.ptr, key, cbytes(wrapped), len(wrapped), t.ptr, t.count, out)
        return int(out[0])

    def unwrap_rv(self, mechanism: Mech, key: int, wrapped: bytes, attrs: dict[int, Any]) -> str:
        t, out = Template(attrs), ffi.new("CK_OBJECT_HANDLE *")
        return self.rv("C_UnwrapKey", mechanism.ptr, key, cbytes(wrapped), len(wrapped), t.ptr, t.count, out)

    def derive(self, mechanism: Mech, base: int, attrs: dict[int, Any]) -> int:
        t, out = Template(attrs), ffi.new("CK_OBJECT_HANDLE *")
        self.ok("C_DeriveKey", mechanism.ptr, base, t.ptr, t.count, out)
        return int(out[0])

    def derive_rv(self, mechanism: Mech, base: int, attrs: dict[int, Any]) -> str:
        t, out = Template(attrs), ffi.new("CK_OBJECT_HANDLE *")
        return self.rv("C_DeriveKey", mechanism.ptr, base, t.ptr, t.count, out)

    # -- the output protocol -------------------------------------------------------------------
    def out(self, name: str, *args: Any) -> bytes:
        """Call ``name(h, *args, pOut, pulOut)`` twice: size query, then the real call."""
        n = ffi.new("CK_ULONG *")
        self.ok(name, *args, ffi.NULL, n)
        announced = int(n[0])
        buf = ffi.new("CK_BYTE[]", max(announced, 1))
        self.ok(name, *args, buf, n)
        assert int(n[0]) <= announced, f"{name}: wrote {n[0]} bytes after announcing {announced}"
        return bytes(ffi.buffer(buf, int(n[0])))

    def _data(self, data: bytes) -> tuple[Any, int]:
        return cbytes(data), len(data)

    # -- one-shot operations -------------------------------------------------------------------
    def sign(self, mechanism: Mech | int, key: int, data: bytes) -> bytes:
        mm = mech(mechanism) if isinstance(mechanism, int) else mechanism
        self.ok("C_SignInit", mm.ptr, key)
        return self.out("C_Sign", *self._data(data))

    def verify(self, mechanism: Mech | int, key: int, data: bytes, signature: bytes) -> str:
        """The CKR name of C_Verify (OK or SIGNATURE_INVALID...)."""
        mm = mech(mechanism) if isinstance(mechanism, int) else mechanism
        self.ok("C_VerifyInit", mm.ptr, key)
        return self.rv("C_Verify", *self._data(data), cbytes(signature), len(signature))

    def encrypt(self, mechanism: Mech | int, key: int, data: bytes) -> bytes:
        mm = mech(mechanism) if isinstance(mechanism, int) else mechanism
        self.ok("C_EncryptInit", mm.ptr, key)
        return self.out("C_Encrypt", *self._data(data))

    def decrypt(self, mechanism: Mech | int, key: int, data: bytes) -> bytes:
        mm = mech(mechanism) if isinstance(mechanism, int) else mechanism
        self.ok("C_DecryptInit", mm.ptr, key)
        return self.out("C_Decrypt", *self._data(data))

    def decrypt_rv(self, mechanism: Mech | int, key: int, data: bytes) -> str:
        mm = mech(mechanism) if isinstance(mechanism, int) else mechanism
        self.ok("C_DecryptInit", mm.ptr, key)
        n = ffi.new("CK_ULONG *", len(data) + 64)
        buf = ffi.new("CK_BYTE[]", len(data) + 64)
        return self.rv("C_Decrypt", *self._data(data), buf, n)

    def digest(self, mechanism: int, data: bytes) -> bytes:
        self.ok("C_DigestInit", mech(mechanism).ptr)
        return self.out("C_Digest", *self._data(data))

    # -- multi-part ----------------------------------------------------------------------------
    def sign_parts(self, mechanism: Mech | int, key: int, parts: Iterable[bytes]) -> bytes:
        mm = mech(mechanism) if isinstance(mechanism, int) else mechanism
        self.ok("C_SignInit", mm.ptr, key)
        for part in parts:
            self.ok("C_SignUpdate", *self._data(part))
        return self.out("C_SignFinal")

    def verify_parts(self, mechanism: Mech | int, key: int, parts: Iterable[bytes], signature: bytes) -> str:
        mm = mech(mechanism) if isinstance(mechanism, int) else mechanism
        self.ok("C_VerifyInit", mm.ptr, key)
        for part in parts:
            self.ok("C_VerifyUpdate", *self._data(part))
        return self.rv("C_VerifyFinal", cbytes(signature), len(signature))

    def _cipher_parts(self, kind: str, mechanism: Mech | int, key: int, parts: Iterable[bytes]) -> bytes:
        mm = mech(mechanism) if isinstance(mechanism, int) else mechanism
        self.ok(f"C_{kind}Init", mm.ptr, key)
        out = b""
        for part in parts:
            out += self.out(f"C_{kind}Update", *self._data(part))
        return out + self.out(f"C_{kind}Final")

    def encrypt_parts(self, mechanism: Mech | int, key: int, parts: Iterable[bytes]) -> bytes:
        return self._cipher_parts("Encrypt", mechanism, key, parts)

    def decrypt_parts(self, mechanism: Mech | int, key: int, parts: Iterable[bytes]) -> bytes:
        return self._cipher_parts("Decrypt", mechanism, key, parts)

    def digest_parts(self, mechanism: int, parts: Iterable[bytes]) -> bytes:
        self.ok("C_DigestInit", mech(mechanism).ptr)
        for part in parts:
            self.ok("C_DigestUpdate", *self._data(part))
        return self.out("C_DigestFinal")

    # -- mechanism list ------------------------------------------------------------------------
    def require(self, *mechanisms: int) -> None:
        """Skip unless the module lists every one of ``mechanisms`` (SoftHSMv2 2.6.1 has no
        X25519/X448, ChaCha20-Poly1305, HKDF, SHA-3 HMAC...: missing, not a departure)."""
        import pytest

        listed = set(self.mechanisms())
        missing = [f"0x{m:x}" for m in mechanisms if m not in listed]
        if missing:
            pytest.skip(f"{self.m.name} does not offer mechanism {', '.join(missing)}")

    def mechanisms(self) -> list[int]:
        n = ffi.new("CK_ULONG *")
        self.m.check("C_GetMechanismList", self.slot, ffi.NULL, n)
        arr = ffi.new("CK_MECHANISM_TYPE[]", max(int(n[0]), 1))
        self.m.check("C_GetMechanismList", self.slot, arr, n)
        return [int(arr[i]) for i in range(int(n[0]))]

    def mechanism_info(self, mechanism: int) -> Any:
        info = ffi.new("CK_MECHANISM_INFO *")
        self.m.check("C_GetMechanismInfo", self.slot, mechanism, info)
        return info


def split(data: bytes, *sizes: int) -> list[bytes]:
    """``data`` cut at the given sizes (the rest is the last part)."""
    out, pos = [], 0
    for size in sizes:
        out.append(data[pos : pos + size])
        pos += size
    return [*out, data[pos:]]


# ------------------------------------------------------------------------------- key import
BASE_PUBLIC = {CKA.TOKEN: False, CKA.VERIFY: True, CKA.ENCRYPT: True, CKA.WRAP: True}
BASE_PRIVATE = {CKA.TOKEN: False, CKA.SIGN: True, CKA.DECRYPT: True, CKA.UNWRAP: True, CKA.DERIVE: True,
                CKA.SENSITIVE: True, CKA.EXTRACTABLE: True}  # fmt: skip


def _int(value: int) -> bytes:
    return value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")


@functools.cache
def rsa_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    """One cryptography RSA key per size for the whole run (generation is the slow part)."""
    return rsa.generate_private_key(65537, bits)


@functools.cache
def ec_key(params: bytes) -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(CURVES[params])


def import_rsa(
    t: Token, key: rsa.RSAPrivateKey, public: dict[int, Any] | None = None, **extra: Any
) -> tuple[int, int]:
    """(public, private) handles; ``public`` adds to the public template, ``extra`` (CKA names)
    to the private one."""
    pn = key.private_numbers()
    pub = pn.public_numbers
    common = {CKA.KEY_TYPE: CKK.RSA, CKA.MODULUS: _int(pub.n), CKA.PUBLIC_EXPONENT: _int(pub.e)}
    h_pub = t.create({CKA.CLASS: CKO.PUBLIC_KEY, **common, **BASE_PUBLIC, **(public or {})})
    private = {
        CKA.CLASS: CKO.PRIVATE_KEY, **common, **BASE_PRIVATE, CKA.PRIVATE_EXPONENT: _int(pn.d),
        CKA.PRIME_1: _int(pn.p), CKA.PRIME_2: _int(pn.q), CKA.EXPONENT_1: _int(pn.dmp1),
        CKA.EXPONENT_2: _int(pn.dmq1), CKA.COEFFICIENT: _int(pn.iqmp),
    }  # fmt: skip
    private.update({getattr(CKA, k): v for k, v in extra.items()})
    return h_pub, t.create(private)


def ec_point(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


def import_ec(t: Token, key: ec.EllipticCurvePrivateKey, params: bytes, **extra: Any) -> tuple[int, int]:
    size = (key.curve.key_size + 7) // 8
    point = der_octet_string(ec_point(key.public_key()))
    value = key.private_numbers().private_value.to_bytes(size, "big")
    h_pub = t.create({CKA.CLASS: CKO.PUBLIC_KEY, CKA.KEY_TYPE: CKK.EC, CKA.EC_PARAMS: params,
                      CKA.EC_POINT: point, **BASE_PUBLIC})  # fmt: skip
    private = {CKA.CLASS: CKO.PRIVATE_KEY, CKA.KEY_TYPE: CKK.EC, CKA.EC_PARAMS: params,
               CKA.VALUE: value, **BASE_PRIVATE}  # fmt: skip
    private.update({getattr(CKA, k): v for k, v in extra.items()})
    return h_pub, t.create(private)


RAW = (serialization.Encoding.Raw, serialization.PublicFormat.Raw)
RAW_PRIV = (serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
OKP = {
    "ed25519": (ed25519.Ed25519PrivateKey, ED25519_OID, CKK.EC_EDWARDS),
    "ed448": (ed448.Ed448PrivateKey, ED448_OID, CKK.EC_EDWARDS),
    "x25519": (x25519.X25519PrivateKey, X25519_OID, CKK.EC_MONTGOMERY),
    "x448": (x448.X448PrivateKey, X448_OID, CKK.EC_MONTGOMERY),
}


def import_okp(t: Token, name: str, key: Any = None) -> tuple[int, int, Any]:
    """An Edwards / Montgomery key (made by cryptography unless given) as (pub, priv, key)."""
    cls, oid, key_type = OKP[name]
    key = key or cls.generate()
    point = der_octet_string(key.public_key().public_bytes(*RAW))
    h_pub = t.create({CKA.CLASS: CKO.PUBLIC_KEY, CKA.KEY_TYPE: key_type, CKA.EC_PARAMS: oid,
                      CKA.EC_POINT: point, **BASE_PUBLIC})  # fmt: skip
    h_priv = t.create({CKA.CLASS: CKO.PRIVATE_KEY, CKA.KEY_TYPE: key_type, CKA.EC_PARAMS: oid,
                       CKA.VALUE: key.private_bytes(*RAW_PRIV), **BASE_PRIVATE})  # fmt: skip
    return h_pub, h_priv, key


def public_rsa(t: Token, h_pub: int) -> rsa.RSAPublicKey:
    n = int.from_bytes(t.get(h_pub, CKA.MODULUS), "big")
    e = int.from_bytes(t.get(h_pub, CKA.PUBLIC_EXPONENT), "big")
    return rsa.RSAPublicNumbers(e, n).public_key()


def public_ec(t: Token, h_pub: int, params: bytes) -> ec.EllipticCurvePublicKey:
    point = der_unwrap_octet_string(t.get(h_pub, CKA.EC_POINT))
    return ec.EllipticCurvePublicKey.from_encoded_point(CURVES[params], point)


def raw_to_der_ecdsa(signature: bytes) -> bytes:
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    half = len(signature) // 2
    return encode_dss_signature(
        int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big")
    )


def der_to_raw_ecdsa(signature: bytes, size: int) -> bytes:
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    r, s = decode_dss_signature(signature)
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


# ------------------------------------------------------------------------------- vectors
def vectors() -> Any:
    """tests/vectors/loader.py, the one loader for known-answer files (imported by path: tests/
    is not a package)."""
    name = "softhsm_py_tests_vectors_loader"
    if name not in sys.modules:
        path = Path(__file__).resolve().parents[1] / "vectors" / "loader.py"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]
