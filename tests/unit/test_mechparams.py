"""abi/mechparams.py: C mechanism parameters -> mechanisms.params values."""

from __future__ import annotations

from pathlib import Path

import pytest
from cffi import FFI

from softhsm_py import errors
from softhsm_py.constants import KDF, MGF, HkdfSaltType, Mechanism
from softhsm_py.mechanisms import params as P
from softhsm_py.mechanisms import registry
from softhsm_py.pkcs11.abi.mechparams import MESSAGE_PARSERS, PARSERS, parse_param

M = Mechanism
HEADER = Path(__file__).resolve().parents[2] / "native" / "pkcs11.h"
# Fallback while native/pkcs11.h is absent: the spec's 3.0 layouts of the structs we parse.
OWN_CDEF = """
typedef unsigned char CK_BYTE; typedef CK_BYTE CK_BBOOL; typedef unsigned long CK_ULONG;
typedef CK_BYTE *CK_BYTE_PTR; typedef void *CK_VOID_PTR; typedef CK_ULONG CK_MECHANISM_TYPE;
typedef CK_ULONG CK_RSA_PKCS_MGF_TYPE; typedef CK_ULONG CK_RSA_PKCS_OAEP_SOURCE_TYPE;
typedef CK_ULONG CK_EC_KDF_TYPE; typedef CK_ULONG CK_OBJECT_HANDLE;
typedef struct CK_RSA_PKCS_OAEP_PARAMS { CK_MECHANISM_TYPE hashAlg; CK_RSA_PKCS_MGF_TYPE mgf;
  CK_RSA_PKCS_OAEP_SOURCE_TYPE source; CK_VOID_PTR pSourceData; CK_ULONG ulSourceDataLen; }
  CK_RSA_PKCS_OAEP_PARAMS;
typedef struct CK_RSA_PKCS_PSS_PARAMS { CK_MECHANISM_TYPE hashAlg; CK_RSA_PKCS_MGF_TYPE mgf; CK_ULONG sLen; }
  CK_RSA_PKCS_PSS_PARAMS;
typedef struct CK_GCM_PARAMS { CK_BYTE_PTR pIv; CK_ULONG ulIvLen; CK_ULONG ulIvBits; CK_BYTE_PTR pAAD;
  CK_ULONG ulAADLen; CK_ULONG ulTagBits; } CK_GCM_PARAMS;
typedef struct CK_AES_CTR_PARAMS { CK_ULONG ulCounterBits; CK_BYTE cb[16]; } CK_AES_CTR_PARAMS;
typedef struct CK_SALSA20_CHACHA20_POLY1305_PARAMS { CK_BYTE_PTR pNonce; CK_ULONG ulNonceLen;
  CK_BYTE_PTR pAAD; CK_ULONG ulAADLen; } CK_SALSA20_CHACHA20_POLY1305_PARAMS;
typedef struct CK_ECDH1_DERIVE_PARAMS { CK_EC_KDF_TYPE kdf; CK_ULONG ulSharedDataLen; CK_BYTE_PTR pSharedData;
  CK_ULONG ulPublicDataLen; CK_BYTE_PTR pPublicData; } CK_ECDH1_DERIVE_PARAMS;
typedef struct CK_EDDSA_PARAMS { CK_BBOOL phFlag; CK_ULONG ulContextDataLen; CK_BYTE_PTR pContextData; }
  CK_EDDSA_PARAMS;
typedef struct CK_HKDF_PARAMS { CK_BBOOL bExtract; CK_BBOOL bExpand; CK_MECHANISM_TYPE prfHashMechanism;
  CK_ULONG ulSaltType; CK_BYTE_PTR pSalt; CK_ULONG ulSaltLen; CK_OBJECT_HANDLE hSaltKey; CK_BYTE_PTR pInfo;
  CK_ULONG ulInfoLen; } CK_HKDF_PARAMS;
typedef struct CK_KEY_DERIVATION_STRING_DATA { CK_BYTE_PTR pData; CK_ULONG ulLen; }
  CK_KEY_DERIVATION_STRING_DATA;
"""


def _ffi(source: str) -> FFI:
    ffi = FFI()
    ffi.cdef(source)
    return ffi


