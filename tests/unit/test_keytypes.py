"""core/keytypes (one spec per (class, key type)), engine/curves and engine/hash_table: every spec,
every curve row and every hash row, checked against cryptography as the independent side."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa, utils, x448, x25519
from cryptography.x509.oid import ObjectIdentifier, PublicKeyAlgorithmOID
from hypothesis import given
from hypothesis import strategies as st

from softhsm_py import errors
from softhsm_py.constants import KDF, MGF, KeyType, Mechanism
from softhsm_py.constants import Attribute as A
from softhsm_py.constants import ObjectClass as O
from softhsm_py.core import keytypes
from softhsm_py.core.objects import Actor, Origin, build
from softhsm_py.core.objects.policy import all_tables, table_for
from softhsm_py.engine import asn1, curves, hash_table
from softhsm_py.engine import rsa as engine_rsa
from softhsm_py.mechanisms import registry

USER = Actor()
DER, PKCS8, SPKI = serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.PublicFormat
RAW_KEYS = {"ed25519": ed25519.Ed25519PrivateKey, "ed448": ed448.Ed448PrivateKey}
RAW_KEYS |= {"x25519": x25519.X25519PrivateKey, "x448": x448.X448PrivateKey}
FAMILY_KEY_TYPE = {curves.EC: KeyType.EC, curves.EDWARDS: KeyType.EC_EDWARDS}
FAMILY_KEY_TYPE |= {curves.MONTGOMERY: KeyType.EC_MONTGOMERY}


def pkcs8(key: Any) -> bytes:
    return key.private_bytes(DER, PKCS8, serialization.NoEncryption())


def spki(key: Any) -> bytes:
    return key.public_key().public_bytes(DER, SPKI.SubjectPublicKeyInfo)


_RSA = rsa.generate_private_key(65537, 2048)


def crypto_key(curve: curves.Curve | None) -> Any:
    """A fresh cryptography private key of RSA (None) or on ``curve``."""
    if curve is None:
        return _RSA
    if curve.family == curves.EC:
        return ec.generate_private_key(ec.get_curve_for_oid(ObjectIdentifier(curve.oid))())
    return RAW_KEYS[curve.name].generate()


ASYMMETRIC = [(KeyType.RSA, None)] + [(FAMILY_KEY_TYPE[c.family], c) for c in curves.CURVES]


def asym_id(case: Any) -> str:
    return "rsa" if case is None else case.name if isinstance(case, curves.Curve) else str(case)


# --- the registry --------------------------------------------------------------------------------


def test_every_key_table_the_factory_reads_is_a_spec() -> None:
    key_tables = {k: t for k, t in all_tables().items() if k[0] in keytypes.KEY_CLASSES}
    assert set(key_tables) == set(keytypes.SPECS)
    for (cls, key_type), spec in keytypes.SPECS.items():
        assert (spec.cls, spec.key_type) == (cls, key_type)
        assert table_for({A.CLASS: cls, A.KEY_TYPE: key_type}) is spec.table
        assert keytypes.spec_for(cls, key_type) is spec
        private, public = cls == O.PRIVATE_KEY, cls == O.PUBLIC_KEY
        assert (spec.export_private is not None) == private
        assert (spec.import_private is not None) == private
        assert (spec.import_public is not None) == public
        assert (spec.public_info is not None) == (private or public)


def test_specs_and_factory_load_without_slow_imports() -> None:
    """The key-type tables may load at module start (the factory reads them): no cryptography,
    dataclasses, inspect or logging (see tests/conformance/test_startup.py)."""
    code = (
        "import json, sys\n"
        "import softhsm_py.core.objects.factory, softhsm_py.core.keytypes\n"
        "slow = ('cryptography', 'dataclasses', 'inspect', 'logging')\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in slow)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(out.stdout) == []


def test_every_key_type_a_mechanism_uses_has_specs() -> None:
    known = {key_type for _, key_type in keytypes.SPECS}
    for mech in registry.infos():
        assert set(getattr(registry.lookup(mech), "key_types", ())) <= known, hex(mech)


def test_each_hmac_key_type_and_hkdf_is_a_secret_key() -> None:
    for key_type in (*hash_table.HMAC_KEY_TYPES, KeyType.HKDF, KeyType.AES, KeyType.CHACHA20):
        assert keytypes.find(O.SECRET_KEY, key_type) is not None
        assert keytypes.find(O.PRIVATE_KEY, key_type) is None


@pytest.mark.parametrize(
    ("cls", "key_type"),
    [(O.SECRET_KEY, KeyType.RSA), (O.PRIVATE_KEY, KeyType.AES), (O.DATA, None), (O.PUBLIC_KEY, 0x1234)],
)
def test_pairs_without_a_spec(cls: int, key_type: Any) -> None:
    assert keytypes.find(cls, key_type) is None
    with pytest.raises(errors.AttributeValueInvalid):
        keytypes.spec_for(cls, key_type)


# --- the hooks, with real keys -------------------------------------------------------------------


@pytest.mark.parametrize(("key_type", "curve"), ASYMMETRIC, ids=asym_id)
def test_private_key_through_every_hook(key_type: int, curve: curves.Curve | None) -> None:
    key = crypto_key(curve)
    der = pkcs8(key)
    material = keytypes.import_private(der, key_type)
    obj = build({A.CLASS: O.PRIVATE_KEY, A.KEY_TYPE: key_type}, Origin.UNWRAP, USER, material=material)
    spec = keytypes.spec_for(O.PRIVATE_KEY, key_type)
    assert obj[A.PUBLIC_KEY_INFO] == spec.public_info(obj) == spki(key)
    assert keytypes.export_private(obj) == der
    bits = 2048 if curve is None else curve.bits
    assert spec.key_bits(obj) == bits
    if curve is not None:
        assert obj[A.EC_PARAMS] == curve.oid_der
        if curve.family == curves.EC:
            assert key.curve.key_size == bits


@pytest.mark.parametrize(("key_type", "curve"), ASYMMETRIC, ids=asym_id)
def test_public_key_through_every_hook(key_type: int, curve: curves.Curve | None) -> None:
    key = crypto_key(curve)
    spec = keytypes.spec_for(O.PUBLIC_KEY, key_type)
    assert spec.import_public is not None and spec.public_info is not None
    material = spec.import_public(spki(key))
    obj = build({A.CLASS: O.PUBLIC_KEY, A.KEY_TYPE: key_type, **material}, Origin.CREATE, USER)
    assert obj[A.PUBLIC_KEY_INFO] == spec.public_info(obj) == spki(key)
    assert spec.key_bits(obj) == (2048 if curve is None else curve.bits)


@pytest.mark.parametrize(
    ("key_type", "length", "bits"),
    [(KeyType.AES, 24, 192), (KeyType.CHACHA20, 32, 256), (KeyType.GENERIC_SECRET, 5, 40)]
    + [(kt, 64, 512) for kt in hash_table.HMAC_KEY_TYPES],
)
def test_secret_key_bits(key_type: int, length: int, bits: int) -> None:
    obj = build({A.CLASS: O.SECRET_KEY, A.KEY_TYPE: key_type, A.VALUE: bytes(length)}, Origin.CREATE, USER)
    assert keytypes.spec_for(O.SECRET_KEY, key_type).key_bits(obj) == bits
    with pytest.raises(errors.KeyNotWrappable):
        keytypes.export_private(obj)  # secret keys are wrapped as their value, by the caller


# A key on secp224k1 (`openssl genpkey`), a curve neither cryptography nor we implement.
SECP224K1_PKCS8 = bytes.fromhex(
    "3079020100301006072a8648ce3d020106052b8104002004623060020101041d006a002b641d68bf07d6a81c752adc"
    "7147bdbc9cfe395afe7eb7a6196aa13c033a0004cdad5f9484f1003897eeabf7951aba18fc403fa09f3aad90197d5b"
    "16c34d4bf462ec2e9035382db904609d14b90f56a3dcad3aac5ce88284"
)
SECP224K1_SPKI = bytes.fromhex(
    "304e301006072a8648ce3d020106052b81040020033a0004cdad5f9484f1003897eeabf7951aba18fc403fa09f3aad"
    "90197d5b16c34d4bf462ec2e9035382db904609d14b90f56a3dcad3aac5ce88284"
)


def test_import_private_refusals() -> None:
    rsa_der, ec_der = pkcs8(_RSA), pkcs8(ec.generate_private_key(ec.SECP256R1()))
    ed_der, x_der = pkcs8(ed25519.Ed25519PrivateKey.generate()), pkcs8(x25519.X25519PrivateKey.generate())
    for key_type in (KeyType.RSA, KeyType.EC, KeyType.EC_EDWARDS, KeyType.AES):
        with pytest.raises(errors.WrappedKeyInvalid):
            keytypes.import_private(b"\x30\x03\x02\x01\x00", key_type)
    for der, key_type in (
        (ec_der, KeyType.RSA),
        (rsa_der, KeyType.EC),
        (ed_der, KeyType.EC),
        (ed_der, KeyType.EC_MONTGOMERY),
        (x_der, KeyType.EC_EDWARDS),
        (ec_der, KeyType.EC_EDWARDS),
        (rsa_der, KeyType.AES),  # no private key of that type at all
    ):
        with pytest.raises(errors.KeyTypeInconsistent):
            keytypes.import_private(der, key_type)
    with pytest.raises(errors.WrappedKeyInvalid):
        keytypes.import_private(SECP224K1_PKCS8, KeyType.EC)


def test_import_public_refusals() -> None:
    rsa_spec = keytypes.spec_for(O.PUBLIC_KEY, KeyType.RSA)
    ec_spec = keytypes.spec_for(O.PUBLIC_KEY, KeyType.EC)
    assert rsa_spec.import_public is not None and ec_spec.import_public is not None
    with pytest.raises(errors.AttributeValueInvalid):
        rsa_spec.import_public(b"\x30\x00")
    with pytest.raises(errors.KeyTypeInconsistent):
        rsa_spec.import_public(spki(ec.generate_private_key(ec.SECP256R1())))
    with pytest.raises(errors.KeyTypeInconsistent):
        ec_spec.import_public(spki(ed25519.Ed25519PrivateKey.generate()))
    with pytest.raises(errors.KeyTypeInconsistent):
        ec_spec.import_public(spki(_RSA))
    with pytest.raises(errors.CurveNotSupported):
        ec_spec.import_public(SECP224K1_SPKI)


def test_export_private_refusals() -> None:
    material = keytypes.import_private(pkcs8(_RSA), KeyType.RSA)
    obj = build({A.CLASS: O.PRIVATE_KEY, A.KEY_TYPE: KeyType.RSA}, Origin.UNWRAP, USER, material=material)
    lacking = {k: v for k, v in obj.items() if k != A.PRIME_2}
    with pytest.raises(errors.KeyNotWrappable):
        keytypes.export_private(lacking)
    public = {**obj, A.CLASS: O.PUBLIC_KEY}
    with pytest.raises(errors.KeyNotWrappable):
        keytypes.export_private(public)


# --- the curve table -----------------------------------------------------------------------------


@pytest.mark.parametrize("curve", curves.CURVES, ids=asym_id)
def test_curve_row(curve: curves.Curve) -> None:
    assert asn1.oid(curve.oid) == curve.oid_der
    assert asn1.oid_dotted(curve.oid_der) == curve.oid
    assert curves.lookup(curve.oid_der) is curves.BY_NAME[curve.name] is curve
    key = crypto_key(curve)
    if curve.family == curves.EC:
        crypto_curve = getattr(ec, curve.engine)()
        assert crypto_curve.name == curve.name and crypto_curve.key_size == curve.bits
        assert isinstance(ec.get_curve_for_oid(ObjectIdentifier(curve.oid))(), type(crypto_curve))
        assert curve.alias is None
        assert curve.signature_len == 2 * ((curve.bits + 7) // 8)
    else:
        assert getattr(PublicKeyAlgorithmOID, curve.name.upper()).dotted_string == curve.oid
        raw = key.public_key().public_bytes(serialization.Encoding.Raw, SPKI.Raw)
        assert len(raw) == curve.key_len
        assert curve.alias is not None and curve.alias_der is not None
        assert curves.lookup(curve.alias_der) is curve
        assert curve.alias_der == bytes([0x13, len(curve.alias)]) + curve.alias.encode()  # PrintableString
    # the OID in cryptography's own SubjectPublicKeyInfo is the row's
    assert curve.oid_der in spki(key)


def test_curve_table_names_each_curve_once() -> None:
    names = [c.name for c in curves.CURVES]
    oids = [c.oid for c in curves.CURVES]
    assert len(set(names)) == len(names) and len(set(oids)) == len(oids)
    aliases = [c.alias for c in curves.CURVES if c.alias is not None]
    assert len(curves.BY_PARAMS) == len(curves.CURVES) + len(set(aliases))
    assert curves.bit_range(curves.EC) == (192, 521)
    assert curves.bit_range(curves.EDWARDS, curves.MONTGOMERY) == (255, 448)


@given(st.integers(0, 2), st.integers(0, 39), st.lists(st.integers(0, 2**70), max_size=8))
def test_oid_round_trip(first: int, second: int, rest: list[int]) -> None:
    dotted = ".".join(str(arc) for arc in (first, second, *rest))
    der = asn1.oid(dotted)
    assert asn1.oid_dotted(der) == dotted
    if all(arc < 2**32 for arc in rest):  # cryptography's own parser stops at 64-bit arcs
        assert ObjectIdentifier(dotted).dotted_string == dotted


@pytest.mark.parametrize("der", [b"", b"\x06\x00", b"\x06\x01\x81", b"\x04\x01\x2a", b"\x06\x02\x2a"])
def test_oid_dotted_refuses_non_oids(der: bytes) -> None:
    with pytest.raises(errors.DomainParamsInvalid):
        asn1.oid_dotted(der)


# --- the hash table ------------------------------------------------------------------------------

HASH_ROWS = pytest.mark.parametrize("h", hash_table.HASHES, ids=lambda h: h.name)


@HASH_ROWS
def test_hash_row_engine(h: hash_table.HashSpec) -> None:
    algorithm = getattr(hashes, h.engine)()
    assert algorithm.name == h.name and algorithm.digest_size == h.size
    assert asn1.oid_dotted(asn1.oid(h.oid)) == h.oid


@HASH_ROWS
def test_hash_row_digest_info(h: hash_table.HashSpec) -> None:
    """OpenSSL builds its own DigestInfo when it verifies a PKCS#1 v1.5 signature: a signature
    over our prefix + digest verifies only if the prefix (the OID, the lengths) is right."""
    data = b"digest info"
    ctx = hashes.Hash(getattr(hashes, h.engine)())
    ctx.update(data)
    digest = ctx.finalize()
    sig = engine_rsa.sign_pkcs1(_RSA, h.digest_info_prefix + digest)
    _RSA.public_key().verify(sig, digest, padding.PKCS1v15(), utils.Prehashed(getattr(hashes, h.engine)()))
    # the OpenSSL path (recognised DigestInfo) and the raw path give the same bytes
    k = engine_rsa.modulus_len(_RSA)
    block = b"\x00\x01" + b"\xff" * (k - 3 - len(h.digest_info_prefix) - h.size) + b"\x00"
    assert engine_rsa.raw_private(_RSA, block + h.digest_info_prefix + digest) == sig


def test_digest_info_prefixes_of_rfc_8017() -> None:
    by_name = hash_table.BY_NAME
    assert by_name["sha1"].digest_info_prefix.hex() == "3021300906052b0e03021a05000414"
    assert by_name["sha256"].digest_info_prefix.hex() == "3031300d060960864801650304020105000420"
    assert by_name["sha512"].digest_info_prefix.hex() == "3051300d060960864801650304020305000440"


@HASH_ROWS
def test_hash_row_pkcs11_values_name_the_hash(h: hash_table.HashSpec) -> None:
    """Each PKCS#11 value of a row is the constant named after its hash (catches a row that
    borrows another row's value)."""
    digest_name = Mechanism(h.digest).name
    assert digest_name == h.engine.replace("SHA1", "SHA_1")
    expected: dict[str, tuple[Any, str]] = {
        "mgf": (MGF, h.engine),
        "kdf": (KDF, f"{h.engine}_KDF"),
        "hmac": (Mechanism, f"{digest_name}_HMAC"),
        "hmac_general": (Mechanism, f"{digest_name}_HMAC_GENERAL"),
        "hmac_key_type": (KeyType, f"{digest_name}_HMAC"),
        "rsa_pkcs": (Mechanism, f"{h.engine}_RSA_PKCS"),
        "rsa_pss": (Mechanism, f"{h.engine}_RSA_PKCS_PSS"),
        "ecdsa": (Mechanism, f"ECDSA_{h.engine}"),
    }
    for column, (enum, name) in expected.items():
        value = getattr(h, column)
        if value is not None:
            assert enum(value).name == name, column
            assert hash_table.names_by(column)[value] == h.name


def test_hash_table_lookups() -> None:
    assert len(hash_table.BY_NAME) == len(hash_table.HASHES)
    assert hash_table.names_by("digest")[Mechanism.SHA3_256] == "sha3-256"
    assert Mechanism.SHA512_224 not in hash_table.names_by("rsa_pkcs")  # no such mechanism
    with pytest.raises(KeyError):
        hash_table.names_by("name")
    for h in hash_table.HASHES:  # every hash digests through the registry as hashlib does
        ctx = registry.lookup(h.digest).digest_init(h.digest, None)
        assert ctx.digest(b"abc") == hashlib.new(h.name.replace("-", "_"), b"abc").digest()
