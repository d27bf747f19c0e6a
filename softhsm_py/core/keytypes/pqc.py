"""CKK_ML_DSA and CKK_ML_KEM (PKCS#11 3.2): public keys are CKA_PARAMETER_SET + CKA_VALUE (the raw
FIPS 204 / 203 public key); private keys CKA_PARAMETER_SET, CKA_SEED (xi, or d || z) and CKA_VALUE
(the expanded sk / dk).

The spec lets a private key be created from either its seed or its expanded form, and lets a
token refuse one of the two: the engine loads keys from their seed only (pyca/cryptography has
no use for the expanded form), so a private key without CKA_SEED is TemplateIncomplete; with
both, the value must be the seed's expansion. Footnote numbers in brackets, see ``objects.policy``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from softhsm_py.constants import Attribute as A
from softhsm_py.constants import KeyType, ObjectClass
from softhsm_py.core.keytypes.spec import Attrs, KeyTypeSpec, settle_spki
from softhsm_py.core.objects.policy import R, Table, compose, row
from softhsm_py.core.objects.policy_keys import PRIVATE_KEY, PUBLIC_KEY
from softhsm_py.engine import mldsa, mlkem
from softhsm_py.errors import AttributeValueInvalid, KeyTypeInconsistent, TemplateIncomplete

M = R.MODIFIABLE


class _Set(Protocol):
    public_len: int


class _Engine(Protocol):
    """What ``engine.mldsa`` and ``engine.mlkem`` both offer the key types."""

    def parameter_set(self, ckp: Any) -> Any: ...
    def expand(self, ps: Any, seed: bytes) -> tuple[bytes, bytes, bytes]: ...
    def public_info(self, ps: Any, value: bytes) -> bytes: ...
    def from_spki(self, der: bytes) -> tuple[Any, bytes]: ...
    def pkcs8(self, ps: Any, seed: bytes) -> bytes: ...
    def from_pkcs8(self, der: bytes) -> tuple[Any, bytes] | None: ...


def _tables(usage: tuple[A, A] | None) -> tuple[Table, Table]:
    """(public, private) tables; ``usage``: the (public, private) attributes a KEM key makes
    TRUE by default (CKA_ENCAPSULATE, CKA_DECAPSULATE)."""
    public = [
        row(A.PARAMETER_SET, R.REQUIRED_ON_CREATE | R.REQUIRED_ON_GENERATE),  # [1,3]
        row(A.VALUE, R.REQUIRED_ON_CREATE | R.FORBIDDEN_ON_GENERATE),  # [1,4]
    ]
    private = [
        row(A.PARAMETER_SET, R.KEY_PART),  # [1,4,6]
        row(A.SEED, R.CRT_PART),  # [4,6,7]; the check makes it required (module docstring)
        row(A.VALUE, R.CRT_PART),  # [4,6,7]; "at least one of SEED and VALUE": computed from SEED
    ]
    if usage is not None:
        public.append(row(usage[0], M, True))  # [8,9]
        private.append(row(usage[1], M, True))
    return compose(PUBLIC_KEY, public), compose(PRIVATE_KEY, private)


def _specs(key_type: int, engine: _Engine, usage: tuple[A, A] | None) -> tuple[KeyTypeSpec, KeyTypeSpec]:
    public_table, private_table = _tables(usage)

    def of(attrs: Mapping[int, Any]) -> Any:
        return engine.parameter_set(attrs[A.PARAMETER_SET])

    def check_public(obj: Attrs, generated: bool) -> None:
        ps = of(obj)
        if generated:
            return
        settle_spki(obj, engine.public_info(ps, bytes(obj[A.VALUE])))

    def check_private(obj: Attrs, generated: bool) -> None:
        ps = of(obj)
        if generated:
            return
        seed = obj.get(A.SEED)
        if seed is None:
            raise TemplateIncomplete()  # the expanded form alone: the engine cannot load it
        _, expanded, spki = engine.expand(ps, bytes(seed))
        if obj.setdefault(A.VALUE, expanded) != expanded:
            raise AttributeValueInvalid()  # a value that is not this seed's key
        settle_spki(obj, spki)

    def key_bits(attrs: Mapping[int, Any]) -> int:
        # The spec counts these keys by the length of their public key, in bytes (3.2 mechanism
        # tables); in bits here, as every key size the core reports.
        ps: _Set = of(attrs)
        return 8 * ps.public_len

    def public_spki(attrs: Mapping[int, Any]) -> bytes:
        return engine.public_info(of(attrs), bytes(attrs[A.VALUE]))

    def private_spki(attrs: Mapping[int, Any]) -> bytes:
        return engine.expand(of(attrs), bytes(attrs[A.SEED]))[2]

    def export_private(attrs: Mapping[int, Any]) -> bytes:
        return engine.pkcs8(of(attrs), bytes(attrs[A.SEED]))

    def import_private(der: bytes) -> Attrs:
        found = engine.from_pkcs8(der)
        if found is None:
            raise KeyTypeInconsistent()
        ps, seed = found
        return {A.PARAMETER_SET: ps.ckp, A.SEED: seed}

    def import_public(der: bytes) -> Attrs:
        ps, value = engine.from_spki(der)
        return {A.PARAMETER_SET: ps.ckp, A.VALUE: value}

    return (
        KeyTypeSpec(
            ObjectClass.PUBLIC_KEY,
            key_type,
            public_table,
            check_material=check_public,
            key_bits=key_bits,
            public_info=public_spki,
            import_public=import_public,
        ),
        KeyTypeSpec(
            ObjectClass.PRIVATE_KEY,
            key_type,
            private_table,
            check_material=check_private,
            key_bits=key_bits,
            public_info=private_spki,
            export_private=export_private,
            import_private=import_private,
        ),
    )


SPECS = (
    *_specs(KeyType.ML_DSA, mldsa, None),
    *_specs(KeyType.ML_KEM, mlkem, (A.ENCAPSULATE, A.DECAPSULATE)),
)
