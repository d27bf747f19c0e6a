"""Attribute rules, declared: one row per attribute, tables composed per object class.

Footnote numbers in brackets are those of the PKCS#11 3.0 attribute tables (section 4.2):
 [1] must be given to C_CreateObject      [2] must not be given to C_CreateObject
 [3] must be given to C_Generate*          [4] must not be given to C_Generate*
 [5] must be given to C_UnwrapKey          [6] must not be given to C_UnwrapKey
 [7] unreadable if SENSITIVE or !EXTRACTABLE  [8] C_SetAttributeValue / C_CopyObject may change it
 [9] default is token-specific           [10] only the SO may set it to TRUE
 [11] read-only once TRUE                 [12] read-only once FALSE
Only ``objects.factory`` reads these tables; the rows themselves hold no code. Key tables live
with their key types (``core.keytypes``), built on the class tables of ``policy_keys``.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntFlag, auto
from typing import Any

from softhsm_py.constants import Attribute as A
from softhsm_py.constants import (
    CertificateCategory,
    CertificateType,
    Mechanism,
    ObjectClass,
    SecurityDomain,
    VendorAttribute,
)
from softhsm_py.core.objects.codec import Kind, kind
from softhsm_py.errors import AttributeValueInvalid, TemplateIncomplete


class R(IntFlag):
    NONE = 0
    REQUIRED_ON_CREATE = auto()  # [1]
    FORBIDDEN_ON_CREATE = auto()  # [2]
    REQUIRED_ON_GENERATE = auto()  # [3]
    FORBIDDEN_ON_GENERATE = auto()  # [4] (also never in a C_DeriveKey template)
    REQUIRED_ON_UNWRAP = auto()  # [5]
    FORBIDDEN_ON_UNWRAP = auto()  # [6]
    HIDDEN_IF_SENSITIVE = auto()  # [7]
    MODIFIABLE = auto()  # [8]
    SO_ONLY = auto()  # [10] only the SO may set TRUE
    ONLY_TO_TRUE = auto()  # [11] sticky once TRUE (a change may only be FALSE -> TRUE)
    ONLY_TO_FALSE = auto()  # [12] sticky once FALSE (a change may only be TRUE -> FALSE)
    CHANGE_ON_COPY = auto()  # C_CopyObject may change it, C_SetAttributeValue may not (4.4)
    NEVER_READABLE = auto()  # no front end ever reads it (a key password's hash), nor finds by it

    # combinations the tables use
    TOKEN_SET = FORBIDDEN_ON_CREATE | FORBIDDEN_ON_GENERATE | FORBIDDEN_ON_UNWRAP  # [2,4,6]
    ON_GENERATE_ONLY = FORBIDDEN_ON_CREATE | REQUIRED_ON_GENERATE | FORBIDDEN_ON_UNWRAP  # [2,3,6]
    KEY_PART = REQUIRED_ON_CREATE | FORBIDDEN_ON_GENERATE | FORBIDDEN_ON_UNWRAP  # [1,4,6]
    SECRET_PART = KEY_PART | HIDDEN_IF_SENSITIVE  # [1,4,6,7]
    CRT_PART = FORBIDDEN_ON_GENERATE | FORBIDDEN_ON_UNWRAP | HIDDEN_IF_SENSITIVE  # [4,6,7]


class AttrSpec:
    """One row (read-only by convention). Not a dataclass: the factory and the key-type tables
    load at module start, and ``dataclasses`` costs ~5 ms to import."""

    __slots__ = ("_bits", "default", "kind", "rules", "type")

    def __init__(self, type: int, kind: Kind, rules: R = R.NONE, default: Any = None) -> None:
        self.type, self.kind, self.rules = type, kind, rules
        self.default = default  # None: no default, the attribute is absent unless given or computed
        # Flag tests run for every attribute of every object built: plain ints, not IntFlag maths.
        self._bits = int(rules)

    def has(self, flag: R) -> bool:
        return (self._bits & flag._value_) != 0

    def __repr__(self) -> str:
        return f"AttrSpec({self.type:#x}, {self.kind.name}, {self.rules!r}, {self.default!r})"


Table = dict[int, AttrSpec]


def row(attr: A | VendorAttribute, rules: R = R.NONE, default: Any = None) -> AttrSpec:
    """A row whose kind is the codec's kind of ``attr`` (one source of truth)."""
    return AttrSpec(int(attr), kind(attr), rules, default)


def compose(*parts: Iterable[AttrSpec]) -> Table:
    """Later rows override earlier rows of the same type (a class refines its parent)."""
    table: Table = {}
    for part in parts:
        for spec in part:
            table[spec.type] = spec
    return table


M, T = R.MODIFIABLE, R.TOKEN_SET

# --- 4.3 common object, 4.4 storage ------------------------------------------------------------
COMMON = (row(A.CLASS, R.REQUIRED_ON_CREATE),)  # [1]

