"""Key derivation: ECDH1_DERIVE / ECDH1_COFACTOR_DERIVE (EC and Montgomery keys, NULL and X9.63
SHA KDFs), HKDF_DERIVE and HKDF_DATA (RFC 5869).

``derive`` returns the material: CKA_VALUE (+ CKA_VALUE_LEN and CKA_KEY_TYPE for keys). For
HKDF_DATA the result is a data object (as kryoptic does): only CKA_VALUE, length from the
template's CKA_VALUE_LEN, and the caller builds a CKO_DATA object from it.

Truncation of a raw ECDH secret (CKD_NULL with CKA_VALUE_LEN shorter than Z) keeps the leading
bytes, as OpenSSL and kryoptic do.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from softhsm_py import errors
from softhsm_py.constants import KDF, Attribute, HkdfSaltType, KeyType, Mechanism, MechanismFlag, ObjectClass
from softhsm_py.engine import aes as engine_aes
from softhsm_py.engine import blockciphers, curves, hash_table, hashes
from softhsm_py.engine import ec as engine_ec
from softhsm_py.engine import edwards as engine_ed
from softhsm_py.mechanisms import ec as ec_mech
from softhsm_py.mechanisms import eddsa as ed_mech
from softhsm_py.mechanisms.base import KeyView, MechanismImpl, attr, require_class, require_type, template_len
from softhsm_py.mechanisms.digest import param_hash
from softhsm_py.mechanisms.params import EcdhParams, HkdfParams
from softhsm_py.mechanisms.registry import MechInfo, mechanism

F = MechanismFlag

_X963: dict[int, str] = hash_table.names_by("kdf")
_ECDH_BITS = curves.bit_range(curves.EC, curves.MONTGOMERY)
_FIXED_LEN = {KeyType.CHACHA20: 32, KeyType.DES2: 16, KeyType.DES3: 24}
_BLOCK_KEY_SIZES = {KeyType.AES: engine_aes.KEY_SIZES, KeyType.CAMELLIA: engine_aes.KEY_SIZES}
_DES = frozenset({KeyType.DES2, KeyType.DES3})
_NO_VALUE_LEN = frozenset({KeyType.CHACHA20})
_VARIABLE = frozenset({KeyType.GENERIC_SECRET, KeyType.HKDF, *hash_table.HMAC_KEY_TYPES})


def output_len(template: Mapping[int, Any], natural: int, maximum: int | None) -> tuple[int, int]:
    """(key type, length) of the derived key; natural = the KDF's own output length."""
    key_type = template.get(Attribute.KEY_TYPE, KeyType.GENERIC_SECRET)
    n = template_len(template)
    sizes = _BLOCK_KEY_SIZES.get(key_type)
    if sizes is not None:
        if n is None:
            fitting = [s for s in sizes if s <= natural]
            if not fitting:
                raise errors.TemplateInconsistent()
            n = max(fitting)
        elif n not in sizes:
            raise errors.AttributeValueInvalid()
    elif key_type in _FIXED_LEN:
        if n is not None and n != _FIXED_LEN[key_type]:
            raise errors.AttributeValueInvalid()
        n = _FIXED_LEN[key_type]
    elif key_type in _VARIABLE:
        n = natural if n is None else n
    else:
        raise errors.TemplateInconsistent()
    if maximum is not None and n > maximum:
        raise errors.TemplateInconsistent()
    return key_type, n


def key_material(key_type: int, value: bytes) -> dict[int, Any]:
    """The material of a derived key; a DES key gets its parity bits set (3.0, 2.43)."""
    if key_type in _DES:
        value = blockciphers.with_odd_parity(value)
    out: dict[int, Any] = {Attribute.KEY_TYPE: key_type, Attribute.VALUE: value}
    if key_type not in _NO_VALUE_LEN:
        out[Attribute.VALUE_LEN] = len(value)
    return out


