"""ML-DSA and ML-KEM (PKCS#11 3.2, FIPS 204 / 203) through the C ABI, checked against
pyca/cryptography both ways: its keys imported and used here, ours exported and used there.
(OpenSSL 3.5+ would be a second independent side; the machine's OpenSSL is 3.0, which has
neither algorithm: pyca/cryptography's own OpenSSL is the one side.) The known answers of NIST's
vectors are in tests/vectors/test_kat_pqc.py. SoftHSMv2 2.6.1 has neither: skipped there."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import mldsa, mlkem

from support.constants import (
    Attribute,
    HedgeType,
    KeyType,
    Mechanism,
    MLDSAParameterSet,
    MLKEMParameterSet,
    ObjectClass,
)
from support.mechanisms import Mech, hash_sign_context, sign_context
from support.pkcs11 import Module, ffi
from support.templates import Template, cbytes
from support.token import Token

A, M = Attribute, Mechanism
DSA_SETS = {
    MLDSAParameterSet.ML_DSA_44: (mldsa.MLDSA44PrivateKey, mldsa.MLDSA44PublicKey, 2420),
    MLDSAParameterSet.ML_DSA_65: (mldsa.MLDSA65PrivateKey, mldsa.MLDSA65PublicKey, 3309),
    MLDSAParameterSet.ML_DSA_87: (mldsa.MLDSA87PrivateKey, mldsa.MLDSA87PublicKey, 4627),
}
KEM_SETS = {
    MLKEMParameterSet.ML_KEM_768: (mlkem.MLKEM768PrivateKey, mlkem.MLKEM768PublicKey, 1088),
    MLKEMParameterSet.ML_KEM_1024: (mlkem.MLKEM1024PrivateKey, mlkem.MLKEM1024PublicKey, 1568),
}
SESSION = {A.TOKEN: False}


@pytest.fixture
def t(module: Module) -> Token:
    module.require_3_2()
    return Token(module)


def raw_public(key: Any) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def dsa_pair(
    t: Token, ps: int = MLDSAParameterSet.ML_DSA_44, priv: dict[int, Any] | None = None
) -> tuple[int, int]:
    return t.generate_pair(
        M.ML_DSA_KEY_PAIR_GEN, {**SESSION, A.PARAMETER_SET: ps}, {**SESSION, **(priv or {})}
    )


def kem_pair(
    t: Token, ps: int = MLKEMParameterSet.ML_KEM_768, priv: dict[int, Any] | None = None
) -> tuple[int, int]:
    return t.generate_pair(
        M.ML_KEM_KEY_PAIR_GEN, {**SESSION, A.PARAMETER_SET: ps}, {**SESSION, **(priv or {})}
    )


def import_dsa_public(t: Token, ps: int, key: Any) -> int:
    return t.create(
        {A.CLASS: ObjectClass.PUBLIC_KEY, A.KEY_TYPE: KeyType.ML_DSA, A.PARAMETER_SET: ps,
         A.VALUE: raw_public(key), **SESSION}
    )  # fmt: skip


def import_private(t: Token, key_type: int, ps: int, seed: bytes, extra: dict[int, Any] | None = None) -> int:
    return t.create(
        {A.CLASS: ObjectClass.PRIVATE_KEY, A.KEY_TYPE: key_type, A.PARAMETER_SET: ps, A.SEED: seed,
         **SESSION, **(extra or {})}
    )  # fmt: skip


# ------------------------------------------------------------------------------- ML-DSA
@pytest.mark.parametrize("ps", list(DSA_SETS), ids=lambda p: p.name)
def test_mldsa_generate_sign_verify_with_pyca(t: Token, ps: MLDSAParameterSet) -> None:
    """Our signature verifies under cryptography's view of our public key, and cryptography's
    signature with our key's seed twin verifies here: interoperability both ways."""
    priv_cls, pub_cls, sig_len = DSA_SETS[ps]
    pub, priv = dsa_pair(t, ps)
    assert t.get_ulong(priv, A.PARAMETER_SET) == ps
    assert t.get_ulong(priv, A.KEY_GEN_MECHANISM) == M.ML_DSA_KEY_PAIR_GEN
    ours = pub_cls.from_public_bytes(t.get(pub, A.VALUE))
    spki = t.get(pub, A.PUBLIC_KEY_INFO)
    assert ours == serialization.load_der_public_key(spki)

    data = b"signed with ML-DSA through PKCS#11"
    sig = t.sign(M.ML_DSA, priv, data)
    assert len(sig) == sig_len
    ours.verify(sig, data)  # raises InvalidSignature otherwise
    assert t.verify(M.ML_DSA, pub, data, sig) == "OK"
    assert t.verify(M.ML_DSA, pub, data + b"!", sig) == "SIGNATURE_INVALID"
    assert t.verify(M.ML_DSA, pub, data, sig[:-1]) == "SIGNATURE_LEN_RANGE"

    theirs = priv_cls.generate()
    their_pub = import_dsa_public(t, ps, theirs.public_key())
    assert t.verify(M.ML_DSA, their_pub, data, theirs.sign(data)) == "OK"
    assert t.verify(sign_context(M.ML_DSA, b"ctx"), their_pub, data, theirs.sign(data, b"ctx")) == "OK"
    assert t.verify(M.ML_DSA, their_pub, data, theirs.sign(data, b"ctx")) == "SIGNATURE_INVALID"