@pytest.fixture(params=["header", "own"])
def ffi(request):
    if request.param == "header":
        if not HEADER.exists():
            pytest.skip("native/pkcs11.h not written yet")
        return _ffi(HEADER.read_text())
    return _ffi(OWN_CDEF)


class Mem:
    """Keeps cffi buffers alive for the duration of a test."""

    def __init__(self, ffi: FFI) -> None:
        self.ffi, self.keep = ffi, []

    def buf(self, data: bytes):
        b = self.ffi.new("CK_BYTE[]", data or b"\0")
        self.keep.append(b)
        return b

    def struct(self, name: str, **fields):
        s = self.ffi.new(f"{name} *")
        for k, v in fields.items():
            setattr(s, k, self.buf(v) if isinstance(v, bytes) else v)
        self.keep.append(s)
        return self.ffi.cast("void *", s), self.ffi.sizeof(name)


def test_every_declared_parameter_type_has_a_parser():
    takes_param = {
        M.AES_CBC,
        M.AES_CBC_PAD,
        M.AES_CTR,
        M.AES_GCM,
        M.CHACHA20_POLY1305,
        M.RSA_PKCS_OAEP,
        M.RSA_PKCS_PSS,
        M.SHA256_RSA_PKCS_PSS,
        M.ECDH1_DERIVE,
        M.HKDF_DERIVE,
        M.SHA256_HMAC_GENERAL,
    }
    assert all(registry.param_type(m) is not None for m in takes_param)
    declared = {registry.param_type(m) for m in registry.infos()} - {None}
    assert declared == set(PARSERS)
    messages = {registry.message_param_type(m) for m in registry.infos()} - {None}
    assert messages - declared == set(MESSAGE_PARSERS)


def test_oaep(ffi):
    mem = Mem(ffi)
    p, n = mem.struct(
        "CK_RSA_PKCS_OAEP_PARAMS",
        hashAlg=M.SHA256,
        mgf=MGF.SHA256,
        source=1,
        pSourceData=ffi.cast("void *", mem.buf(b"label")),
        ulSourceDataLen=5,
    )
    assert parse_param(ffi, M.RSA_PKCS_OAEP, p, n) == P.OaepParams(M.SHA256, MGF.SHA256, b"label")
    with pytest.raises(errors.MechanismParamInvalid):
        parse_param(ffi, M.RSA_PKCS_OAEP, p, n - 1)
    with pytest.raises(errors.MechanismParamInvalid):
        parse_param(ffi, M.RSA_PKCS_OAEP, ffi.NULL, n)
    p, n = mem.struct("CK_RSA_PKCS_OAEP_PARAMS", hashAlg=M.SHA_1, mgf=MGF.SHA1, source=1, ulSourceDataLen=3)
    with pytest.raises(errors.MechanismParamInvalid):  # NULL label pointer with a length
        parse_param(ffi, M.RSA_PKCS_OAEP, p, n)
    p, n = mem.struct("CK_RSA_PKCS_OAEP_PARAMS", hashAlg=M.SHA_1, mgf=MGF.SHA1, source=0)
    assert parse_param(ffi, M.RSA_PKCS_OAEP, p, n) == P.OaepParams(M.SHA_1, MGF.SHA1, b"")


def test_pss_and_mac_general(ffi):
    mem = Mem(ffi)
    p, n = mem.struct("CK_RSA_PKCS_PSS_PARAMS", hashAlg=M.SHA384, mgf=MGF.SHA384, sLen=48)
    for mech in (M.RSA_PKCS_PSS, M.SHA384_RSA_PKCS_PSS):
        assert parse_param(ffi, mech, p, n) == P.PssParams(M.SHA384, MGF.SHA384, 48)
    length = ffi.new("CK_ULONG *", 12)
    assert parse_param(ffi, M.SHA256_HMAC_GENERAL, ffi.cast("void *", length), ffi.sizeof("CK_ULONG")) == 12
    with pytest.raises(errors.MechanismParamInvalid):
        parse_param(ffi, M.SHA256_HMAC_GENERAL, ffi.cast("void *", length), 4)


