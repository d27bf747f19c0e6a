"""objects/factory.py with real keys made by cryptography: imports, generation, copies, reads."""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa, x448, x25519
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from softhsm_py.constants import UNAVAILABLE_INFORMATION, CertificateType, KeyType, Mechanism
from softhsm_py.constants import Attribute as A
from softhsm_py.constants import ObjectClass as O
from softhsm_py.core.objects import (
    Actor,
    Origin,
    build,
    check_destroy,
    codec,
    index_of,
    matches,
    modify,
    read,
)
from softhsm_py.engine import asn1
from softhsm_py.errors import (
    ActionProhibited,
    AttributeReadOnly,
    AttributeSensitive,
    AttributeTypeInvalid,
    AttributeValueInvalid,
    CurveNotSupported,
    TemplateIncomplete,
    TemplateInconsistent,
)

USER, SO = Actor(is_so=False), Actor(is_so=True)
P256 = bytes.fromhex("06082a8648ce3d030107")
CURVE_PARAMS = {
    "P-256": (P256, ec.SECP256R1()),
    "P-384": (bytes.fromhex("06052b81040022"), ec.SECP384R1()),
    "P-521": (bytes.fromhex("06052b81040023"), ec.SECP521R1()),
    "secp256k1": (bytes.fromhex("06052b8104000a"), ec.SECP256K1()),
    "P-192": (bytes.fromhex("06082a8648ce3d030101"), ec.SECP192R1()),
    "P-224": (bytes.fromhex("06052b81040021"), ec.SECP224R1()),
    "brainpoolP256r1": (bytes.fromhex("06092b2403030208010107"), ec.BrainpoolP256R1()),
    "brainpoolP512r1": (bytes.fromhex("06092b240303020801010d"), ec.BrainpoolP512R1()),
}
ED25519_OID, X25519_OID = bytes.fromhex("06032b6570"), bytes.fromhex("06032b656e")
NSS_TRUST = 0xCE534353


