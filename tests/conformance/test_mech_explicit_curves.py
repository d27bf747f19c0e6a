"""CKA_EC_PARAMS as explicit ECParameters (X9.62 / RFC 3279; PKCS#11 3.0 CKF_EC_ECPARAMETERS) at
the C ABI: parameters whose values are a supported curve's are that curve (issue 15 item 5), for
key pair generation, import, ECDSA and ECDH; explicit parameters of another curve are
CKR_CURVE_NOT_SUPPORTED. P-192 end to end. The explicit encodings come from OpenSSL's command line
(``openssl ecparam -param_enc explicit``), the checks from pyca/cryptography."""

from __future__ import annotations

import functools
import shutil
import subprocess

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from support.constants import KDF, Attribute, KeyType, Mechanism, ObjectClass
from support.keys import (
    P192,
    P256,
    SECP256K1,
    der_octet_string,
    der_unwrap_octet_string,
    ec_key,
    ec_point,
    raw_to_der_ecdsa,
)
from support.legacy import create_or_rv, need
from support.mechanisms import ecdh
from support.pkcs11 import Module, ffi
from support.templates import Template
from support.token import Token

# OpenSSL's name of each curve, and cryptography's object
CURVES = {
    "prime192v1": ec.SECP192R1(),
    "secp224r1": ec.SECP224R1(),
    "prime256v1": ec.SECP256R1(),
    "secp384r1": ec.SECP384R1(),
    "secp521r1": ec.SECP521R1(),
    "secp256k1": ec.SECP256K1(),
    "brainpoolP256r1": ec.BrainpoolP256R1(),
    "brainpoolP512r1": ec.BrainpoolP512R1(),
}
MSG = b"explicit parameters name a curve"


@pytest.fixture
def t(module: Module) -> Token:
    return Token(module)


@functools.cache
def explicit(name: str, form: str = "uncompressed") -> bytes:
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is missing")
    cmd = [
        "openssl",
        "ecparam",
        "-name",
        name,
        "-param_enc",
        "explicit",
        "-conv_form",
        form,
        "-outform",
        "DER",
    ]
    return subprocess.run(cmd, capture_output=True, check=True, timeout=30).stdout


def generate(t: Token, params: bytes) -> tuple[int, int]:
    return t.generate_pair(
        Mechanism.EC_KEY_PAIR_GEN,
        {
            Attribute.KEY_TYPE: KeyType.EC,
            Attribute.EC_PARAMS: params,
            Attribute.TOKEN: False,
            Attribute.VERIFY: True,
        },
        {
            Attribute.KEY_TYPE: KeyType.EC,
            Attribute.TOKEN: False,
            Attribute.SIGN: True,
            Attribute.DERIVE: True,
        },
    )


def public_key(t: Token, pub: int, curve: ec.EllipticCurve) -> ec.EllipticCurvePublicKey:
    return ec.EllipticCurvePublicKey.from_encoded_point(
        curve, der_unwrap_octet_string(t.get(pub, Attribute.EC_POINT))
    )


@pytest.mark.parametrize("name", list(CURVES))
@pytest.mark.parametrize("form", ["uncompressed", "compressed"])
def test_generate_and_sign_with_explicit_parameters(t: Token, name: str, form: str) -> None:
    need(t, Mechanism.EC_KEY_PAIR_GEN, Mechanism.ECDSA)
    params = explicit(name, form)
    pub, priv = generate(t, params)
    assert t.get(pub, Attribute.EC_PARAMS) == params  # kept as the caller gave them
    key = public_key(t, pub, CURVES[name])  # the point lies on the named curve
    digest = hashes.Hash(hashes.SHA256())
    digest.update(MSG)
    d = digest.finalize()
    signature = t.sign(Mechanism.ECDSA, priv, d)
    from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

    key.verify(raw_to_der_ecdsa(signature), d, ec.ECDSA(Prehashed(hashes.SHA256())))
    assert t.verify(Mechanism.ECDSA, pub, d, signature) == "OK"


