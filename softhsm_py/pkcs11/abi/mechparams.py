"""CK_MECHANISM.pParameter -> the Python values of ``softhsm_py.mechanisms.params``.

Each mechanism declares its parameter type where it is registered (``registry.param_type``); one
table maps a parameter type to its parser. A mechanism that declares none takes no parameter:
ulParameterLen 0, whatever the pointer (a length, even with a NULL pointer, is
MechanismParamInvalid). A wrong ulParameterLen for the struct, NULL
where a struct is required, and a NULL inner pointer with a non-zero length are all
CKR_MECHANISM_PARAM_INVALID. Struct and field names are the spec's (3.0 layouts, declared in
native/pkcs11.h); the 2.40 CK_GCM_PARAMS (no ulIvBits) is accepted by its size, as Java and
older hosts still send it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from softhsm_py import errors
from softhsm_py.mechanisms import params as P
from softhsm_py.mechanisms import registry
from softhsm_py.pkcs11.abi.marshal import MAX_LENGTH

Parser = Callable[[Any, Any, int], Any]


def _null(ffi: Any, p: Any) -> bool:
    return p == ffi.NULL


def _bytes(ffi: Any, p: Any, n: int) -> bytes:
    """Inner byte arrays: NULL is fine only with length 0; a length with the high bit set
    describes no memory at all."""
    n = int(n)
    if n == 0:
        return b""
    if _null(ffi, p) or n > MAX_LENGTH:
        raise errors.MechanismParamInvalid()
    return bytes(ffi.buffer(ffi.cast("CK_BYTE_PTR", p), n))


def _struct(ffi: Any, name: str, p: Any, n: int) -> Any:
    if _null(ffi, p) or int(n) != ffi.sizeof(name):
        raise errors.MechanismParamInvalid()
    return ffi.cast(f"{name} *", p)[0]


def _none(ffi: Any, p: Any, n: int) -> None:
    """No parameter: a length of 0 (whatever the pointer). A length with a NULL pointer is as
    wrong as a parameter the mechanism does not take."""
    if int(n) != 0:
        raise errors.MechanismParamInvalid()
    return None


def _iv16(ffi: Any, p: Any, n: int) -> bytes:
    if int(n) != 16:
        raise errors.MechanismParamInvalid()
    return _bytes(ffi, p, n)


def _optional_bytes(ffi: Any, p: Any, n: int) -> bytes | None:
    """AES key wrap: an optional IV / ICV; absent -> None (the default value)."""
    if int(n) == 0:
        return None
    return _bytes(ffi, p, n)


def _ulong(ffi: Any, p: Any, n: int) -> int:
    """CK_MAC_GENERAL_PARAMS: a CK_ULONG length."""
    if _null(ffi, p) or int(n) != ffi.sizeof("CK_ULONG"):
        raise errors.MechanismParamInvalid()
    return int(ffi.cast("CK_ULONG *", p)[0])


def _oaep(ffi: Any, p: Any, n: int) -> P.OaepParams:
    s = _struct(ffi, "CK_RSA_PKCS_OAEP_PARAMS", p, n)
    label = _bytes(ffi, s.pSourceData, s.ulSourceDataLen)
    # CKZ_DATA_SPECIFIED is the only source; 0 is tolerated when there is no label at all.
    if int(s.source) not in (1, 0) or (int(s.source) == 0 and label):
        raise errors.MechanismParamInvalid()
    return P.OaepParams(hash_alg=int(s.hashAlg), mgf=int(s.mgf), source_data=label)


def _pss(ffi: Any, p: Any, n: int) -> P.PssParams:
    s = _struct(ffi, "CK_RSA_PKCS_PSS_PARAMS", p, n)
    return P.PssParams(hash_alg=int(s.hashAlg), mgf=int(s.mgf), salt_len=int(s.sLen))


def _gcm(ffi: Any, p: Any, n: int) -> P.GcmParams:
    if _null(ffi, p):
        raise errors.MechanismParamInvalid()
    if int(n) == ffi.sizeof("CK_GCM_PARAMS"):
        s = ffi.cast("CK_GCM_PARAMS *", p)[0]
        return P.GcmParams(
            iv=_bytes(ffi, s.pIv, s.ulIvLen), aad=_bytes(ffi, s.pAAD, s.ulAADLen), tag_bits=int(s.ulTagBits)
        )
    word = ffi.sizeof("CK_ULONG")
    if int(n) == 5 * word and ffi.sizeof("CK_BYTE_PTR") == word:
        # 2.40 layout: pIv, ulIvLen, pAAD, ulAADLen, ulTagBits.
        w = ffi.cast("CK_ULONG *", p)
        iv = _bytes(ffi, ffi.cast("CK_BYTE_PTR", w[0]), w[1])
        aad = _bytes(ffi, ffi.cast("CK_BYTE_PTR", w[2]), w[3])
        return P.GcmParams(iv=iv, aad=aad, tag_bits=int(w[4]))
    raise errors.MechanismParamInvalid()


def _ctr(ffi: Any, p: Any, n: int) -> P.CtrParams:
    s = _struct(ffi, "CK_AES_CTR_PARAMS", p, n)
    return P.CtrParams(counter_bits=int(s.ulCounterBits), cb=bytes(ffi.buffer(s.cb, 16)))


def _chacha(ffi: Any, p: Any, n: int) -> P.ChaCha20Poly1305Params:
    s = _struct(ffi, "CK_SALSA20_CHACHA20_POLY1305_PARAMS", p, n)
    return P.ChaCha20Poly1305Params(
        nonce=_bytes(ffi, s.pNonce, s.ulNonceLen), aad=_bytes(ffi, s.pAAD, s.ulAADLen)
    )


def _ecdh(ffi: Any, p: Any, n: int) -> P.EcdhParams:
    s = _struct(ffi, "CK_ECDH1_DERIVE_PARAMS", p, n)
    return P.EcdhParams(
        kdf=int(s.kdf),
        shared_data=_bytes(ffi, s.pSharedData, s.ulSharedDataLen),
        public_data=_bytes(ffi, s.pPublicData, s.ulPublicDataLen),
    )


def _eddsa(ffi: Any, p: Any, n: int) -> P.EddsaParams | None:
    if int(n) == 0:
        return None  # optional: pure Ed25519 / Ed448 (a length of 0 is no parameter, as elsewhere)
    s = _struct(ffi, "CK_EDDSA_PARAMS", p, n)
    return P.EddsaParams(prehash=bool(s.phFlag), context=_bytes(ffi, s.pContextData, s.ulContextDataLen))


def _hkdf(ffi: Any, p: Any, n: int) -> P.HkdfParams:
    s = _struct(ffi, "CK_HKDF_PARAMS", p, n)
    return P.HkdfParams(
        extract=bool(s.bExtract),
        expand=bool(s.bExpand),
        prf_hash=int(s.prfHashMechanism),
        salt_type=int(s.ulSaltType),
        salt=_bytes(ffi, s.pSalt, s.ulSaltLen),
        salt_key_handle=int(s.hSaltKey),
        info=_bytes(ffi, s.pInfo, s.ulInfoLen),
    )


# Parameter type (as the mechanism declared it at registration) -> its parser.
PARSERS: dict[P.ParamType, Parser] = {
    P.IV16: _iv16,
    P.OPTIONAL_IV: _optional_bytes,
    P.MAC_LENGTH: _ulong,
    P.CtrParams: _ctr,
    P.GcmParams: _gcm,
    P.ChaCha20Poly1305Params: _chacha,
    P.OaepParams: _oaep,
    P.PssParams: _pss,
    P.EcdhParams: _ecdh,
    P.EddsaParams: _eddsa,
    P.HkdfParams: _hkdf,
}


def parse_param(ffi: Any, mech: int, pParameter: Any, ulParameterLen: int) -> Any:
    """The parameter of ``mech`` as a Python value (``None`` when it takes none)."""
    kind = registry.param_type(mech)
    if kind is None:  # _none, inlined: most mechanisms take no parameter
        if ulParameterLen:
            raise errors.MechanismParamInvalid()
        return None
    return PARSERS[kind](ffi, pParameter, int(ulParameterLen))
