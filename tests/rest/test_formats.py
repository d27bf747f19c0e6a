"""Byte formats between the TSB wire and PKCS#11, checked against pyca/cryptography."""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from hypothesis import given
from hypothesis import strategies as st

from softhsm_py.rest import formats


@given(st.integers(1, 2**256 - 1), st.integers(1, 2**256 - 1))
def test_raw_der_round_trip_matches_cryptography(r: int, s: int) -> None:
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    der = formats.raw_to_der(raw)
    assert der == utils.encode_dss_signature(r, s)
    assert formats.der_to_raw(der, 32) == raw
    assert formats.signature_to_raw(der, 32) == raw


def test_p256_signature_verifies_after_conversion() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    der = key.sign(b"payload", ec.ECDSA(hashes.SHA256()))
    raw = formats.der_to_raw(der, 32)
    assert len(raw) == 64
    key.public_key().verify(formats.raw_to_der(raw), b"payload", ec.ECDSA(hashes.SHA256()))


@pytest.mark.parametrize(
    "bad",
    [
        b"",
        b"\x30",
        b"\x30\x03\x02\x01\x01",
        b"\x30\x06\x02\x01\x01\x02\x01\x01\x00",
        b"\x31\x06\x02\x01\x01\x02\x01\x01",
        b"\x30\x06\x02\x01\x81\x02\x01\x01",
        b"\x30\x07\x02\x02\x00\x01\x02\x01\x01",
    ],
)
def test_malformed_der_is_refused(bad: bytes) -> None:
    with pytest.raises(formats.DerError):
        formats.der_to_raw(bad, 32)


def test_signature_to_raw_takes_raw_of_the_right_length_only() -> None:
    raw = os.urandom(64)
    assert formats.signature_to_raw(raw, 32) == raw or raw[0] == 0x30
    assert formats.signature_to_raw(os.urandom(63)[:63] + b"\x00", 48) is None
    # an integer longer than the order is not a signature for that key
    big = formats.raw_to_der(b"\xff" * 48 + b"\x01" * 48)
    assert formats.signature_to_raw(big, 32) is None


@pytest.mark.parametrize(
    ("dotted", "der_hex"),
    [
        ("1.2.840.10045.3.1.7", "06082a8648ce3d030107"),
        ("1.3.132.0.10", "06052b8104000a"),
        ("1.3.101.112", "06032b6570"),
        ("1.3.36.3.3.2.8.1.1.7", "06092b2403030208010107"),
        ("2.999.3", "0603883703"),
    ],
)
def test_oid_encoding(dotted: str, der_hex: str) -> None:
    assert formats.oid_to_der(dotted).hex() == der_hex
    assert formats.der_to_oid(bytes.fromhex(der_hex)) == dotted


@pytest.mark.parametrize("bad", ["", "1", "1.2.x", "3.1", "1.40", "1.02.3", "1..2"])
def test_bad_oids(bad: str) -> None:
    with pytest.raises(ValueError):
        formats.oid_to_der(bad)


@pytest.mark.parametrize(
    ("name", "algorithm"),
    [
        ("sha1", hashes.SHA1()),
        ("sha224", hashes.SHA224()),
        ("sha256", hashes.SHA256()),
        ("sha384", hashes.SHA384()),
        ("sha512", hashes.SHA512()),
    ],
)
def test_digest_info_is_what_pkcs1_v15_signs(name: str, algorithm: hashes.HashAlgorithm) -> None:
    key = rsa.generate_private_key(65537, 2048)
    digest = hashes.Hash(algorithm)
    digest.update(b"message")
    d = digest.finalize()
    signature = key.sign(d, padding.PKCS1v15(), utils.Prehashed(algorithm))
    recovered = key.public_key().recover_data_from_signature(signature, padding.PKCS1v15(), None)
    assert recovered == formats.digest_info(name, d)
    with pytest.raises(ValueError):
        formats.digest_info(name, d[:-1])


def test_left_pad_and_split_tag() -> None:
    assert formats.left_pad(b"\x01", 4) == b"\x00\x00\x00\x01"
    assert formats.left_pad(b"\x01\x02", 2) == b"\x01\x02"
    assert formats.split_tag(b"abcdef", 2) == (b"abcd", b"ef")
    with pytest.raises(ValueError):
        formats.split_tag(b"a", 2)
