"""ECDSA (raw over a caller's hash, and ECDSA_SHA*) and EC key pair generation on the prime curves
of ``engine.curves``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from softhsm_py import errors
from softhsm_py.constants import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass
from softhsm_py.engine import curves, hash_table, hashes
from softhsm_py.engine import ec as engine
from softhsm_py.mechanisms.base import (
    KeyView,
    MechanismImpl,
    OneShotSign,
    OneShotVerify,
    SignContext,
    StreamSign,
    StreamVerify,
    VerifyContext,
    attr,
    cached,
    require_class,
    require_type,
)
from softhsm_py.mechanisms.registry import MechInfo, mechanism

F = MechanismFlag
EC = frozenset({KeyType.EC})
MIN_BITS, MAX_BITS = curves.bit_range(curves.EC)
# Curves named by OID or by explicit parameters equal to a named curve's (engine.curve_params).
_CURVE_FLAGS = F.EC_F_P | F.EC_OID | F.EC_ECPARAMETERS | F.EC_UNCOMPRESS

_HASHED: dict[int, str] = hash_table.names_by("ecdsa")


_PRIVATE_KEY, _PUBLIC_KEY = int(ObjectClass.PRIVATE_KEY), int(ObjectClass.PUBLIC_KEY)
_ECDSA = int(Mechanism.ECDSA)
_SIG_LEN = {c.name: c.signature_len for c in curves.of_family(curves.EC)}  # by cryptography curve name


def load_private(key: KeyView) -> engine.PrivateKey:
    require_class(key, _PRIVATE_KEY)
    require_type(key, EC)
    return cached(
        key,
        "ec.private",
        lambda: engine.load_private(attr(key, Attribute.EC_PARAMS), attr(key, Attribute.VALUE)),
    )


def load_public(key: KeyView) -> engine.PublicKey:
    require_class(key, _PUBLIC_KEY)
    require_type(key, EC)
    return cached(
        key,
        "ec.public",
        lambda: engine.load_public(attr(key, Attribute.EC_PARAMS), attr(key, Attribute.EC_POINT)),
    )


def _sig_len(key: engine.PrivateKey | engine.PublicKey) -> int:
    return _SIG_LEN[key.curve.name]


def _no_param(param: Any) -> None:
    if param is not None:
        raise errors.MechanismParamInvalid()


@mechanism(Mechanism.ECDSA, *_HASHED, info=MechInfo(MIN_BITS, MAX_BITS, F.SIGN | F.VERIFY | _CURVE_FLAGS))
class Ecdsa(MechanismImpl):
    """CKM_ECDSA is single-part over a hash the caller computed (truncated to the order as
    ECDSA prescribes); ECDSA_SHA* hash multi-part."""

    key_types = EC

    def sign_init(self, mech: int, param: Any, key: KeyView) -> SignContext:
        _no_param(param)
        k = load_private(key)
        if mech == _ECDSA:
            return OneShotSign(lambda d: engine.sign_digest(k, d), _sig_len(k))
        return StreamSign(hashes.Digest(_HASHED[mech]), lambda d: engine.sign_digest(k, d), _sig_len(k))

    def verify_init(self, mech: int, param: Any, key: KeyView) -> VerifyContext:
        _no_param(param)
        k = load_public(key)
        if mech == _ECDSA:
            return OneShotVerify(lambda d, s: engine.verify_digest(k, d, s), _sig_len(k))
        return StreamVerify(
            hashes.Digest(_HASHED[mech]), lambda d, s: engine.verify_digest(k, d, s), _sig_len(k)
        )


@mechanism(Mechanism.EC_KEY_PAIR_GEN, info=MechInfo(MIN_BITS, MAX_BITS, F.GENERATE_KEY_PAIR | _CURVE_FLAGS))
class EcKeyPairGen(MechanismImpl):
    def generate_key_pair(
        self, mech: int, param: Any, pub_t: Mapping[int, Any], priv_t: Mapping[int, Any]
    ) -> tuple[dict[int, Any], dict[int, Any]]:
        _no_param(param)
        params = pub_t.get(Attribute.EC_PARAMS)
        if params is None:
            raise errors.TemplateIncomplete()
        point, value, spki = engine.generate(bytes(params))
        pub: dict[int, Any] = {
            Attribute.KEY_TYPE: KeyType.EC,
            Attribute.EC_POINT: point,
            Attribute.PUBLIC_KEY_INFO: spki,
        }
        priv: dict[int, Any] = {
            Attribute.KEY_TYPE: KeyType.EC,
            Attribute.EC_PARAMS: bytes(params),
            Attribute.VALUE: value,
            Attribute.PUBLIC_KEY_INFO: spki,
        }
        return pub, priv