def _ecdh_secret(base_key: KeyView, public_data: bytes) -> bytes:
    require_class(base_key, ObjectClass.PRIVATE_KEY)
    key_type = require_type(base_key, frozenset({KeyType.EC, KeyType.EC_MONTGOMERY}))
    if key_type == KeyType.EC:
        return engine_ec.ecdh(ec_mech.load_private(base_key), public_data)
    key, curve = ed_mech.load_private(base_key, montgomery=True)
    return engine_ed.derive(key, curve, public_data)


@mechanism(
    Mechanism.ECDH1_DERIVE,
    Mechanism.ECDH1_COFACTOR_DERIVE,
    info=MechInfo(*_ECDH_BITS, F.DERIVE | F.EC_F_P | F.EC_OID | F.EC_ECPARAMETERS | F.EC_UNCOMPRESS),
    param=EcdhParams,
)
class Ecdh(MechanismImpl):
    """Every curve offered has cofactor 1 (prime curves) or clamps it away (X25519/X448), so the
    cofactor variant computes the same Z."""

    key_types = frozenset({KeyType.EC, KeyType.EC_MONTGOMERY})

    def derive(self, mech: int, param: Any, base_key: KeyView, template: Mapping[int, Any]) -> dict[int, Any]:
        if not isinstance(param, EcdhParams) or not param.public_data:
            raise errors.MechanismParamInvalid()
        if param.kdf == KDF.NULL:
            if param.shared_data:
                raise errors.MechanismParamInvalid()
            hash_name = None
        elif param.kdf in _X963:
            hash_name = _X963[param.kdf]
        else:
            raise errors.MechanismParamInvalid()
        z = _ecdh_secret(base_key, bytes(param.public_data))
        if hash_name is None:
            key_type, n = output_len(template, len(z), len(z))
            return key_material(key_type, z[:n])
        key_type, n = output_len(template, hashes.digest_size(hash_name), None)
        return key_material(key_type, hashes.x963_kdf(hash_name, z, bytes(param.shared_data), n))


def _hkdf_salt(p: HkdfParams) -> bytes | None:
    if p.salt_type == HkdfSaltType.NULL:
        return None
    if p.salt_type == HkdfSaltType.DATA:
        if not p.salt:
            raise errors.MechanismParamInvalid()
        return bytes(p.salt)
    if p.salt_type == HkdfSaltType.KEY:
        if p.salt_key_value is None:
            raise errors.MechanismParamInvalid()  # the session layer did not resolve hSaltKey
        return bytes(p.salt_key_value)
    raise errors.MechanismParamInvalid()


@mechanism(
    Mechanism.HKDF_DERIVE, Mechanism.HKDF_DATA, info=MechInfo(1, 0xFFFFFFFF, F.DERIVE), param=HkdfParams
)
class Hkdf(MechanismImpl):
    key_types = frozenset({KeyType.GENERIC_SECRET, KeyType.HKDF})

    def derive(self, mech: int, param: Any, base_key: KeyView, template: Mapping[int, Any]) -> dict[int, Any]:
        if not isinstance(param, HkdfParams) or not (param.extract or param.expand):
            raise errors.MechanismParamInvalid()
        h = param_hash(param.prf_hash)
        hlen = hashes.digest_size(h)
        require_class(base_key, ObjectClass.SECRET_KEY)
        require_type(base_key, self.key_types)
        ikm = bytes(attr(base_key, Attribute.VALUE))
        prk = hashes.hkdf_extract(h, _hkdf_salt(param), ikm) if param.extract else ikm
        maximum = 255 * hlen if param.expand else hlen
        if mech == Mechanism.HKDF_DATA:
            n = template_len(template) or hlen
            if n > maximum:
                raise errors.TemplateInconsistent()
            key_type = None
        else:
            key_type, n = output_len(template, hlen, maximum)
        okm = hashes.hkdf_expand(h, prk, bytes(param.info), n) if param.expand else prk[:n]
        if key_type is None:  # HKDF_DATA makes a data object
            return {Attribute.CLASS: ObjectClass.DATA, Attribute.VALUE: okm}
        return key_material(key_type, okm)
