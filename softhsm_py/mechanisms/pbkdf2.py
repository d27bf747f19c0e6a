"""PKCS #5 PBKDF2 (RFC 8018, 5.2; PKCS#11's CKM_PKCS5_PBKD2): C_GenerateKey turns a password into a key of
the template's type and length. The salt is given (CKZ_SALT_SPECIFIED, the only source the spec
defines); the PRF is HMAC over SHA-1 or SHA-2 (CKP_PKCS5_PBKD2_HMAC_*; GOST R 34.11 is refused,
cryptography has no GOST)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from softhsm_py import errors
from softhsm_py.constants import Mechanism, MechanismFlag, Pbkdf2Prf, Pbkdf2SaltSource
from softhsm_py.engine import hashes
from softhsm_py.mechanisms.base import MechanismImpl
from softhsm_py.mechanisms.kdf import key_material
from softhsm_py.mechanisms.params import Pbkdf2Params
from softhsm_py.mechanisms.registry import MechInfo, mechanism
from softhsm_py.mechanisms.sp800_108 import template_key

_PRF: dict[int, str] = {
    Pbkdf2Prf.HMAC_SHA1: "sha1",
    Pbkdf2Prf.HMAC_SHA224: "sha224",
    Pbkdf2Prf.HMAC_SHA256: "sha256",
    Pbkdf2Prf.HMAC_SHA384: "sha384",
    Pbkdf2Prf.HMAC_SHA512: "sha512",
    Pbkdf2Prf.HMAC_SHA512_224: "sha512-224",
    Pbkdf2Prf.HMAC_SHA512_256: "sha512-256",
}


@mechanism(Mechanism.PKCS5_PBKD2, info=MechInfo(1, 1024, MechanismFlag.GENERATE), param=Pbkdf2Params)
class Pbkdf2(MechanismImpl):
    def generate_key(self, mech: int, param: Any, template: Mapping[int, Any]) -> dict[int, Any]:
        if (
            not isinstance(param, Pbkdf2Params)
            or param.salt_source != Pbkdf2SaltSource.SALT_SPECIFIED
            or param.prf not in _PRF
            or param.prf_data  # the HMAC PRFs take no data
            or not 1 <= param.iterations <= 0xFFFFFFFF
        ):
            raise errors.MechanismParamInvalid()
        key_type, n = template_key(template)
        value = hashes.pbkdf2(_PRF[param.prf], param.password, param.salt, param.iterations, n)
        return key_material(key_type, value)
