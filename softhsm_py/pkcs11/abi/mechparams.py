"""CK_MECHANISM.pParameter -> the Python values of ``softhsm_py.mechanisms.params``.

Each mechanism declares its parameter type where it is registered (``registry.param_type``); one
table maps a parameter type to its parser. A mechanism that declares none takes no parameter
(NULL or length 0, else MechanismParamInvalid). A wrong ulParameterLen for the struct, NULL
where a struct is required, and a NULL inner pointer with a non-zero length are all
CKR_MECHANISM_PARAM_INVALID. Struct and field names are the spec's (3.0 layouts, declared in
native/pkcs11.h); the 2.40 CK_GCM_PARAMS (no ulIvBits) is accepted by its size, as Java and
older hosts still send it. CK_PKCS5_PBKD2_PARAMS (2.40) and CK_PKCS5_PBKD2_PARAMS2 (3.0) have the
same size: they differ in ulPasswordLen, a pointer in the first and a length in the second, so a
value no password length reaches is read as the 2.40 pointer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from softhsm_py import errors
from softhsm_py.engine import kbkdf
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
    if int(n) != 0 and not _null(ffi, p):
        raise errors.MechanismParamInvalid()
    return None


def _iv(length: int) -> Parser:
    def parse(ffi: Any, p: Any, n: int) -> bytes:
        if int(n) != length:
            raise errors.MechanismParamInvalid()
        return _bytes(ffi, p, n)

    return parse


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


def _ccm(ffi: Any, p: Any, n: int) -> P.CcmParams:
    s = _struct(ffi, "CK_CCM_PARAMS", p, n)
    return P.CcmParams(
        data_len=int(s.ulDataLen),
        nonce=_bytes(ffi, s.pNonce, s.ulNonceLen),
        aad=_bytes(ffi, s.pAAD, s.ulAADLen),
        mac_len=int(s.ulMACLen),
    )


def _sign_context(ffi: Any, p: Any, n: int) -> P.SignContextParams | None:
    if int(n) == 0:
        return None  # optional (3.2 ML-DSA): hedge preferred, no context
    s = _struct(ffi, "CK_SIGN_ADDITIONAL_CONTEXT", p, n)
    return P.SignContextParams(hedge=int(s.hedgeVariant), context=_bytes(ffi, s.pContext, s.ulContextLen))


def _hash_sign_context(ffi: Any, p: Any, n: int) -> P.HashSignContextParams:
    s = _struct(ffi, "CK_HASH_SIGN_ADDITIONAL_CONTEXT", p, n)
    return P.HashSignContextParams(
        hedge=int(s.hedgeVariant), context=_bytes(ffi, s.pContext, s.ulContextLen), hash=int(s.hash)
    )


def _string_data(ffi: Any, p: Any, n: int) -> bytes:
    s = _struct(ffi, "CK_KEY_DERIVATION_STRING_DATA", p, n)
    return _bytes(ffi, s.pData, s.ulLen)


def _cbc_encrypt_data(struct: str, iv_len: int) -> Parser:
    def parse(ffi: Any, p: Any, n: int) -> P.CbcEncryptData:
        s = _struct(ffi, struct, p, n)
        return P.CbcEncryptData(iv=bytes(ffi.buffer(s.iv, iv_len)), data=_bytes(ffi, s.pData, s.length))

    return parse


def _key_handle(ffi: Any, p: Any, n: int) -> P.KeyHandle:
    return P.KeyHandle(handle=_ulong(ffi, p, n))


def _public_value(ffi: Any, p: Any, n: int) -> bytes:
    if int(n) == 0:
        raise errors.MechanismParamInvalid()
    return _bytes(ffi, p, n)


def _bool(value: Any) -> bool:
    if int(value) not in (0, 1):
        raise errors.MechanismParamInvalid()
    return bool(value)


# SP 800-108 lists: a handful of fields and keys in any real use; a count far beyond that is a
# caller's error we answer without reading memory the caller never had.
_MAX_ENTRIES = 256


def _array(ffi: Any, ptr: Any, count: int, struct: str) -> Any:
    if _null(ffi, ptr) or int(count) > _MAX_ENTRIES:
        raise errors.MechanismParamInvalid()
    return ffi.cast(f"{struct} *", ptr)


def _prf_fields(ffi: Any, ptr: Any, count: int) -> tuple[kbkdf.Field, ...]:
    """CK_PRF_DATA_PARAM[count] as (type, value) fields (``engine.kbkdf``)."""
    if int(count) == 0:
        raise errors.MechanismParamInvalid()
    array = _array(ffi, ptr, count, "CK_PRF_DATA_PARAM")
    out: list[kbkdf.Field] = []
    for i in range(int(count)):
        d = array[i]
        kind, value_ptr, value_len = int(d.type), d.pValue, int(d.ulValueLen)
        value: Any
        if kind == kbkdf.BYTE_ARRAY:
            value = _bytes(ffi, value_ptr, value_len)
        elif kind in (kbkdf.ITERATION, kbkdf.COUNTER):
            if value_len == 0 and _null(ffi, value_ptr):
                value = None  # the chaining value of feedback / pipeline mode
            else:
                c = _struct(ffi, "CK_SP800_108_COUNTER_FORMAT", value_ptr, value_len)
                value = kbkdf.CounterFormat(_bool(c.bLittleEndian), int(c.ulWidthInBits))
        elif kind == kbkdf.DKM_LENGTH:
            f = _struct(ffi, "CK_SP800_108_DKM_LENGTH_FORMAT", value_ptr, value_len)
            value = kbkdf.DkmFormat(int(f.dkmLengthMethod), _bool(f.bLittleEndian), int(f.ulWidthInBits))
        else:
            raise errors.MechanismParamInvalid()
        out.append((kind, value))
    return tuple(out)


def _derived_keys(ffi: Any, ptr: Any, count: int) -> tuple[P.DerivedKey, ...]:
    """CK_DERIVED_KEY[count]: each template decoded; its phKey kept as the key's slot."""
    from softhsm_py.pkcs11.abi.marshal import Marshal
    from softhsm_py.pkcs11.templates import decode

    if int(count) == 0:
        return ()
    array = _array(ffi, ptr, count, "CK_DERIVED_KEY")
    m = Marshal(ffi)
    out = []
    for i in range(int(count)):
        d = array[i]
        if _null(ffi, d.phKey):
            raise errors.MechanismParamInvalid()
        try:
            raw = m.template_in(d.pTemplate, int(d.ulAttributeCount))
        except errors.ArgumentsBad:
            raise errors.MechanismParamInvalid() from None
        out.append(P.DerivedKey(template=decode(raw), slot=d.phKey))
    return tuple(out)


