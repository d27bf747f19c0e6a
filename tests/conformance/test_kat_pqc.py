"""NIST's known answers for ML-KEM (FIPS 203) and ML-DSA (FIPS 204), from the cryptography_vectors
package, through the C ABI: keys made from the vectors' seeds must have the vectors' public keys
and expanded private keys; a decapsulation must give the vectors' shared secret; the vectors'
signatures must verify (and fail once altered). Encapsulation and signing are randomised in
pyca/cryptography (no deterministic entry point): they are checked by round trips elsewhere
(test_pqc.py). The fast tier runs the first records of each file, the slow tier all of them."""

from __future__ import annotations

from typing import Any

import pytest

from support.constants import Attribute, KeyType, Mechanism, MLDSAParameterSet, MLKEMParameterSet, ObjectClass
from support.mechanisms import Mech, sign_context
from support.pkcs11 import Module, ffi
from support.templates import Template
from support.token import Token
from support.vectors import external, h, kat_records

A, M = Attribute, Mechanism
OPEN = {A.TOKEN: False, A.SENSITIVE: False, A.EXTRACTABLE: True}
KEM = {"768": MLKEMParameterSet.ML_KEM_768, "1024": MLKEMParameterSet.ML_KEM_1024}
DSA = {
    "44": (MLDSAParameterSet.ML_DSA_44, 2420),
    "65": (MLDSAParameterSet.ML_DSA_65, 3309),
    "87": (MLDSAParameterSet.ML_DSA_87, 4627),
}


@pytest.fixture
def t(module: Module) -> Token:
    module.require_3_2()
    return Token(module)


def _tiers(limit_fast: int, limit_slow: int | None) -> list[Any]:
    return [
        pytest.param(limit_fast, id="first"),
        pytest.param(limit_slow, id="all", marks=pytest.mark.slow),
    ]


def _public(key_type: int, ps: int, value: bytes) -> dict[int, Any]:
    return {
        A.CLASS: ObjectClass.PUBLIC_KEY,
        A.KEY_TYPE: key_type,
        A.PARAMETER_SET: ps,
        A.VALUE: value,
        A.TOKEN: False,
    }


def _private(key_type: int, ps: int, seed: bytes) -> dict[int, Any]:
    return {A.CLASS: ObjectClass.PRIVATE_KEY, A.KEY_TYPE: key_type, A.PARAMETER_SET: ps, A.SEED: seed, **OPEN}


def _kem_case(t: Token, ps: int, v: dict[str, str]) -> None:
    seed = h(v["d"]) + h(v["z"])
    pub = t.create(_public(KeyType.ML_KEM, ps, h(v["pk"])))
    priv = t.create(_private(KeyType.ML_KEM, ps, seed))
    assert t.get(priv, A.VALUE) == h(v["sk"]), "dk of the seed d || z"
    assert t.get(priv, A.PUBLIC_KEY_INFO) == t.get(pub, A.PUBLIC_KEY_INFO), "ek of the seed"
    secret = t.decapsulate(Mech(M.ML_KEM), priv, h(v["ct"]), {A.EXTRACTABLE: True})
    assert t.get(secret, A.VALUE) == h(v["ss"])
    if "ct_n" in v:  # a modified ciphertext: implicit rejection's answer
        rejected = t.decapsulate(Mech(M.ML_KEM), priv, h(v["ct_n"]), {A.EXTRACTABLE: True})
        assert t.get(rejected, A.VALUE) == h(v["ss_n"])
    for handle in (pub, priv, secret):
        t.ok("C_DestroyObject", handle)


@pytest.mark.parametrize("limit", _tiers(3, None))
@pytest.mark.parametrize("name", list(KEM))
def test_mlkem_kat(t: Token, name: str, limit: int) -> None:
    for v in kat_records(external(f"asymmetric/MLKEM/kat_MLKEM_{name}.rsp"), limit):
        _kem_case(t, KEM[name], v)


def test_mlkem_512_kat_is_refused(t: Token) -> None:
    """pyca/cryptography has no ML-KEM-512: its key is CKR_PARAMETER_SET_NOT_SUPPORTED."""
    (v,) = kat_records(external("asymmetric/MLKEM/kat_MLKEM_512.rsp"), 1)
    attrs = {A.CLASS: ObjectClass.PUBLIC_KEY, A.KEY_TYPE: KeyType.ML_KEM, A.VALUE: h(v["pk"]), A.TOKEN: False,
             A.PARAMETER_SET: MLKEMParameterSet.ML_KEM_512}  # fmt: skip

    tmpl = Template(attrs)
    assert (
        t.rv("C_CreateObject", tmpl.ptr, tmpl.count, ffi.new("CK_OBJECT_HANDLE *"))
        == "PARAMETER_SET_NOT_SUPPORTED"
    )


def _dsa_case(t: Token, ps: int, sig_len: int, v: dict[str, str]) -> None:
    pub = t.create(_public(KeyType.ML_DSA, ps, h(v["pk"])))
    priv = t.create(_private(KeyType.ML_DSA, ps, h(v["xi"])))
    assert t.get(priv, A.VALUE) == h(v["sk"]), "sk of the seed xi"
    assert t.get(priv, A.PUBLIC_KEY_INFO) == t.get(pub, A.PUBLIC_KEY_INFO), "pk of the seed"
    msg, ctx = h(v["msg"]), h(v.get("ctx", ""))
    signature = h(v["sm"])[:sig_len]
    assert h(v["sm"])[sig_len:] == msg
    assert t.verify(sign_context(M.ML_DSA, ctx), pub, msg, signature) == "OK"
    altered = bytes([signature[0] ^ 1]) + signature[1:]
    assert t.verify(sign_context(M.ML_DSA, ctx), pub, msg, altered) == "SIGNATURE_INVALID"
    # a (hedged) signature of the vector's key verifies under the vector's public key
    assert (
        t.verify(sign_context(M.ML_DSA, ctx), pub, msg, t.sign(sign_context(M.ML_DSA, ctx), priv, msg))
        == "OK"
    )
    for handle in (pub, priv):
        t.ok("C_DestroyObject", handle)


@pytest.mark.parametrize("limit", _tiers(3, None))
@pytest.mark.parametrize("name", list(DSA))
def test_mldsa_kat(t: Token, name: str, limit: int) -> None:
    ps, sig_len = DSA[name]
    for v in kat_records(external(f"asymmetric/MLDSA/kat_MLDSA_{name}_det_pure.rsp"), limit):
        _dsa_case(t, ps, sig_len, v)