def test_gcm_30_and_240_layouts(ffi):
    mem = Mem(ffi)
    p, n = mem.struct(
        "CK_GCM_PARAMS", pIv=b"\x01" * 12, ulIvLen=12, ulIvBits=96, pAAD=b"aad", ulAADLen=3, ulTagBits=128
    )
    expected = P.GcmParams(b"\x01" * 12, b"aad", 128)
    assert parse_param(ffi, M.AES_GCM, p, n) == expected
    old = ffi.new("CK_ULONG[5]")
    iv, aad = mem.buf(b"\x01" * 12), mem.buf(b"aad")
    old[0:5] = [int(ffi.cast("uintptr_t", iv)), 12, int(ffi.cast("uintptr_t", aad)), 3, 128]
    assert parse_param(ffi, M.AES_GCM, ffi.cast("void *", old), 5 * ffi.sizeof("CK_ULONG")) == expected
    with pytest.raises(errors.MechanismParamInvalid):
        parse_param(ffi, M.AES_GCM, p, n + 8)
    p, n = mem.struct("CK_GCM_PARAMS", ulIvLen=12, ulTagBits=128)
    with pytest.raises(errors.MechanismParamInvalid):
        parse_param(ffi, M.AES_GCM, p, n)


def test_ctr_chacha_ecdh_eddsa_hkdf_string(ffi):
    mem = Mem(ffi)
    p, n = mem.struct("CK_AES_CTR_PARAMS", ulCounterBits=32)
    ffi.cast("CK_AES_CTR_PARAMS *", p).cb[0:16] = list(range(16))
    assert parse_param(ffi, M.AES_CTR, p, n) == P.CtrParams(32, bytes(range(16)))
    p, n = mem.struct("CK_SALSA20_CHACHA20_POLY1305_PARAMS", pNonce=b"n" * 12, ulNonceLen=12, ulAADLen=0)
    assert parse_param(ffi, M.CHACHA20_POLY1305, p, n) == P.ChaCha20Poly1305Params(b"n" * 12, b"")
    p, n = mem.struct(
        "CK_ECDH1_DERIVE_PARAMS",
        kdf=KDF.SHA256_KDF,
        pSharedData=b"sd",
        ulSharedDataLen=2,
        pPublicData=b"\x04pt",
        ulPublicDataLen=3,
    )
    assert parse_param(ffi, M.ECDH1_DERIVE, p, n) == P.EcdhParams(KDF.SHA256_KDF, b"sd", b"\x04pt")
    assert parse_param(ffi, M.EDDSA, ffi.NULL, 0) is None
    p, n = mem.struct("CK_EDDSA_PARAMS", phFlag=1, pContextData=b"ctx", ulContextDataLen=3)
    assert parse_param(ffi, M.EDDSA, p, n) == P.EddsaParams(True, b"ctx")
    p, n = mem.struct(
        "CK_HKDF_PARAMS",
        bExtract=1,
        bExpand=0,
        prfHashMechanism=M.SHA256,
        ulSaltType=HkdfSaltType.KEY,
        hSaltKey=42,
        pInfo=b"info",
        ulInfoLen=4,
    )
    assert parse_param(ffi, M.HKDF_DERIVE, p, n) == P.HkdfParams(
        True, False, M.SHA256, HkdfSaltType.KEY, b"", 42, b"info"
    )


def test_iv_and_parameterless_mechanisms(ffi):
    mem = Mem(ffi)
    iv = mem.buf(bytes(16))
    assert parse_param(ffi, M.AES_CBC_PAD, iv, 16) == bytes(16)
    with pytest.raises(errors.MechanismParamInvalid):
        parse_param(ffi, M.AES_CBC, iv, 8)
    with pytest.raises(errors.MechanismParamInvalid):
        parse_param(ffi, M.AES_CBC, ffi.NULL, 16)
    assert parse_param(ffi, M.AES_KEY_WRAP, ffi.NULL, 0) is None
    assert parse_param(ffi, M.SHA256_RSA_PKCS, ffi.NULL, 0) is None
    assert parse_param(ffi, M.SHA256_RSA_PKCS, iv, 0) is None  # a pointer with length 0 is tolerated
    with pytest.raises(errors.MechanismParamInvalid):
        parse_param(ffi, M.SHA256_RSA_PKCS, iv, 16)
