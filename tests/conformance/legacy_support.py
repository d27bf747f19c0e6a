"""Helpers for the tests of the legacy mechanisms (issue 15 item 5: TDEA, Camellia, DSA, PKCS #3
DH, MD5, the *_ENCRYPT_DATA and simple derivations, SP 800-108, PBKDF2): their constants, written
from the PKCS#11 3.0 specification like mech_support's, and builders of their parameter structs
(cffi, from native/pkcs11.h). The independent side of every check is pyca/cryptography, published
vectors, or OpenSSL's command line."""

from __future__ import annotations

from typing import Any

from .mech_support import Mech, Template, Token, ffi


class K:
    """CKK_* of the legacy key types."""

    GENERIC_SECRET, DSA, DH, DES2, DES3, CAMELLIA, AES, MD5_HMAC = (
        0x10,
        0x1,
        0x2,
        0x14,
        0x15,
        0x25,
        0x1F,
        0x27,
    )


class A:
    """CKA_* the legacy key types add."""

    CLASS, TOKEN, PRIVATE, VALUE, KEY_TYPE, SENSITIVE, EXTRACTABLE = 0x0, 0x1, 0x2, 0x11, 0x100, 0x103, 0x162
    ENCRYPT, DECRYPT, WRAP, UNWRAP, SIGN, VERIFY, DERIVE = 0x104, 0x105, 0x106, 0x107, 0x108, 0x10A, 0x10C
    CHECK_VALUE, PUBLIC_KEY_INFO, LOCAL, VALUE_LEN = 0x90, 0x129, 0x163, 0x161
    PRIME, SUBPRIME, BASE, PRIME_BITS, VALUE_BITS = 0x130, 0x131, 0x132, 0x133, 0x160
    ALWAYS_SENSITIVE, NEVER_EXTRACTABLE, KEY_GEN_MECHANISM = 0x165, 0x164, 0x166
    EC_PARAMS, EC_POINT = 0x180, 0x181


class OC:
    """CKO_* object classes."""

    DATA, PUBLIC_KEY, PRIVATE_KEY, SECRET_KEY, DOMAIN_PARAMETERS = 0, 2, 3, 4, 6


class M:
    """CKM_* of issue 15 item 5."""

    DSA_KEY_PAIR_GEN, DSA, DSA_SHA1, DSA_SHA224, DSA_SHA256 = 0x10, 0x11, 0x12, 0x13, 0x14
    DSA_SHA384, DSA_SHA512, DSA_SHA3_224, DSA_SHA3_256, DSA_SHA3_384, DSA_SHA3_512 = (
        0x15,
        0x16,
        0x18,
        0x19,
        0x1A,
        0x1B,
    )
    DH_PKCS_KEY_PAIR_GEN, DH_PKCS_DERIVE = 0x20, 0x21
    DES2_KEY_GEN, DES3_KEY_GEN, DES3_ECB, DES3_CBC, DES3_MAC = 0x130, 0x131, 0x132, 0x133, 0x134
    DES3_MAC_GENERAL, DES3_CBC_PAD, DES3_CMAC_GENERAL, DES3_CMAC = 0x135, 0x136, 0x137, 0x138
    MD5, MD5_HMAC, MD5_HMAC_GENERAL, SHA_1, SHA256 = 0x210, 0x211, 0x212, 0x220, 0x250
    SHA_1_HMAC, SHA256_HMAC, SHA384_HMAC, SHA512_HMAC, SHA224_HMAC = 0x221, 0x251, 0x261, 0x271, 0x256
    CONCATENATE_BASE_AND_KEY, CONCATENATE_BASE_AND_DATA, CONCATENATE_DATA_AND_BASE = 0x360, 0x362, 0x363
    XOR_BASE_AND_DATA, EXTRACT_KEY_FROM_KEY = 0x364, 0x365
    SP800_108_COUNTER_KDF, SP800_108_FEEDBACK_KDF, SP800_108_DOUBLE_PIPELINE_KDF = 0x3AC, 0x3AD, 0x3AE
    PKCS5_PBKD2 = 0x3B0
    CAMELLIA_KEY_GEN, CAMELLIA_ECB, CAMELLIA_CBC, CAMELLIA_CBC_PAD = 0x550, 0x551, 0x552, 0x555
    EC_KEY_PAIR_GEN, ECDSA, ECDH1_DERIVE = 0x1040, 0x1041, 0x1050
    AES_KEY_GEN, AES_ECB, AES_CBC, AES_CMAC = 0x1080, 0x1081, 0x1082, 0x108A
    DES3_ECB_ENCRYPT_DATA, DES3_CBC_ENCRYPT_DATA = 0x1102, 0x1103
    AES_ECB_ENCRYPT_DATA, AES_CBC_ENCRYPT_DATA = 0x1104, 0x1105
    DSA_PARAMETER_GEN, DH_PKCS_PARAMETER_GEN = 0x2000, 0x2001
    AES_KEY_WRAP, AES_KEY_WRAP_PAD, AES_KEY_WRAP_KWP = 0x2109, 0x210A, 0x210B


