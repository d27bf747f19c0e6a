"""The one reader of the attribute tables: builds, changes, reads, finds and destroys objects.

Key material is the key type's business: the factory asks its spec (``core.keytypes``) to check
and complete it and never branches on key types itself.

Objects are plain ``dict[int, value]`` (docs/internals.md). Every function here returns a new
dict and never mutates its arguments, so a failed call leaves the caller's object untouched.
"""

from __future__ import annotations

import secrets
import time
from enum import Enum
from typing import Any

from softhsm_py.constants import UNAVAILABLE_INFORMATION, ObjectClass
from softhsm_py.constants import Attribute as A
from softhsm_py.constants import VendorAttribute as V
from softhsm_py.core import keytypes
from softhsm_py.core.objects import codec
from softhsm_py.core.objects.codec import Kind
from softhsm_py.core.objects.policy import ENUMERATED, AttrSpec, R, Table, table_for
from softhsm_py.engine import asn1
from softhsm_py.errors import (
    ActionProhibited,
    AttributeReadOnly,
    AttributeSensitive,
    AttributeTypeInvalid,
    AttributeValueInvalid,
    TemplateIncomplete,
    TemplateInconsistent,
)

Attrs = dict[int, Any]


class Origin(Enum):
    CREATE = "create"  # C_CreateObject
    GENERATE = "generate"  # C_GenerateKey, C_GenerateKeyPair (each half)
    UNWRAP = "unwrap"  # C_UnwrapKey
    DERIVE = "derive"  # C_DeriveKey
    COPY = "copy"  # C_CopyObject
    ENCAPSULATE = "encapsulate"  # C_EncapsulateKey, C_DecapsulateKey (3.2): as an unwrapped key

    __hash__ = object.__hash__  # identity, in C (see codec.Kind)


class Actor:
    """Who acts: only the SO may set CKA_TRUSTED [10]. (Not a dataclass: see ``policy.AttrSpec``.)"""

    __slots__ = ("is_so",)

    def __init__(self, is_so: bool = False) -> None:
        self.is_so = is_so

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Actor) and other.is_so == self.is_so

    def __hash__(self) -> int:
        return hash(self.is_so)

    def __repr__(self) -> str:
        return f"Actor(is_so={self.is_so})"


# Which rows a template may not name, and which it must, per origin. C_DeriveKey has no
# footnotes of its own: like generation, the token makes the value, so [4] applies.
_FORBIDDEN = {
    Origin.CREATE: R.FORBIDDEN_ON_CREATE,
    Origin.GENERATE: R.FORBIDDEN_ON_GENERATE,
    Origin.UNWRAP: R.FORBIDDEN_ON_UNWRAP,
    Origin.DERIVE: R.FORBIDDEN_ON_GENERATE,
    Origin.ENCAPSULATE: R.FORBIDDEN_ON_UNWRAP,
}
_REQUIRED = {
    Origin.CREATE: R.REQUIRED_ON_CREATE,
    Origin.GENERATE: R.REQUIRED_ON_GENERATE,
    Origin.UNWRAP: R.REQUIRED_ON_UNWRAP,
    Origin.DERIVE: R.NONE,
    Origin.ENCAPSULATE: R.REQUIRED_ON_UNWRAP,
}


def _new_unique_id() -> bytes:
    return secrets.token_hex(16).encode()  # CKA_UNIQUE_ID is a string: 32 hex digits


def _same(attr: int, a: Any, b: Any) -> bool:
    """Equal values; big integers compare by value (a leading zero byte changes nothing)."""
    if codec.kind(attr) is Kind.BIGINT and isinstance(a, bytes) and isinstance(b, bytes):
        return int.from_bytes(a, "big") == int.from_bytes(b, "big")
    return bool(a == b)


def _check_value(spec: AttrSpec, value: Any) -> None:
    if not codec.WELL_FORMED[spec.kind](value):
        raise AttributeValueInvalid()
    allowed = ENUMERATED.get(spec.type)
    if allowed is not None and value not in allowed:
        raise AttributeValueInvalid()


class _Rows:
    """What ``build`` asks of a table on every object, worked out once per table."""

    __slots__ = ("_flags", "dict_defaults", "plain_defaults", "table")

    def __init__(self, table: Table) -> None:
        self.table = table
        defaults = [spec for spec in table.values() if spec.default is not None]
        # Plain defaults are immutable and shared; a dict default is copied for each object.
        self.plain_defaults = {s.type: s.default for s in defaults if not isinstance(s.default, dict)}
        self.dict_defaults = tuple(s for s in defaults if isinstance(s.default, dict))
        self._flags: dict[R, frozenset[int]] = {}

    def with_flag(self, flag: R) -> frozenset[int]:
        """The types of the rows that have ``flag``."""
        types = self._flags.get(flag)
        if types is None:
            types = self._flags[flag] = frozenset(spec.type for spec in self.table.values() if spec.has(flag))
        return types


