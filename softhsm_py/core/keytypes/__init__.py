"""Key types as specifications: one ``KeyTypeSpec`` per (object class, key type), each with its
attribute table and its hooks (``spec``). One module per family: ``rsa``, ``ec``, ``edwards``,
``ffc`` (DSA, DH and their domain parameters), ``secret``. The object factory reads a spec and
never asks which key type it holds; a new key type is a family module (or a row in one) plus its
entry here; ``pqc`` holds ML-DSA and ML-KEM.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from softhsm_py.constants import Attribute as A
from softhsm_py.constants import ObjectClass
from softhsm_py.core.keytypes import ec, edwards, ffc, pqc, rsa, secret
from softhsm_py.core.keytypes.spec import Attrs, KeyTypeSpec
from softhsm_py.engine import pkcs8
from softhsm_py.errors import AttributeValueInvalid, KeyNotWrappable, KeyTypeInconsistent

__all__ = ["SPECS", "KeyTypeSpec", "export_private", "find", "import_private", "spec_for"]

SPECS: dict[tuple[int, int], KeyTypeSpec] = {
    (spec.cls, spec.key_type): spec
    for spec in (*rsa.SPECS, *ec.SPECS, *edwards.SPECS, *ffc.SPECS, *secret.SPECS, *pqc.SPECS)
}
KEY_CLASSES = frozenset(cls for cls, _ in SPECS)


def find(cls: Any, key_type: Any) -> KeyTypeSpec | None:
    """The spec of (class, key type), None for another object (data, certificate, unknown)."""
    try:
        return SPECS.get((cls, key_type))
    except TypeError:  # an unhashable value from a malformed template
        return None


def spec_for(cls: int, key_type: int) -> KeyTypeSpec:
    """The spec of (class, key type); AttributeValueInvalid for a pair we do not implement."""
    spec = find(cls, key_type)
    if spec is None:
        raise AttributeValueInvalid()
    return spec


def export_private(attrs: Mapping[int, Any]) -> bytes:
    """A private key object as PKCS#8 (what C_WrapKey wraps); KeyNotWrappable if it has none."""
    spec = find(attrs.get(A.CLASS), attrs.get(A.KEY_TYPE))
    if spec is None or spec.export_private is None:
        raise KeyNotWrappable()
    try:
        return spec.export_private(attrs)
    except KeyError:  # a part the key lacks
        raise KeyNotWrappable() from None


def import_private(der: bytes, key_type: int) -> Attrs:
    """The material attributes of the PKCS#8 key ``der`` for a private key of ``key_type``:
    WrappedKeyInvalid when ``der`` is no PKCS#8 key, KeyTypeInconsistent when it is another kind."""
    spec = find(int(ObjectClass.PRIVATE_KEY), key_type)
    if spec is None or spec.import_private is None:
        pkcs8.load(der)  # garbage stays WrappedKeyInvalid whatever the template says
        raise KeyTypeInconsistent()
    return spec.import_private(der)