# CK_SP800_108 data parameter types and DKM length methods; PBKDF2's PRFs and salt source.
ITERATION, COUNTER, DKM_LENGTH, BYTE_ARRAY = 1, 2, 3, 4
SUM_OF_KEYS, SUM_OF_SEGMENTS = 1, 2
PBKD2_HMAC = {"sha1": 1, "sha224": 3, "sha256": 4, "sha384": 5, "sha512": 6}
SALT_SPECIFIED = 1


def big(n: int) -> bytes:
    return n.to_bytes(max(1, (n.bit_length() + 7) // 8), "big")


# RFC 5114 2.1: the 1024-bit MODP group with a 160-bit prime order subgroup.
P1024 = int(
    "B10B8F96A080E01DDE92DE5EAE5D54EC52C99FBCFB06A3C69A6A9DCA52D23B616073E28675A23D189838EF1E2EE652C0"
    "13ECB4AEA906112324975C3CD49B83BFACCBDD7D90C4BD7098488E9C219A73724EFFD6FAE5644738FAA31A4FF55BCCC0"
    "A151AF5F0DC8B4BD45BF37DF365C1A65E68CFDA76D4DA708DF1FB2BC2E4A4371",
    16,
)
Q160 = int("F518AA8781A8DF278ABA4E7D64B7CB9D49462353", 16)
G1024 = int(
    "A4D1CBD5C3FD34126765A442EFB99905F8104DD258AC507FD6406CFF14266D31266FEA1E5C41564B777E690F5504F213"
    "160217B4B01B886A5E91547F9E2749F4D7FBD7D3B9A92EE1909D0D2263F80A76A6A24C087A091F531DBF0A0169B6A28A"
    "D662A4D18E73AFA32D779D5918D08BC8858F4DCEF97C2A24855E6EEB22B3B2E5",
    16,
)
DSA_DOMAIN: dict[int, bytes] = {A.PRIME: big(P1024), A.SUBPRIME: big(Q160), A.BASE: big(G1024)}
DH_DOMAIN: dict[int, bytes] = {A.PRIME: big(P1024), A.BASE: big(G1024)}


def secret(t: Token, value: bytes, key_type: int, **extra: Any) -> int:
    """A readable session secret key usable for everything (override with A names)."""
    attrs: dict[int, Any] = {
        A.CLASS: OC.SECRET_KEY,
        A.KEY_TYPE: key_type,
        A.TOKEN: False,
        A.VALUE: value,
        A.ENCRYPT: True,
        A.DECRYPT: True,
        A.SIGN: True,
        A.VERIFY: True,
        A.WRAP: True,
        A.UNWRAP: True,
        A.DERIVE: True,
        A.EXTRACTABLE: True,
        A.SENSITIVE: False,
    }
    attrs.update({getattr(A, k): v for k, v in extra.items()})
    return t.create(attrs)


# 3.0's CKR_PUBLIC_KEY_INVALID, as mech_support.rvn names a code it does not know.
PUBLIC_KEY_INVALID = "0x1b9"


def need(t: Token, *mechanisms: int) -> None:
    """softhsm-py must offer ``mechanisms`` (a missing one fails the test); another module is
    skipped when it does not (SoftHSMv2 2.6.1 has no Camellia, SP 800-108, PBKDF2, ...)."""
    if t.softhsm2:
        t.require(*mechanisms)
        return
    listed = set(t.mechanisms())
    missing = [f"0x{m:x}" for m in mechanisms if m not in listed]
    assert not missing, f"softhsm-py does not list mechanism {', '.join(missing)}"


def create_rv(t: Token, attrs: dict[int, Any]) -> str:
    """The CKR name of C_CreateObject with ``attrs``."""
    return create_or_rv(t, attrs)[0]


def create_or_rv(t: Token, attrs: dict[int, Any]) -> tuple[str, int]:
    """(CKR name, handle) of C_CreateObject with ``attrs``."""
    tmpl, out = Template(attrs), ffi.new("CK_OBJECT_HANDLE *")
    return t.rv("C_CreateObject", tmpl.ptr, tmpl.count, out), int(out[0])


def generate_rv(t: Token, mechanism: Mech, attrs: dict[int, Any]) -> str:
    """The CKR name of C_GenerateKey with ``attrs``."""
    tmpl, out = Template(attrs), ffi.new("CK_OBJECT_HANDLE *")
    return t.rv("C_GenerateKey", mechanism.ptr, tmpl.ptr, tmpl.count, out)


def derived(key_type: int = K.GENERIC_SECRET, length: int | None = None, **extra: Any) -> dict[int, Any]:
    """A derive template of a readable session key."""
    attrs: dict[int, Any] = {
        A.CLASS: OC.SECRET_KEY,
        A.KEY_TYPE: key_type,
        A.TOKEN: False,
        A.SENSITIVE: False,
        A.EXTRACTABLE: True,
        A.ENCRYPT: True,
        A.DECRYPT: True,
    }
    if length is not None:
        attrs[A.VALUE_LEN] = length
    attrs.update({getattr(A, k): v for k, v in extra.items()})
    return attrs


def odd_parity(key: bytes) -> bytes:
    """DES parity (FIPS 46-3): each byte's low bit makes its count of one bits odd."""
    return bytes((b & 0xFE) | (bin(b & 0xFE).count("1") % 2 == 0) for b in key)


def has_odd_parity(key: bytes) -> bool:
    return all(bin(b).count("1") % 2 == 1 for b in key)


def cavp_records(text: str) -> list[dict[str, str]]:
    """The records of a CAVP .rsp file, each with the [key=value] headers of its own section (the
    shared loader's parse_cavp gives a section's last record the next section's headers). A
    record starts at COUNT; indented lines (traces of intermediate values) are skipped."""
    records: list[dict[str, str]] = []
    section: dict[str, str] = {}
    current: dict[str, str] = {}
    for raw in text.splitlines():
        if raw.startswith(("\t", " ")):
            continue
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            if current:
                records.append({**section, **current})
                current = {}
            key, _, value = line.strip("[]").partition("=")
            section[key.strip()] = value.strip()
            continue
        key, _, value = (part.strip() for part in line.partition("="))
        if key == "COUNT" and current:
            records.append({**section, **current})
            current = {}
        current[key] = value
    if current:
        records.append({**section, **current})
    return records


# --- parameter structs -----------------------------------------------------------------------
def _buf(data: bytes, keep: list[Any]) -> Any:
    if not data:
        return ffi.NULL
    b = ffi.new("CK_BYTE[]", data)
    keep.append(b)
    return b


def string_data(mechanism: int, data: bytes) -> Mech:
    keep: list[Any] = []
    p = ffi.new("CK_KEY_DERIVATION_STRING_DATA *")
    p.pData, p.ulLen = _buf(data, keep), len(data)
    return Mech(mechanism, p, keep)


def cbc_encrypt_data(mechanism: int, iv: bytes, data: bytes) -> Mech:
    keep: list[Any] = []
    struct = "CK_AES_CBC_ENCRYPT_DATA_PARAMS" if len(iv) == 16 else "CK_DES_CBC_ENCRYPT_DATA_PARAMS"
    p = ffi.new(f"{struct} *")
    ffi.memmove(p.iv, iv, len(iv))
    p.pData, p.length = _buf(data, keep), len(data)
    return Mech(mechanism, p, keep)


def ulong_param(mechanism: int, value: int) -> Mech:
    """A CK_ULONG parameter: CK_OBJECT_HANDLE (CONCATENATE_BASE_AND_KEY), CK_EXTRACT_PARAMS,
    CK_MAC_GENERAL_PARAMS."""
    return Mech(mechanism, ffi.new("CK_ULONG *", value))


def counter(bits: int = 32, little_endian: bool = False) -> tuple[int, Any]:
    return (ITERATION, ("counter", little_endian, bits))


def optional_counter(bits: int = 32, little_endian: bool = False) -> tuple[int, Any]:
    return (COUNTER, ("counter", little_endian, bits))


def dkm_length(bits: int = 32, method: int = SUM_OF_KEYS, little_endian: bool = False) -> tuple[int, Any]:
    return (DKM_LENGTH, ("dkm", method, little_endian, bits))


def chaining() -> tuple[int, Any]:
    """The iteration variable of feedback and double pipeline mode: K(i-1) / A(i), no format."""
    return (ITERATION, None)


def byte_array(data: bytes) -> tuple[int, Any]:
    return (BYTE_ARRAY, data)


def _data_params(fields: list[tuple[int, Any]], keep: list[Any]) -> Any:
    arr = ffi.new("CK_PRF_DATA_PARAM[]", max(len(fields), 1))
    keep.append(arr)
    for i, (kind, value) in enumerate(fields):
        arr[i].type = kind
        if value is None:
            arr[i].pValue, arr[i].ulValueLen = ffi.NULL, 0
        elif isinstance(value, bytes):
            arr[i].pValue, arr[i].ulValueLen = _buf(value, keep), len(value)
        elif value[0] == "counter":
            c = ffi.new(
                "CK_SP800_108_COUNTER_FORMAT *", {"bLittleEndian": value[1], "ulWidthInBits": value[2]}
            )
            keep.append(c)
            arr[i].pValue, arr[i].ulValueLen = c, ffi.sizeof("CK_SP800_108_COUNTER_FORMAT")
        else:
            d = ffi.new(
                "CK_SP800_108_DKM_LENGTH_FORMAT *",
                {"dkmLengthMethod": value[1], "bLittleEndian": value[2], "ulWidthInBits": value[3]},
            )
            keep.append(d)
            arr[i].pValue, arr[i].ulValueLen = d, ffi.sizeof("CK_SP800_108_DKM_LENGTH_FORMAT")
    return arr


class AdditionalKey:
    """A CK_DERIVED_KEY: its template and the handle the module writes back."""

    def __init__(self, template: dict[int, Any]) -> None:
        self.template = Template(template)
        self.handle = ffi.new("CK_OBJECT_HANDLE *", 0xDEAD)


def sp800_108(
    mechanism: int,
    prf: int,
    fields: list[tuple[int, Any]],
    iv: bytes | None = None,
    additional: list[AdditionalKey] = (),  # type: ignore[assignment]
) -> Mech:
    """CK_SP800_108_KDF_PARAMS, or with ``iv`` CK_SP800_108_FEEDBACK_KDF_PARAMS."""
    keep: list[Any] = [additional]
    feedback = iv is not None
    p = ffi.new("CK_SP800_108_FEEDBACK_KDF_PARAMS *" if feedback else "CK_SP800_108_KDF_PARAMS *")
    p.prfType = prf
    p.ulNumberOfDataParams, p.pDataParams = len(fields), _data_params(fields, keep)
    if feedback:
        p.ulIVLen, p.pIV = len(iv), _buf(iv, keep)  # type: ignore[arg-type]
    if additional:
        keys = ffi.new("CK_DERIVED_KEY[]", len(additional))
        keep.append(keys)
        for i, extra in enumerate(additional):
            keys[i].pTemplate, keys[i].ulAttributeCount = extra.template.ptr, extra.template.count
            keys[i].phKey = extra.handle
        p.ulAdditionalDerivedKeys, p.pAdditionalDerivedKeys = len(additional), keys
    return Mech(mechanism, p, keep)


def pbkdf2(
    password: bytes, salt: bytes, iterations: int, prf: str | int = "sha1", legacy_layout: bool = False
) -> Mech:
    """CK_PKCS5_PBKD2_PARAMS2 (3.0), or the 2.40 CK_PKCS5_PBKD2_PARAMS whose password length is a
    pointer; ``prf`` a hash name or a CKP_ value."""
    keep: list[Any] = []
    p = ffi.new("CK_PKCS5_PBKD2_PARAMS *" if legacy_layout else "CK_PKCS5_PBKD2_PARAMS2 *")
    p.saltSource, p.iterations = SALT_SPECIFIED, iterations
    p.prf = PBKD2_HMAC[prf] if isinstance(prf, str) else prf
    p.pSaltSourceData, p.ulSaltSourceDataLen = _buf(salt, keep), len(salt)
    p.pPrfData, p.ulPrfDataLen = ffi.NULL, 0
    p.pPassword = _buf(password, keep)
    if legacy_layout:
        n = ffi.new("CK_ULONG *", len(password))
        keep.append(n)
        p.ulPasswordLen = n
    else:
        p.ulPasswordLen = len(password)
    return Mech(M.PKCS5_PBKD2, p, keep)