STORAGE = (
    *COMMON,
    row(A.TOKEN, R.CHANGE_ON_COPY, False),  # copy may move it both ways (Java, pkcs11-provider)
    row(A.PRIVATE, R.CHANGE_ON_COPY, False),  # [9]: each class sets its own default below
    row(A.MODIFIABLE, R.CHANGE_ON_COPY, True),
    row(A.LABEL, M, b""),  # the only storage attribute C_SetAttributeValue may change (4.4)
    row(A.COPYABLE, M | R.ONLY_TO_FALSE, True),  # "can't be set to TRUE once FALSE"
    row(A.DESTROYABLE, M | R.ONLY_TO_FALSE, True),  # sticky once FALSE: a protected key stays protected
    row(A.UNIQUE_ID, T),  # [2,4,6] fresh for every new object, copies included
)

# --- 4.5 data objects: no footnotes, so nothing but LABEL is modifiable ------------------------
DATA = compose(
    STORAGE,
    (
        row(A.APPLICATION, R.NONE, b""),
        row(A.OBJECT_ID, R.NONE, b""),
        row(A.VALUE, R.NONE, b""),
    ),
)

# --- 4.6 certificates --------------------------------------------------------------------------
CERTIFICATE = (
    *STORAGE,
    row(A.PRIVATE, R.CHANGE_ON_COPY, False),  # certificates are public (CLIENTS.md)
    row(A.CERTIFICATE_TYPE, R.REQUIRED_ON_CREATE),  # [1]
    row(A.TRUSTED, M | R.SO_ONLY, False),  # [10] the SO may set it on an existing object too
    row(A.CERTIFICATE_CATEGORY, R.NONE, int(CertificateCategory.UNSPECIFIED)),
    row(A.CHECK_VALUE),
    row(A.START_DATE, R.NONE, b""),
    row(A.END_DATE, R.NONE, b""),
    row(A.PUBLIC_KEY_INFO, R.NONE, b""),
)

# 4.6.3: "only CKA_ID, CKA_ISSUER and CKA_SERIAL_NUMBER may be modified" (and LABEL, 4.4)
X_509 = compose(
    CERTIFICATE,
    (
        row(A.SUBJECT, R.REQUIRED_ON_CREATE),  # [1]
        row(A.ID, M, b""),
        row(A.ISSUER, M, b""),
        row(A.SERIAL_NUMBER, M, b""),
        # The spec lets CKA_URL stand in for an empty VALUE; we store certificates, not links.
        row(A.VALUE, R.REQUIRED_ON_CREATE),
        row(A.URL, R.NONE, b""),
        row(A.HASH_OF_SUBJECT_PUBLIC_KEY, R.NONE, b""),
        row(A.HASH_OF_ISSUER_PUBLIC_KEY, R.NONE, b""),
        row(A.JAVA_MIDP_SECURITY_DOMAIN, R.NONE, int(SecurityDomain.UNSPECIFIED)),
        row(A.NAME_HASH_ALGORITHM, R.NONE, int(Mechanism.SHA_1)),  # spec default: SHA-1
    ),
)

# Allowed values of enumerated CK_ULONG attributes, checked for every origin.
ENUMERATED: dict[int, frozenset[int]] = {
    A.CERTIFICATE_CATEGORY: frozenset(int(c) for c in CertificateCategory),
    A.JAVA_MIDP_SECURITY_DOMAIN: frozenset(int(d) for d in SecurityDomain),
}

CERTIFICATE_TABLES: dict[int, Table] = {CertificateType.X_509: X_509}


_KEY_TABLES: dict[int, dict[int, Table]] | None = None  # class -> key type -> table


def _key_tables() -> dict[int, dict[int, Table]]:
    global _KEY_TABLES
    if _KEY_TABLES is None:
        from softhsm_py.core import keytypes  # the key tables build on this module

        tables: dict[int, dict[int, Table]] = {}
        for (cls, key_type), spec in keytypes.SPECS.items():
            tables.setdefault(cls, {})[key_type] = spec.table
        _KEY_TABLES = tables
    return _KEY_TABLES


def table_for(attrs: dict[int, Any]) -> Table:
    """The table of the object described by ``attrs`` (a template, or a stored object).

    TemplateIncomplete when CLASS (or KEY_TYPE / CERTIFICATE_TYPE) is missing;
    AttributeValueInvalid for a class or type we do not implement (NSS's CKO_NSS_TRUST)."""
    if A.CLASS not in attrs:
        raise TemplateIncomplete()
    cls = attrs[A.CLASS]
    if cls == ObjectClass.DATA:
        return DATA
    if cls == ObjectClass.CERTIFICATE:
        return _pick(CERTIFICATE_TABLES, attrs, A.CERTIFICATE_TYPE)
    tables = _key_tables().get(cls)
    if tables is None:
        raise AttributeValueInvalid()
    return _pick(tables, attrs, A.KEY_TYPE)


def _pick(tables: dict[int, Table], attrs: dict[int, Any], attr: A) -> Table:
    if attr not in attrs:
        raise TemplateIncomplete()
    table = tables.get(attrs[attr])
    if table is None:
        raise AttributeValueInvalid()
    return table


def all_tables() -> dict[tuple[int, int | None], Table]:
    """Every (class, key or certificate type) table: for tests and documentation."""
    out: dict[tuple[int, int | None], Table] = {(int(ObjectClass.DATA), None): DATA}
    for ct, table in CERTIFICATE_TABLES.items():
        out[(int(ObjectClass.CERTIFICATE), int(ct))] = table
    for cls, tables in _key_tables().items():
        for key_type, table in tables.items():
            out[(cls, key_type)] = table
    return out