def _sp800_108(ffi: Any, p: Any, n: int) -> P.Sp800108:
    s = _struct(ffi, "CK_SP800_108_KDF_PARAMS", p, n)
    return P.Sp800108(
        prf=int(s.prfType),
        fields=_prf_fields(ffi, s.pDataParams, s.ulNumberOfDataParams),
        additional=_derived_keys(ffi, s.pAdditionalDerivedKeys, s.ulAdditionalDerivedKeys),
    )


def _sp800_108_feedback(ffi: Any, p: Any, n: int) -> P.Sp800108:
    s = _struct(ffi, "CK_SP800_108_FEEDBACK_KDF_PARAMS", p, n)
    return P.Sp800108(
        prf=int(s.prfType),
        fields=_prf_fields(ffi, s.pDataParams, s.ulNumberOfDataParams),
        iv=_bytes(ffi, s.pIV, s.ulIVLen),
        additional=_derived_keys(ffi, s.pAdditionalDerivedKeys, s.ulAdditionalDerivedKeys),
    )


_PASSWORD_LEN_LIMIT = 1 << 16  # above it, ulPasswordLen is the 2.40 layout's pointer
_USER_SPACE_END = 1 << 48  # no user-space pointer of x86-64 or arm64 Linux reaches it


def _pbkdf2(ffi: Any, p: Any, n: int) -> P.Pbkdf2Params:
    s = _struct(ffi, "CK_PKCS5_PBKD2_PARAMS2", p, n)
    length = int(s.ulPasswordLen)
    if length > _PASSWORD_LEN_LIMIT:  # CK_PKCS5_PBKD2_PARAMS: a CK_ULONG_PTR
        if length >= _USER_SPACE_END:
            raise errors.MechanismParamInvalid()  # neither a length nor a pointer
        length = int(ffi.cast("CK_ULONG *", length)[0])
    return P.Pbkdf2Params(
        salt_source=int(s.saltSource),
        salt=_bytes(ffi, s.pSaltSourceData, s.ulSaltSourceDataLen),
        iterations=int(s.iterations),
        prf=int(s.prf),
        prf_data=_bytes(ffi, s.pPrfData, s.ulPrfDataLen),
        password=_bytes(ffi, s.pPassword, length),
    )


# Parameter type (as the mechanism declared it at registration) -> its parser.
PARSERS: dict[P.ParamType, Parser] = {
    P.IV16: _iv(16),
    P.IV8: _iv(8),
    P.STRING_DATA: _string_data,
    P.BIT_INDEX: _ulong,
    P.PUBLIC_VALUE: _public_value,
    P.AES_CBC_DATA: _cbc_encrypt_data("CK_AES_CBC_ENCRYPT_DATA_PARAMS", 16),
    P.DES_CBC_DATA: _cbc_encrypt_data("CK_DES_CBC_ENCRYPT_DATA_PARAMS", 8),
    P.KeyHandle: _key_handle,
    P.Sp800108: _sp800_108,
    P.SP800_108_FEEDBACK: _sp800_108_feedback,
    P.Pbkdf2Params: _pbkdf2,
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
    P.CcmParams: _ccm,
    P.SignContextParams: _sign_context,
    P.HashSignContextParams: _hash_sign_context,
}


