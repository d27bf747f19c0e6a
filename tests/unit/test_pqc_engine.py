"""The engine's own parts of PKCS#11 3.2 and the message functions, in-process: the expanded
ML-KEM / ML-DSA keys against NIST's answers, HashML-DSA's mu, the IV generators of the
message-based AEADs, and the encoding of a saved operation's parameter."""

from __future__ import annotations

import hashlib

import pytest

from softhsm_py import errors
from softhsm_py.core import opstate
from softhsm_py.engine import lattice, mldsa
from softhsm_py.mechanisms import params
from softhsm_py.mechanisms.message import IvSource
from support.vectors import external, h, kat_records

KEM_SETS = {"512": (2, 3), "768": (3, 2), "1024": (4, 2)}
DSA_SETS = {"44": (4, 4, 2), "65": (6, 5, 4), "87": (8, 7, 2)}


@pytest.mark.parametrize("name", list(KEM_SETS))
def test_mlkem_expansion_is_fips_203(name: str) -> None:
    k, eta1 = KEM_SETS[name]
    for v in kat_records(external(f"asymmetric/MLKEM/kat_MLKEM_{name}.rsp"), 20):
        ek, dk = lattice.mlkem_expand(h(v["d"]) + h(v["z"]), k, eta1)
        assert (ek, dk) == (h(v["pk"]), h(v["sk"]))


@pytest.mark.parametrize("name", list(DSA_SETS))
def test_mldsa_expansion_is_fips_204(name: str) -> None:
    k, l, eta = DSA_SETS[name]  # noqa: E741
    for v in kat_records(external(f"asymmetric/MLDSA/kat_MLDSA_{name}_det_pure.rsp"), 10):
        pk, sk = lattice.mldsa_expand(h(v["xi"]), k, l, eta)
        assert (pk, sk) == (h(v["pk"]), h(v["sk"]))


def test_hash_mldsa_mu_is_fips_204_algorithm_4() -> None:
    """mu = SHAKE256(SHAKE256(pk, 64) || 1 || |ctx| || ctx || OID || PH(M), 64), written out."""
    public = bytes(range(256)) * 6
    digest = hashlib.sha256(b"m").digest()
    sha256_oid = bytes.fromhex("0609608648016503040201")
    tr = hashlib.shake_256(public).digest(64)
    want = hashlib.shake_256(tr + b"\x01\x03abc" + sha256_oid + digest).digest(64)
    assert mldsa.prehash_mu(public, "sha256", digest, b"abc") == want
    with pytest.raises(errors.DataLenRange):
        mldsa.prehash_mu(public, "sha256", digest[:-1], b"")
    with pytest.raises(errors.MechanismParamInvalid):
        mldsa.prehash_mu(public, "sha256", digest, b"x" * 256)


def test_iv_generators() -> None:
    source = IvSource()
    given = bytes.fromhex("aabbccdd") + bytes(8)
    assert source.next(given, 32, 0) == (given, False)  # CKG_NO_GENERATE: the caller's IV
    first, made = source.next(given, 32, 2)  # CKG_GENERATE_COUNTER
    assert made and first == given[:4] + bytes(8)
    assert source.next(given, 32, 2)[0] == given[:4] + (1).to_bytes(8, "big")
    assert source.next(given, 32, 4)[0] == given[:4] + (2).to_bytes(8, "big")  # XOR with 0s
    random_iv, _ = source.next(given, 32, 3)
    assert random_iv[:4] == given[:4]
    for bad in ((given, 96 - 31, 1), (given, 0, 9), (given, -1, 1)):
        with pytest.raises(errors.MechanismParamInvalid):
            source.next(*bad)
    small = IvSource()
    four_bytes = bytes(4)
    for i in range(3):
        assert small.next(four_bytes, 0, 2)[0] == i.to_bytes(4, "big")
    small._counter = 1 << 32
    with pytest.raises(errors.KeyExhausted):
        small.next(four_bytes, 0, 2)


@pytest.mark.parametrize(
    "value",
    [None, b"\x00\x01", 7, params.PssParams(0x250, 2, 32), params.SignContextParams(0, b"ctx")],
    ids=["none", "bytes", "int", "pss", "context"],
)
def test_saved_parameter_round_trip(value: object) -> None:
    assert opstate._decode(opstate._encode(value)) == value


def test_saved_parameter_refuses_other_classes() -> None:
    with pytest.raises(errors.SavedStateInvalid):
        opstate._decode({"t": "Path", "f": {}})
    with pytest.raises(errors.SavedStateInvalid):
        opstate._decode({"x": 1})
    with pytest.raises(errors.StateUnsaveable):
        opstate._encode(object())
