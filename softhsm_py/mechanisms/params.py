"""Mechanism parameters as plain Python values, filled by ``abi/mechparams.py``.

Mechanisms without a parameter get ``None``; CBC modes and AES key wrap get the IV as ``bytes``;
the *_HMAC_GENERAL and AES_CMAC_GENERAL mechanisms get the MAC length as ``int``.
"""

from __future__ import annotations

from dataclasses import dataclass


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
class KeyDerivationStringData:
    """CK_KEY_DERIVATION_STRING_DATA."""

    data: bytes
