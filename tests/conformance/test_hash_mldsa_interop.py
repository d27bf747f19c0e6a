"""HashML-DSA (FIPS 204, 5.4) against an independent implementation: pyca/cryptography has no
HashML-DSA, so the pure-Python dilithium-py is the other side. Its signatures, made with the
expanded private key the token reports (CKA_VALUE), verify here; ours verify there, with a
context. Pure ML-DSA is checked the same way (cryptography is its first oracle, test_pqc.py)."""

from __future__ import annotations

import pytest

from support.constants import Attribute, Mechanism, MLDSAParameterSet
from support.mechanisms import sign_context
from support.pkcs11 import Module
from support.token import Token

pytestmark = pytest.mark.slow  # dilithium-py is pure Python: a second or more per parameter set

dilithium = pytest.importorskip(
    "dilithium_py.ml_dsa", reason="dilithium-py is missing (pip install dilithium-py)"
)

A, M = Attribute, Mechanism
SETS = {
    MLDSAParameterSet.ML_DSA_44: (dilithium.ML_DSA_44, dilithium.HASH_ML_DSA_44_WITH_SHA512),
    MLDSAParameterSet.ML_DSA_65: (dilithium.ML_DSA_65, dilithium.HASH_ML_DSA_65_WITH_SHA512),
    MLDSAParameterSet.ML_DSA_87: (dilithium.ML_DSA_87, dilithium.HASH_ML_DSA_87_WITH_SHA512),
}
# the pre-hashes dilithium-py has: its name -> our CKM_HASH_ML_DSA_<hash>
PREHASHES = {
    "SHA256": M.HASH_ML_DSA_SHA256,
    "SHA512": M.HASH_ML_DSA_SHA512,
    "SHAKE128": M.HASH_ML_DSA_SHAKE128,
}
DATA = b"pre-hashed, then signed: FIPS 204 Algorithm 4"
CTX = b"interop"


@pytest.fixture
def t(module: Module) -> Token:
    module.require_3_2()
    return Token(module)


@pytest.mark.parametrize("ps", list(SETS), ids=lambda p: p.name)
def test_hash_mldsa_both_ways(t: Token, ps: MLDSAParameterSet) -> None:
    pure, hashed = SETS[ps]
    pub, priv = t.generate_pair(
        M.ML_DSA_KEY_PAIR_GEN,
        {A.TOKEN: False, A.PARAMETER_SET: ps},
        {A.TOKEN: False, A.SENSITIVE: False, A.EXTRACTABLE: True},
    )
    pk, sk = t.get(pub, A.VALUE), t.get(priv, A.VALUE)
    for name, mech in PREHASHES.items():
        ours = t.sign(sign_context(mech, CTX), priv, DATA)
        assert hashed._verify_with_pre_hash(pk, DATA, ours, name, CTX), name
        assert not hashed._verify_with_pre_hash(pk, DATA, ours, name, b"other"), name
        theirs = hashed._sign_with_pre_hash(sk, DATA, name, CTX)
        assert t.verify(sign_context(mech, CTX), pub, DATA, theirs) == "OK", name
        assert t.verify(sign_context(mech, b""), pub, DATA, theirs) == "SIGNATURE_INVALID", name
    # pure ML-DSA, with the same expanded key
    ours = t.sign(sign_context(M.ML_DSA, CTX), priv, DATA)
    assert pure.verify(pk, DATA, ours, CTX)
    assert t.verify(sign_context(M.ML_DSA, CTX), pub, DATA, pure.sign(sk, DATA, CTX)) == "OK"