def b(i: int) -> bytes:
    return i.to_bytes(max(1, (i.bit_length() + 7) // 8), "big")


def der(data: bytes) -> bytes:
    return asn1.octet_string(data)


def printable(name: str) -> bytes:
    return bytes([0x13, len(name)]) + name.encode()


@cache
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(65537, 2048)


def rsa_private_template(**drop: bool) -> dict[int, Any]:
    pn = rsa_key().private_numbers()
    t = {
        A.CLASS: O.PRIVATE_KEY,
        A.KEY_TYPE: KeyType.RSA,
        A.MODULUS: b(pn.public_numbers.n),
        A.PUBLIC_EXPONENT: b(pn.public_numbers.e),
        A.PRIVATE_EXPONENT: b(pn.d),
        A.PRIME_1: b(pn.p),
        A.PRIME_2: b(pn.q),
        A.EXPONENT_1: b(pn.dmp1),
        A.EXPONENT_2: b(pn.dmq1),
        A.COEFFICIENT: b(pn.iqmp),
    }
    return {k: v for k, v in t.items() if not drop.get(A(k).name.lower())}


def rsa_public_template() -> dict[int, Any]:
    pub = rsa_key().public_key().public_numbers()
    return {A.CLASS: O.PUBLIC_KEY, A.KEY_TYPE: KeyType.RSA, A.MODULUS: b(pub.n), A.PUBLIC_EXPONENT: b(pub.e)}


def spki(key: Any) -> bytes:
    return key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


def aes(value: bytes = bytes(range(16)), **extra: Any) -> dict[int, Any]:
    named = {int(A[name]): v for name, v in extra.items()}
    return {A.CLASS: O.SECRET_KEY, A.KEY_TYPE: KeyType.AES, A.VALUE: value, **named}


# --- RSA -----------------------------------------------------------------------------------------


def test_java_keytool_rsa_import_defaults() -> None:
    obj = build(rsa_private_template(), Origin.CREATE, USER)  # all CRT parts, no CKA_SENSITIVE
    for attr in (
        A.SIGN,
        A.DECRYPT,
        A.UNWRAP,
        A.SENSITIVE,
        A.PRIVATE,
        A.MODIFIABLE,
        A.COPYABLE,
        A.DESTROYABLE,
    ):
        assert obj[attr] is True, A(attr).name
    for attr in (
        A.DERIVE,  # the spec's default (4.7), as SoftHSMv2
        A.TOKEN,
        A.EXTRACTABLE,
        A.ALWAYS_AUTHENTICATE,
        A.WRAP_WITH_TRUSTED,
        A.LOCAL,
        A.ALWAYS_SENSITIVE,
        A.NEVER_EXTRACTABLE,
    ):
        assert obj[attr] is False, A(attr).name
    assert obj[A.KEY_GEN_MECHANISM] == UNAVAILABLE_INFORMATION
    assert obj[A.PUBLIC_KEY_INFO] == spki(rsa_key().public_key())
    assert len(obj[A.UNIQUE_ID]) == 32 and obj[A.UNIQUE_ID].isalnum()
    with pytest.raises(AttributeSensitive):
        read(obj, A.PRIVATE_EXPONENT)
    assert read(obj, A.MODULUS) == rsa_private_template()[A.MODULUS]


def test_rsa_crt_parts_computed_from_n_e_d() -> None:
    t = rsa_private_template(prime_1=True, prime_2=True, exponent_1=True, exponent_2=True, coefficient=True)
    obj = build({**t, A.SENSITIVE: False, A.EXTRACTABLE: True}, Origin.CREATE, USER)
    full = rsa_private_template()
    assert {int.from_bytes(obj[A.PRIME_1], "big"), int.from_bytes(obj[A.PRIME_2], "big")} == {
        int.from_bytes(full[A.PRIME_1], "big"),
        int.from_bytes(full[A.PRIME_2], "big"),
    }
    assert read(obj, A.COEFFICIENT)


def test_rsa_public_exponent_computed_from_primes() -> None:
    obj = build(rsa_private_template(public_exponent=True), Origin.CREATE, USER)
    assert obj[A.PUBLIC_EXPONENT] == b(65537)


def test_rsa_lone_prime_2() -> None:
    t = rsa_private_template(prime_1=True, exponent_1=True, exponent_2=True, coefficient=True)
    obj = build(t, Origin.CREATE, USER)
    assert obj[A.PRIME_1] == rsa_private_template()[A.PRIME_1]


def test_rsa_n_d_alone_is_incomplete() -> None:
    t = {
        k: v
        for k, v in rsa_private_template().items()
        if k in (A.CLASS, A.KEY_TYPE, A.MODULUS, A.PRIVATE_EXPONENT)
    }
    with pytest.raises(TemplateIncomplete):
        build(t, Origin.CREATE, USER)


@pytest.mark.parametrize(
    "change",
    [
        {A.PRIME_1: b(1009)},  # p*q != n
        {A.MODULUS: b(int.from_bytes(rsa_private_template()[A.MODULUS], "big") + 2)},
        {A.PRIVATE_EXPONENT: b(12345)},
        {A.COEFFICIENT: b(3)},
        {A.PUBLIC_EXPONENT: b(4)},
    ],
)
def test_malformed_rsa_private_rejected(change: dict[int, bytes]) -> None:
    with pytest.raises(AttributeValueInvalid):
        build({**rsa_private_template(), **change}, Origin.CREATE, USER)


def test_rsa_private_missing_required_parts() -> None:
    with pytest.raises(TemplateIncomplete):
        build(rsa_private_template(private_exponent=True), Origin.CREATE, USER)


def test_rsa_public_import() -> None:
    obj = build(rsa_public_template(), Origin.CREATE, USER)
    assert obj[A.MODULUS_BITS] == 2048
    assert obj[A.PUBLIC_KEY_INFO] == spki(rsa_key().public_key())
    for attr in (A.VERIFY, A.ENCRYPT, A.WRAP, A.VERIFY_RECOVER):
        assert obj[attr] is True
    assert obj[A.PRIVATE] is False and obj[A.DERIVE] is False and obj[A.TRUSTED] is False
    assert A.SENSITIVE not in obj
    with pytest.raises(AttributeReadOnly):  # [2]
        build({**rsa_public_template(), A.MODULUS_BITS: 2048}, Origin.CREATE, USER)
    with pytest.raises(AttributeValueInvalid):
        build({**rsa_public_template(), A.PUBLIC_EXPONENT: b(2)}, Origin.CREATE, USER)
    with pytest.raises(AttributeValueInvalid):
        build({**rsa_public_template(), A.PUBLIC_KEY_INFO: b"\x30\x00"}, Origin.CREATE, USER)


def test_rsa_generate_pair() -> None:
    pub_t = {A.MODULUS_BITS: 2048, A.PUBLIC_EXPONENT: b"\x00\x01\x00\x01", A.TOKEN: True}
    full = rsa_private_template()
    pub_m = {
        A.CLASS: O.PUBLIC_KEY,
        A.KEY_TYPE: KeyType.RSA,
        A.MODULUS: full[A.MODULUS],
        A.PUBLIC_EXPONENT: full[A.PUBLIC_EXPONENT],
    }
    mech = Mechanism.RSA_PKCS_KEY_PAIR_GEN
    pub = build(pub_t, Origin.GENERATE, USER, material=pub_m, mechanism=mech)
    priv = build({A.TOKEN: True}, Origin.GENERATE, USER, material=full, mechanism=mech)
    assert pub[A.LOCAL] and priv[A.LOCAL]
    assert pub[A.KEY_GEN_MECHANISM] == priv[A.KEY_GEN_MECHANISM] == mech
    assert priv[A.ALWAYS_SENSITIVE] is True and priv[A.NEVER_EXTRACTABLE] is True
    with pytest.raises(TemplateIncomplete):  # [3]
        build({}, Origin.GENERATE, USER, material=pub_m, mechanism=mech)
    with pytest.raises(TemplateInconsistent):
        build({A.MODULUS_BITS: 1024}, Origin.GENERATE, USER, material=pub_m, mechanism=mech)
    with pytest.raises(AttributeReadOnly):  # [4]
        build({A.PRIME_1: full[A.PRIME_1]}, Origin.GENERATE, USER, material=full, mechanism=mech)


def test_nss_sets_id_after_generation() -> None:
    priv = build(
        {}, Origin.GENERATE, USER, material=rsa_private_template(), mechanism=Mechanism.RSA_PKCS_KEY_PAIR_GEN
    )
    assert priv[A.ID] == b"" and priv[A.LABEL] == b""
    after = modify(priv, {A.ID: b"\x01\x02", A.LABEL: b"nss"}, USER, copy=False)
    assert index_of(after) == (True, O.PRIVATE_KEY, KeyType.RSA, b"nss", b"\x01\x02")
    assert priv[A.ID] == b""  # the input is never mutated


# --- EC and friends ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CURVE_PARAMS))
def test_ec_pair_import(name: str) -> None:
    params, curve = CURVE_PARAMS[name]
    key = ec.generate_private_key(curve)
    raw = key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    for given in (raw, der(raw)):
        pub = build(
            {A.CLASS: O.PUBLIC_KEY, A.KEY_TYPE: KeyType.EC, A.EC_PARAMS: params, A.EC_POINT: given},
            Origin.CREATE,
            USER,
        )
        assert pub[A.EC_POINT] == der(raw)
        assert pub[A.PUBLIC_KEY_INFO] == spki(key.public_key())
        assert matches(pub, {A.EC_POINT: raw}) and matches(pub, {A.EC_POINT: der(raw)})
    compressed = key.public_key().public_bytes(Encoding.X962, PublicFormat.CompressedPoint)
    pub = build(
        {A.CLASS: O.PUBLIC_KEY, A.KEY_TYPE: KeyType.EC, A.EC_PARAMS: params, A.EC_POINT: der(compressed)},
        Origin.CREATE,
        USER,
    )
    assert pub[A.EC_POINT] == der(raw)
    value = b(key.private_numbers().private_value)
    priv = build(
        {A.CLASS: O.PRIVATE_KEY, A.KEY_TYPE: KeyType.EC, A.EC_PARAMS: params, A.VALUE: value},
        Origin.CREATE,
        USER,
    )
    assert priv[A.PUBLIC_KEY_INFO] == spki(key.public_key())
    with pytest.raises(AttributeSensitive):
        read(priv, A.VALUE)
    order = {"P-256": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551}.get(name)
    bad = [b"\x00", b""] + ([b(order)] if order else [])
    for v in bad:
        with pytest.raises(AttributeValueInvalid):
            build(
                {A.CLASS: O.PRIVATE_KEY, A.KEY_TYPE: KeyType.EC, A.EC_PARAMS: params, A.VALUE: v},
                Origin.CREATE,
                USER,
            )


def test_off_curve_point_rejected() -> None:
    raw = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    )
    off = raw[:-1] + bytes([raw[-1] ^ 1])
    for point in (off, der(off), raw[:-1], b"\x04", b""):
        with pytest.raises(AttributeValueInvalid):
            build(
                {A.CLASS: O.PUBLIC_KEY, A.KEY_TYPE: KeyType.EC, A.EC_PARAMS: P256, A.EC_POINT: point},
                Origin.CREATE,
                USER,
            )


@pytest.mark.parametrize(
    ("params", "error"),
    [
        (ED25519_OID, AttributeValueInvalid),  # an Edwards curve on CKK_EC
        (bytes.fromhex("06052b81040020"), CurveNotSupported),  # secp224k1: a real OID we lack
        (b"\x30\x00", AttributeValueInvalid),  # explicit parameters
        (printable("edwards25519"), AttributeValueInvalid),
    ],
)
def test_ec_params_refused(params: bytes, error: type[Exception]) -> None:
    point = der(b"\x04" + bytes(64))
    with pytest.raises(error):
        build(
            {A.CLASS: O.PUBLIC_KEY, A.KEY_TYPE: KeyType.EC, A.EC_PARAMS: params, A.EC_POINT: point},
            Origin.CREATE,
            USER,
        )


@pytest.mark.parametrize(
    ("kt", "names", "cls_priv"),
    [
        (KeyType.EC_EDWARDS, ("06032b6570", "edwards25519"), ed25519.Ed25519PrivateKey),
        (KeyType.EC_EDWARDS, ("06032b6571", "edwards448"), ed448.Ed448PrivateKey),
        (KeyType.EC_MONTGOMERY, ("06032b656e", "curve25519"), x25519.X25519PrivateKey),
        (KeyType.EC_MONTGOMERY, ("06032b656f", "curve448"), x448.X448PrivateKey),
    ],
)
def test_edwards_montgomery_import(kt: int, names: tuple[str, str], cls_priv: Any) -> None:
    key = cls_priv.generate()
    raw_pub = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    raw_priv = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    for params in (bytes.fromhex(names[0]), printable(names[1])):
        for point in (raw_pub, der(raw_pub)):
            pub = build(
                {A.CLASS: O.PUBLIC_KEY, A.KEY_TYPE: kt, A.EC_PARAMS: params, A.EC_POINT: point},
                Origin.CREATE,
                USER,
            )
            assert pub[A.EC_POINT] == der(raw_pub) and pub[A.EC_PARAMS] == params
            assert pub[A.PUBLIC_KEY_INFO] == spki(key.public_key())
        priv = build(
            {A.CLASS: O.PRIVATE_KEY, A.KEY_TYPE: kt, A.EC_PARAMS: params, A.VALUE: raw_priv},
            Origin.CREATE,
            USER,
        )
        assert priv[A.PUBLIC_KEY_INFO] == spki(key.public_key())
        with pytest.raises(AttributeValueInvalid):
            build(
                {A.CLASS: O.PRIVATE_KEY, A.KEY_TYPE: kt, A.EC_PARAMS: params, A.VALUE: raw_priv[:-1]},
                Origin.CREATE,
                USER,
            )
        with pytest.raises(AttributeValueInvalid):
            build(
                {A.CLASS: O.PUBLIC_KEY, A.KEY_TYPE: kt, A.EC_PARAMS: params, A.EC_POINT: raw_pub + b"\x00"},
                Origin.CREATE,
                USER,
            )
    other = KeyType.EC_MONTGOMERY if kt == KeyType.EC_EDWARDS else KeyType.EC_EDWARDS
    with pytest.raises(AttributeValueInvalid):  # curve of the other family
        build(
            {
                A.CLASS: O.PUBLIC_KEY,
                A.KEY_TYPE: other,
                A.EC_PARAMS: bytes.fromhex(names[0]),
                A.EC_POINT: der(raw_pub),
            },
            Origin.CREATE,
            USER,
        )


def test_java_ec_generate_with_empty_private_template() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    material = {
        A.CLASS: O.PRIVATE_KEY,
        A.KEY_TYPE: KeyType.EC,
        A.EC_PARAMS: P256,
        A.VALUE: b(key.private_numbers().private_value),
    }
    priv = build({}, Origin.GENERATE, USER, material=material, mechanism=Mechanism.EC_KEY_PAIR_GEN)
    assert priv[A.SIGN] and priv[A.PRIVATE] and priv[A.SENSITIVE]
    assert priv[A.DERIVE] is False  # the spec's default (4.7): ECDH needs CKA_DERIVE asked for
    with pytest.raises(AttributeReadOnly):  # EC_PARAMS of a private key is [1,4,6]
        build(
            {A.EC_PARAMS: P256}, Origin.GENERATE, USER, material=material, mechanism=Mechanism.EC_KEY_PAIR_GEN
        )


# --- secret keys ---------------------------------------------------------------------------------


def test_aes_import_and_check_value() -> None:
    obj = build(aes(bytes(16)), Origin.CREATE, USER)
    assert obj[A.VALUE_LEN] == 16
    assert obj[A.CHECK_VALUE] == bytes.fromhex("66e94b")  # AES-128(0^128) under the zero key
    for attr in (A.ENCRYPT, A.DECRYPT, A.SIGN, A.VERIFY, A.WRAP, A.UNWRAP, A.PRIVATE):
        assert obj[attr] is True
    # DERIVE: the spec's default (4.7); SENSITIVE: SoftHSMv2's (the value stays hidden: not extractable)
    assert obj[A.DERIVE] is False and obj[A.SENSITIVE] is False
    assert obj[A.EXTRACTABLE] is False and obj[A.TRUSTED] is False
    for size in (24, 32):
        assert build(aes(bytes(size)), Origin.CREATE, USER)[A.VALUE_LEN] == size
    for size in (0, 1, 15, 17, 33, 64):
        with pytest.raises(AttributeValueInvalid):
            build(aes(bytes(size)), Origin.CREATE, USER)
    with pytest.raises(AttributeReadOnly):  # [2]
        build(aes(VALUE_LEN=16), Origin.CREATE, USER)
    assert A.CHECK_VALUE not in build(aes(CHECK_VALUE=b""), Origin.CREATE, USER)
    assert build(aes(bytes(16), CHECK_VALUE=bytes.fromhex("66e94b")), Origin.CREATE, USER)
    with pytest.raises(AttributeValueInvalid):
        build(aes(bytes(16), CHECK_VALUE=b"\x00\x00\x00"), Origin.CREATE, USER)


def test_generic_secret() -> None:
    obj = build(
        {A.CLASS: O.SECRET_KEY, A.KEY_TYPE: KeyType.GENERIC_SECRET, A.VALUE: b"k"}, Origin.CREATE, USER
    )
    assert obj[A.VALUE_LEN] == 1 and len(obj[A.CHECK_VALUE]) == 3
    with pytest.raises(AttributeValueInvalid):
        build({A.CLASS: O.SECRET_KEY, A.KEY_TYPE: KeyType.GENERIC_SECRET, A.VALUE: b""}, Origin.CREATE, USER)


def test_java_aes_generate() -> None:
    material = {A.KEY_TYPE: KeyType.AES, A.VALUE: bytes(range(16))}
    obj = build(
        {A.CLASS: O.SECRET_KEY, A.VALUE_LEN: 16},
        Origin.GENERATE,
        USER,
        material=material,
        mechanism=Mechanism.AES_KEY_GEN,
    )
    assert obj[A.LOCAL] is True and obj[A.KEY_GEN_MECHANISM] == Mechanism.AES_KEY_GEN
    # a secret key is not sensitive by default (SoftHSMv2's default), so not always sensitive
    assert obj[A.ALWAYS_SENSITIVE] is False and obj[A.NEVER_EXTRACTABLE] is True
    obj = build(
        {A.VALUE_LEN: 16, A.SENSITIVE: False, A.EXTRACTABLE: True},
        Origin.GENERATE,
        USER,
        material={A.CLASS: O.SECRET_KEY, **material},
        mechanism=Mechanism.AES_KEY_GEN,
    )
    assert obj[A.ALWAYS_SENSITIVE] is False and obj[A.NEVER_EXTRACTABLE] is False
    with pytest.raises(TemplateInconsistent):
        build(
            {A.CLASS: O.SECRET_KEY, A.VALUE_LEN: 32},
            Origin.GENERATE,
            USER,
            material=material,
            mechanism=Mechanism.AES_KEY_GEN,
        )
    with pytest.raises(TemplateInconsistent):  # the template's class is not the mechanism's
        build(
            {A.CLASS: O.PRIVATE_KEY, A.VALUE_LEN: 16},
            Origin.GENERATE,
            USER,
            material={A.CLASS: O.SECRET_KEY, **material},
            mechanism=Mechanism.AES_KEY_GEN,
        )
    with pytest.raises(TemplateInconsistent):
        build(
            {A.CLASS: O.SECRET_KEY, A.KEY_TYPE: KeyType.GENERIC_SECRET, A.VALUE_LEN: 16},
            Origin.GENERATE,
            USER,
            material=material,
            mechanism=Mechanism.AES_KEY_GEN,
        )
    with pytest.raises(TemplateIncomplete):  # [3]
        build(
            {A.CLASS: O.SECRET_KEY}, Origin.GENERATE, USER, material=material, mechanism=Mechanism.AES_KEY_GEN
        )
    with pytest.raises(AttributeReadOnly):  # [4]
        build(
            {A.CLASS: O.SECRET_KEY, A.VALUE_LEN: 16, A.VALUE: bytes(16)},
            Origin.GENERATE,
            USER,
            material=material,
            mechanism=Mechanism.AES_KEY_GEN,
        )


def test_unwrap() -> None:
    material = {A.VALUE: bytes(range(32))}
    obj = build({A.CLASS: O.SECRET_KEY, A.KEY_TYPE: KeyType.AES}, Origin.UNWRAP, USER, material=material)
    assert obj[A.VALUE_LEN] == 32 and obj[A.LOCAL] is False
    assert obj[A.ALWAYS_SENSITIVE] is False and obj[A.NEVER_EXTRACTABLE] is False
    with pytest.raises(TemplateIncomplete):  # KEY_TYPE is [5]
        build({A.CLASS: O.SECRET_KEY}, Origin.UNWRAP, USER, material=material)
    with pytest.raises(AttributeReadOnly):  # [6]
        build(
            {A.CLASS: O.SECRET_KEY, A.KEY_TYPE: KeyType.AES, A.VALUE_LEN: 32},
            Origin.UNWRAP,
            USER,
            material=material,
        )
    with pytest.raises(AttributeValueInvalid):  # unwrapped material is checked like imports
        build(
            {A.CLASS: O.SECRET_KEY, A.KEY_TYPE: KeyType.AES},
            Origin.UNWRAP,
            USER,
            material={A.VALUE: bytes(20)},
        )


@pytest.mark.parametrize(("always", "never"), [(True, True), (True, False), (False, True), (False, False)])
def test_derive_inherits_history(always: bool, never: bool) -> None:
    base = {A.ALWAYS_SENSITIVE: always, A.NEVER_EXTRACTABLE: never}
    t = {A.CLASS: O.SECRET_KEY, A.KEY_TYPE: KeyType.GENERIC_SECRET, A.VALUE_LEN: 20, A.SENSITIVE: True}
    obj = build(
        t, Origin.DERIVE, USER, material={A.VALUE: bytes(20)}, base=base, mechanism=Mechanism.ECDH1_DERIVE
    )
    assert obj[A.ALWAYS_SENSITIVE] is always and obj[A.NEVER_EXTRACTABLE] is never
    assert obj[A.LOCAL] is False and obj[A.KEY_GEN_MECHANISM] == UNAVAILABLE_INFORMATION
    with pytest.raises(TemplateInconsistent):
        build({**t, A.VALUE_LEN: 16}, Origin.DERIVE, USER, material={A.VALUE: bytes(20)}, base=base)
    with pytest.raises(AttributeReadOnly):
        build({**t, A.VALUE: bytes(20)}, Origin.DERIVE, USER, material={A.VALUE: bytes(20)}, base=base)


# --- classes, certificates, data ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "error"),
    [
        ({A.CLASS: NSS_TRUST, 0xCE536301: b"x"}, AttributeValueInvalid),  # NSS's CKO_NSS_TRUST
        ({A.CLASS: NSS_TRUST}, AttributeValueInvalid),
        ({A.CLASS: O.HW_FEATURE}, AttributeValueInvalid),
        ({A.LABEL: b"no class"}, TemplateIncomplete),
        ({A.CLASS: O.SECRET_KEY, A.VALUE: bytes(16)}, TemplateIncomplete),  # no KEY_TYPE
        ({A.CLASS: O.SECRET_KEY, A.KEY_TYPE: KeyType.DES3, A.VALUE: bytes(24)}, AttributeValueInvalid),
        ({**aes(), A.MODULUS: b"\x01"}, TemplateInconsistent),  # another class's attribute (4.1.1 item 5)
        ({**aes(), 0x636: b""}, AttributeTypeInvalid),  # PKCS#11 3.2's CKA_PUBLIC_CRC64_VALUE
        ({**aes(), A.SENSITIVE: 1}, AttributeValueInvalid),  # not a bool
        ({**aes(), A.START_DATE: b"20241340"}, AttributeValueInvalid),
        ({**aes(), A.UNIQUE_ID: b"mine"}, AttributeReadOnly),
        ({**aes(), A.LOCAL: True}, AttributeReadOnly),
        ({**aes(), A.ALWAYS_SENSITIVE: True}, AttributeReadOnly),
        ({**aes(), A.TRUSTED: True}, AttributeReadOnly),  # [10] the user may not
    ],
)
def test_refused_templates(template: dict[int, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        build(template, Origin.CREATE, USER)


def test_nss_trust_through_lenient_decoding() -> None:
    raw = {A.CLASS: NSS_TRUST.to_bytes(8, "little"), A.TOKEN: b"\x01", 0xCE536351: b"\x00" * 8}
    with pytest.raises(AttributeValueInvalid):
        build(codec.decode_template(raw, strict=False), Origin.CREATE, USER)


def test_so_may_set_trusted() -> None:
    assert build({**aes(), A.TRUSTED: True}, Origin.CREATE, SO)[A.TRUSTED] is True
    assert build({**aes(), A.TRUSTED: False}, Origin.CREATE, USER)[A.TRUSTED] is False


def cert(**extra: Any) -> dict[int, Any]:
    return {
        A.CLASS: O.CERTIFICATE,
        A.CERTIFICATE_TYPE: CertificateType.X_509,
        A.SUBJECT: b"\x30\x00",
        A.VALUE: b"\x30\x03\x02\x01\x00",
        A.ID: b"\x01",
        **extra,
    }


def test_certificate() -> None:
    obj = build(cert(), Origin.CREATE, USER)
    assert obj[A.PRIVATE] is False and obj[A.TRUSTED] is False and obj[A.CERTIFICATE_CATEGORY] == 0
    assert obj[A.NAME_HASH_ALGORITHM] == Mechanism.SHA_1
    assert A.LOCAL not in obj and A.KEY_GEN_MECHANISM not in obj
    changed = modify(
        obj,
        {A.ID: b"\x02", A.ISSUER: b"i", A.SERIAL_NUMBER: b"\x02\x01\x01", A.LABEL: b"c"},
        USER,
        copy=False,
    )
    assert changed[A.ID] == b"\x02"
    for attr, value in ((A.VALUE, b"\x30\x00"), (A.SUBJECT, b""), (A.CERTIFICATE_TYPE, 0)):
        with pytest.raises(AttributeReadOnly):
            modify(obj, {attr: value}, SO, copy=False)
    with pytest.raises(AttributeReadOnly):  # [10]: only the SO makes a certificate trusted...
        modify(obj, {A.TRUSTED: True}, USER, copy=False)
    assert modify(obj, {A.TRUSTED: True}, SO, copy=False)[A.TRUSTED] is True  # ...also later
    assert build({**cert(), A.TRUSTED: True}, Origin.CREATE, SO)[A.TRUSTED] is True
    for drop in (A.SUBJECT, A.VALUE, A.CERTIFICATE_TYPE):
        with pytest.raises(TemplateIncomplete):
            build({k: v for k, v in cert().items() if k != drop}, Origin.CREATE, USER)
    with pytest.raises(AttributeValueInvalid):
        build({**cert(), A.CERTIFICATE_TYPE: CertificateType.X_509_ATTR_CERT}, Origin.CREATE, USER)
    with pytest.raises(AttributeValueInvalid):
        build({**cert(), A.CERTIFICATE_CATEGORY: 9}, Origin.CREATE, USER)
    with pytest.raises(TemplateInconsistent):
        build({**cert(), A.KEY_TYPE: KeyType.RSA}, Origin.CREATE, USER)


def test_data_object() -> None:
    obj = build({A.CLASS: O.DATA, A.APPLICATION: b"app", A.VALUE: b"v"}, Origin.CREATE, USER)
    assert obj[A.PRIVATE] is False and obj[A.OBJECT_ID] == b"" and obj[A.TOKEN] is False
    assert read(obj, A.VALUE) == b"v"
    with pytest.raises(AttributeReadOnly):
        modify(obj, {A.VALUE: b"w"}, USER, copy=False)


# --- modify, copy, destroy, read, find ---------------------------------------------------------


def test_copy_moves_token_both_ways_and_keeps_history() -> None:
    obj = build(
        {A.CLASS: O.SECRET_KEY, A.VALUE_LEN: 16, A.SENSITIVE: True},
        Origin.GENERATE,
        USER,
        material={A.KEY_TYPE: KeyType.AES, A.VALUE: bytes(16)},
        mechanism=Mechanism.AES_KEY_GEN,
    )
    token = modify(obj, {A.TOKEN: True}, USER, copy=True)  # Java: session key -> token key
    assert token[A.TOKEN] is True and token[A.UNIQUE_ID] != obj[A.UNIQUE_ID]
    assert token[A.LOCAL] is True and token[A.ALWAYS_SENSITIVE] is True
    session = modify(token, {A.TOKEN: False, A.PRIVATE: True}, USER, copy=True)  # pkcs11-provider
    assert session[A.TOKEN] is False
    with pytest.raises(AttributeReadOnly):  # TOKEN is not for C_SetAttributeValue
        modify(obj, {A.TOKEN: True}, USER, copy=False)
    same = build({A.TOKEN: True}, Origin.COPY, USER, base=obj)
    assert same[A.TOKEN] is True


def test_modifiable_and_copyable_and_destroyable() -> None:
    frozen = build({**aes(), A.MODIFIABLE: False}, Origin.CREATE, USER)
    with pytest.raises(ActionProhibited):
        modify(frozen, {A.LABEL: b"x"}, USER, copy=False)
    copied = modify(frozen, {A.LABEL: b"x", A.MODIFIABLE: True}, USER, copy=True)
    assert copied[A.LABEL] == b"x"
    uncopyable = modify(build(aes(), Origin.CREATE, USER), {A.COPYABLE: False}, USER, copy=False)
    with pytest.raises(ActionProhibited):
        modify(uncopyable, {}, USER, copy=True)
    with pytest.raises(AttributeReadOnly):  # [12]-like: COPYABLE never returns to TRUE
        modify(uncopyable, {A.COPYABLE: True}, USER, copy=False)
    keep = build({**aes(), A.DESTROYABLE: False}, Origin.CREATE, USER)
    with pytest.raises(ActionProhibited):
        check_destroy(keep)
    check_destroy(build(aes(), Origin.CREATE, USER))


def test_modify_is_all_or_nothing() -> None:
    obj = build({**aes(), A.SENSITIVE: False, A.EXTRACTABLE: True}, Origin.CREATE, USER)
    with pytest.raises(AttributeReadOnly):
        modify(obj, {A.LABEL: b"new", A.VALUE: bytes(16)}, USER, copy=False)
    assert obj[A.LABEL] == b""
    with pytest.raises(AttributeTypeInvalid):
        modify(obj, {0x636: b""}, USER, copy=False)
    with pytest.raises(TemplateInconsistent):
        modify(obj, {A.MODULUS: b"\x01"}, USER, copy=False)


def test_read_and_matches() -> None:
    obj = build({**aes(), A.LABEL: b"k1", A.ID: b"\x07"}, Origin.CREATE, USER)
    assert read(obj, A.DESTROYABLE) is True
    assert len(read(obj, A.UNIQUE_ID)) == 32
    for attr in (0x636, 0xCE536301, A.MODULUS):
        with pytest.raises(AttributeTypeInvalid):
            read(obj, attr)
    assert read(obj, A.ALWAYS_AUTHENTICATE) is False  # answered on secret keys for hosts that ask
    with pytest.raises(AttributeSensitive):
        read(obj, A.VALUE)
    assert matches(obj, {}) and matches(obj, {A.LABEL: b"k1", A.CLASS: O.SECRET_KEY})
    assert not matches(obj, {A.LABEL: b"k2"})
    assert not matches(obj, {A.VALUE: aes()[A.VALUE]})  # sensitive: never by value
    assert not matches(obj, {0xCE536301: b"\x01"})  # NSS vendor attribute: a clean miss
    open_key = build({**aes(), A.SENSITIVE: False, A.EXTRACTABLE: True}, Origin.CREATE, USER)
    assert matches(open_key, {A.VALUE: aes()[A.VALUE]})
    assert read(open_key, A.VALUE) == aes()[A.VALUE]
    assert index_of(obj) == (True, O.SECRET_KEY, KeyType.AES, b"k1", b"\x07")
    assert read(build(rsa_private_template(), Origin.CREATE, USER), A.ALWAYS_AUTHENTICATE) is False
