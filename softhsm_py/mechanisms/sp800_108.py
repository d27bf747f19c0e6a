"""NIST SP 800-108 key derivation (PKCS#11 3.0): counter, feedback and double pipeline mode,
with HMAC (SHA-1, SHA-2, SHA-3), AES-CMAC or DES3-CMAC as the PRF, and the additional keys one
call may derive (CK_DERIVED_KEY): ``derive_keys`` makes one material per template.

Every key's length comes from its template: CKA_VALUE_LEN, or the fixed length of its key type
(DES2, DES3, ChaCha20); a generic secret without one is TemplateIncomplete. The base key must
suit the PRF: a generic secret or the HMAC's own key type, an AES key for AES-CMAC, a DES2 / DES3
key for DES3-CMAC (KeyTypeInconsistent otherwise).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from softhsm_py import errors
from softhsm_py.constants import Attribute, KeyType, Mechanism, MechanismFlag
from softhsm_py.engine import aes as engine_aes
from softhsm_py.engine import blockciphers, hash_table, hashes, kbkdf
from softhsm_py.mechanisms.aes import aes_key
from softhsm_py.mechanisms.base import KeyView, MechanismImpl, require_type, secret_value, template_len
from softhsm_py.mechanisms.des import DES_KEYS, des_key
from softhsm_py.mechanisms.kdf import key_material, output_len
from softhsm_py.mechanisms.params import SP800_108_FEEDBACK, Sp800108
from softhsm_py.mechanisms.registry import MechInfo, mechanism

M = Mechanism
_MODES: dict[int, str] = {
    M.SP800_108_COUNTER_KDF: kbkdf.COUNTER_MODE,
    M.SP800_108_FEEDBACK_KDF: kbkdf.FEEDBACK_MODE,
    M.SP800_108_DOUBLE_PIPELINE_KDF: kbkdf.PIPELINE_MODE,
}
# HMAC PRFs: mechanism -> (hash name, the HMAC's own key type)
_HMAC = {
    h.hmac: (h.name, h.hmac_key_type)
    for h in hash_table.HASHES
    if h.hmac is not None and h.hmac_key_type is not None and not h.legacy
}
_FIXED_LEN = {KeyType.DES2: 16, KeyType.DES3: 24, KeyType.CHACHA20: 32}
_INFO = MechInfo(1, 0xFFFFFFFF, MechanismFlag.DERIVE)


def _prf(prf: int, key: KeyView) -> tuple[Callable[[], kbkdf.Mac], int]:
    """A maker of PRF instances keyed with ``key``, and the PRF's output length."""
    if prf in _HMAC:
        name, own_type = _HMAC[prf]
        require_type(key, frozenset({KeyType.GENERIC_SECRET, own_type}))
        value = secret_value(key)
        if not value:
            raise errors.KeySizeRange()
        return (lambda: hashes.Hmac(name, value)), hashes.digest_size(name)
    if prf == M.AES_CMAC:
        aes = aes_key(key)
        return (lambda: engine_aes.Cmac(aes)), engine_aes.BLOCK
    if prf == M.DES3_CMAC:
        des = des_key(key)
        return (lambda: blockciphers.Cmac(blockciphers.DES3, des)), blockciphers.block_size(blockciphers.DES3)
    raise errors.MechanismParamInvalid()


def template_key(template: Mapping[int, Any]) -> tuple[int, int]:
    """(key type, length) a template asks for: its CKA_VALUE_LEN or its type's fixed length."""
    n = template_len(template)
    if n is None:
        n = _FIXED_LEN.get(template.get(Attribute.KEY_TYPE, KeyType.GENERIC_SECRET))
        if n is None:
            raise errors.TemplateIncomplete()
    return output_len(template, n, None)


@mechanism(M.SP800_108_COUNTER_KDF, M.SP800_108_DOUBLE_PIPELINE_KDF, info=_INFO, param=Sp800108)
@mechanism(M.SP800_108_FEEDBACK_KDF, info=_INFO, param=SP800_108_FEEDBACK)
class Sp800108Kdf(MechanismImpl):
    key_types = frozenset({KeyType.GENERIC_SECRET, KeyType.AES, *DES_KEYS, *(kt for _, kt in _HMAC.values())})

    def derive_keys(
        self, mech: int, param: Any, base_key: KeyView, templates: Sequence[Mapping[int, Any]]
    ) -> list[dict[int, Any]]:
        if not isinstance(param, Sp800108) or len(templates) != 1 + len(param.additional):
            raise errors.MechanismParamInvalid()
        new_prf, prf_len = _prf(param.prf, base_key)
        wanted = [template_key(t) for t in templates]
        values = kbkdf.derive(_MODES[mech], new_prf, prf_len, param.fields, [n for _, n in wanted], param.iv)
        return [key_material(key_type, v) for (key_type, _), v in zip(wanted, values, strict=True)]

    def derive(self, mech: int, param: Any, base_key: KeyView, template: Mapping[int, Any]) -> dict[int, Any]:
        return self.derive_keys(mech, param, base_key, [template])[0]