def test_mldsa_context_and_multipart(t: Token) -> None:
    """A context binds the signature (FIPS 204 ctx); multi-part signing (mu hashed in parts) gives
    the same kind of signature as single-part, under either call sequence."""
    pub, priv = dsa_pair(t)
    key = mldsa.MLDSA44PublicKey.from_public_bytes(t.get(pub, A.VALUE))
    data = bytes(range(256)) * 3
    with_ctx = t.sign(sign_context(M.ML_DSA, b"app/v1"), priv, data)
    key.verify(with_ctx, data, b"app/v1")
    assert t.verify(sign_context(M.ML_DSA, b"app/v2"), pub, data, with_ctx) == "SIGNATURE_INVALID"
    parts = t.sign_parts(sign_context(M.ML_DSA, b"app/v1"), priv, [data[:100], data[100:101], data[101:]])
    key.verify(parts, data, b"app/v1")
    assert t.verify_parts(sign_context(M.ML_DSA, b"app/v1"), pub, [data[:7], data[7:]], with_ctx) == "OK"
    # hedged on request; 255 bytes of context is the most FIPS 204 allows
    t.sign(sign_context(M.ML_DSA, b"x" * 255, HedgeType.HEDGE_REQUIRED), priv, data)


@pytest.mark.parametrize(
    ("param", "why"),
    [
        (lambda: sign_context(M.ML_DSA, b"", HedgeType.DETERMINISTIC_REQUIRED), "deterministic: not offered"),
        (lambda: sign_context(M.ML_DSA, b"x" * 256), "context over 255 bytes"),
        (lambda: sign_context(M.ML_DSA, b"", 7), "no such hedge variant"),
        (lambda: Mech(M.ML_DSA, b"\x00" * 5), "a parameter of the wrong size"),
    ],
    ids=["deterministic", "long-context", "bad-hedge", "bad-size"],
)
def test_mldsa_parameters_refused(t: Token, param: Any, why: str) -> None:
    _, priv = dsa_pair(t)
    assert t.rv("C_SignInit", param().ptr, priv) == "MECHANISM_PARAM_INVALID", why


def test_mldsa_verify_ignores_hedge(t: Token) -> None:
    """3.2: "On verification the hedgeVariant parameter is ignored"."""
    pub, priv = dsa_pair(t)
    sig = t.sign(M.ML_DSA, priv, b"data")
    assert t.verify(sign_context(M.ML_DSA, b"", HedgeType.DETERMINISTIC_REQUIRED), pub, b"data", sig) == "OK"


HASHED = {
    M.HASH_ML_DSA_SHA224: "sha224", M.HASH_ML_DSA_SHA256: "sha256", M.HASH_ML_DSA_SHA384: "sha384",
    M.HASH_ML_DSA_SHA512: "sha512", M.HASH_ML_DSA_SHA3_224: "sha3_224", M.HASH_ML_DSA_SHA3_256: "sha3_256",
    M.HASH_ML_DSA_SHA3_384: "sha3_384", M.HASH_ML_DSA_SHA3_512: "sha3_512",
}  # fmt: skip
DIGESTS = {
    "sha224": M.SHA224, "sha256": M.SHA256, "sha384": M.SHA384, "sha512": M.SHA512,
    "sha3_224": M.SHA3_224, "sha3_256": M.SHA3_256, "sha3_384": M.SHA3_384, "sha3_512": M.SHA3_512,
}  # fmt: skip


