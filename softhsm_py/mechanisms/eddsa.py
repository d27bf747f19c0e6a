"""EdDSA (Ed25519 / Ed448) signatures and Edwards / Montgomery key pair generation.

CKM_EDDSA is single-part (3.0 2.3.14). Parameters: none or a CK_EDDSA_PARAMS without prehash and
with an empty context select pure Ed25519 / Ed448 (RFC 8032 5.1 says Ed25519ctx SHOULD NOT be used
with an empty context, so we read that as the pure scheme); Ed25519ph / Ed25519ctx / Ed448ph and
Ed448 with a context are not offered by cryptography -> MechanismParamInvalid.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from softhsm_py import errors
from softhsm_py.constants import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass
from softhsm_py.engine import curves
from softhsm_py.engine import edwards as engine
from softhsm_py.mechanisms.base import (
    KeyView,
    MechanismImpl,
    OneShotSign,
    OneShotVerify,
    SignContext,
    VerifyContext,
    attr,
    cached,
    require_class,
    require_type,
)
from softhsm_py.mechanisms.params import EddsaParams
from softhsm_py.mechanisms.registry import MechInfo, mechanism

F = MechanismFlag
EDWARDS = frozenset({KeyType.EC_EDWARDS})
MONTGOMERY = frozenset({KeyType.EC_MONTGOMERY})
MIN_BITS, MAX_BITS = curves.bit_range(curves.EDWARDS, curves.MONTGOMERY)


def curve_of(key: KeyView, montgomery: bool) -> engine.Curve:
    return engine.curve_for(bytes(attr(key, Attribute.EC_PARAMS)), montgomery)


def load_private(key: KeyView, montgomery: bool = False) -> tuple[Any, engine.Curve]:
    require_class(key, ObjectClass.PRIVATE_KEY)
    require_type(key, MONTGOMERY if montgomery else EDWARDS)
    curve = curve_of(key, montgomery)
    return cached(
        key, "edwards.private", lambda: engine.load_private(curve, attr(key, Attribute.VALUE))
    ), curve


def load_public(key: KeyView) -> tuple[Any, engine.Curve]:
    require_class(key, ObjectClass.PUBLIC_KEY)
    require_type(key, EDWARDS)
    curve = curve_of(key, False)
    return cached(
        key, "edwards.public", lambda: engine.load_public(curve, attr(key, Attribute.EC_POINT))
    ), curve


def _check_param(param: Any) -> None:
    if param is None:
        return
    if not isinstance(param, EddsaParams) or param.prehash or param.context:
        raise errors.MechanismParamInvalid()


@mechanism(Mechanism.EDDSA, info=MechInfo(MIN_BITS, MAX_BITS, F.SIGN | F.VERIFY), param=EddsaParams)
class Eddsa(MechanismImpl):
    key_types = EDWARDS

    def sign_init(self, mech: int, param: Any, key: KeyView) -> SignContext:
        _check_param(param)
        k, curve = load_private(key)
        return OneShotSign(lambda d: engine.sign(k, d), engine.signature_len(curve))

    def verify_init(self, mech: int, param: Any, key: KeyView) -> VerifyContext:
        _check_param(param)
        k, curve = load_public(key)
        return OneShotVerify(lambda d, s: engine.verify(k, curve, d, s), engine.signature_len(curve))


def _generate(
    param: Any, pub_t: Mapping[int, Any], key_type: int, montgomery: bool
) -> tuple[dict[int, Any], dict[int, Any]]:
    if param is not None:
        raise errors.MechanismParamInvalid()
    params = pub_t.get(Attribute.EC_PARAMS)
    if params is None:
        raise errors.TemplateIncomplete()
    curve = engine.curve_for(bytes(params), montgomery)
    point, value, spki = engine.generate(curve)
    pub: dict[int, Any] = {
        Attribute.KEY_TYPE: key_type,
        Attribute.EC_POINT: point,
        Attribute.PUBLIC_KEY_INFO: spki,
    }
    priv: dict[int, Any] = {
        Attribute.KEY_TYPE: key_type,
        Attribute.EC_PARAMS: bytes(params),
        Attribute.VALUE: value,
        Attribute.PUBLIC_KEY_INFO: spki,
    }
    return pub, priv


@mechanism(Mechanism.EC_EDWARDS_KEY_PAIR_GEN, info=MechInfo(MIN_BITS, MAX_BITS, F.GENERATE_KEY_PAIR))
class EdwardsKeyPairGen(MechanismImpl):
    def generate_key_pair(
        self, mech: int, param: Any, pub_t: Mapping[int, Any], priv_t: Mapping[int, Any]
    ) -> tuple[dict[int, Any], dict[int, Any]]:
        return _generate(param, pub_t, KeyType.EC_EDWARDS, montgomery=False)


@mechanism(Mechanism.EC_MONTGOMERY_KEY_PAIR_GEN, info=MechInfo(MIN_BITS, MAX_BITS, F.GENERATE_KEY_PAIR))
class MontgomeryKeyPairGen(MechanismImpl):
    def generate_key_pair(
        self, mech: int, param: Any, pub_t: Mapping[int, Any], priv_t: Mapping[int, Any]
    ) -> tuple[dict[int, Any], dict[int, Any]]:
        return _generate(param, pub_t, KeyType.EC_MONTGOMERY, montgomery=True)
