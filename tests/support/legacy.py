"""Helpers for the tests of the legacy mechanisms (issue 15 item 5: TDEA, Camellia, DSA, PKCS #3
DH, MD5, the *_ENCRYPT_DATA and simple derivations, SP 800-108, PBKDF2): the RFC 5114 domain,
calls bound to a ``Token`` that answer a CKR name, DES parity, and builders of their parameter
structs (cffi, from native/pkcs11.h). The independent side of every check is pyca/cryptography,
published vectors, or OpenSSL's command line.
"""

from __future__ import annotations

from typing import Any

from .constants import (
    Attribute,
    DkmLengthMethod,
    KeyType,
    Mechanism,
    ObjectClass,
    Pbkdf2Prf,
    Pbkdf2SaltSource,
    PrfDataType,
)
from .mechanisms import Mech
from .objects import create_rv as _create_rv
from .pkcs11 import ffi
from .templates import Template
from .token import Token

# PBKDF2's PRFs by hash name
PBKD2_HMAC = {
    "sha1": Pbkdf2Prf.HMAC_SHA1,
    "sha224": Pbkdf2Prf.HMAC_SHA224,
    "sha256": Pbkdf2Prf.HMAC_SHA256,
    "sha384": Pbkdf2Prf.HMAC_SHA384,
    "sha512": Pbkdf2Prf.HMAC_SHA512,
}


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
DSA_DOMAIN: dict[int, bytes] = {
    Attribute.PRIME: big(P1024),
    Attribute.SUBPRIME: big(Q160),
    Attribute.BASE: big(G1024),
}
DH_DOMAIN: dict[int, bytes] = {Attribute.PRIME: big(P1024), Attribute.BASE: big(G1024)}


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
    """The CKR name of C_CreateObject with ``attrs`` in ``t``'s session."""
    return create_or_rv(t, attrs)[0]


def create_or_rv(t: Token, attrs: dict[int, Any]) -> tuple[str, int]:
    """(CKR name, handle) of C_CreateObject with ``attrs`` in ``t``'s session."""
    return _create_rv(t.m, t.h, attrs)


def generate_rv(t: Token, mechanism: Mech, attrs: dict[int, Any]) -> str:
    """The CKR name of C_GenerateKey with ``attrs`` in ``t``'s session."""
    tmpl, out = Template(attrs), ffi.new("CK_OBJECT_HANDLE *")
    return t.rv("C_GenerateKey", mechanism.ptr, tmpl.ptr, tmpl.count, out)


def derived(
    key_type: int = KeyType.GENERIC_SECRET, length: int | None = None, **extra: Any
) -> dict[int, Any]:
    """A derive template of a readable session key (override with Attribute names)."""
    attrs: dict[int, Any] = {
        Attribute.CLASS: ObjectClass.SECRET_KEY,
        Attribute.KEY_TYPE: key_type,
        Attribute.TOKEN: False,
        Attribute.SENSITIVE: False,
        Attribute.EXTRACTABLE: True,
        Attribute.ENCRYPT: True,
        Attribute.DECRYPT: True,
    }
    if length is not None:
        attrs[Attribute.VALUE_LEN] = length
    attrs.update({Attribute[k]: v for k, v in extra.items()})
    return attrs


def odd_parity(key: bytes) -> bytes:
    """DES parity (FIPS 46-3): each byte's low bit makes its count of one bits odd."""
    return bytes((b & 0xFE) | (bin(b & 0xFE).count("1") % 2 == 0) for b in key)


def has_odd_parity(key: bytes) -> bool:
    return all(bin(b).count("1") % 2 == 1 for b in key)


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
    return (PrfDataType.ITERATION_VARIABLE, ("counter", little_endian, bits))


def optional_counter(bits: int = 32, little_endian: bool = False) -> tuple[int, Any]:
    return (PrfDataType.OPTIONAL_COUNTER, ("counter", little_endian, bits))


def dkm_length(
    bits: int = 32, method: int = DkmLengthMethod.SUM_OF_KEYS, little_endian: bool = False
) -> tuple[int, Any]:
    return (PrfDataType.DKM_LENGTH, ("dkm", method, little_endian, bits))


def chaining() -> tuple[int, Any]:
    """The iteration variable of feedback and double pipeline mode: K(i-1) / A(i), no format."""
    return (PrfDataType.ITERATION_VARIABLE, None)


def byte_array(data: bytes) -> tuple[int, Any]:
    return (PrfDataType.BYTE_ARRAY, data)


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
    p.saltSource, p.iterations = Pbkdf2SaltSource.SALT_SPECIFIED, iterations
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
    return Mech(Mechanism.PKCS5_PBKD2, p, keep)