@pytest.mark.parametrize("mech", list(HASHED), ids=lambda m: m.name)
def test_hash_mldsa_with_hashing_equals_over_digest(t: Token, mech: Mechanism) -> None:
    """CKM_HASH_ML_DSA_<hash> over M and CKM_HASH_ML_DSA over PH(M) are one scheme (FIPS 204
    5.4): each verifies the other's signature; a pure ML-DSA verification does not."""
    pub, priv = dsa_pair(t)
    name, data = HASHED[mech], b"pre-hashed ML-DSA" * 10
    digest = hashlib.new(name, data).digest()
    over_digest = hash_sign_context(DIGESTS[name], b"c")
    sig = t.sign_parts(sign_context(mech, b"c"), priv, [data[:9], data[9:]])
    assert t.verify(over_digest, pub, digest, sig) == "OK"
    sig2 = t.sign(hash_sign_context(DIGESTS[name], b"c"), priv, digest)
    assert t.verify(sign_context(mech, b"c"), pub, data, sig2) == "OK"
    assert t.verify(sign_context(mech, b"d"), pub, data, sig2) == "SIGNATURE_INVALID"
    assert t.verify(M.ML_DSA, pub, data, sig2) == "SIGNATURE_INVALID"


def test_hash_mldsa_shake(t: Token) -> None:
    pub, priv = dsa_pair(t)
    for mech in (M.HASH_ML_DSA_SHAKE128, M.HASH_ML_DSA_SHAKE256):
        sig = t.sign(mech, priv, b"shake")
        assert t.verify_parts(mech, pub, [b"sha", b"ke"], sig) == "OK"
        assert t.verify(mech, pub, b"shakE", sig) == "SIGNATURE_INVALID"


def test_hash_mldsa_checks_its_digest(t: Token) -> None:
    _, priv = dsa_pair(t)
    assert t.rv("C_SignInit", Mech(M.HASH_ML_DSA).ptr, priv) == "MECHANISM_PARAM_INVALID"  # param needed
    sha1 = hash_sign_context(M.SHA_1)
    assert t.rv("C_SignInit", sha1.ptr, priv) == "MECHANISM_PARAM_INVALID"  # no HashML-DSA pre-hash
    t.ok("C_SignInit", hash_sign_context(M.SHA256).ptr, priv)
    n, out = ffi.new("CK_ULONG *", 4096), ffi.new("CK_BYTE[4096]")
    assert t.rv("C_Sign", cbytes(b"short"), 5, out, n) == "DATA_LEN_RANGE"  # not a SHA-256 digest
    t.ok("C_SignInit", hash_sign_context(M.SHA256).ptr, priv)
    assert t.rv("C_SignUpdate", cbytes(b"x"), 1) == "OPERATION_NOT_INITIALIZED"  # single-part only


def test_mldsa_keys_refuse_other_uses(t: Token) -> None:
    pub, priv = dsa_pair(t)
    assert t.rv("C_SignInit", Mech(M.ECDSA).ptr, priv) == "KEY_TYPE_INCONSISTENT"
    assert t.rv("C_SignInit", Mech(M.ML_DSA).ptr, pub) == "KEY_FUNCTION_NOT_PERMITTED"
    assert t.rv("C_EncryptInit", Mech(M.ML_DSA).ptr, pub) == "MECHANISM_INVALID"
    _, no_sign = dsa_pair(t, priv={A.SIGN: False})
    assert t.rv("C_SignInit", Mech(M.ML_DSA).ptr, no_sign) == "KEY_FUNCTION_NOT_PERMITTED"


