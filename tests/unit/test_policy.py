"""objects/policy*.py, checked row by row through the factory: every table, every row."""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, mldsa, mlkem, rsa, x25519
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st

from softhsm_py.constants import Attribute as A
from softhsm_py.constants import CertificateType, KeyType
from softhsm_py.constants import ObjectClass as O
from softhsm_py.core.objects import Actor, Origin, build, codec, matches, modify, read
from softhsm_py.core.objects.codec import Kind
from softhsm_py.core.objects.policy import ENUMERATED, AttrSpec, R, Table, all_tables
from softhsm_py.engine.blockciphers import with_odd_parity
from softhsm_py.engine.hash_table import HMAC_KEY_TYPES
from softhsm_py.errors import (
    AttributeReadOnly,
    AttributeSensitive,
    AttributeTypeInvalid,
    TemplateIncomplete,
)

USER, SO = Actor(is_so=False), Actor(is_so=True)
# RFC 5114 2.1's 1024-bit group with a 160-bit subgroup: a DSA domain, and (p, g) a DH one.
_P = int(
    "B10B8F96A080E01DDE92DE5EAE5D54EC52C99FBCFB06A3C69A6A9DCA52D23B616073E28675A23D189838EF1E2EE652C0"
    "13ECB4AEA906112324975C3CD49B83BFACCBDD7D90C4BD7098488E9C219A73724EFFD6FAE5644738FAA31A4FF55BCCC0"
    "A151AF5F0DC8B4BD45BF37DF365C1A65E68CFDA76D4DA708DF1FB2BC2E4A4371",
    16,
)
_Q = int("F518AA8781A8DF278ABA4E7D64B7CB9D49462353", 16)
_G = int(
    "A4D1CBD5C3FD34126765A442EFB99905F8104DD258AC507FD6406CFF14266D31266FEA1E5C41564B777E690F5504F213"
    "160217B4B01B886A5E91547F9E2749F4D7FBD7D3B9A92EE1909D0D2263F80A76A6A24C087A091F531DBF0A0169B6A28A"
    "D662A4D18E73AFA32D779D5918D08BC8858F4DCEF97C2A24855E6EEB22B3B2E5",
    16,
)
DSA_DOMAIN = (_P, _Q, _G)
DH_DOMAIN = (_P, _G)
TABLES = all_tables()
KEYS = sorted(TABLES, key=str)
STICKY = (A.SENSITIVE, A.EXTRACTABLE, A.WRAP_WITH_TRUSTED, A.COPYABLE)


