"""ML-KEM (PKCS#11 3.2, FIPS 203): key pair generation and CKM_ML_KEM, which C_EncapsulateKey and
C_DecapsulateKey use. Neither takes a parameter. The shared secret (32 bytes) becomes the new
key's CKA_VALUE (``core.keys``). Key sizes in the info are public-key lengths in bytes (3.2);
ML-KEM-512 is not offered (pyca/cryptography lacks it): CKR_PARAMETER_SET_NOT_SUPPORTED.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from softhsm_py import errors
from softhsm_py.constants import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass
from softhsm_py.engine import mlkem as engine
from softhsm_py.mechanisms.base import KeyView, MechanismImpl, attr, cached, require_class, require_type
from softhsm_py.mechanisms.registry import MechInfo, mechanism

F = MechanismFlag
ML_KEM = frozenset({KeyType.ML_KEM})
_RANGE = (min(s.public_len for s in engine.OFFERED), max(s.public_len for s in engine.OFFERED))


def _no_param(param: Any) -> None:
    if param is not None:
        raise errors.MechanismParamInvalid()


def parameter_set(key: KeyView) -> engine.ParameterSet:
    return engine.parameter_set(attr(key, Attribute.PARAMETER_SET))


def load_public(key: KeyView) -> tuple[Any, engine.ParameterSet]:
    require_class(key, ObjectClass.PUBLIC_KEY)
    require_type(key, ML_KEM)
    ps = parameter_set(key)
    return cached(key, "mlkem.public", lambda: engine.load_public(ps, bytes(attr(key, Attribute.VALUE)))), ps


def load_private(key: KeyView) -> tuple[Any, engine.ParameterSet]:
    require_class(key, ObjectClass.PRIVATE_KEY)
    require_type(key, ML_KEM)
    ps = parameter_set(key)
    return cached(key, "mlkem.private", lambda: engine.load_private(ps, bytes(attr(key, Attribute.SEED)))), ps


@mechanism(Mechanism.ML_KEM, info=MechInfo(*_RANGE, F.ENCAPSULATE | F.DECAPSULATE))
class MlKem(MechanismImpl):
    key_types = ML_KEM

    def ciphertext_len(self, mech: int, param: Any, public_key: KeyView) -> int:
        _no_param(param)
        return load_public(public_key)[1].ciphertext_len

    def encapsulate(self, mech: int, param: Any, public_key: KeyView) -> tuple[bytes, bytes]:
        _no_param(param)
        key, _ = load_public(public_key)
        return engine.encapsulate(key)

    def decapsulate(self, mech: int, param: Any, private_key: KeyView, ciphertext: bytes) -> bytes:
        _no_param(param)
        key, ps = load_private(private_key)
        return engine.decapsulate(key, ps, ciphertext)


@mechanism(Mechanism.ML_KEM_KEY_PAIR_GEN, info=MechInfo(*_RANGE, F.GENERATE_KEY_PAIR))
class MlKemKeyPairGen(MechanismImpl):
    def generate_key_pair(
        self, mech: int, param: Any, pub_t: Mapping[int, Any], priv_t: Mapping[int, Any]
    ) -> tuple[dict[int, Any], dict[int, Any]]:
        _no_param(param)
        if Attribute.PARAMETER_SET not in pub_t:
            raise errors.TemplateIncomplete()
        ps = engine.parameter_set(pub_t[Attribute.PARAMETER_SET])
        seed, public, dk, spki = engine.generate(ps)
        pub: dict[int, Any] = {
            Attribute.KEY_TYPE: KeyType.ML_KEM,
            Attribute.VALUE: public,
            Attribute.PUBLIC_KEY_INFO: spki,
        }
        priv: dict[int, Any] = {
            Attribute.KEY_TYPE: KeyType.ML_KEM,
            Attribute.PARAMETER_SET: ps.ckp,
            Attribute.SEED: seed,
            Attribute.VALUE: dk,
            Attribute.PUBLIC_KEY_INFO: spki,
        }
        return pub, priv