def test_mldsa_import_seed_expanded_and_refusals(t: Token) -> None:
    """C_CreateObject: the seed alone makes the key (its expanded sk computed, readable when the
    key is extractable and not sensitive); the expanded form alone is refused (the spec lets a
    token do so); with both, they must belong together."""
    theirs = mldsa.MLDSA65PrivateKey.generate()
    seed, ps = theirs.private_bytes_raw(), MLDSAParameterSet.ML_DSA_65
    priv = import_private(t, KeyType.ML_DSA, ps, seed, {A.SENSITIVE: False, A.EXTRACTABLE: True})
    expanded = t.get(priv, A.VALUE)
    assert len(expanded) == 4032 and t.get(priv, A.SEED) == seed
    assert t.get_bool(priv, A.LOCAL) is False and t.get_bool(priv, A.ALWAYS_SENSITIVE) is False
    pub = import_dsa_public(t, ps, theirs.public_key())
    assert t.get(priv, A.PUBLIC_KEY_INFO) == t.get(pub, A.PUBLIC_KEY_INFO)
    sig = t.sign(M.ML_DSA, priv, b"x")
    theirs.public_key().verify(sig, b"x")
    # both forms, consistent: fine; inconsistent: refused
    import_private(t, KeyType.ML_DSA, ps, seed, {A.VALUE: expanded})
    bad = bytes([expanded[0] ^ 1]) + expanded[1:]
    template = {A.CLASS: ObjectClass.PRIVATE_KEY, A.KEY_TYPE: KeyType.ML_DSA, A.PARAMETER_SET: ps, **SESSION}
    assert t.rv("C_CreateObject", *_t({**template, A.SEED: seed, A.VALUE: bad})) == "ATTRIBUTE_VALUE_INVALID"
    assert t.rv("C_CreateObject", *_t({**template, A.VALUE: expanded})) == "TEMPLATE_INCOMPLETE"
    assert t.rv("C_CreateObject", *_t({**template, A.SEED: seed[:31]})) == "ATTRIBUTE_VALUE_INVALID"
    assert t.rv("C_CreateObject", *_t({**template, A.PARAMETER_SET: 9, A.SEED: seed})) == (
        "PARAMETER_SET_NOT_SUPPORTED"
    )
    pub_t = {A.CLASS: ObjectClass.PUBLIC_KEY, A.KEY_TYPE: KeyType.ML_DSA, A.PARAMETER_SET: ps, **SESSION}
    assert t.rv("C_CreateObject", *_t({**pub_t, A.VALUE: b"\x00" * 10})) == "ATTRIBUTE_VALUE_INVALID"
    # the secret parts are sensitive by default
    sealed = import_private(t, KeyType.ML_DSA, ps, seed)
    assert t.get_rv(sealed, A.SEED) == "ATTRIBUTE_SENSITIVE"
    assert t.get_rv(sealed, A.VALUE) == "ATTRIBUTE_SENSITIVE"


def _t(attrs: dict[int, Any]) -> tuple[Any, int, Any]:
    template = Template(attrs)
    _KEEP.append(template)
    return template.ptr, template.count, ffi.new("CK_OBJECT_HANDLE *")


_KEEP: list[Any] = []


def test_generation_template_rules(t: Token) -> None:
    pair = (M.ML_DSA_KEY_PAIR_GEN, M.ML_KEM_KEY_PAIR_GEN)
    for mech in pair:
        pub, priv = Template({**SESSION}), Template({**SESSION})
        hp, hq = ffi.new("CK_OBJECT_HANDLE *"), ffi.new("CK_OBJECT_HANDLE *")
        assert t.rv(
            "C_GenerateKeyPair", Mech(mech).ptr, pub.ptr, pub.count, priv.ptr, priv.count, hp, hq
        ) == ("TEMPLATE_INCOMPLETE")  # no CKA_PARAMETER_SET
    pub = Template({**SESSION, A.PARAMETER_SET: MLKEMParameterSet.ML_KEM_512})
    priv = Template({**SESSION})
    hp, hq = ffi.new("CK_OBJECT_HANDLE *"), ffi.new("CK_OBJECT_HANDLE *")
    rv = t.rv(
        "C_GenerateKeyPair", Mech(M.ML_KEM_KEY_PAIR_GEN).ptr, pub.ptr, pub.count, priv.ptr, priv.count, hp, hq
    )
    assert rv == "PARAMETER_SET_NOT_SUPPORTED"  # pyca/cryptography has no ML-KEM-512