_ROWS: dict[int, _Rows] = {}  # id(table) -> its rows; the tables are module constants


def _rows(table: Table) -> _Rows:
    rows = _ROWS.get(id(table))
    if rows is None or rows.table is not table:
        rows = _ROWS[id(table)] = _Rows(table)
    return rows


# --- build -------------------------------------------------------------------------------------


def build(
    template: Attrs,
    origin: Origin,
    actor: Actor,
    *,
    material: Attrs | None = None,
    mechanism: int | None = None,
    base: Attrs | None = None,
) -> Attrs:
    """The full attribute dict of a new object.

    ``template``: the caller's decoded values. ``material``: what the token computed (key
    parts, the unwrapped CKA_VALUE, the CLASS/KEY_TYPE a mechanism implies): it bypasses the
    token-set rules but must agree with the template. ``mechanism``: the generating mechanism
    (GENERATE). ``base``: the base key (DERIVE) or the source object (COPY)."""
    if origin is Origin.COPY:
        if base is None:
            raise ValueError("Origin.COPY needs the source object as base")
        return modify(base, template, actor, copy=True)
    material = dict(material or {})
    # The class decides which attributes exist, so it is settled first: an unknown class (NSS's
    # CKO_NSS_TRUST, with its vendor attributes) is AttributeValueInvalid, not TypeInvalid.
    for head in (A.CLASS, A.KEY_TYPE, A.CERTIFICATE_TYPE):
        if head in template and head in material and template[head] != material[head]:
            raise TemplateInconsistent()  # e.g. a CLASS the mechanism cannot make
    merged = {**template, **material}
    for head in (A.CLASS, A.KEY_TYPE, A.CERTIFICATE_TYPE):
        if head in merged:
            codec.validate(head, merged[head])
    table = table_for(merged)

    rows = _rows(table)
    forbidden, so_only = rows.with_flag(_FORBIDDEN[origin]), rows.with_flag(R.SO_ONLY)
    for attr, value in template.items():
        spec = table.get(attr)
        if spec is None:
            codec.kind(attr)  # unknown types (vendor, 3.2): AttributeTypeInvalid
            # A type the spec defines, but for other objects: 3.0 4.1.1 item 5's own example of
            # CKR_TEMPLATE_INCONSISTENT (SoftHSMv2 says TYPE_INVALID).
            raise TemplateInconsistent()
        if attr in forbidden:
            raise AttributeReadOnly()  # [2,4,6]: set by the token only
        if attr in so_only and value is True and not actor.is_so:
            raise AttributeReadOnly()  # [10]
        _check_value(spec, value)
    for attr, value in material.items():
        if attr not in table:
            raise AttributeTypeInvalid()
        codec.validate(attr, value)
        if attr in template and not _same(attr, template[attr], value):
            raise TemplateInconsistent()  # the template asked for something else

    if not rows.with_flag(_REQUIRED[origin]) <= merged.keys():
        raise TemplateIncomplete()  # [1,3,5]
    obj = {**rows.plain_defaults, **merged}
    for spec in rows.dict_defaults:
        if spec.type not in obj:
            obj[spec.type] = dict(spec.default)
    if not rows.with_flag(R.REQUIRED_ON_CREATE) <= obj.keys():
        raise TemplateIncomplete()  # whatever the origin, the object must end up complete

    # A pair the token generated comes with its SPKI: it works by construction, so only what
    # follows from it is filled in (re-deriving the key would double the cost of generation).
    _check_material(obj, generated=origin is Origin.GENERATE and A.PUBLIC_KEY_INFO in material)
    if V.SKA_POLICY in obj and obj.get(A.EXTRACTABLE) is not False:
        raise TemplateInconsistent()  # a key with Smart Key Attributes never leaves the token
    _set_token_attributes(obj, origin, mechanism, base)
    return obj


def _check_material(obj: Attrs, *, generated: bool = False) -> None:
    """The key type's own check of its material, which also fills in what follows from it."""
    spec = keytypes.find(obj[A.CLASS], obj.get(A.KEY_TYPE))
    if spec is not None:  # data objects and certificates carry no key material
        spec.check_material(obj, generated)


