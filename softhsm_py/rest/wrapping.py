"""TSB ``wrapMethod`` -> PKCS#11 wrap mechanism and what an unwrap creates.

The method names the wrapped key's type (``AES_WRAP_EC``: an EC private key, as PKCS#8, under
RFC 3394), which is what lets unwrap build a complete template. ``AES_WRAP_PAD*`` is RFC 5649
(CKM_AES_KEY_WRAP_KWP). The RSA methods carry a secret key, created as AES on unwrap.
``RSA_WRAP_OAEP`` uses SHA-256 with MGF1-SHA-256 (the TSB does not document its hash; inferred).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from softhsm_py.constants import Attribute, KeyType, Mechanism, ObjectClass
from softhsm_py.rest import keyspecs
from softhsm_py.rest.ciphers import oaep
from softhsm_py.rest.errors import unsupported
from softhsm_py.rest.models.keys import AttributesDto


@dataclass(frozen=True)
class WrapRow:
    mech: int | None  # None: not offered
    object_class: int = ObjectClass.SECRET_KEY
    algorithm: str = "AES"  # the TSB algorithm of the wrapped key (keyspecs.SPECS)


_PRIVATE = ObjectClass.PRIVATE_KEY
KW, KWP = Mechanism.AES_KEY_WRAP, Mechanism.AES_KEY_WRAP_KWP

ROWS: dict[str, WrapRow] = {
    "AES_WRAP": WrapRow(KW),
    "AES_WRAP_DSA": WrapRow(KW, _PRIVATE, "DSA"),
    "AES_WRAP_EC": WrapRow(KW, _PRIVATE, "EC"),
    "AES_WRAP_ED": WrapRow(KW, _PRIVATE, "ED"),
    "AES_WRAP_RSA": WrapRow(KW, _PRIVATE, "RSA"),
    "AES_WRAP_BLS": WrapRow(None),
    "AES_WRAP_PAD": WrapRow(KWP),
    "AES_WRAP_PAD_DSA": WrapRow(KWP, _PRIVATE, "DSA"),
    "AES_WRAP_PAD_EC": WrapRow(KWP, _PRIVATE, "EC"),
    "AES_WRAP_PAD_ED": WrapRow(KWP, _PRIVATE, "ED"),
    "AES_WRAP_PAD_RSA": WrapRow(KWP, _PRIVATE, "RSA"),
    "AES_WRAP_PAD_BLS": WrapRow(None),
    "RSA_WRAP_PAD": WrapRow(Mechanism.RSA_PKCS),
    "RSA_WRAP_OAEP": WrapRow(Mechanism.RSA_PKCS_OAEP),
    # TSB 2.2's ML-KEM wrap: its wire format is not public (tsb-client-go skips its own test: "the
    # TSB /v1/wrap endpoint does not accept ML-KEM wrapMethod values"); the keys work otherwise
    "ML-KEM-512": WrapRow(None),
    "ML-KEM-768": WrapRow(None),
    "ML-KEM-1024": WrapRow(None),
}


def mechanism(method: str) -> tuple[int, Any]:
    row = ROWS.get(method)
    if row is None or row.mech is None:
        raise unsupported(f"Wrap method {method}")
    param = oaep("sha256") if row.mech == Mechanism.RSA_PKCS_OAEP else None
    return row.mech, param


def unwrap_template(method: str, attrs: AttributesDto) -> dict[int, Any]:
    """CLASS, KEY_TYPE, usage and protection flags of the key an unwrap creates."""
    row = ROWS[method]
    spec = keyspecs.SPECS[row.algorithm]
    _public, private = keyspecs.usage_templates(spec, attrs)
    template: dict[int, Any] = {Attribute.CLASS: row.object_class, Attribute.KEY_TYPE: spec.key_type}
    template.update(private)
    template.update(keyspecs.protection(attrs))
    return template


__all__ = ["ROWS", "KeyType", "mechanism", "unwrap_template"]