def test_mldsa_wrap_unwrap_private_key(t: Token) -> None:
    """C_WrapKey wraps the PKCS#8 of the key (seed form); C_UnwrapKey makes it back, and
    cryptography reads the same PKCS#8."""
    _, priv = dsa_pair(t, priv={A.EXTRACTABLE: True})
    kek = t.secret(bytes(range(32)))
    wrapped = t.wrap(Mech(M.AES_KEY_WRAP_KWP), kek, priv)
    template = {A.CLASS: ObjectClass.PRIVATE_KEY, A.KEY_TYPE: KeyType.ML_DSA, **SESSION,
                A.SENSITIVE: False, A.EXTRACTABLE: True}  # fmt: skip
    back = t.unwrap(Mech(M.AES_KEY_WRAP_KWP), kek, wrapped, template)
    assert t.get_ulong(back, A.PARAMETER_SET) == MLDSAParameterSet.ML_DSA_44
    seed = t.get(back, A.SEED)
    assert mldsa.MLDSA44PrivateKey.from_seed_bytes(seed).public_key().public_bytes_raw() == (
        serialization.load_der_public_key(t.get(back, A.PUBLIC_KEY_INFO)).public_bytes_raw()
    )
    kem_template = {**template, A.KEY_TYPE: KeyType.ML_KEM}
    assert t.unwrap_rv(Mech(M.AES_KEY_WRAP_KWP), kek, wrapped, kem_template) == "KEY_TYPE_INCONSISTENT"


# ------------------------------------------------------------------------------- ML-KEM
@pytest.mark.parametrize("ps", list(KEM_SETS), ids=lambda p: p.name)
def test_mlkem_encapsulate_decapsulate_with_pyca(t: Token, ps: MLKEMParameterSet) -> None:
    priv_cls, pub_cls, ct_len = KEM_SETS[ps]
    pub, priv = kem_pair(t, ps)
    assert t.get_bool(pub, A.ENCAPSULATE) is True and t.get_bool(priv, A.DECAPSULATE) is True
    secret, ct = t.encapsulate(Mech(M.ML_KEM), pub, {A.EXTRACTABLE: True})
    assert len(ct) == ct_len
    back = t.decapsulate(Mech(M.ML_KEM), priv, ct, {A.EXTRACTABLE: True})
    value = t.get(secret, A.VALUE)
    assert len(value) == 32 and t.get(back, A.VALUE) == value

    # their encapsulation to our public key decapsulates here...
    ours = pub_cls.from_public_bytes(t.get(pub, A.VALUE))
    their_secret, their_ct = ours.encapsulate()
    mine = t.decapsulate(Mech(M.ML_KEM), priv, their_ct, {A.EXTRACTABLE: True})
    assert t.get(mine, A.VALUE) == their_secret
    # ... and ours to their public key decapsulates there
    theirs = priv_cls.generate()
    their_pub = t.create(
        {A.CLASS: ObjectClass.PUBLIC_KEY, A.KEY_TYPE: KeyType.ML_KEM, A.PARAMETER_SET: ps,
         A.VALUE: raw_public(theirs.public_key()), **SESSION}
    )  # fmt: skip
    made, ct = t.encapsulate(Mech(M.ML_KEM), their_pub, {A.EXTRACTABLE: True})
    assert theirs.decapsulate(ct) == t.get(made, A.VALUE)


def test_mlkem_new_key_attributes_and_length(t: Token) -> None:
    """3.2 5.18: the new key is not local, never 'always sensitive'; extractable unless the
    template says otherwise; CKA_VALUE_LEN cuts the secret (an AES-128 key that works)."""
    pub, priv = kem_pair(t)
    made, ct = t.encapsulate(Mech(M.ML_KEM), pub, {A.KEY_TYPE: KeyType.AES, A.VALUE_LEN: 16})
    assert t.get_bool(made, A.LOCAL) is False
    assert t.get_bool(made, A.ALWAYS_SENSITIVE) is False and t.get_bool(made, A.NEVER_EXTRACTABLE) is False
    assert t.get_bool(made, A.EXTRACTABLE) is True
    assert t.get_ulong(made, A.VALUE_LEN) == 16
    back = t.decapsulate(Mech(M.ML_KEM), priv, ct, {A.KEY_TYPE: KeyType.AES, A.VALUE_LEN: 16, A.ENCRYPT: True,
                                                   A.DECRYPT: True, A.EXTRACTABLE: False})  # fmt: skip
    assert t.get_bool(back, A.EXTRACTABLE) is False
    assert t.get_rv(back, A.VALUE) == "ATTRIBUTE_SENSITIVE"
    iv = bytes(16)
    ciphertext = t.encrypt(Mech(M.AES_CBC_PAD, iv), made, b"shared through ML-KEM")
    assert t.decrypt(Mech(M.AES_CBC_PAD, iv), back, ciphertext) == b"shared through ML-KEM"
    assert t.get(made, A.VALUE) == t.get(t.decapsulate(Mech(M.ML_KEM), priv, ct), A.VALUE)[:16]