def parse_param(ffi: Any, mech: int, pParameter: Any, ulParameterLen: int) -> Any:
    """The parameter of ``mech`` as a Python value (``None`` when it takes none)."""
    kind = registry.param_type(mech)
    if kind is None:  # _none, inlined: most mechanisms take no parameter
        if int(ulParameterLen) != 0 and pParameter != ffi.NULL:
            raise errors.MechanismParamInvalid()
        return None
    return PARSERS[kind](ffi, pParameter, int(ulParameterLen))


# --- the per-message parameters of the message-based functions -----------------------------------


class MessageOut:
    """Where a message-based encryption writes back what the token made (3.0, 5.9): the IV or
    nonce it generated, and the tag. The buffers are the caller's, named by its parameter."""

    __slots__ = ("_ffi", "_iv", "_iv_len", "_tag", "_tag_len")

    def __init__(self, ffi: Any, iv: Any, iv_len: int, tag: Any, tag_len: int) -> None:
        self._ffi, self._iv, self._iv_len, self._tag, self._tag_len = ffi, iv, iv_len, tag, tag_len

    def iv(self, value: bytes) -> None:
        if len(value) != self._iv_len or _null(self._ffi, self._iv):
            raise errors.MechanismParamInvalid()
        self._ffi.memmove(self._iv, value, len(value))

    def tag(self, value: bytes) -> None:
        if len(value) > self._tag_len or _null(self._ffi, self._tag):
            raise errors.MechanismParamInvalid()
        self._ffi.memmove(self._tag, value, len(value))


MessageParser = Callable[[Any, Any, int], tuple[Any, MessageOut]]


def _gcm_message(ffi: Any, p: Any, n: int) -> tuple[P.GcmMessageParams, MessageOut]:
    s = _struct(ffi, "CK_GCM_MESSAGE_PARAMS", p, n)
    tag_len = (int(s.ulTagBits) + 7) // 8
    param = P.GcmMessageParams(
        iv=_bytes(ffi, s.pIv, s.ulIvLen),
        iv_fixed_bits=int(s.ulIvFixedBits),
        generator=int(s.ivGenerator),
        tag=_bytes(ffi, s.pTag, tag_len) if tag_len <= 16 else b"",
        tag_bits=int(s.ulTagBits),
    )
    return param, MessageOut(ffi, s.pIv, int(s.ulIvLen), s.pTag, min(tag_len, 16))


def _ccm_message(ffi: Any, p: Any, n: int) -> tuple[P.CcmMessageParams, MessageOut]:
    s = _struct(ffi, "CK_CCM_MESSAGE_PARAMS", p, n)
    mac_len = int(s.ulMACLen)
    param = P.CcmMessageParams(
        data_len=int(s.ulDataLen),
        nonce=_bytes(ffi, s.pNonce, s.ulNonceLen),
        nonce_fixed_bits=int(s.ulNonceFixedBits),
        generator=int(s.nonceGenerator),
        mac=_bytes(ffi, s.pMAC, mac_len) if mac_len <= 16 else b"",
        mac_len=mac_len,
    )
    return param, MessageOut(ffi, s.pNonce, int(s.ulNonceLen), s.pMAC, min(mac_len, 16))


CHACHA_TAG_LEN = 16  # "the application must provide 16 bytes of space for the tag"


def _chacha_message(ffi: Any, p: Any, n: int) -> tuple[P.ChaCha20Poly1305MessageParams, MessageOut]:
    s = _struct(ffi, "CK_SALSA20_CHACHA20_POLY1305_MSG_PARAMS", p, n)
    param = P.ChaCha20Poly1305MessageParams(
        nonce=_bytes(ffi, s.pNonce, s.ulNonceLen), tag=_bytes(ffi, s.pTag, CHACHA_TAG_LEN)
    )
    return param, MessageOut(ffi, s.pNonce, int(s.ulNonceLen), s.pTag, CHACHA_TAG_LEN)


MESSAGE_PARSERS: dict[P.ParamType, MessageParser] = {
    P.GcmMessageParams: _gcm_message,
    P.CcmMessageParams: _ccm_message,
    P.ChaCha20Poly1305MessageParams: _chacha_message,
}


def parse_message_param(
    ffi: Any, mech: int, pParameter: Any, ulParameterLen: int
) -> tuple[Any, MessageOut | None]:
    """The parameter of one message of a message-based operation with ``mech``: an AEAD's
    message parameter with where its outputs go, or (for a signature) the mechanism's own
    parameter type, parsed as a CK_MECHANISM's would be; none (length 0) keeps the Init's."""
    kind = registry.message_param_type(mech)
    parser = MESSAGE_PARSERS.get(kind) if kind is not None else None
    if parser is not None:
        return parser(ffi, pParameter, int(ulParameterLen))
    if int(ulParameterLen) == 0:
        return None, None  # no parameter of its own: the Init's applies
    return parse_param(ffi, mech, pParameter, ulParameterLen), None
