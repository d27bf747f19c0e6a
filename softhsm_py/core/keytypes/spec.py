"""What a key type is to the core: one ``KeyTypeSpec`` per (object class, key type).

A spec holds the attribute table of its objects (read by ``objects.factory``) and the hooks
that know the key material. The hooks take and return attribute dicts; the crypto they need is
in ``softhsm_py.engine`` (plain values in, plain values out). Hooks a class has no use for are
None: a public key exports no PKCS#8, a secret key has no SubjectPublicKeyInfo.

Not a dataclass: the factory imports the specs, and module start must not load ``dataclasses``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from softhsm_py.constants import Attribute as A
from softhsm_py.core.objects.policy import Table
from softhsm_py.errors import AttributeValueInvalid, TemplateInconsistent

Attrs = dict[int, Any]
CheckMaterial = Callable[[Attrs, bool], None]
ReadAttrs = Callable[[Mapping[int, Any]], Any]


class KeyTypeSpec:
    """One (class, key type): its table and its hooks (read-only by convention).

    check_material(obj, generated)  key material must make a working key (spec 4.1.1:
        AttributeValueInvalid otherwise); fill in what follows from it (RSA CRT parts,
        MODULUS_BITS, the DER EC point, VALUE_LEN, CHECK_VALUE, PUBLIC_KEY_INFO). ``generated``:
        a pair the token made, with its SPKI: only what follows is filled in, nothing re-checked.
    key_bits(attrs)          the key size in bits: modulus, curve order, secret value
    public_info(attrs)       SubjectPublicKeyInfo DER of the key (of its public half)
    export_private(attrs)    PKCS#8 DER (what C_WrapKey wraps)
    import_private(der)      PKCS#8 DER -> material attributes (C_UnwrapKey, a REST import)
    import_public(der)       SubjectPublicKeyInfo DER -> material attributes (a REST import)
    """

    __slots__ = (
        "check_material", "cls", "export_private", "import_private", "import_public", "key_bits",
        "key_type", "public_info", "table",
    )  # fmt: skip

    def __init__(
        self,
        cls: int,
        key_type: int,
        table: Table,
        *,
        check_material: CheckMaterial,
        key_bits: Callable[[Mapping[int, Any]], int],
        public_info: Callable[[Mapping[int, Any]], bytes] | None = None,
        export_private: Callable[[Mapping[int, Any]], bytes] | None = None,
        import_private: Callable[[bytes], Attrs] | None = None,
        import_public: Callable[[bytes], Attrs] | None = None,
    ) -> None:
        self.cls, self.key_type, self.table = int(cls), int(key_type), table
        self.check_material = check_material
        self.key_bits = key_bits
        self.public_info = public_info
        self.export_private = export_private
        self.import_private = import_private
        self.import_public = import_public

    def __repr__(self) -> str:
        return f"KeyTypeSpec(class=0x{self.cls:x}, key_type=0x{self.key_type:x})"


# --- helpers the family modules share ----------------------------------------------------------


def int_of(obj: Mapping[int, Any], attr: int) -> int | None:
    """A big-integer attribute as an int; None when absent."""
    value = obj.get(attr)
    return None if value is None else int.from_bytes(value, "big")


def big(value: int) -> bytes:
    """An int as a big-integer attribute value (big-endian, no leading zero byte)."""
    return value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")


def fill(obj: Attrs, attr: int, value: int) -> None:
    if attr not in obj:  # keep the caller's own encoding of parts it gave
        obj[attr] = big(value)


def settle(obj: Attrs, attr: int, value: Any) -> None:
    """A computed attribute the template may also name: fill it in, or it must agree."""
    if obj.setdefault(attr, value) != value:
        raise TemplateInconsistent()  # e.g. MODULUS_BITS asked for, another modulus made


def settle_spki(obj: Attrs, spki: bytes) -> None:
    """CKA_PUBLIC_KEY_INFO: computed when absent or empty; a given one must match the key."""
    if obj.get(A.PUBLIC_KEY_INFO, b"") == b"":
        obj[A.PUBLIC_KEY_INFO] = spki
    elif obj[A.PUBLIC_KEY_INFO] != spki:
        raise AttributeValueInvalid()