def test_mlkem_size_query_makes_no_key(t: Token) -> None:
    pub, _ = kem_pair(t)
    before = len(_session_objects(t))
    tmpl = Template({A.CLASS: ObjectClass.SECRET_KEY, A.KEY_TYPE: KeyType.GENERIC_SECRET, **SESSION})
    n, h = ffi.new("CK_ULONG *"), ffi.new("CK_OBJECT_HANDLE *", 0xDEAD)
    t.ok("C_EncapsulateKey", Mech(M.ML_KEM).ptr, pub, tmpl.ptr, tmpl.count, ffi.NULL, n, h)
    assert n[0] == 1088 and h[0] == 0xDEAD
    small = ffi.new("CK_BYTE[100]")
    n[0] = 100
    assert (
        t.rv("C_EncapsulateKey", Mech(M.ML_KEM).ptr, pub, tmpl.ptr, tmpl.count, small, n, h)
        == "BUFFER_TOO_SMALL"
    )
    assert n[0] == 1088 and h[0] == 0xDEAD
    assert len(_session_objects(t)) == before


def _session_objects(t: Token) -> list[int]:
    t.ok("C_FindObjectsInit", ffi.NULL, 0)
    out, n = ffi.new("CK_OBJECT_HANDLE[256]"), ffi.new("CK_ULONG *")
    t.ok("C_FindObjects", out, 256, n)
    t.ok("C_FindObjectsFinal")
    return [out[i] for i in range(n[0])]


def test_mlkem_refusals(t: Token) -> None:
    pub, priv = kem_pair(t)
    _, ct = t.encapsulate(Mech(M.ML_KEM), pub)
    tmpl = Template({A.CLASS: ObjectClass.SECRET_KEY, A.KEY_TYPE: KeyType.GENERIC_SECRET, **SESSION})
    h = ffi.new("CK_OBJECT_HANDLE *")

    def decap(key: int, data: bytes, template: Template = tmpl, mech: Mech | None = None) -> str:
        return t.rv("C_DecapsulateKey", (mech or Mech(M.ML_KEM)).ptr, key, template.ptr, template.count,
                    cbytes(data), len(data), h)  # fmt: skip

    def encap(key: int, template: Template = tmpl, mech: Mech | None = None) -> str:
        n, buf = ffi.new("CK_ULONG *", 4096), ffi.new("CK_BYTE[4096]")
        return t.rv(
            "C_EncapsulateKey", (mech or Mech(M.ML_KEM)).ptr, key, template.ptr, template.count, buf, n, h
        )

    assert decap(priv, ct[:-1]) == "WRAPPED_KEY_LEN_RANGE"
    assert decap(pub, ct) == "UNWRAPPING_KEY_HANDLE_INVALID" or decap(pub, ct) == "KEY_FUNCTION_NOT_PERMITTED"
    assert decap(0xBAD, ct) == "UNWRAPPING_KEY_HANDLE_INVALID"
    assert decap(priv, ct, mech=Mech(M.ML_KEM, b"\x01")) == "MECHANISM_PARAM_INVALID"
    assert encap(priv) == "KEY_FUNCTION_NOT_PERMITTED"  # a private key has no CKA_ENCAPSULATE
    assert encap(0xBAD) == "KEY_HANDLE_INVALID"
    dsa_pub, _ = dsa_pair(t)
    assert encap(dsa_pub) == "KEY_TYPE_INCONSISTENT"  # the key type is checked before its usage
    no_encap, _ = t.generate_pair(
        M.ML_KEM_KEY_PAIR_GEN, {**SESSION, A.PARAMETER_SET: 2, A.ENCAPSULATE: False}, {**SESSION}
    )
    assert encap(no_encap) == "KEY_FUNCTION_NOT_PERMITTED"
    public_class = Template({A.CLASS: ObjectClass.PUBLIC_KEY, A.KEY_TYPE: KeyType.GENERIC_SECRET, **SESSION})
    assert encap(pub, public_class) == "TEMPLATE_INCONSISTENT"
    no_type = Template({A.CLASS: ObjectClass.SECRET_KEY, **SESSION})
    assert encap(pub, no_type) == "TEMPLATE_INCOMPLETE"
    too_long = Template(
        {A.CLASS: ObjectClass.SECRET_KEY, A.KEY_TYPE: KeyType.GENERIC_SECRET, A.VALUE_LEN: 33}
    )
    assert encap(pub, too_long) == "TEMPLATE_INCONSISTENT"
    # a tampered ciphertext decapsulates (implicit rejection) to another secret
    good = t.decapsulate(Mech(M.ML_KEM), priv, ct, {A.EXTRACTABLE: True})
    bad = t.decapsulate(Mech(M.ML_KEM), priv, bytes([ct[0] ^ 1]) + ct[1:], {A.EXTRACTABLE: True})
    assert t.get(good, A.VALUE) != t.get(bad, A.VALUE)


