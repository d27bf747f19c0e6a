"""TSB ``signatureAlgorithm`` -> PKCS#11 mechanism, the bytes it signs, and the signature format.

One row per algorithm. ``prepare`` turns the payload into what the mechanism takes (the
``NONESHA*`` algorithms get a caller-made digest: RSA wraps it in a DigestInfo for CKM_RSA_PKCS,
PSS names its hash in the parameters). ``rs`` marks mechanisms whose PKCS#11 output is r || s:
the TSB returns DER for those unless ``signatureType`` is RAW. Rows with ``mech=None`` are
algorithms pyca/cryptography does not offer (README), answered with 611.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from softhsm_py.constants import MGF, KeyType, Mechanism
from softhsm_py.mechanisms.params import PssParams
from softhsm_py.rest import formats
from softhsm_py.rest.errors import BusinessReason, TsbError, unsupported

#: hash name -> (CKM digest, CKG_MGF1)
HASHES: dict[str, tuple[int, int]] = {
    "sha1": (Mechanism.SHA_1, MGF.SHA1),
    "sha224": (Mechanism.SHA224, MGF.SHA224),
    "sha256": (Mechanism.SHA256, MGF.SHA256),
    "sha384": (Mechanism.SHA384, MGF.SHA384),
    "sha512": (Mechanism.SHA512, MGF.SHA512),
}
_BY_DIGEST_LEN = {formats.DIGEST_SIZE[h]: h for h in HASHES}


def pss(hash_name: str) -> PssParams:
    """PSS as the JCA's SHAxxxwithRSA/PSS: MGF1 with the same hash, salt as long as the hash."""
    ckm, mgf = HASHES[hash_name]
    return PssParams(hash_alg=ckm, mgf=mgf, salt_len=formats.DIGEST_SIZE[hash_name])


@dataclass(frozen=True)
class SignRow:
    key_types: frozenset[int]
    mech: int | None  # None: not offered
    param: Callable[[bytes], Any] = lambda payload: None
    prepare: Callable[[bytes], bytes] = lambda payload: payload
    rs: bool = False  # PKCS#11 output r || s (ECDSA, DSA)


RSA = frozenset({KeyType.RSA})
EC = frozenset({KeyType.EC})
ED = frozenset({KeyType.EC_EDWARDS})
DSA = frozenset({KeyType.DSA})
ML_DSA = frozenset({KeyType.ML_DSA})
NONE: frozenset[int] = frozenset()


def _digest(hash_name: str) -> Callable[[bytes], bytes]:
    def check(payload: bytes) -> bytes:
        if len(payload) != formats.DIGEST_SIZE[hash_name]:
            raise TsbError(
                BusinessReason.INVALID_PAYLOAD, f"The payload must be a {hash_name.upper()} digest"
            )
        return payload

    return check


def _digest_info(hash_name: str) -> Callable[[bytes], bytes]:
    return lambda payload: formats.DIGEST_INFO_PREFIX[hash_name] + _digest(hash_name)(payload)


def _pss_of(hash_name: str) -> Callable[[bytes], PssParams]:
    """The PSS parameter of ``hash_name`` whatever the payload (a row's ``param``)."""
    return lambda payload: pss(hash_name)


def _pss_by_length(payload: bytes) -> PssParams:
    hash_name = _BY_DIGEST_LEN.get(len(payload))
    if hash_name is None:
        raise TsbError(BusinessReason.INVALID_PAYLOAD, "The payload must be a SHA-1 or SHA-2 digest")
    return pss(hash_name)


def _hashed(payload: bytes) -> bytes:
    return hashlib.sha256(payload).digest()