def b(i: int) -> bytes:
    return i.to_bytes(max(1, (i.bit_length() + 7) // 8), "big")


def octets(data: bytes) -> bytes:
    return bytes([0x04, len(data)]) + data


@cache
def templates() -> dict[tuple[int, int | None], dict[int, Any]]:
    """A valid C_CreateObject template for every table."""
    r = rsa.generate_private_key(65537, 2048).private_numbers()
    e = ec.generate_private_key(ec.SECP256R1())
    ed, x = ed25519.Ed25519PrivateKey.generate(), x25519.X25519PrivateKey.generate()

    def raw(k: Any) -> tuple[bytes, bytes]:
        pub = k.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return pub, k.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())

    ed_pub, ed_priv = raw(ed)
    x_pub, x_priv = raw(x)
    dsa = mldsa.MLDSA44PrivateKey.generate()
    kem = mlkem.MLKEM768PrivateKey.generate()
    point = e.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    p256 = bytes.fromhex("06082a8648ce3d030107")
    pub, priv, sec = O.PUBLIC_KEY, O.PRIVATE_KEY, O.SECRET_KEY
    out = {
        (O.DATA, None): {A.VALUE: b"data"},
        (O.CERTIFICATE, CertificateType.X_509): {
            A.CERTIFICATE_TYPE: CertificateType.X_509,
            A.SUBJECT: b"\x30\x00",
            A.VALUE: b"\x30\x00",
        },
        (pub, KeyType.RSA): {A.MODULUS: b(r.public_numbers.n), A.PUBLIC_EXPONENT: b(65537)},
        (priv, KeyType.RSA): {
            A.MODULUS: b(r.public_numbers.n),
            A.PUBLIC_EXPONENT: b(65537),
            A.PRIVATE_EXPONENT: b(r.d),
            A.PRIME_1: b(r.p),
            A.PRIME_2: b(r.q),
        },
        (pub, KeyType.EC): {A.EC_PARAMS: p256, A.EC_POINT: octets(point)},
        (priv, KeyType.EC): {A.EC_PARAMS: p256, A.VALUE: b(e.private_numbers().private_value)},
        (pub, KeyType.EC_EDWARDS): {A.EC_PARAMS: bytes.fromhex("06032b6570"), A.EC_POINT: octets(ed_pub)},
        (priv, KeyType.EC_EDWARDS): {A.EC_PARAMS: bytes.fromhex("06032b6570"), A.VALUE: ed_priv},
        (pub, KeyType.EC_MONTGOMERY): {A.EC_PARAMS: bytes.fromhex("06032b656e"), A.EC_POINT: octets(x_pub)},
        (priv, KeyType.EC_MONTGOMERY): {A.EC_PARAMS: bytes.fromhex("06032b656e"), A.VALUE: x_priv},
        (sec, KeyType.AES): {A.VALUE: bytes(range(32))},
        (sec, KeyType.GENERIC_SECRET): {A.VALUE: b"secret"},
        (sec, KeyType.CHACHA20): {A.VALUE: bytes(range(32))},
        **{(sec, kt): {A.VALUE: b"mac key"} for kt in (*HMAC_KEY_TYPES, KeyType.HKDF)},
        (pub, KeyType.ML_DSA): {A.PARAMETER_SET: 1, A.VALUE: dsa.public_key().public_bytes_raw()},
        (priv, KeyType.ML_DSA): {A.PARAMETER_SET: 1, A.SEED: dsa.private_bytes_raw()},
        (pub, KeyType.ML_KEM): {A.PARAMETER_SET: 2, A.VALUE: kem.public_key().public_bytes_raw()},
        (priv, KeyType.ML_KEM): {A.PARAMETER_SET: 2, A.SEED: kem.private_bytes_raw()},
        (sec, KeyType.DES2): {A.VALUE: with_odd_parity(bytes(range(16)))},
        (sec, KeyType.DES3): {A.VALUE: with_odd_parity(bytes(range(24)))},
        (sec, KeyType.CAMELLIA): {A.VALUE: bytes(range(16))},
        **ffc_templates(),
    }
    full = {}
    for (cls, kt), t in out.items():
        head: dict[int, Any] = {A.CLASS: int(cls)}
        if cls in (pub, priv, sec, O.DOMAIN_PARAMETERS):
            head[A.KEY_TYPE] = int(kt)  # type: ignore[arg-type]
        full[(int(cls), None if kt is None else int(kt))] = {**head, **t}
    return full


def ffc_templates() -> dict[tuple[int, int], dict[int, Any]]:
    """DSA and DH keys and domain parameters (cryptography's classes read without their
    deprecation warning, as engine.dsa / engine.dh read them)."""
    from softhsm_py.engine import dh, dsa

    dsa_key = dsa._ParameterNumbers(*DSA_DOMAIN).parameters().generate_private_key().private_numbers()
    p, q, g = DSA_DOMAIN
    dsa_domain = {A.PRIME: b(p), A.SUBPRIME: b(q), A.BASE: b(g)}
    dh_key = dh._ParameterNumbers(*DH_DOMAIN).parameters().generate_private_key().private_numbers()
    dh_domain = {A.PRIME: b(DH_DOMAIN[0]), A.BASE: b(DH_DOMAIN[1])}
    pub, priv, dom = O.PUBLIC_KEY, O.PRIVATE_KEY, O.DOMAIN_PARAMETERS
    return {
        (pub, KeyType.DSA): {**dsa_domain, A.VALUE: b(dsa_key.public_numbers.y)},
        (priv, KeyType.DSA): {**dsa_domain, A.VALUE: b(dsa_key.x)},
        (dom, KeyType.DSA): dict(dsa_domain),
        (pub, KeyType.DH): {**dh_domain, A.VALUE: b(dh_key.public_numbers.y)},
        (priv, KeyType.DH): {**dh_domain, A.VALUE: b(dh_key.x)},
        (dom, KeyType.DH): dict(dh_domain),
    }


@cache
def sample(key: tuple[int, int | None], sensitive: bool = False, extractable: bool = True) -> dict[int, Any]:
    t = dict(templates()[key])
    if key[0] in (O.PRIVATE_KEY, O.SECRET_KEY):
        t[A.SENSITIVE], t[A.EXTRACTABLE] = sensitive, extractable
    return build(t, Origin.CREATE, USER)


def values(spec: AttrSpec) -> st.SearchStrategy:
    if spec.type in ENUMERATED:
        return st.sampled_from(sorted(ENUMERATED[spec.type]))
    k = spec.kind
    if k is Kind.BOOL:
        return st.booleans()
    if k is Kind.ULONG:
        return st.integers(0, 2**64 - 1)
    if k is Kind.DATE:
        return st.sampled_from([b"", b"20240101", b"19991231"])
    if k is Kind.MECHANISMS:
        return st.lists(st.integers(0, 0x2000), max_size=3).map(tuple)
    if k is Kind.TEMPLATE:
        return st.dictionaries(st.sampled_from([int(A.TOKEN), int(A.SENSITIVE)]), st.booleans(), max_size=2)
    return st.binary(max_size=24)


def rows_where(pred: Any) -> list[tuple[tuple[int, int | None], AttrSpec]]:
    return [(key, spec) for key in KEYS for spec in TABLES[key].values() if pred(spec)]


def table_row_value(pred: Any) -> st.SearchStrategy:
    return st.sampled_from(rows_where(pred)).flatmap(
        lambda kr: st.tuples(st.just(kr[0]), st.just(kr[1]), values(kr[1]))
    )


# --- the rows themselves -----------------------------------------------------------------------


@pytest.mark.parametrize("key", KEYS, ids=str)
def test_rows_are_well_formed(key: tuple[int, int | None]) -> None:
    table: Table = TABLES[key]
    for attr in (A.CLASS, A.TOKEN, A.PRIVATE, A.MODIFIABLE, A.LABEL, A.COPYABLE, A.DESTROYABLE, A.UNIQUE_ID):
        assert attr in table
    for spec in table.values():
        assert spec.kind is codec.kind(spec.type)
        if spec.default is not None:
            codec.validate(spec.type, spec.default)
            assert not spec.has(R.TOKEN_SET)  # token-set values are computed, not defaulted
        if spec.has(R.ONLY_TO_TRUE | R.ONLY_TO_FALSE | R.SO_ONLY):
            assert spec.kind is Kind.BOOL
        if spec.has(R.ONLY_TO_TRUE | R.ONLY_TO_FALSE):
            assert spec.has(R.MODIFIABLE)
        assert not (spec.has(R.HIDDEN_IF_SENSITIVE) and spec.has(R.MODIFIABLE))
        assert not (spec.has(R.REQUIRED_ON_CREATE) and spec.has(R.FORBIDDEN_ON_CREATE))
        assert not (spec.has(R.REQUIRED_ON_GENERATE) and spec.has(R.FORBIDDEN_ON_GENERATE))


@pytest.mark.parametrize("key", KEYS, ids=str)
def test_built_object_holds_every_defaulted_row(key: tuple[int, int | None]) -> None:
    obj = sample(key)
    table = TABLES[key]
    assert set(obj) <= set(table)
    for spec in table.values():
        if spec.default is not None or spec.has(R.REQUIRED_ON_CREATE):
            assert spec.type in obj, A(spec.type).name
        if spec.type in obj:
            codec.validate(spec.type, obj[spec.type])
            assert read(obj, spec.type) == obj[spec.type]  # nothing hidden: not sensitive


# --- create templates ----------------------------------------------------------------------------


@given(table_row_value(lambda s: s.has(R.FORBIDDEN_ON_CREATE)))
def test_token_set_rows_refused_on_create(trv: tuple[Any, AttrSpec, Any]) -> None:
    key, spec, value = trv
    with pytest.raises(AttributeReadOnly):
        build({**templates()[key], spec.type: value}, Origin.CREATE, SO)


@pytest.mark.parametrize(("key", "spec"), rows_where(lambda s: s.has(R.REQUIRED_ON_CREATE)), ids=str)
def test_required_rows_missing_is_incomplete(key: tuple[int, int | None], spec: AttrSpec) -> None:
    t = {k: v for k, v in templates()[key].items() if k != spec.type}
    with pytest.raises(TemplateIncomplete):
        build(t, Origin.CREATE, USER)


@given(table_row_value(lambda s: s.has(R.SO_ONLY)))
def test_so_only_rows(trv: tuple[Any, AttrSpec, Any]) -> None:
    key, spec, value = trv
    t = {**templates()[key], spec.type: value}
    assert build(t, Origin.CREATE, SO)[spec.type] is value
    if value is True:
        with pytest.raises(AttributeReadOnly):
            build(t, Origin.CREATE, USER)


# --- C_SetAttributeValue and C_CopyObject --------------------------------------------------------


def expect_change(spec: AttrSpec, old: Any, new: Any, copy: bool, actor: Actor) -> bool:
    """What the table says: may this value replace that one?"""
    if not (spec.has(R.MODIFIABLE) or (copy and spec.has(R.CHANGE_ON_COPY))):
        return False
    if spec.has(R.ONLY_TO_TRUE) and old is True and new is False:
        return False
    if spec.has(R.ONLY_TO_FALSE) and old is False and new is True:
        return False
    return not (spec.has(R.SO_ONLY) and new is True and old is not True and not actor.is_so)


@settings(max_examples=300)
@given(table_row_value(lambda s: True), st.booleans(), st.booleans())
def test_every_row_obeys_its_change_rules(trv: tuple[Any, AttrSpec, Any], copy: bool, so: bool) -> None:
    key, spec, value = trv
    actor = Actor(is_so=so)
    obj = sample(key)
    if expect_change(spec, obj.get(spec.type), value, copy, actor):
        assert modify(obj, {spec.type: value}, actor, copy=copy)[spec.type] == value
    else:
        with pytest.raises(AttributeReadOnly):
            modify(obj, {spec.type: value}, actor, copy=copy)


@given(
    st.sampled_from(KEYS),
    st.sampled_from([0x636, 0x623, 0xCE536301, int(A.GOSTR3410_PARAMS), int(A.OTP_FORMAT)]),
)
def test_unknown_types_everywhere(key: tuple[int, int | None], attr: int) -> None:
    obj = sample(key)
    with pytest.raises(AttributeTypeInvalid):
        read(obj, attr)
    with pytest.raises(AttributeTypeInvalid):
        modify(obj, {attr: b"\x00"}, SO, copy=False)
    with pytest.raises(AttributeTypeInvalid):
        build({**templates()[key], attr: b"\x00"}, Origin.CREATE, SO)
    assert not matches(obj, {attr: b"\x00"})


SECRET_OR_PRIVATE = [k for k in KEYS if k[0] in (O.PRIVATE_KEY, O.SECRET_KEY)]
STEP = st.tuples(st.booleans(), st.sampled_from(STICKY), st.booleans())


@settings(max_examples=200)
@given(st.sampled_from(SECRET_OR_PRIVATE), st.booleans(), st.booleans(), st.lists(STEP, max_size=12))
def test_sticky_attributes_move_one_way(
    key: tuple[int, int | None], sensitive: bool, extractable: bool, steps: list[tuple[bool, int, bool]]
) -> None:
    obj = sample(key, sensitive, extractable)
    history = [obj]
    for copy, attr, value in steps:
        try:
            obj = modify(obj, {attr: value}, USER, copy=copy)
        except AttributeReadOnly:
            old = obj[attr]
            assert old != value  # only a real change against the flow is refused
        except Exception as exc:  # ActionProhibited once COPYABLE is FALSE and we copy
            assert copy and obj[A.COPYABLE] is False, exc
        before, after = history[-1], obj
        history.append(obj)
        # SENSITIVE and WRAP_WITH_TRUSTED never fall back, EXTRACTABLE and COPYABLE never rise
        for a in (A.SENSITIVE, A.WRAP_WITH_TRUSTED):
            assert not (before[a] and not after[a])
        for a in (A.EXTRACTABLE, A.COPYABLE):
            assert not (not before[a] and after[a])
        assert not obj[A.ALWAYS_SENSITIVE] or obj[A.SENSITIVE]
        assert not obj[A.NEVER_EXTRACTABLE] or not obj[A.EXTRACTABLE]
        assert obj[A.ALWAYS_SENSITIVE] is False and obj[A.NEVER_EXTRACTABLE] is False  # imported


# --- sensitive parts -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sensitive", "extractable"), [(True, True), (False, False), (True, False), (False, True)]
)
@pytest.mark.parametrize(("key", "spec"), rows_where(lambda s: s.has(R.HIDDEN_IF_SENSITIVE)), ids=str)
def test_sensitive_parts_never_readable(
    key: tuple[int, int | None], spec: AttrSpec, sensitive: bool, extractable: bool
) -> None:
    obj = sample(key, sensitive, extractable)
    assert spec.type in obj  # RSA CRT parts are filled in, so every hidden row is present
    if sensitive or not extractable:
        with pytest.raises(AttributeSensitive):
            read(obj, spec.type)
        assert not matches(obj, {spec.type: obj[spec.type]})
        # no change of the readable rows can open it up again
        for attempt in ({A.SENSITIVE: False}, {A.EXTRACTABLE: True}):
            try:
                opened = modify(obj, attempt, USER, copy=False)
            except AttributeReadOnly:
                continue
            with pytest.raises(AttributeSensitive):
                read(opened, spec.type)
    else:
        assert read(obj, spec.type) == obj[spec.type]
        assert matches(obj, {spec.type: obj[spec.type]})
