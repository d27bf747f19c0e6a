"""PKCS #3 Diffie-Hellman (PKCS#11 3.0): key pairs on the (p, g) a public template names, and
DH_PKCS_DERIVE with the other party's public value as the parameter.

The shared secret is as long as p; a derived key shorter than that takes its trailing bytes
("the truncation removes bytes from the leading end of the secret value", as SoftHSMv2 does).
Key sizes are the prime's bits.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from softhsm_py import errors
from softhsm_py.constants import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass
from softhsm_py.engine import dh as engine
from softhsm_py.mechanisms.base import KeyView, MechanismImpl, attr, cached, require_class, require_type
from softhsm_py.mechanisms.dsa import fixed
from softhsm_py.mechanisms.kdf import key_material, output_len
from softhsm_py.mechanisms.params import PUBLIC_VALUE
from softhsm_py.mechanisms.registry import MechInfo, mechanism

F = MechanismFlag
DH = frozenset({KeyType.DH})
BITS = (engine.MIN_PRIME_BITS, engine.MAX_PRIME_BITS)


def _int(value: Any) -> int:
    if not isinstance(value, bytes):
        raise errors.AttributeValueInvalid()
    return int.from_bytes(value, "big")


def _domain(attrs: Mapping[int, Any]) -> engine.Domain:
    return _int(attrs[Attribute.PRIME]), _int(attrs[Attribute.BASE])


def load_private(key: KeyView) -> Any:
    require_type(key, DH)
    require_class(key, ObjectClass.PRIVATE_KEY)
    return cached(
        key, "dh.private", lambda: engine.load_private(_domain(key.attrs), _int(attr(key, Attribute.VALUE)))
    )


@mechanism(Mechanism.DH_PKCS_KEY_PAIR_GEN, info=MechInfo(*BITS, F.GENERATE_KEY_PAIR))
class DhKeyPairGen(MechanismImpl):
    def generate_key_pair(
        self, mech: int, param: Any, pub_t: Mapping[int, Any], priv_t: Mapping[int, Any]
    ) -> tuple[dict[int, Any], dict[int, Any]]:
        if param is not None:
            raise errors.MechanismParamInvalid()
        if Attribute.PRIME not in pub_t or Attribute.BASE not in pub_t:
            raise errors.TemplateIncomplete()
        bits = priv_t.get(Attribute.VALUE_BITS)
        if bits is not None and (not isinstance(bits, int) or isinstance(bits, bool)):
            raise errors.AttributeValueInvalid()
        p, _ = domain = _domain(pub_t)
        x, y, spki = engine.generate(domain, bits)
        n = engine.size(p)
        public: dict[int, Any] = {
            Attribute.KEY_TYPE: KeyType.DH,
            Attribute.VALUE: fixed(y, n),
            Attribute.PUBLIC_KEY_INFO: spki,
        }
        private: dict[int, Any] = {
            Attribute.KEY_TYPE: KeyType.DH,
            Attribute.PRIME: bytes(pub_t[Attribute.PRIME]),
            Attribute.BASE: bytes(pub_t[Attribute.BASE]),
            Attribute.VALUE: fixed(x, engine.size(x)),
            Attribute.VALUE_BITS: x.bit_length(),
            Attribute.PUBLIC_KEY_INFO: spki,
        }
        return public, private


@mechanism(Mechanism.DH_PKCS_DERIVE, info=MechInfo(*BITS, F.DERIVE), param=PUBLIC_VALUE)
class DhDerive(MechanismImpl):
    key_types = DH

    def derive(self, mech: int, param: Any, base_key: KeyView, template: Mapping[int, Any]) -> dict[int, Any]:
        if not isinstance(param, bytes) or not param:
            raise errors.MechanismParamInvalid()
        z = engine.derive(load_private(base_key), param)
        key_type, n = output_len(template, len(z), len(z))
        return key_material(key_type, z[len(z) - n :])
