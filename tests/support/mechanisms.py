"""CK_MECHANISM values for the mechanism tests: ``Mech`` keeps a mechanism and its parameter
struct (built with cffi) alive, one builder per parameter struct (gcm, ctr, oaep, pss, ecdh, hkdf...),
and the hash tables that parametrise the tests. The independent side of every check is
pyca/cryptography (and the ``openssl`` CLI once).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cryptography.hazmat.primitives import hashes

from .constants import KDF, MGF, HkdfSaltType, Mechanism, PkcsOaepSource
from .pkcs11 import ffi

# hash name <-> mechanisms, for parametrisation
HASH_MECH = {
    "sha1": Mechanism.SHA_1, "sha224": Mechanism.SHA224, "sha256": Mechanism.SHA256,
    "sha384": Mechanism.SHA384, "sha512": Mechanism.SHA512, "sha3-224": Mechanism.SHA3_224,
    "sha3-256": Mechanism.SHA3_256, "sha3-384": Mechanism.SHA3_384, "sha3-512": Mechanism.SHA3_512,
}  # fmt: skip
MGF1 = {"sha1": MGF.SHA1, "sha224": MGF.SHA224, "sha256": MGF.SHA256,
        "sha384": MGF.SHA384, "sha512": MGF.SHA512}  # fmt: skip


def crypto_hash(name: str) -> Any:
    return {
        "sha1": hashes.SHA1, "sha224": hashes.SHA224, "sha256": hashes.SHA256, "sha384": hashes.SHA384,
        "sha512": hashes.SHA512, "sha3-224": hashes.SHA3_224, "sha3-256": hashes.SHA3_256,
        "sha3-384": hashes.SHA3_384, "sha3-512": hashes.SHA3_512,
        "sha512-224": hashes.SHA512_224, "sha512-256": hashes.SHA512_256,
    }[name]()  # fmt: skip


def digest(name: str, data: bytes) -> bytes:
    h = hashes.Hash(crypto_hash(name))
    h.update(data)
    return h.finalize()


# DigestInfo prefixes (RFC 8017 9.2 note 1)
DIGEST_INFO = {
    "sha1": bytes.fromhex("3021300906052b0e03021a05000414"),
    "sha224": bytes.fromhex("302d300d06096086480165030402040500041c"),
    "sha256": bytes.fromhex("3031300d060960864801650304020105000420"),
    "sha384": bytes.fromhex("3041300d060960864801650304020205000430"),
    "sha512": bytes.fromhex("3051300d060960864801650304020305000440"),
}


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
    return Mech(Mechanism.AES_GCM, p, keep)


def ctr(cb: bytes, counter_bits: int = 128) -> Mech:
    p = ffi.new("CK_AES_CTR_PARAMS *")
    p.ulCounterBits = counter_bits
    ffi.memmove(p.cb, cb, 16)
    return Mech(Mechanism.AES_CTR, p)


def chacha_poly(nonce: bytes, aad: bytes = b"") -> Mech:
    keep: list[Any] = []
    p = ffi.new("CK_SALSA20_CHACHA20_POLY1305_PARAMS *")
    p.pNonce, p.ulNonceLen = _buf(nonce, keep), len(nonce)
    p.pAAD, p.ulAADLen = _buf(aad, keep), len(aad)
    return Mech(Mechanism.CHACHA20_POLY1305, p, keep)


def oaep(hash_name: str = "sha1", mgf_name: str | None = None, label: bytes = b"") -> Mech:
    keep: list[Any] = []
    p = ffi.new("CK_RSA_PKCS_OAEP_PARAMS *")
    p.hashAlg, p.mgf = HASH_MECH[hash_name], MGF1[mgf_name or hash_name]
    p.source = PkcsOaepSource.DATA_SPECIFIED
    p.pSourceData, p.ulSourceDataLen = _buf(label, keep), len(label)
    return Mech(Mechanism.RSA_PKCS_OAEP, p, keep)


def pss(mechanism: int, hash_name: str, salt_len: int | None = None, mgf_name: str | None = None) -> Mech:
    p = ffi.new("CK_RSA_PKCS_PSS_PARAMS *")
    p.hashAlg, p.mgf = HASH_MECH[hash_name], MGF1[mgf_name or hash_name]
    p.sLen = len(digest(hash_name, b"")) if salt_len is None else salt_len
    return Mech(mechanism, p)


def ecdh(
    public: bytes, kdf: int = KDF.NULL, shared: bytes = b"", mechanism: int = Mechanism.ECDH1_DERIVE
) -> Mech:
    keep: list[Any] = []
    p = ffi.new("CK_ECDH1_DERIVE_PARAMS *")
    p.kdf = kdf
    p.pSharedData, p.ulSharedDataLen = _buf(shared, keep), len(shared)
    p.pPublicData, p.ulPublicDataLen = _buf(public, keep), len(public)
    return Mech(mechanism, p, keep)


def hkdf(
    mechanism: int = Mechanism.HKDF_DERIVE,
    prf: int = Mechanism.SHA256,
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
        p.ulSaltType, p.hSaltKey = HkdfSaltType.KEY, salt_key
    elif salt:
        p.ulSaltType = HkdfSaltType.DATA
        p.pSalt, p.ulSaltLen = _buf(salt, keep), len(salt)
    else:
        p.ulSaltType = HkdfSaltType.NULL
    p.pInfo, p.ulInfoLen = _buf(info, keep), len(info)
    return Mech(mechanism, p, keep)


def mac_general(mechanism: int, length: int) -> Mech:
    return Mech(mechanism, ffi.new("CK_ULONG *", length))


# ------------------------------------------------------------------------------- 3.2 and messages
def ccm(data_len: int, nonce: bytes, aad: bytes = b"", mac_len: int = 16) -> Mech:
    keep: list[Any] = []
    p = ffi.new("CK_CCM_PARAMS *")
    p.ulDataLen, p.pNonce, p.ulNonceLen = data_len, _buf(nonce, keep), len(nonce)
    p.pAAD, p.ulAADLen, p.ulMACLen = _buf(aad, keep), len(aad), mac_len
    return Mech(Mechanism.AES_CCM, p, keep)


def sign_context(mechanism: int, context: bytes = b"", hedge: int = 0) -> Mech:
    """CK_SIGN_ADDITIONAL_CONTEXT (ML-DSA, HashML-DSA with hashing)."""
    keep: list[Any] = []
    p = ffi.new("CK_SIGN_ADDITIONAL_CONTEXT *")
    p.hedgeVariant, p.pContext, p.ulContextLen = hedge, _buf(context, keep), len(context)
    return Mech(mechanism, p, keep)


def hash_sign_context(hash_mechanism: int, context: bytes = b"", hedge: int = 0) -> Mech:
    """CK_HASH_SIGN_ADDITIONAL_CONTEXT (CKM_HASH_ML_DSA over a caller's digest)."""
    keep: list[Any] = []
    p = ffi.new("CK_HASH_SIGN_ADDITIONAL_CONTEXT *")
    p.hedgeVariant, p.pContext, p.ulContextLen = hedge, _buf(context, keep), len(context)
    p.hash = hash_mechanism
    return Mech(Mechanism.HASH_ML_DSA, p, keep)


class MessageParam:
    """A message's parameter for C_EncryptMessage & co: a struct and the IV (nonce) and tag
    buffers it points at, which the token fills on encryption (``iv``, ``tag``)."""

    def __init__(self, struct: str, iv: bytes, tag_len: int, **fields: Any) -> None:
        self.p = ffi.new(f"{struct} *")
        self.iv_buf = ffi.new("CK_BYTE[]", max(len(iv), 1))
        ffi.memmove(self.iv_buf, iv, len(iv))
        self.tag_buf = ffi.new("CK_BYTE[]", max(tag_len, 1))
        self.iv_len, self.tag_len = len(iv), tag_len
        for name, value in fields.items():
            setattr(self.p, name, value)
        self.size = ffi.sizeof(struct)

    @property
    def iv(self) -> bytes:
        return bytes(ffi.buffer(self.iv_buf, self.iv_len))

    @property
    def tag(self) -> bytes:
        return bytes(ffi.buffer(self.tag_buf, self.tag_len))

    def set_tag(self, tag: bytes) -> None:
        ffi.memmove(self.tag_buf, tag, len(tag))


def gcm_message(iv: bytes, generator: int = 0, fixed_bits: int = 0, tag_bits: int = 128) -> MessageParam:
    m = MessageParam("CK_GCM_MESSAGE_PARAMS", iv, (tag_bits + 7) // 8)
    m.p.pIv, m.p.ulIvLen, m.p.ulIvFixedBits, m.p.ivGenerator = m.iv_buf, len(iv), fixed_bits, generator
    m.p.pTag, m.p.ulTagBits = m.tag_buf, tag_bits
    return m


def ccm_message(
    data_len: int, nonce: bytes, generator: int = 0, fixed_bits: int = 0, mac_len: int = 16
) -> MessageParam:
    m = MessageParam("CK_CCM_MESSAGE_PARAMS", nonce, mac_len)
    m.p.ulDataLen, m.p.pNonce, m.p.ulNonceLen = data_len, m.iv_buf, len(nonce)
    m.p.ulNonceFixedBits, m.p.nonceGenerator, m.p.pMAC, m.p.ulMACLen = (
        fixed_bits,
        generator,
        m.tag_buf,
        mac_len,
    )
    return m


def chacha_message(nonce: bytes) -> MessageParam:
    m = MessageParam("CK_SALSA20_CHACHA20_POLY1305_MSG_PARAMS", nonce, 16)
    m.p.pNonce, m.p.ulNonceLen, m.p.pTag = m.iv_buf, len(nonce), m.tag_buf
    return m
