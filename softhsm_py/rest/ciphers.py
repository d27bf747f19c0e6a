"""TSB ``cipherAlgorithm`` -> PKCS#11 mechanism and parameters, and the response's IV/tag packing.

One row per cipher. The IV or nonce of a new encryption comes from the partition's RNG (the
caller passes ``random``). AEAD output is ct || tag in PKCS#11 and in ``encryptedPayload``; the
response also splits it (TSB.md 3.2). RSA OAEP uses MGF1 with the OAEP hash (PKCS#11's usual
pairing; ``RSA_PADDING_OAEP`` alone is SHA-1). ``RSA_NO_PADDING`` returns the full block.
A row whose mechanism the core lacks (plain ``CHACHA20``) is answered MechanismInvalid: 611.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from softhsm_py.constants import KeyType, Mechanism
from softhsm_py.mechanisms.params import ChaCha20Poly1305Params, CtrParams, GcmParams, OaepParams
from softhsm_py.rest import formats
from softhsm_py.rest.errors import BusinessReason, TsbError, invalid

GCM_TAG_BITS = frozenset({64, 96, 104, 112, 120, 128})
GCM_IV_LEN = 12
CHACHA_NONCE_LEN = 12
CHACHA_TAG_LEN = 16


@dataclass(frozen=True)
class CipherRow:
    key_types: frozenset[int]
    mech: int
    kind: str  # "rsa", "oaep", "rsa_raw", "block" (IV), "ecb", "ctr", "gcm", "chacha_aead", "stream"
    iv_len: int = 0
    oaep_hash: str = ""


RSA = frozenset({KeyType.RSA})
AES = frozenset({KeyType.AES})
CHACHA = frozenset({KeyType.CHACHA20})
CAMELLIA = frozenset({KeyType.CAMELLIA})
TDEA = frozenset({KeyType.DES3})

ROWS: dict[str, CipherRow] = {
    "RSA": CipherRow(RSA, Mechanism.RSA_PKCS, "rsa"),
    "RSA_PADDING_PKCS": CipherRow(RSA, Mechanism.RSA_PKCS, "rsa"),
    "RSA_PADDING_OAEP": CipherRow(RSA, Mechanism.RSA_PKCS_OAEP, "oaep", oaep_hash="sha1"),
    **{
        f"RSA_PADDING_OAEP_WITH_{h.upper()}": CipherRow(RSA, Mechanism.RSA_PKCS_OAEP, "oaep", oaep_hash=h)
        for h in ("sha1", "sha224", "sha256", "sha384", "sha512")
    },
    "RSA_NO_PADDING": CipherRow(RSA, Mechanism.RSA_X_509, "rsa_raw"),
    "AES": CipherRow(AES, Mechanism.AES_CBC_PAD, "block", iv_len=16),
    "AES_CBC_NO_PADDING": CipherRow(AES, Mechanism.AES_CBC, "block", iv_len=16),
    "AES_ECB": CipherRow(AES, Mechanism.AES_ECB, "ecb"),
    "AES_CTR": CipherRow(AES, Mechanism.AES_CTR, "ctr", iv_len=16),
    "AES_GCM": CipherRow(AES, Mechanism.AES_GCM, "gcm", iv_len=GCM_IV_LEN),
    "CHACHA20": CipherRow(CHACHA, Mechanism.CHACHA20, "stream", iv_len=CHACHA_NONCE_LEN),
    "CHACHA20_AEAD": CipherRow(CHACHA, Mechanism.CHACHA20_POLY1305, "chacha_aead", iv_len=CHACHA_NONCE_LEN),
    "CAMELLIA": CipherRow(CAMELLIA, Mechanism.CAMELLIA_CBC_PAD, "block", iv_len=16),
    "CAMELLIA_CBC_NO_PADDING": CipherRow(CAMELLIA, Mechanism.CAMELLIA_CBC, "block", iv_len=16),
    "CAMELLIA_ECB": CipherRow(CAMELLIA, Mechanism.CAMELLIA_ECB, "ecb"),
    "TDEA_CBC": CipherRow(TDEA, Mechanism.DES3_CBC_PAD, "block", iv_len=8),
    "TDEA_CBC_NO_PADDING": CipherRow(TDEA, Mechanism.DES3_CBC, "block", iv_len=8),
    "TDEA_ECB": CipherRow(TDEA, Mechanism.DES3_ECB, "ecb"),
}


def oaep(hash_name: str) -> OaepParams:
    from softhsm_py.rest.signing import HASHES

    ckm, mgf = HASHES[hash_name]
    return OaepParams(hash_alg=ckm, mgf=mgf, source_data=b"")


def _tag_bits(tag_length: int | None) -> int:
    bits = tag_length or 128  # 0: the default, a full tag
    if bits not in GCM_TAG_BITS:
        raise TsbError(
            BusinessReason.INVALID_TAGLENGTH, "tagLength must be one of 0, 64, 96, 104, 112, 120, 128"
        )
    return bits


@dataclass(frozen=True)
class CipherPlan:
    row: CipherRow
    mech: int
    param: Any
    iv: bytes | None  # what the response reports as initializationVector
    tag_len: int  # AEAD tag bytes at the end of the output (0: none)


def _row(algorithm: str) -> CipherRow:
    row = ROWS.get(algorithm)
    if row is None:
        raise invalid(f"Unknown cipherAlgorithm {algorithm}")
    return row


def _param(row: CipherRow, iv: bytes | None, aad: bytes | None, tag_length: int | None) -> tuple[Any, int]:
    """(mechanism parameter, tag bytes) for a row given the IV the operation uses."""
    kind = row.kind
    if kind in ("rsa", "rsa_raw", "ecb"):
        return None, 0
    if kind == "oaep":
        return oaep(row.oaep_hash), 0
    if iv is None:
        raise invalid("initializationVector is required for this cipherAlgorithm")
    if kind == "block":
        return iv, 0
    if kind == "ctr":
        return CtrParams(counter_bits=128, cb=iv), 0
    if kind == "gcm":
        bits = _tag_bits(tag_length)
        return GcmParams(iv=iv, aad=aad or b"", tag_bits=bits), bits // 8
    if kind == "chacha_aead":
        return ChaCha20Poly1305Params(nonce=iv, aad=aad or b""), CHACHA_TAG_LEN
    return iv, 0  # "stream": CKM_CHACHA20's parameter comes with the core's mechanism


def encrypt_plan(
    algorithm: str, aad: bytes | None, tag_length: int | None, random: Callable[[int], bytes]
) -> CipherPlan:
    row = _row(algorithm)
    iv = random(row.iv_len) if row.iv_len else None
    if aad is not None and row.kind not in ("gcm", "chacha_aead"):
        raise invalid("additionalAuthenticationData is only used by AES_GCM and CHACHA20_AEAD")
    param, tag_len = _param(row, iv, aad, tag_length)
    return CipherPlan(row, row.mech, param, iv, tag_len)


def decrypt_plan(algorithm: str, iv: bytes | None, aad: bytes | None, tag_length: int | None) -> CipherPlan:
    row = _row(algorithm)
    if row.iv_len and iv is not None and len(iv) != row.iv_len:
        raise invalid(f"initializationVector must be {row.iv_len} bytes for {algorithm}")
    param, tag_len = _param(row, iv if row.iv_len else None, aad, tag_length)
    return CipherPlan(row, row.mech, param, iv if row.iv_len else None, tag_len)


def encrypt_response(plan_: CipherPlan, output: bytes) -> dict[str, Any]:
    """``EncryptRequestResponseDto`` fields (base64 strings or null)."""
    from softhsm_py.rest.models.common import b64encode

    iv = b64encode(plan_.iv) if plan_.iv is not None else None
    if plan_.tag_len:
        ct, tag = formats.split_tag(output, plan_.tag_len)
        return {
            "encryptedPayload": b64encode(output),
            "encryptedPayloadWithoutMessageAuthenticationCode": b64encode(ct),
            "initializationVector": iv,
            "messageAuthenticationCode": b64encode(tag),
        }
    return {
        "encryptedPayload": b64encode(output),
        "encryptedPayloadWithoutMessageAuthenticationCode": None,
        "initializationVector": iv,
        "messageAuthenticationCode": None,
    }


def decrypt_output(plan_: CipherPlan, ciphertext: bytes, output: bytes) -> bytes:
    if plan_.row.kind == "rsa_raw":
        return formats.left_pad(output, len(ciphertext))  # the input is one full block
    return output


__all__ = ["ROWS", "CipherPlan", "decrypt_output", "decrypt_plan", "encrypt_plan", "encrypt_response"]
