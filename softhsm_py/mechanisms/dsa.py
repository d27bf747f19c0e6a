"""DSA (PKCS#11 3.0, 2.2): domain parameter generation (C_GenerateKey makes a CKO_DOMAIN_PARAMETERS
object), key pair generation from the domain a public template names, and signatures: CKM_DSA over
a digest the caller made (single-part), DSA_SHA1 / SHA-2 / SHA-3 hashing multi-part.

Key sizes are the prime's bits: the 1024 / 2048 / 3072 / 4096 of FIPS 186-4, as cryptography
takes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from softhsm_py import errors
from softhsm_py.constants import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass
from softhsm_py.engine import dsa as engine
from softhsm_py.engine import hash_table, hashes
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
DSA = frozenset({KeyType.DSA})
BITS = (min(engine.PRIME_BITS), max(engine.PRIME_BITS))
_HASHED: dict[int, str] = hash_table.names_by("dsa")
_DOMAIN = (Attribute.PRIME, Attribute.SUBPRIME, Attribute.BASE)


def fixed(value: int, length: int) -> bytes:
    """A big integer the token made, at the full width of its field (y as long as p, x as q)."""
    return value.to_bytes(max(length, (value.bit_length() + 7) // 8), "big")


def _int(value: Any) -> int:
    if not isinstance(value, bytes):
        raise errors.AttributeValueInvalid()
    return int.from_bytes(value, "big")


def _domain(attrs: Mapping[int, Any]) -> engine.Domain:
    p, q, g = (_int(attrs[a]) for a in _DOMAIN)
    return p, q, g


def load_private(key: KeyView) -> Any:
    require_type(key, DSA)
    require_class(key, ObjectClass.PRIVATE_KEY)
    return cached(
        key, "dsa.private", lambda: engine.load_private(_domain(key.attrs), _int(attr(key, Attribute.VALUE)))
    )


def load_public(key: KeyView) -> Any:
    require_type(key, DSA)
    require_class(key, ObjectClass.PUBLIC_KEY)
    return cached(
        key, "dsa.public", lambda: engine.load_public(_domain(key.attrs), _int(attr(key, Attribute.VALUE)))
    )


def _no_param(param: Any) -> None:
    if param is not None:
        raise errors.MechanismParamInvalid()


@mechanism(Mechanism.DSA, *_HASHED, info=MechInfo(*BITS, F.SIGN | F.VERIFY))
class Dsa(MechanismImpl):
    key_types = DSA

    def sign_init(self, mech: int, param: Any, key: KeyView) -> SignContext:
        _no_param(param)
        k = load_private(key)
        n = engine.signature_len(k)
        if mech == Mechanism.DSA:
            return OneShotSign(lambda d: engine.sign(k, d), n)
        return StreamSign(hashes.Digest(_HASHED[mech]), lambda d: engine.sign(k, d), n)

    def verify_init(self, mech: int, param: Any, key: KeyView) -> VerifyContext:
        _no_param(param)
        k = load_public(key)
        n = engine.signature_len(k)
        if mech == Mechanism.DSA:
            return OneShotVerify(lambda d, s: engine.verify(k, d, s), n)
        return StreamVerify(hashes.Digest(_HASHED[mech]), lambda d, s: engine.verify(k, d, s), n)


@mechanism(Mechanism.DSA_PARAMETER_GEN, info=MechInfo(*BITS, F.GENERATE))
class DsaParameterGen(MechanismImpl):
    """C_GenerateKey with CKA_PRIME_BITS: a CKO_DOMAIN_PARAMETERS object (python-pkcs11's
    generate_domain_parameters names neither the class's key type nor the subprime size)."""

    def generate_key(self, mech: int, param: Any, template: Mapping[int, Any]) -> dict[int, Any]:
        _no_param(param)
        bits = template.get(Attribute.PRIME_BITS)
        if bits is None:
            raise errors.TemplateIncomplete()
        if not isinstance(bits, int) or isinstance(bits, bool):
            raise errors.AttributeValueInvalid()
        p, q, g = engine.generate_parameters(bits)
        return {
            Attribute.CLASS: ObjectClass.DOMAIN_PARAMETERS,
            Attribute.KEY_TYPE: KeyType.DSA,
            Attribute.PRIME: fixed(p, engine.size(p)),
            Attribute.SUBPRIME: fixed(q, engine.size(q)),
            Attribute.BASE: fixed(g, engine.size(p)),
            Attribute.PRIME_BITS: p.bit_length(),
        }


@mechanism(Mechanism.DSA_KEY_PAIR_GEN, info=MechInfo(*BITS, F.GENERATE_KEY_PAIR))
class DsaKeyPairGen(MechanismImpl):
    def generate_key_pair(
        self, mech: int, param: Any, pub_t: Mapping[int, Any], priv_t: Mapping[int, Any]
    ) -> tuple[dict[int, Any], dict[int, Any]]:
        _no_param(param)
        if any(a not in pub_t for a in _DOMAIN):
            raise errors.TemplateIncomplete()
        p, q, _ = domain = _domain(pub_t)
        x, y, spki = engine.generate(domain)
        public: dict[int, Any] = {Attribute.KEY_TYPE: KeyType.DSA, Attribute.VALUE: fixed(y, engine.size(p)),
                  Attribute.PUBLIC_KEY_INFO: spki}  # fmt: skip
        private: dict[int, Any] = {a: bytes(pub_t[a]) for a in _DOMAIN}
        private.update(
            {
                Attribute.KEY_TYPE: KeyType.DSA,
                Attribute.VALUE: fixed(x, engine.size(q)),
                Attribute.PUBLIC_KEY_INFO: spki,
            }
        )
        return public, private
