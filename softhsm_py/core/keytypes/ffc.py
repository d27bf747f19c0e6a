"""Keys over a prime field: CKK_DSA (PKCS#11 3.0, 2.2: public and private keys, domain
parameters) and CKK_DH, PKCS #3 Diffie-Hellman (its public, private and domain parameter objects),
and their CKO_DOMAIN_PARAMETERS objects (4.11: CKA_KEY_TYPE and CKA_LOCAL on top of the storage attributes).

Big integers are stored as given; the token writes the values it makes at their full width (y
as long as p, a DSA x as long as q), as hosts expect (python-pkcs11 checks a DSA public value of
1024 bits is 128 bytes). Footnote numbers in brackets, see ``objects.policy``. The crypto is in
``engine.dsa`` and ``engine.dh``, imported when a hook runs: these tables load at module start.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from softhsm_py.constants import Attribute as A
from softhsm_py.constants import KeyType, ObjectClass
from softhsm_py.core.keytypes.spec import Attrs, KeyTypeSpec, big, int_of, settle, settle_spki
from softhsm_py.core.objects.policy import STORAGE, R, compose, row
from softhsm_py.core.objects.policy_keys import PRIVATE_KEY, PUBLIC_KEY
from softhsm_py.errors import AttributeValueInvalid

DOMAIN_PART = R.REQUIRED_ON_CREATE | R.REQUIRED_ON_GENERATE  # [1,3] in a public key template

# 4.11: what every domain parameters object has.
DOMAIN_PARAMETERS = (
    *STORAGE,
    row(A.KEY_TYPE, R.REQUIRED_ON_CREATE),  # [1]
    row(A.LOCAL, R.TOKEN_SET),  # [2,4]
)


def _value(attrs: Mapping[int, Any], attr: int) -> int:
    value = int_of(attrs, attr)
    if value is None:
        raise AttributeValueInvalid()
    return value


def _specs(
    key_type: int,
    parts: tuple[A, ...],
    engine: Callable[[], Any],
    private_rows: tuple[Any, ...] = (),
    check_private_extra: Callable[[Attrs, int], None] | None = None,
) -> tuple[KeyTypeSpec, ...]:
    """(public, private, domain parameters) specs of a key type whose domain is ``parts``."""

    def domain(attrs: Mapping[int, Any]) -> tuple[int, ...]:
        return tuple(_value(attrs, part) for part in parts)

    def public_key(attrs: Mapping[int, Any], error: type[Exception] = AttributeValueInvalid) -> Any:
        return engine().load_public(domain(attrs), _value(attrs, A.VALUE), error)

    def private_key(attrs: Mapping[int, Any], error: type[Exception] = AttributeValueInvalid) -> Any:
        return engine().load_private(domain(attrs), _value(attrs, A.VALUE), error)

    def check_public(obj: Attrs, generated: bool) -> None:
        if not generated:
            settle_spki(obj, engine().spki(public_key(obj)))

    def check_private(obj: Attrs, generated: bool) -> None:
        if generated:
            return
        key = private_key(obj)
        settle_spki(obj, engine().spki(key.public_key()))
        if check_private_extra is not None:
            check_private_extra(obj, _value(obj, A.VALUE))

    def check_domain(obj: Attrs, generated: bool) -> None:
        if not generated:
            engine().parameters(domain(obj), AttributeValueInvalid)
        settle(obj, A.PRIME_BITS, _value(obj, A.PRIME).bit_length())

    def key_bits(attrs: Mapping[int, Any]) -> int:
        return _value(attrs, A.PRIME).bit_length()

    def export_private(attrs: Mapping[int, Any]) -> bytes:
        return bytes(engine().pkcs8_encode(domain(attrs), _value(attrs, A.VALUE)))

    def material(values: tuple[int, ...], value: int) -> Attrs:
        out = {int(part): big(v) for part, v in zip(parts, values, strict=True)}
        out[A.VALUE] = big(value)
        return out

    def import_private(der: bytes) -> Attrs:
        from softhsm_py.engine import pkcs8

        return material(*engine().numbers_of_private(pkcs8.load(der)))

    def import_public(der: bytes) -> Attrs:
        from softhsm_py.engine import keycheck

        return material(*engine().numbers_of_public(keycheck.load_spki(der)))

    public_table = compose(
        PUBLIC_KEY,
        tuple(row(part, DOMAIN_PART) for part in parts),
        (row(A.VALUE, R.REQUIRED_ON_CREATE | R.FORBIDDEN_ON_GENERATE),),  # [1,4]
    )
    private_table = compose(
        PRIVATE_KEY,
        tuple(row(part, R.KEY_PART) for part in parts),  # [1,4,6]
        (row(A.VALUE, R.SECRET_PART),),  # [1,4,6,7]
        private_rows,
    )
    domain_table = compose(
        DOMAIN_PARAMETERS,
        tuple(row(part, R.REQUIRED_ON_CREATE | R.FORBIDDEN_ON_GENERATE) for part in parts),  # [1]
        (row(A.PRIME_BITS, R.FORBIDDEN_ON_CREATE | R.REQUIRED_ON_GENERATE),),  # [2,3]
    )
    return (
        KeyTypeSpec(
            ObjectClass.PUBLIC_KEY,
            key_type,
            public_table,
            check_material=check_public,
            key_bits=key_bits,
            public_info=lambda attrs: engine().spki(public_key(attrs)),
            import_public=import_public,
        ),
        KeyTypeSpec(
            ObjectClass.PRIVATE_KEY,
            key_type,
            private_table,
            check_material=check_private,
            key_bits=key_bits,
            public_info=lambda attrs: engine().spki(private_key(attrs).public_key()),
            export_private=export_private,
            import_private=import_private,
        ),
        KeyTypeSpec(
            ObjectClass.DOMAIN_PARAMETERS,
            key_type,
            domain_table,
            check_material=check_domain,
            key_bits=key_bits,
        ),
    )


def _dsa() -> Any:
    from softhsm_py.engine import dsa

    return dsa


def _dh() -> Any:
    from softhsm_py.engine import dh

    return dh


def _dh_value_bits(obj: Attrs, x: int) -> None:
    settle(obj, A.VALUE_BITS, x.bit_length())  # the length of x, which a template may name


SPECS = (
    *_specs(KeyType.DSA, (A.PRIME, A.SUBPRIME, A.BASE), _dsa),
    *_specs(
        KeyType.DH,
        (A.PRIME, A.BASE),
        _dh,
        private_rows=(row(A.VALUE_BITS, R.FORBIDDEN_ON_CREATE | R.FORBIDDEN_ON_UNWRAP),),  # [2,6]
        check_private_extra=_dh_value_bits,
    ),
)
