"""Mechanism parameters as plain Python values: the types a mechanism declares where it is
registered (``registry.mechanism(..., param=...)``) and a front end fills in (PKCS#11:
``pkcs11/abi/mechparams.py`` from CK_MECHANISM.pParameter; REST: from the request's fields).

Structured parameters are the dataclasses below. Some parameters are plain values, named by a
``ParamKind`` instead of a class: a CBC IV (``bytes``, 16 or 8), the optional IV of AES key wrap
(``bytes`` or None), the MAC length of the *_GENERAL MACs (``int``), the byte string of
CK_KEY_DERIVATION_STRING_DATA (``bytes``), the bit index of CK_EXTRACT_PARAMS (``int``) and the
other party's public value of PKCS #3 DH (``bytes``). A few structs of different layouts give the
same dataclass, each under its own kind. A mechanism that takes no parameter declares none and
gets ``None``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from softhsm_py.engine.kbkdf import Field


class ParamKind:
    """A parameter carried as a plain value (see the module docstring); compared by identity."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"ParamKind({self.name})"


IV16 = ParamKind("16-byte IV")  # CBC, CBC_PAD: bytes
OPTIONAL_IV = ParamKind("optional IV")  # AES key wrap (RFC 3394 / 5649): bytes or None
MAC_LENGTH = ParamKind("MAC length")  # CK_MAC_GENERAL_PARAMS: int
IV8 = ParamKind("8-byte IV")  # DES3_CBC, DES3_CBC_PAD: bytes
STRING_DATA = ParamKind("string data")  # CK_KEY_DERIVATION_STRING_DATA: bytes
BIT_INDEX = ParamKind("bit index")  # CK_EXTRACT_PARAMS: int
PUBLIC_VALUE = ParamKind("public value")  # DH_PKCS_DERIVE: the other party's y, bytes
AES_CBC_DATA = ParamKind("AES CBC encrypt data")  # CK_AES_CBC_ENCRYPT_DATA_PARAMS: CbcEncryptData
DES_CBC_DATA = ParamKind("DES CBC encrypt data")  # CK_DES_CBC_ENCRYPT_DATA_PARAMS: CbcEncryptData
SP800_108_FEEDBACK = ParamKind("SP 800-108 feedback")  # CK_SP800_108_FEEDBACK_KDF_PARAMS: Sp800108
ParamType = type | ParamKind


@dataclass(frozen=True)
class OaepParams:
    """CK_RSA_PKCS_OAEP_PARAMS: hash_alg is a CKM_ digest, mgf a CKG_MGF1_*, the label source data."""

    hash_alg: int
    mgf: int
    source_data: bytes = b""


@dataclass(frozen=True)
class PssParams:
    """CK_RSA_PKCS_PSS_PARAMS."""

    hash_alg: int
    mgf: int
    salt_len: int


@dataclass(frozen=True)
class GcmParams:
    """CK_GCM_PARAMS (3.0 layout; ulIvBits is informational and not kept)."""

    iv: bytes
    aad: bytes
    tag_bits: int


@dataclass(frozen=True)
class CtrParams:
    """CK_AES_CTR_PARAMS: cb is the 16-byte initial counter block."""

    counter_bits: int
    cb: bytes


@dataclass(frozen=True)
class ChaCha20Poly1305Params:
    """CK_SALSA20_CHACHA20_POLY1305_PARAMS."""

    nonce: bytes
    aad: bytes


@dataclass(frozen=True)
class EcdhParams:
    """CK_ECDH1_DERIVE_PARAMS: kdf is a CKD_ value, public_data the peer's point (raw or DER)."""

    kdf: int
    shared_data: bytes
    public_data: bytes


@dataclass(frozen=True)
class EddsaParams:
    """CK_EDDSA_PARAMS."""

    prehash: bool
    context: bytes


@dataclass(frozen=True)
class HkdfParams:
    """CK_HKDF_PARAMS. When salt_type is CKF_HKDF_SALT_KEY the session layer resolves
    salt_key_handle (checking CKA_DERIVE) and passes its CKA_VALUE as salt_key_value
    (``dataclasses.replace``): the mechanism layer never sees handles."""

    extract: bool
    expand: bool
    prf_hash: int
    salt_type: int
    salt: bytes
    salt_key_handle: int
    info: bytes
    salt_key_value: bytes | None = None