def test_mlkem_encapsulation_templates(t: Token) -> None:
    """CKA_ENCAPSULATE_TEMPLATE must match the new key (else KEY_HANDLE_INVALID, 3.2);
    CKA_DECAPSULATE_TEMPLATE applies to it, and the caller's template may not contradict it."""
    pub, priv = t.generate_pair(
        M.ML_KEM_KEY_PAIR_GEN,
        {**SESSION, A.PARAMETER_SET: 2, A.ENCAPSULATE_TEMPLATE: {A.KEY_TYPE: KeyType.AES}},
        {**SESSION, A.DECAPSULATE_TEMPLATE: {A.SENSITIVE: True, A.EXTRACTABLE: False}},
    )
    made, ct = t.encapsulate(Mech(M.ML_KEM), pub, {A.KEY_TYPE: KeyType.AES})
    tmpl = Template({A.CLASS: ObjectClass.SECRET_KEY, A.KEY_TYPE: KeyType.GENERIC_SECRET, **SESSION})
    n, buf, h = ffi.new("CK_ULONG *", 4096), ffi.new("CK_BYTE[4096]"), ffi.new("CK_OBJECT_HANDLE *")
    assert (
        t.rv("C_EncapsulateKey", Mech(M.ML_KEM).ptr, pub, tmpl.ptr, tmpl.count, buf, n, h)
        == "KEY_HANDLE_INVALID"
    )
    back = t.decapsulate(Mech(M.ML_KEM), priv, ct, {A.KEY_TYPE: KeyType.AES})
    assert t.get_bool(back, A.SENSITIVE) is True and t.get_bool(back, A.EXTRACTABLE) is False
    contradicting = Template({A.CLASS: ObjectClass.SECRET_KEY, A.KEY_TYPE: KeyType.AES, A.EXTRACTABLE: True})
    rv = t.rv("C_DecapsulateKey", Mech(M.ML_KEM).ptr, priv, contradicting.ptr, contradicting.count,
              cbytes(ct), len(ct), h)  # fmt: skip
    assert rv == "TEMPLATE_INCONSISTENT"
    assert t.get_ulong(made, A.KEY_TYPE) == KeyType.AES


def test_mlkem_token_key_needs_rw_session(t: Token) -> None:
    pub, _ = kem_pair(t)
    ro = t.m.open(t.slot, rw=False)
    tmpl = Template({A.CLASS: ObjectClass.SECRET_KEY, A.KEY_TYPE: KeyType.GENERIC_SECRET, A.TOKEN: True})
    n, buf, h = ffi.new("CK_ULONG *", 4096), ffi.new("CK_BYTE[4096]"), ffi.new("CK_OBJECT_HANDLE *")
    rv = t.m.rv("C_EncapsulateKey", ro, Mech(M.ML_KEM).ptr, pub, tmpl.ptr, tmpl.count, buf, n, h)
    assert rv == 0xB5  # CKR_SESSION_READ_ONLY


def test_pqc_mechanism_info(t: Token) -> None:
    """Key sizes are public-key lengths in bytes (3.2 mechanism tables)."""
    info = t.mechanism_info(M.ML_DSA)
    assert (info.ulMinKeySize, info.ulMaxKeySize) == (1312, 2592)
    info = t.mechanism_info(M.ML_KEM)
    assert (info.ulMinKeySize, info.ulMaxKeySize) == (1184, 1568)
    assert info.flags == 0x30000000  # CKF_ENCAPSULATE | CKF_DECAPSULATE
