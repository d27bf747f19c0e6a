"""ML-DSA (PKCS#11 3.2, FIPS 204): key pair generation, pure ML-DSA and HashML-DSA.

- CKM_ML_DSA: single-part signs the message at once; multi-part feeds cryptography's mu hasher
  and signs mu (the same signature: FIPS 204 Algorithm 7 computes mu first either way).
- CKM_HASH_ML_DSA: single-part over the caller's PH(M), the pre-hash named in
  CK_HASH_SIGN_ADDITIONAL_CONTEXT; CKM_HASH_ML_DSA_<hash> hash on token, multi-part too.
  Both sign the HashML-DSA mu (``engine.mldsa.prehash_mu``) with ``sign_mu``.
- The optional CK_SIGN_ADDITIONAL_CONTEXT carries FIPS 204's context string (at most 255 bytes)
  and the hedge variant: pyca/cryptography signs hedged only, so CKH_DETERMINISTIC_REQUIRED is
  CKR_MECHANISM_PARAM_INVALID (verification ignores the hedge, as the spec says).
- CKM_ML_DSA_EXTERNAL_MU and _EXTERNAL_MU_GEN are in the 3.2 working draft with no number in
  the published 3.2 header: not offered (README).

Key sizes in the mechanism info are public-key lengths in bytes, as 3.2 defines them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from softhsm_py import errors
from softhsm_py.constants import Attribute, HedgeType, KeyType, Mechanism, MechanismFlag, ObjectClass
from softhsm_py.engine import hash_table
from softhsm_py.engine import mldsa as engine
from softhsm_py.mechanisms.base import (
    KeyView,
    MechanismImpl,
    SignContext,
    VerifyContext,
    attr,
    cached,
    require_class,
    require_type,
)
from softhsm_py.mechanisms.params import HashSignContextParams, SignContextParams
from softhsm_py.mechanisms.registry import MechInfo, mechanism

F = MechanismFlag
M = Mechanism
ML_DSA = frozenset({KeyType.ML_DSA})
_INFO_RANGE = (engine.PUBLIC_LENS[0], engine.PUBLIC_LENS[-1])
_SIGN = F.SIGN | F.VERIFY

# CKM_HASH_ML_DSA_<hash> -> its pre-hash (``engine.mldsa.PREHASHES``)
HASHED: dict[int, str] = {
    M.HASH_ML_DSA_SHA224: "sha224",
    M.HASH_ML_DSA_SHA256: "sha256",
    M.HASH_ML_DSA_SHA384: "sha384",
    M.HASH_ML_DSA_SHA512: "sha512",
    M.HASH_ML_DSA_SHA3_224: "sha3-224",
    M.HASH_ML_DSA_SHA3_256: "sha3-256",
    M.HASH_ML_DSA_SHA3_384: "sha3-384",
    M.HASH_ML_DSA_SHA3_512: "sha3-512",
    M.HASH_ML_DSA_SHAKE128: "shake128",
    M.HASH_ML_DSA_SHAKE256: "shake256",
}
# CKM_HASH_ML_DSA names its pre-hash by a digest mechanism (CK_HASH_SIGN_ADDITIONAL_CONTEXT.hash):
# those of the hash table that HashML-DSA has an OID for. SHAKE has no CKM_ digest to name it.
_BY_DIGEST: dict[int, str] = {
    ckm: name for ckm, name in hash_table.names_by("digest").items() if name in engine.PREHASHES
}
_HEDGES = frozenset(int(h) for h in HedgeType)


def _context(param: SignContextParams | HashSignContextParams | None, signing: bool) -> bytes:
    if param is None:
        return b""
    if param.hedge not in _HEDGES:
        raise errors.MechanismParamInvalid()
    if signing and param.hedge == HedgeType.DETERMINISTIC_REQUIRED:
        raise errors.MechanismParamInvalid()  # the engine signs hedged only
    if len(param.context) > engine.CONTEXT_MAX:
        raise errors.MechanismParamInvalid()
    return param.context


def _sign_param(param: Any, signing: bool) -> bytes:
    if param is not None and not isinstance(param, SignContextParams):
        raise errors.MechanismParamInvalid()
    return _context(param, signing)


def parameter_set(key: KeyView) -> engine.ParameterSet:
    return engine.parameter_set(attr(key, Attribute.PARAMETER_SET))


def load_private(key: KeyView) -> tuple[Any, engine.ParameterSet]:
    require_class(key, ObjectClass.PRIVATE_KEY)
    require_type(key, ML_DSA)
    ps = parameter_set(key)
    return cached(key, "mldsa.private", lambda: engine.load_private(ps, bytes(attr(key, Attribute.SEED)))), ps


def load_public(key: KeyView) -> tuple[Any, engine.ParameterSet]:
    require_class(key, ObjectClass.PUBLIC_KEY)
    require_type(key, ML_DSA)
    ps = parameter_set(key)
    return cached(key, "mldsa.public", lambda: engine.load_public(ps, bytes(attr(key, Attribute.VALUE)))), ps


class _Sign(SignContext):
    """Pure ML-DSA: one shot with the message, or mu hashed in parts."""

    def __init__(self, key: Any, ps: engine.ParameterSet, context: bytes) -> None:
        self._key, self._ps, self._context = key, ps, context
        self._mu: engine.MuHasher | None = None

    def update(self, data: bytes) -> None:
        if self._mu is None:
            self._mu = engine.MuHasher(self._key.public_key(), self._context)
        self._mu.update(data)

    def final(self) -> bytes:
        if self._mu is None:
            self.update(b"")
        assert self._mu is not None
        return engine.sign_mu(self._key, self._mu.finalize())

    def sign(self, data: bytes) -> bytes:
        return engine.sign(self._key, data, self._context)

    def output_bound(self, in_len: int, final: bool) -> int:
        return self._ps.signature_len


class _Verify(VerifyContext):
    def __init__(self, key: Any, ps: engine.ParameterSet, context: bytes) -> None:
        self._key, self._ps, self._context = key, ps, context
        self._mu: engine.MuHasher | None = None

    def update(self, data: bytes) -> None:
        if self._mu is None:
            self._mu = engine.MuHasher(self._key, self._context)
        self._mu.update(data)

    def final(self, signature: bytes) -> None:
        if self._mu is None:
            self.update(b"")
        assert self._mu is not None
        engine.verify_mu(self._key, self._ps, signature, self._mu.finalize())

    def verify(self, data: bytes, signature: bytes) -> None:
        engine.verify(self._key, self._ps, signature, data, self._context)


@mechanism(M.ML_DSA, info=MechInfo(*_INFO_RANGE, _SIGN), param=SignContextParams)
class MlDsa(MechanismImpl):
    key_types = ML_DSA

    def sign_init(self, mech: int, param: Any, key: KeyView) -> SignContext:
        context = _sign_param(param, True)
        k, ps = load_private(key)
        return _Sign(k, ps, context)

    def verify_init(self, mech: int, param: Any, key: KeyView) -> VerifyContext:
        context = _sign_param(param, False)
        k, ps = load_public(key)
        return _Verify(k, ps, context)


class _HashSign(SignContext):
    """HashML-DSA: PH(M) computed here (``prehasher``) or given (CKM_HASH_ML_DSA, single-part)."""

    def __init__(
        self, key: Any, ps: engine.ParameterSet, hash_name: str, context: bytes, hashing: bool
    ) -> None:
        self._key, self._ps, self._hash, self._context = key, ps, hash_name, context
        self._hasher = engine.Prehasher(hash_name) if hashing else None

    def update(self, data: bytes) -> None:
        if self._hasher is None:
            raise errors.OperationNotInitialized()  # CKM_HASH_ML_DSA is single-part (3.2)
        self._hasher.update(data)

    def _mu(self, digest: bytes) -> bytes:
        public = engine.raw_public(self._key.public_key())
        return engine.prehash_mu(public, self._hash, digest, self._context)

    def final(self) -> bytes:
        if self._hasher is None:
            raise errors.OperationNotInitialized()
        return engine.sign_mu(self._key, self._mu(self._hasher.finalize()))

    def sign(self, data: bytes) -> bytes:
        if self._hasher is not None:
            return super().sign(data)
        return engine.sign_mu(self._key, self._mu(data))

    def output_bound(self, in_len: int, final: bool) -> int:
        return self._ps.signature_len


class _HashVerify(VerifyContext):
    def __init__(
        self, key: Any, ps: engine.ParameterSet, hash_name: str, context: bytes, hashing: bool
    ) -> None:
        self._key, self._ps, self._hash, self._context = key, ps, hash_name, context
        self._hasher = engine.Prehasher(hash_name) if hashing else None

    def update(self, data: bytes) -> None:
        if self._hasher is None:
            raise errors.OperationNotInitialized()
        self._hasher.update(data)

    def _check(self, digest: bytes, signature: bytes) -> None:
        mu = engine.prehash_mu(engine.raw_public(self._key), self._hash, digest, self._context)
        engine.verify_mu(self._key, self._ps, signature, mu)

    def final(self, signature: bytes) -> None:
        if self._hasher is None:
            raise errors.OperationNotInitialized()
        if len(signature) != self._ps.signature_len:
            raise errors.SignatureLenRange()
        self._check(self._hasher.finalize(), signature)

    def verify(self, data: bytes, signature: bytes) -> None:
        if len(signature) != self._ps.signature_len:
            raise errors.SignatureLenRange()
        if self._hasher is not None:
            self._hasher.update(data)
            self._check(self._hasher.finalize(), signature)
        else:
            self._check(data, signature)


def _prehash_of(mech: int, param: Any, signing: bool) -> tuple[str, bytes]:
    """(pre-hash name, context) of a HashML-DSA mechanism and its parameter."""
    if mech == M.HASH_ML_DSA:
        if not isinstance(param, HashSignContextParams):
            raise errors.MechanismParamInvalid()
        name = _BY_DIGEST.get(param.hash)
        if name is None:
            raise errors.MechanismParamInvalid()
        return name, _context(param, signing)
    return HASHED[mech], _sign_param(param, signing)


@mechanism(M.HASH_ML_DSA, info=MechInfo(*_INFO_RANGE, _SIGN), param=HashSignContextParams)
@mechanism(*HASHED, info=MechInfo(*_INFO_RANGE, _SIGN), param=SignContextParams)
class HashMlDsa(MechanismImpl):
    key_types = ML_DSA

    def sign_init(self, mech: int, param: Any, key: KeyView) -> SignContext:
        name, context = _prehash_of(mech, param, True)
        k, ps = load_private(key)
        return _HashSign(k, ps, name, context, hashing=mech != M.HASH_ML_DSA)

    def verify_init(self, mech: int, param: Any, key: KeyView) -> VerifyContext:
        name, context = _prehash_of(mech, param, False)
        k, ps = load_public(key)
        return _HashVerify(k, ps, name, context, hashing=mech != M.HASH_ML_DSA)


@mechanism(M.ML_DSA_KEY_PAIR_GEN, info=MechInfo(*_INFO_RANGE, F.GENERATE_KEY_PAIR))
class MlDsaKeyPairGen(MechanismImpl):
    def generate_key_pair(
        self, mech: int, param: Any, pub_t: Mapping[int, Any], priv_t: Mapping[int, Any]
    ) -> tuple[dict[int, Any], dict[int, Any]]:
        if param is not None:
            raise errors.MechanismParamInvalid()
        if Attribute.PARAMETER_SET not in pub_t:
            raise errors.TemplateIncomplete()
        ps = engine.parameter_set(pub_t[Attribute.PARAMETER_SET])
        seed, public, sk, spki = engine.generate(ps)
        pub: dict[int, Any] = {
            Attribute.KEY_TYPE: KeyType.ML_DSA,
            Attribute.VALUE: public,
            Attribute.PUBLIC_KEY_INFO: spki,
        }
        priv: dict[int, Any] = {
            Attribute.KEY_TYPE: KeyType.ML_DSA,
            Attribute.PARAMETER_SET: ps.ckp,
            Attribute.SEED: seed,
            Attribute.VALUE: sk,
            Attribute.PUBLIC_KEY_INFO: spki,
        }
        return pub, priv