def _set_token_attributes(obj: Attrs, origin: Origin, mechanism: int | None, base: Attrs | None) -> None:
    """The [2,4,6] attributes: only the token sets them."""
    obj[A.UNIQUE_ID] = _new_unique_id()
    cls = obj[A.CLASS]
    if cls not in keytypes.KEY_CLASSES:
        return
    if cls == ObjectClass.DOMAIN_PARAMETERS:
        obj[A.LOCAL] = origin is Origin.GENERATE  # 4.11: made on the token (copies keep theirs)
        return
    obj[V.CREATED] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()).encode()
    generated = origin is Origin.GENERATE
    if generated and mechanism is None:
        raise ValueError("Origin.GENERATE needs the generating mechanism")
    # 4.7: LOCAL only for keys made on the token; KEY_GEN_MECHANISM is meaningful only then.
    obj[A.LOCAL] = generated
    obj[A.KEY_GEN_MECHANISM] = (
        int(mechanism) if generated and mechanism is not None else UNAVAILABLE_INFORMATION
    )
    if cls == ObjectClass.PUBLIC_KEY:
        return
    sensitive, extractable = obj[A.SENSITIVE], obj[A.EXTRACTABLE]
    if generated:
        always, never = sensitive, not extractable
    elif origin is Origin.DERIVE and base is not None:
        # C_DeriveKey: the history of the base key carries over to the derived key.
        always = bool(base.get(A.ALWAYS_SENSITIVE, False)) and sensitive
        never = bool(base.get(A.NEVER_EXTRACTABLE, False)) and not extractable
    else:  # imported, unwrapped or encapsulated (3.2 5.18 says so): the value was outside the token
        always = never = False
    obj[A.ALWAYS_SENSITIVE], obj[A.NEVER_EXTRACTABLE] = always, never


# --- modify: C_SetAttributeValue and C_CopyObject -----------------------------------------------


def modify(current: Attrs, changes: Attrs, actor: Actor, *, copy: bool) -> Attrs:
    """The object after C_SetAttributeValue (copy=False) or the new object of C_CopyObject
    (copy=True). All changes apply or none."""
    if copy and (current.get(A.COPYABLE, True) is False or V.SKA_POLICY in current):
        raise ActionProhibited()  # a copy of a policy key would be a second key under its policy
    if not copy and current.get(A.MODIFIABLE, True) is False:
        raise ActionProhibited()
    table = table_for(current)
    new = dict(current)
    for attr, value in changes.items():
        codec.kind(attr)
        spec = table.get(attr)
        if spec is None:
            raise TemplateInconsistent()  # another class's attribute (4.1.2 applies 4.1.1)
        _check_value(spec, value)
        if not (spec.has(R.MODIFIABLE) or (copy and spec.has(R.CHANGE_ON_COPY))):
            raise AttributeReadOnly()  # [8]
        old = current.get(attr)
        if spec.has(R.ONLY_TO_TRUE) and old is True and value is False:
            raise AttributeReadOnly()  # [11]
        if spec.has(R.ONLY_TO_FALSE) and old is False and value is True:
            raise AttributeReadOnly()  # [12]
        if spec.has(R.SO_ONLY) and value is True and old is not True and not actor.is_so:
            raise AttributeReadOnly()  # [10]
        new[attr] = value
    # ALWAYS_SENSITIVE / NEVER_EXTRACTABLE need no update: once FALSE they stay FALSE, and
    # while TRUE the sticky SENSITIVE / EXTRACTABLE rules keep them true (4.1.3, copy note).
    if copy:
        new[A.UNIQUE_ID] = _new_unique_id()
    return new


# --- read, destroy, find -----------------------------------------------------------------------


def _protected(current: Attrs) -> bool:
    return current.get(A.SENSITIVE, False) is True or current.get(A.EXTRACTABLE, True) is False


def read(current: Attrs, attr: int) -> Any:
    """One attribute for C_GetAttributeValue."""
    codec.kind(attr)  # unknown types (vendor, 3.2's 0x636) are invalid for every object
    spec = table_for(current).get(attr)
    if spec is None or attr not in current:
        raise AttributeTypeInvalid()
    if spec.has(R.NEVER_READABLE) or (spec.has(R.HIDDEN_IF_SENSITIVE) and _protected(current)):
        raise AttributeSensitive()  # [7]
    return current[attr]


def check_destroy(current: Attrs) -> None:
    if current.get(A.DESTROYABLE, True) is False:
        raise ActionProhibited()


def index_of(attrs: Attrs) -> tuple[bool, int, int | None, bytes, bytes]:
    """(private, class, key type, label, id): what the store indexes and sessions filter on."""
    return (
        bool(attrs.get(A.PRIVATE, False)),
        int(attrs[A.CLASS]),
        attrs.get(A.KEY_TYPE),
        attrs.get(A.LABEL, b""),
        attrs.get(A.ID, b""),
    )


def matches(attrs: Attrs, template: Attrs) -> bool:
    """C_FindObjects semantics: every template entry present with an equal value. A value that
    may not be read (sensitive parts) never matches, so a search cannot probe secrets."""
    if not template:
        return True
    table = table_for(attrs)
    for attr, value in template.items():
        spec = table.get(attr)
        if spec is None or attr not in attrs:
            return False  # includes vendor types such as NSS's 0xCE5363xx: a clean miss
        if spec.has(R.NEVER_READABLE) or (spec.has(R.HIDDEN_IF_SENSITIVE) and _protected(attrs)):
            return False
        have = attrs[attr]
        if _same(attr, have, value):
            continue
        # CKA_EC_POINT is stored DER-wrapped; a search with the raw point still finds it.
        if attr == A.EC_POINT and isinstance(value, bytes) and have == asn1.octet_string(value):
            continue
        return False
    return True
