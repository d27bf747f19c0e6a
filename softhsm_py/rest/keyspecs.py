"""TSB key algorithms -> PKCS#11 key generation, and PKCS#11 keys -> TSB algorithm names.

One row per TSB algorithm (TSB.md section 4). A row names the key type and generation mechanism;
whether the engine has that mechanism is the core's answer (``errors.MechanismInvalid`` -> 611),
so a row starts working the day its mechanism is registered. A DSA key is asked for by size
(CKA_PRIME_BITS): ``core.partition`` makes the domain first. Rows with ``offered=False`` name
algorithms pyca/cryptography cannot do at all (README).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from softhsm_py.constants import Attribute, KeyType, Mechanism
from softhsm_py.rest import formats
from softhsm_py.rest.errors import BusinessReason, TsbError, invalid, unsupported
from softhsm_py.rest.models.keys import AttributesDto

#: the TSB attribute flags -> the PKCS#11 attribute and which object of a pair carries it
USAGE_ATTRS: dict[str, tuple[int, str]] = {
    "encrypt": (Attribute.ENCRYPT, "public"),
    "verify": (Attribute.VERIFY, "public"),
    "wrap": (Attribute.WRAP, "public"),
    "decrypt": (Attribute.DECRYPT, "private"),
    "sign": (Attribute.SIGN, "private"),
    "unwrap": (Attribute.UNWRAP, "private"),
    "derive": (Attribute.DERIVE, "private"),
}

#: a KEM's wrap / unwrap flags are its encapsulation usages (PKCS#11 3.2: CKA_ENCAPSULATE / DECAPSULATE)
KEM_USAGE_ATTRS: dict[str, tuple[int, str]] = {
    "wrap": (Attribute.ENCAPSULATE, "public"),
    "unwrap": (Attribute.DECAPSULATE, "private"),
}

RSA_USES = frozenset({"encrypt", "verify", "wrap", "decrypt", "sign", "unwrap"})
KEM_USES = frozenset({"wrap", "unwrap"})
SIGN_USES = frozenset({"verify", "sign"})
EC_USES = frozenset({"verify", "sign", "derive"})
CIPHER_USES = frozenset({"encrypt", "decrypt", "wrap", "unwrap", "sign", "verify", "derive"})
MAC_USES = frozenset({"sign", "verify", "derive"})


@dataclass(frozen=True)
class KeySpec:
    """How one TSB algorithm is generated. ``sizes`` in bits (None: the curve decides);
    ``uses``: the TSB usage flags that mean something for the key type (others are ignored, as
    PKCS#11 has no operation for them, e.g. decrypt with an EC key)."""

    algorithm: str
    oid: str
    key_type: int
    generate: int
    pair: bool
    uses: frozenset[str]
    sizes: tuple[int, ...] | None = None
    default_size: int | None = None
    offered: bool = True
    parameter_set: int | None = None  # CKA_PARAMETER_SET of the public template (ML-DSA, ML-KEM)
    usage_attrs: dict[str, tuple[int, str]] | None = None  # instead of USAGE_ATTRS

    @property
    def usages(self) -> dict[str, tuple[int, str]]:
        return self.usage_attrs if self.usage_attrs is not None else USAGE_ATTRS


SPECS: dict[str, KeySpec] = {
    s.algorithm: s
    for s in (
        KeySpec("RSA", "1.2.840.113549.1.1.1", KeyType.RSA, Mechanism.RSA_PKCS_KEY_PAIR_GEN, True, RSA_USES,
                sizes=tuple(range(2048, 8193, 8))),
        KeySpec("EC", "1.2.840.10045.2.1", KeyType.EC, Mechanism.EC_KEY_PAIR_GEN, True, EC_USES),
        KeySpec("ED", "1.3.101.112", KeyType.EC_EDWARDS, Mechanism.EC_EDWARDS_KEY_PAIR_GEN, True, SIGN_USES),
        KeySpec("DSA", "1.2.840.10040.4.1", KeyType.DSA, Mechanism.DSA_KEY_PAIR_GEN, True, SIGN_USES,
                sizes=(1024, 2048, 3072)),
        KeySpec("AES", "2.16.840.1.101.3.4.1", KeyType.AES, Mechanism.AES_KEY_GEN, False, CIPHER_USES,
                sizes=(128, 192, 256), default_size=256),
        KeySpec("ChaCha20", "1.2.840.113549.1.9.16.3.18", KeyType.CHACHA20, Mechanism.CHACHA20_KEY_GEN, False,
                CIPHER_USES, sizes=(256,), default_size=256),
        KeySpec("Camellia", "1.2.392.200011.61.1.1.1", KeyType.CAMELLIA, Mechanism.CAMELLIA_KEY_GEN, False,
                CIPHER_USES, sizes=(128, 192, 256), default_size=256),
        KeySpec("TDEA", "1.2.840.113549.3.7", KeyType.DES3, Mechanism.DES3_KEY_GEN, False, CIPHER_USES,
                sizes=(192,), default_size=192),
        KeySpec("HMACSHA256", "1.2.840.113549.2.9", KeyType.GENERIC_SECRET, Mechanism.GENERIC_SECRET_KEY_GEN,
                False, MAC_USES, sizes=tuple(range(128, 4097, 8)), default_size=256),
        # PKCS#11 3.2 (TSB.md 4: the TSB sends no keySize for them)
        *(KeySpec(f"ML-DSA-{n}", f"2.16.840.1.101.3.4.3.{oid}", KeyType.ML_DSA, Mechanism.ML_DSA_KEY_PAIR_GEN,
                  True, SIGN_USES, parameter_set=ckp)
          for n, oid, ckp in ((44, 17, 1), (65, 18, 2), (87, 19, 3))),
        *(KeySpec(f"ML-KEM-{n}", f"2.16.840.1.101.3.4.4.{oid}", KeyType.ML_KEM, Mechanism.ML_KEM_KEY_PAIR_GEN,
                  True, KEM_USES, parameter_set=ckp, usage_attrs=KEM_USAGE_ATTRS)
          for n, oid, ckp in ((768, 2, 2), (1024, 3, 3))),
    )
}  # fmt: skip

#: TSB algorithms pyca/cryptography has no implementation of (README "What is not offered")
NOT_OFFERED: frozenset[str] = frozenset(
    {
        "ISS", "BLS", "LMS", "XMSS-SHA256_10_256", "XMSS-SHAKE256_10_256",
        # ML-KEM-512, SLH-DSA and the pre-standard PQC names: not in pyca/cryptography
        "ML-KEM-512",
        "SLH-DSA-SHA2-128s", "SLH-DSA-SHA2-128f", "SLH-DSA-SHA2-192s", "SLH-DSA-SHA2-192f",
        "SLH-DSA-SHA2-256s", "SLH-DSA-SHA2-256f", "SLH-DSA-SHAKE-128s", "SLH-DSA-SHAKE-128f",
        "SLH-DSA-SHAKE-192s", "SLH-DSA-SHAKE-192f", "SLH-DSA-SHAKE-256s", "SLH-DSA-SHAKE-256f",
        "DILITHIUM_L2", "DILITHIUM_L3", "DILITHIUM_L5", "SPHINCS_PLUS_SHAKE_L1", "SPHINCS_PLUS_SHAKE_L3",
        "SPHINCS_PLUS_SHAKE_L5", "KYBER512_WITH_SHAKE", "KYBER768_WITH_SHAKE", "KYBER1024_WITH_SHAKE",
        "KYBER512_WITH_SHA2_AES", "KYBER768_WITH_SHA2_AES", "KYBER1024_WITH_SHA2_AES",
    }
)  # fmt: skip

#: TSB curve OIDs (DTO CreateKeyDto.curveOid) -> the key algorithm they belong to. Whether the
#: engine has the curve is its answer (CurveNotSupported -> 611).
CURVES: dict[str, str] = {
    "1.3.132.0.32": "EC",  # secp224k1 (not in pyca/cryptography)
    "1.3.132.0.33": "EC",  # secp224r1
    "1.3.132.0.10": "EC",  # secp256k1
    "1.2.840.10045.3.1.7": "EC",  # secp256r1
    "1.3.132.0.34": "EC",  # secp384r1
    "1.3.132.0.35": "EC",  # secp521r1
    # the TSB's list names 1.2.840.10045.3.1.1-.3 "x962p239v1-v3"; by X9.62 they are prime192v1-v3
    # (prime239v1-v3 are .4-.6): the OID is what counts, and the engine has prime192v1 (secp192r1)
    "1.2.840.10045.3.1.1": "EC",
    "1.2.840.10045.3.1.2": "EC",
    "1.2.840.10045.3.1.3": "EC",
    # likewise its "brainpool224r1" OID is brainpoolP160r1 (not in pyca/cryptography); P224r1 is .5
    "1.3.36.3.3.2.8.1.1.1": "EC",
    "1.3.36.3.3.2.8.1.1.5": "EC",  # brainpoolP224r1
    "1.3.36.3.3.2.8.1.1.7": "EC",  # brainpoolP256r1
    "1.3.36.3.3.2.8.1.1.9": "EC",  # brainpoolP320r1
    "1.3.36.3.3.2.8.1.1.11": "EC",  # brainpoolP384r1
    "1.3.36.3.3.2.8.1.1.13": "EC",  # brainpoolP512r1
    "1.2.250.1.223.101.256.1": "EC",  # frp256v1 (not in pyca/cryptography)
    "1.3.101.112": "ED",  # Ed25519
    "1.3.101.113": "ED",  # Ed448
}

#: curve OID -> group order length in bytes (the half length of an r || s signature)
ORDER_BYTES: dict[str, int] = {
    "1.2.840.10045.3.1.1": 24,
    "1.3.132.0.33": 28,
    "1.3.36.3.3.2.8.1.1.5": 28,
    "1.3.36.3.3.2.8.1.1.9": 40,
    "1.3.132.0.10": 32,
    "1.2.840.10045.3.1.7": 32,
    "1.3.132.0.34": 48,
    "1.3.132.0.35": 66,
    "1.3.36.3.3.2.8.1.1.7": 32,
    "1.3.36.3.3.2.8.1.1.11": 48,
    "1.3.36.3.3.2.8.1.1.13": 64,
}

ALGORITHM_BY_OID: dict[str, str] = {s.oid: s.algorithm for s in SPECS.values()}


@dataclass(frozen=True)
class GenerateRequest:
    """What ``Partition.generate`` / ``generate_secret`` are called with."""

    spec: KeySpec
    public: dict[int, Any]
    private: dict[int, Any]  # for a secret key: its template


def spec_for(algorithm: str | None, algorithm_oid: str | None) -> KeySpec:
    name = algorithm
    if name is None and algorithm_oid is not None:
        name = ALGORITHM_BY_OID.get(algorithm_oid)
        if name is None:
            raise invalid(f"algorithmOid {algorithm_oid} names no key algorithm")
    if name is None:
        raise invalid("Either algorithm or algorithmOid must be set")
    spec = SPECS.get(name)
    if spec is None:
        if name in NOT_OFFERED:
            raise unsupported(f"Key algorithm {name}")
        raise TsbError(BusinessReason.INVALID_KEY_TYPE, f"Unknown key algorithm '{name}'")
    return spec


def _size(spec: KeySpec, key_size: int | None) -> int | None:
    if spec.sizes is None:
        return None  # EC / ED: the curve fixes it; the TSB ignores keySize there
    size = key_size if key_size else spec.default_size
    if size is None:
        raise TsbError(BusinessReason.UNSUPPORTED_KEYSIZE, f"keySize is required for {spec.algorithm}")
    if size not in spec.sizes:
        raise TsbError(
            BusinessReason.UNSUPPORTED_KEYSIZE, f"keySize {size} is not offered for {spec.algorithm}"
        )
    return size


def curve_params(spec: KeySpec, curve_oid: str | None) -> bytes:
    if curve_oid is None:
        if spec.algorithm == "ED":
            curve_oid = "1.3.101.112"  # the TSB's only ED curve
        else:
            raise invalid("curveOid is required for EC keys")
    owner = CURVES.get(curve_oid)
    if owner is None:
        try:
            formats.oid_to_der(curve_oid)
        except ValueError:
            # custom curves (TSB 1.6.0 syntax) are a TSB feature softhsm-py lacks
            raise unsupported("A custom curve") from None
        raise unsupported(f"Curve {curve_oid}")
    if owner != spec.algorithm:
        raise invalid(f"curveOid {curve_oid} is not a curve for {spec.algorithm}")
    return formats.oid_to_der(curve_oid)


def protection(attrs: AttributesDto) -> dict[int, Any]:
    """The lifecycle flags (DTO defaults: extractable false, modifiable true, destroyable false,
    copyable false; sensitive null -> true)."""
    return {
        Attribute.SENSITIVE: attrs.sensitive if attrs.sensitive is not None else True,
        Attribute.EXTRACTABLE: bool(attrs.extractable),
        Attribute.MODIFIABLE: attrs.modifiable if attrs.modifiable is not None else True,
        Attribute.DESTROYABLE: bool(attrs.destroyable),
        Attribute.COPYABLE: bool(attrs.copyable),
    }


def usage_templates(spec: KeySpec, attrs: AttributesDto) -> tuple[dict[int, Any], dict[int, Any]]:
    """(public template, private/secret template) usage flags; a secret key gets them all."""
    if not (attrs.decrypt or attrs.sign or attrs.unwrap):
        raise TsbError(
            BusinessReason.KEY_ATTRIBUTES_INVALID,
            "At least one operation (decrypt, sign, unwrap) must be allowed",
        )
    if attrs.bip32 or attrs.slip10:
        raise unsupported("Key derivation (bip32, slip10)")
    public: dict[int, Any] = {}
    private: dict[int, Any] = {}
    for flag, (attr, side) in spec.usages.items():
        if flag not in spec.uses:
            continue
        value = bool(getattr(attrs, flag))
        if not spec.pair or side == "private":
            private[attr] = value
        else:
            public[attr] = value
    return public, private


def generation(
    spec: KeySpec, attrs: AttributesDto, key_size: int | None, curve_oid: str | None
) -> GenerateRequest:
    size = _size(spec, key_size)
    public, private = usage_templates(spec, attrs)
    private.update(protection(attrs))
    if spec.key_type == KeyType.RSA:
        public[Attribute.MODULUS_BITS] = size
        public[Attribute.PUBLIC_EXPONENT] = b"\x01\x00\x01"
    elif spec.key_type in (KeyType.EC, KeyType.EC_EDWARDS):
        public[Attribute.EC_PARAMS] = curve_params(spec, curve_oid)
    elif spec.key_type == KeyType.DSA:
        public[Attribute.PRIME_BITS] = size
    elif spec.parameter_set is not None:
        public[Attribute.PARAMETER_SET] = spec.parameter_set
    elif size is not None:
        private[Attribute.VALUE_LEN] = size // 8
    return GenerateRequest(spec, public, private)