ROWS: dict[str, SignRow] = {
    # RSA PKCS#1 v1.5
    "SHA1_WITH_RSA": SignRow(RSA, Mechanism.SHA1_RSA_PKCS),
    "SHA224_WITH_RSA": SignRow(RSA, Mechanism.SHA224_RSA_PKCS),
    "SHA256_WITH_RSA": SignRow(RSA, Mechanism.SHA256_RSA_PKCS),
    "SHA384_WITH_RSA": SignRow(RSA, Mechanism.SHA384_RSA_PKCS),
    "SHA512_WITH_RSA": SignRow(RSA, Mechanism.SHA512_RSA_PKCS),
    "NONE_WITH_RSA": SignRow(RSA, Mechanism.RSA_PKCS),
    **{
        f"NONE{h.upper()}_WITH_RSA": SignRow(RSA, Mechanism.RSA_PKCS, prepare=_digest_info(h))
        for h in ("sha1", "sha224", "sha256", "sha384", "sha512")
    },
    # RSA PSS
    **{
        f"{h.upper()}_WITH_RSA_PSS": SignRow(RSA, m, param=_pss_of(h))
        for h, m in (
            ("sha1", Mechanism.SHA1_RSA_PKCS_PSS),
            ("sha224", Mechanism.SHA224_RSA_PKCS_PSS),
            ("sha256", Mechanism.SHA256_RSA_PKCS_PSS),
            ("sha384", Mechanism.SHA384_RSA_PKCS_PSS),
            ("sha512", Mechanism.SHA512_RSA_PKCS_PSS),
        )
    },
    "NONE_WITH_RSA_PSS": SignRow(RSA, Mechanism.RSA_PKCS_PSS, param=_pss_by_length),
    **{
        f"NONE{h.upper()}_WITH_RSA_PSS": SignRow(
            RSA, Mechanism.RSA_PKCS_PSS, param=_pss_of(h), prepare=_digest(h)
        )
        for h in ("sha224", "sha256", "sha384", "sha512")
    },
    # ECDSA (NONE_WITH_ECDSA signs a caller-made hash, as CKM_ECDSA does)
    "NONE_WITH_ECDSA": SignRow(EC, Mechanism.ECDSA, rs=True),
    "SHA1_WITH_ECDSA": SignRow(EC, Mechanism.ECDSA_SHA1, rs=True),
    "SHA224_WITH_ECDSA": SignRow(EC, Mechanism.ECDSA_SHA224, rs=True),
    "SHA256_WITH_ECDSA": SignRow(EC, Mechanism.ECDSA_SHA256, rs=True),
    "SHA384_WITH_ECDSA": SignRow(EC, Mechanism.ECDSA_SHA384, rs=True),
    "SHA512_WITH_ECDSA": SignRow(EC, Mechanism.ECDSA_SHA512, rs=True),
    "SHA3224_WITH_ECDSA": SignRow(EC, Mechanism.ECDSA_SHA3_224, rs=True),
    "SHA3256_WITH_ECDSA": SignRow(EC, Mechanism.ECDSA_SHA3_256, rs=True),
    "SHA3384_WITH_ECDSA": SignRow(EC, Mechanism.ECDSA_SHA3_384, rs=True),
    "SHA3512_WITH_ECDSA": SignRow(EC, Mechanism.ECDSA_SHA3_512, rs=True),
    # Bitcoin's double hash: the mechanism hashes the single hash once more
    "DOUBLE_SHA256_WITH_ECDSA": SignRow(EC, Mechanism.ECDSA_SHA256, prepare=_hashed, rs=True),
    # RFC 6979 needs a deterministic ECDSA mechanism the engine lacks (OpenSSL 3.0)
    "SHA256_WITH_ECDSA_DETERMINISTIC": SignRow(EC, None),
    # Keccak (pre-standard SHA-3) is not in pyca/cryptography
    "KECCAK224_WITH_ECDSA": SignRow(EC, None),
    "KECCAK256_WITH_ECDSA": SignRow(EC, None),
    "KECCAK384_WITH_ECDSA": SignRow(EC, None),
    "KECCAK512_WITH_ECDSA": SignRow(EC, None),
    "NONE_WITH_EC_SCHNORR_BIP0340": SignRow(EC, None),
    # EdDSA: pure Ed25519 / Ed448, the signature is its own format
    "EDDSA": SignRow(ED, Mechanism.EDDSA),
    # DSA (r || s from PKCS#11, DER unless RAW, as ECDSA)
    "NONE_WITH_DSA": SignRow(DSA, Mechanism.DSA, rs=True),
    "SHA1_WITH_DSA": SignRow(DSA, Mechanism.DSA_SHA1, rs=True),
    "SHA224_WITH_DSA": SignRow(DSA, Mechanism.DSA_SHA224, rs=True),
    "SHA256_WITH_DSA": SignRow(DSA, Mechanism.DSA_SHA256, rs=True),
    "SHA384_WITH_DSA": SignRow(DSA, Mechanism.DSA_SHA384, rs=True),
    "SHA512_WITH_DSA": SignRow(DSA, Mechanism.DSA_SHA512, rs=True),
    # ML-DSA (PKCS#11 3.2): pure ML-DSA over the payload, no context
    "ML_DSA": SignRow(ML_DSA, Mechanism.ML_DSA),
    # not in pyca/cryptography (SLH-DSA, LMS, BLS, the pre-standard PQC names), or, for ML_DSA_M
    # (ML-DSA over a caller's mu), in PKCS#11 3.2 only as a draft mechanism with no number
    **{
        name: SignRow(NONE, None)
        for name in (
            "BLS",
            "ISS_KERL",
            "ML_DSA_M",
            "SLH_DSA",
            "LMS",
            "DILITHIUM",
            "SPHINCS_PLUS",
            "KYBER",
        )
    },
}


@dataclass(frozen=True)
class SignPlan:
    mech: int
    param: Any
    data: bytes
    rs: bool


def plan(algorithm: str, payload: bytes) -> SignPlan:
    row = ROWS.get(algorithm)
    if row is None or row.mech is None:
        raise unsupported(f"Signature algorithm {algorithm}")
    return SignPlan(row.mech, row.param(payload), row.prepare(payload), row.rs)


def key_types(algorithm: str) -> frozenset[int]:
    row = ROWS.get(algorithm)
    return row.key_types if row is not None else NONE


def encode(plan_: SignPlan, signature: bytes, signature_type: str) -> bytes:
    """PKCS#11 output -> the wire: DER for r || s unless RAW was asked for."""
    if signature_type == "ETH":
        raise unsupported("signatureType ETH")
    if plan_.rs and signature_type != "RAW":
        return formats.raw_to_der(signature)
    return signature
