"""At-rest primitives: softhsm_py.engine.sealing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from softhsm_py.engine import sealing

KEY = bytes(range(32))
SALT = b"s" * 16


def test_random_key_is_32_fresh_bytes():
    a, b = sealing.random_key(), sealing.random_key()
    assert len(a) == len(b) == 32
    assert a != b


@settings(max_examples=50, deadline=None)
@given(plaintext=st.binary(max_size=2048), aad=st.binary(max_size=64))
def test_seal_round_trip(plaintext, aad):
    blob = sealing.seal(KEY, plaintext, aad)
    assert len(blob) == 12 + len(plaintext) + 16
    assert sealing.unseal(KEY, blob, aad) == plaintext


def test_seal_uses_a_fresh_nonce():
    assert sealing.seal(KEY, b"x", b"") != sealing.seal(KEY, b"x", b"")


@pytest.mark.parametrize(
    "change",
    [
        lambda key, blob, aad: (sealing.random_key(), blob, aad),
        lambda key, blob, aad: (key, blob, aad + b"!"),
        lambda key, blob, aad: (key, blob[:-1] + bytes([blob[-1] ^ 1]), aad),
        lambda key, blob, aad: (key, bytes([blob[0] ^ 1]) + blob[1:], aad),
        lambda key, blob, aad: (key, blob[:20], aad),
        lambda key, blob, aad: (key, b"", aad),
    ],
    ids=["wrong-key", "wrong-aad", "flipped-tag", "flipped-nonce", "truncated", "empty"],
)
def test_unseal_refuses_anything_altered(change):
    blob = sealing.seal(KEY, b"secret payload", b"aad")
    with pytest.raises(sealing.SealBroken) as info:
        sealing.unseal(*change(KEY, blob, b"aad"))
    # The exception carries nothing but a fixed text: no key, no plaintext, no cause chain.
    assert KEY.hex() not in str(info.value) and "secret" not in str(info.value)
    assert info.value.__cause__ is None


def test_keys_must_be_32_bytes_and_errors_do_not_echo_them():
    short = b"K" * 31
    with pytest.raises(ValueError) as info:
        sealing.seal(short, b"", b"")
    assert "KKKK" not in str(info.value)
    with pytest.raises(ValueError):
        sealing.index_mac(b"", b"v")


def test_derive_kek_is_deterministic_and_depends_on_every_input():
    k = sealing.derive_kek(b"1234", SALT, 10)
    assert len(k) == 32
    assert k == sealing.derive_kek(b"1234", SALT, 10)
    assert k != sealing.derive_kek(b"1235", SALT, 10)
    assert k != sealing.derive_kek(b"1234", b"t" * 16, 10)
    assert k != sealing.derive_kek(b"1234", SALT, 11)


def test_derive_kek_matches_hashlib_scrypt():
    import hashlib

    expected = hashlib.scrypt(b"pin", salt=SALT, n=2**10, r=8, p=1, dklen=32)
    assert sealing.derive_kek(b"pin", SALT, 10) == expected


@pytest.mark.parametrize("cost", [0, 23, "15"])
def test_derive_kek_refuses_bad_cost(cost):
    with pytest.raises(ValueError):
        sealing.derive_kek(b"pin", SALT, cost)


def test_derive_kek_refuses_short_salt():
    with pytest.raises(ValueError):
        sealing.derive_kek(b"pin", b"short", 10)


def test_index_mac_is_truncated_hmac_sha256():
    import hashlib
    import hmac

    assert sealing.index_mac(KEY, b"label") == hmac.new(KEY, b"label", hashlib.sha256).digest()[:16]
    assert sealing.index_mac(KEY, b"label") != sealing.index_mac(KEY, b"label2")


def test_subkey_is_hkdf_and_separates_purposes():
    a = sealing.subkey(KEY, b"a")
    assert len(a) == 32
    assert a == sealing.subkey(KEY, b"a")
    assert a != sealing.subkey(KEY, b"b")
    assert a != KEY