@dataclass(frozen=True)
class CcmParams:
    """CK_CCM_PARAMS: data_len is ulDataLen (the plaintext's length), mac_len ulMACLen in bytes."""

    data_len: int
    nonce: bytes
    aad: bytes
    mac_len: int


@dataclass(frozen=True)
class SignContextParams:
    """CK_SIGN_ADDITIONAL_CONTEXT (3.2): hedge is a CKH_* value, context FIPS 204's ctx."""

    hedge: int
    context: bytes


@dataclass(frozen=True)
class HashSignContextParams:
    """CK_HASH_SIGN_ADDITIONAL_CONTEXT (3.2): as SignContextParams, and the pre-hash (a CKM_ digest)."""

    hedge: int
    context: bytes
    hash: int


# --- the per-message parameters of the message-based functions (3.0, 5.9-5.15) -----------------


@dataclass(frozen=True)
class GcmMessageParams:
    """CK_GCM_MESSAGE_PARAMS: ``iv`` the caller's IV buffer as given (the whole IV for
    CKG_NO_GENERATE and for decryption, else its fixed leading bits), ``tag`` the caller's tag
    buffer as given (read on decryption). The ABI writes a generated IV and the tag back."""

    iv: bytes
    iv_fixed_bits: int
    generator: int
    tag: bytes
    tag_bits: int


@dataclass(frozen=True)
class CcmMessageParams:
    """CK_CCM_MESSAGE_PARAMS, as GcmMessageParams: the nonce and the MAC (``mac_len`` bytes)."""

    data_len: int
    nonce: bytes
    nonce_fixed_bits: int
    generator: int
    mac: bytes
    mac_len: int


@dataclass(frozen=True)
class ChaCha20Poly1305MessageParams:
    """CK_SALSA20_CHACHA20_POLY1305_MSG_PARAMS: the nonce (always the caller's) and its tag buffer."""

    nonce: bytes
    tag: bytes


@dataclass(frozen=True)
class CbcEncryptData:
    """CK_AES_CBC_ENCRYPT_DATA_PARAMS / CK_DES_CBC_ENCRYPT_DATA_PARAMS."""

    iv: bytes
    data: bytes


@dataclass(frozen=True)
class KeyHandle:
    """CKM_CONCATENATE_BASE_AND_KEY's CK_OBJECT_HANDLE. The core resolves the handle (checking
    the key as it checks the base key) and passes its CKA_VALUE as ``value``, and ``protected``
    when that key is sensitive or unextractable (``dataclasses.replace``)."""

    handle: int
    value: bytes | None = field(default=None, repr=False)
    protected: bool = False


@dataclass(frozen=True)
class DerivedKey:
    """One CK_DERIVED_KEY of an SP 800-108 derivation: the decoded template of an additional key,
    and ``slot``, where the front end puts its handle (PKCS#11: the caller's phKey). The core
    reads only the template."""

    template: dict[int, Any]
    slot: Any = field(default=None, compare=False)


@dataclass(frozen=True)
class Sp800108:
    """CK_SP800_108_KDF_PARAMS (counter and double pipeline modes) and, with ``iv``,
    CK_SP800_108_FEEDBACK_KDF_PARAMS: ``prf`` a CKM_ HMAC or CMAC, ``fields`` the data
    parameters in order (see ``engine.kbkdf``)."""

    prf: int
    fields: tuple[Field, ...]
    iv: bytes = b""
    additional: tuple[DerivedKey, ...] = ()


@dataclass(frozen=True)
class Pbkdf2Params:
    """CK_PKCS5_PBKD2_PARAMS2 (and the 2.40 CK_PKCS5_PBKD2_PARAMS, whose password length is a
    pointer): ``prf`` a CKP_PKCS5_PBKD2_* value, ``salt_source`` a CKZ_SALT_* value."""

    salt_source: int
    salt: bytes
    iterations: int
    prf: int
    prf_data: bytes
    password: bytes = field(repr=False)