def test_import_with_explicit_parameters_and_ecdh(t: Token) -> None:
    """A key made by cryptography, imported with explicit P-256 parameters, agrees with a peer."""
    need(t, Mechanism.ECDH1_DERIVE)
    params = explicit("prime256v1")
    mine = ec_key(P256)
    value = mine.private_numbers().private_value.to_bytes(32, "big")
    rv, priv = create_or_rv(
        t,
        {
            Attribute.CLASS: ObjectClass.PRIVATE_KEY,
            Attribute.KEY_TYPE: KeyType.EC,
            Attribute.EC_PARAMS: params,
            Attribute.VALUE: value,
            Attribute.TOKEN: False,
            Attribute.DERIVE: True,
        },
    )
    assert rv == "OK"
    rv, _ = create_or_rv(
        t,
        {
            Attribute.CLASS: ObjectClass.PUBLIC_KEY,
            Attribute.KEY_TYPE: KeyType.EC,
            Attribute.EC_PARAMS: params,
            Attribute.EC_POINT: der_octet_string(ec_point(mine.public_key())),
            Attribute.TOKEN: False,
        },
    )
    assert rv == "OK"
    peer = ec.generate_private_key(ec.SECP256R1())
    template = {
        Attribute.CLASS: ObjectClass.SECRET_KEY,
        Attribute.KEY_TYPE: KeyType.GENERIC_SECRET,
        Attribute.TOKEN: False,
        Attribute.SENSITIVE: False,
        Attribute.EXTRACTABLE: True,
        Attribute.VALUE_LEN: 32,
    }
    shared = t.derive(ecdh(ec_point(peer.public_key()), KDF.NULL), priv, template)
    assert t.get(shared, Attribute.VALUE) == peer.exchange(ec.ECDH(), mine.public_key())


def test_explicit_parameters_of_another_curve(t: Token) -> None:
    """Well-formed explicit parameters that are no curve of ours (OpenSSL's secp160r1, and P-256
    with another b) are CKR_CURVE_NOT_SUPPORTED; bytes that are no ECParameters are invalid."""
    if t.softhsm2:
        pytest.skip("which curves a module offers is its choice (SoftHSMv2 takes any OpenSSL curve)")
    need(t, Mechanism.EC_KEY_PAIR_GEN)
    other = explicit("secp160r1")
    p256 = bytearray(explicit("prime256v1"))
    b_at = p256.find(bytes.fromhex("5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604b"))
    assert b_at > 0
    p256[b_at + 31] ^= 1  # another b: another curve
    for params, expected in (
        (other, "CURVE_NOT_SUPPORTED"),
        (bytes(p256), "CURVE_NOT_SUPPORTED"),
        (b"\x30\x03\x02\x01\x01", "DOMAIN_PARAMS_INVALID"),
    ):
        tp = Template(
            {
                Attribute.CLASS: ObjectClass.PUBLIC_KEY,
                Attribute.KEY_TYPE: KeyType.EC,
                Attribute.EC_PARAMS: params,
                Attribute.TOKEN: False,
            }
        )
        tq = Template(
            {Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.KEY_TYPE: KeyType.EC, Attribute.TOKEN: False}
        )
        hp, hq = ffi.new("CK_OBJECT_HANDLE *"), ffi.new("CK_OBJECT_HANDLE *")
        mm = t.m.ffi.new("CK_MECHANISM *", {"mechanism": Mechanism.EC_KEY_PAIR_GEN})
        assert t.rv("C_GenerateKeyPair", mm, tp.ptr, tp.count, tq.ptr, tq.count, hp, hq) == expected
        rv, _ = create_or_rv(
            t,
            {
                Attribute.CLASS: ObjectClass.PRIVATE_KEY,
                Attribute.KEY_TYPE: KeyType.EC,
                Attribute.EC_PARAMS: params,
                Attribute.VALUE: bytes(range(1, 21)),
                Attribute.TOKEN: False,
            },
        )
        assert rv in (expected, "ATTRIBUTE_VALUE_INVALID")


@pytest.mark.parametrize("params", [P192, SECP256K1], ids=["P-192", "secp256k1"])
def test_named_curve_sign_and_verify(t: Token, params: bytes) -> None:
    """P-192 (and secp256k1) end to end: ECDSA_SHA256 verifies with cryptography."""
    need(t, Mechanism.EC_KEY_PAIR_GEN, 0x1044)  # CKM_ECDSA_SHA256
    pub, priv = generate(t, params)
    curve = ec.SECP192R1() if params == P192 else ec.SECP256K1()
    signature = t.sign(0x1044, priv, MSG)
    public_key(t, pub, curve).verify(raw_to_der_ecdsa(signature), MSG, ec.ECDSA(hashes.SHA256()))


@pytest.mark.parametrize("mechanism", [Mechanism.EC_KEY_PAIR_GEN, Mechanism.ECDSA, Mechanism.ECDH1_DERIVE])
def test_ecparameters_flag(t: Token, mechanism: int) -> None:
    need(t, mechanism)
    if t.softhsm2:
        pytest.skip("SoftHSMv2 does not announce CKF_EC_ECPARAMETERS")
    assert int(t.mechanism_info(mechanism).flags) & 0x400000  # CKF_EC_ECPARAMETERS
