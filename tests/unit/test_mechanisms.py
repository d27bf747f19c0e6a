"""Registry and asymmetric mechanisms (RSA, ECDSA, EdDSA, ECDH), cross-checked with cryptography."""

from __future__ import annotations

import hashlib
import os

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, utils, x448, x25519
from cryptography.hazmat.primitives.kdf.x963kdf import X963KDF

from softhsm_py import errors
from softhsm_py.constants import KDF, MGF, KeyType, Mechanism, MechanismFlag, ObjectClass
from softhsm_py.constants import Attribute as A
from softhsm_py.mechanisms import base, registry
from softhsm_py.mechanisms.params import EcdhParams, EddsaParams, OaepParams, PssParams
from support.keys import ED448_OID, ED25519_OID, P256, P384, P521, SECP256K1, X448_OID, X25519_OID
from support.registry_calls import Key, decrypt, encrypt, pair, rsa_crypto, rsa_pair, sign, verify

M = Mechanism
F = MechanismFlag
HASHES = {
    "sha1": hashes.SHA1,
    "sha224": hashes.SHA224,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
CKM_HASH = {"sha1": M.SHA_1, "sha224": M.SHA224, "sha256": M.SHA256, "sha384": M.SHA384, "sha512": M.SHA512}
CKG_MGF = {
    "sha1": MGF.SHA1,
    "sha224": MGF.SHA224,
    "sha256": MGF.SHA256,
    "sha384": MGF.SHA384,
    "sha512": MGF.SHA512,
}


# --- registry ----------------------------------------------------------------------------------

_FLAG_METHOD = {
    F.SIGN: "sign_init",
    F.VERIFY: "verify_init",
    F.ENCRYPT: "encrypt_init",
    F.DECRYPT: "decrypt_init",
    F.DIGEST: "digest_init",
    F.GENERATE: "generate_key",
    F.GENERATE_KEY_PAIR: "generate_key_pair",
    F.WRAP: "wrap",
    F.UNWRAP: "unwrap",
    F.DERIVE: "derive",
}


def test_lookup_of_unknown_mechanism_is_mechanism_invalid():
    with pytest.raises(errors.MechanismInvalid):
        registry.lookup(M.RSA_9796)
    with pytest.raises(errors.MechanismInvalid):
        registry.info(0x80001234)


@pytest.mark.parametrize("mech", sorted(registry.infos()), ids=lambda m: M(m).name)
def test_listed_flags_match_implemented_functions(mech):
    """Nothing is listed that is not implemented, and nothing implemented goes unlisted."""
    impl, info = registry.lookup(mech), registry.info(mech)
    for flag, method in _FLAG_METHOD.items():
        implemented = getattr(type(impl), method) is not getattr(base.MechanismImpl, method)
        assert bool(info.flags & flag) == implemented, (M(mech).name, method)
    assert info.min_key <= info.max_key


def test_scope_of_issue_4_is_listed():
    listed = set(registry.infos())
    wanted = {
        M.RSA_PKCS_KEY_PAIR_GEN,
        M.EC_KEY_PAIR_GEN,
        M.EC_EDWARDS_KEY_PAIR_GEN,
        M.EC_MONTGOMERY_KEY_PAIR_GEN,
        M.AES_KEY_GEN,
        M.GENERIC_SECRET_KEY_GEN,
        M.RSA_PKCS,
        M.RSA_X_509,
        M.SHA1_RSA_PKCS,
        M.SHA224_RSA_PKCS,
        M.SHA256_RSA_PKCS,
        M.SHA384_RSA_PKCS,
        M.SHA512_RSA_PKCS,
        M.RSA_PKCS_PSS,
        M.SHA256_RSA_PKCS_PSS,
        M.ECDSA,
        M.ECDSA_SHA1,
        M.ECDSA_SHA256,
        M.ECDSA_SHA512,
        M.EDDSA,
        M.SHA256_HMAC,
        M.SHA3_256_HMAC,
        M.AES_CMAC,
        M.AES_ECB,
        M.AES_CBC,
        M.AES_CBC_PAD,
        M.AES_CTR,
        M.AES_GCM,
        M.CHACHA20_POLY1305,
        M.RSA_PKCS_OAEP,
        M.SHA_1,
        M.SHA512,
        M.SHA3_224,
        M.SHA3_512,
        M.AES_KEY_WRAP,
        M.AES_KEY_WRAP_KWP,
        M.ECDH1_DERIVE,
        M.ECDH1_COFACTOR_DERIVE,
        M.HKDF_DERIVE,
        M.HKDF_DATA,
    }
    assert wanted <= listed
    # 2.40's AES_KEY_WRAP_PAD number is RFC 5649, as SoftHSMv2 has it (issue 15 item 5).
    assert registry.lookup(M.AES_KEY_WRAP_PAD) is registry.lookup(M.AES_KEY_WRAP_KWP)


def test_function_a_mechanism_does_not_do_is_mechanism_invalid():
    _, priv = rsa_pair()
    with pytest.raises(errors.MechanismInvalid):
        registry.lookup(M.SHA256).sign_init(M.SHA256, None, priv)
    with pytest.raises(errors.MechanismInvalid):
        registry.lookup(M.SHA256_RSA_PKCS).encrypt_init(M.SHA256_RSA_PKCS, None, priv)


# --- RSA ---------------------------------------------------------------------------------------


def test_rsa_key_pair_generation_material_and_exponent():
    pub, priv = pair(M.RSA_PKCS_KEY_PAIR_GEN, {A.MODULUS_BITS: 1024, A.PUBLIC_EXPONENT: b"\x03"})
    n = int.from_bytes(pub.attrs[A.MODULUS], "big")
    assert n.bit_length() == 1024 and pub.attrs[A.PUBLIC_EXPONENT] == b"\x03"
    assert pub.attrs[A.KEY_TYPE] == priv.attrs[A.KEY_TYPE] == KeyType.RSA
    p, q = (int.from_bytes(priv.attrs[t], "big") for t in (A.PRIME_1, A.PRIME_2))
    assert p * q == n
    rsa_crypto(priv)  # cryptography accepts every CRT part


@pytest.mark.parametrize(
    ("template", "error"),
    [
        ({}, errors.TemplateIncomplete),
        ({A.MODULUS_BITS: 512}, errors.KeySizeRange),
        ({A.MODULUS_BITS: 16384}, errors.KeySizeRange),
        ({A.MODULUS_BITS: 2048, A.PUBLIC_EXPONENT: b"\x01\x00\x00\x00\x01"}, errors.AttributeValueInvalid),
    ],
)
def test_rsa_key_pair_generation_errors(template, error):
    with pytest.raises(error):
        pair(M.RSA_PKCS_KEY_PAIR_GEN, template)


@pytest.mark.parametrize("name", list(HASHES))
def test_hashed_rsa_pkcs_both_ways(name):
    mech = {
        "sha1": M.SHA1_RSA_PKCS,
        "sha224": M.SHA224_RSA_PKCS,
        "sha256": M.SHA256_RSA_PKCS,
        "sha384": M.SHA384_RSA_PKCS,
        "sha512": M.SHA512_RSA_PKCS,
    }[name]
    pub, priv = rsa_pair()
    ref = rsa_crypto(priv)
    data = os.urandom(300)
    sig = sign(mech, None, priv, data)
    ref.public_key().verify(sig, data, padding.PKCS1v15(), HASHES[name]())
    verify(mech, None, pub, data, ref.sign(data, padding.PKCS1v15(), HASHES[name]()))
    # multi-part gives the same (deterministic) signature
    ctx = registry.lookup(mech).sign_init(mech, None, priv)
    ctx.update(data[:7])
    ctx.update(data[7:])
    assert ctx.final() == sig
    with pytest.raises(errors.SignatureInvalid):
        verify(mech, None, pub, data + b"x", sig)
    with pytest.raises(errors.SignatureLenRange):
        verify(mech, None, pub, data, sig[:-1])


def test_rsa_pkcs_with_digest_info_matches_cryptography_and_raw_data_recovers():
    pub, priv = rsa_pair()
    ref = rsa_crypto(priv)
    digest = hashlib.sha256(b"msg").digest()
    info = bytes.fromhex("3031300d060960864801650304020105000420") + digest
    sig = sign(M.RSA_PKCS, None, priv, info)
    assert sig == ref.sign(b"msg", padding.PKCS1v15(), hashes.SHA256())
    # TLS 1.0 style MD5+SHA1 (no DigestInfo) goes through the raw path; recover it independently.
    raw = os.urandom(36)
    sig = sign(M.RSA_PKCS, None, priv, raw)
    assert ref.public_key().recover_data_from_signature(sig, padding.PKCS1v15(), None) == raw
    verify(M.RSA_PKCS, None, pub, raw, sig)
    with pytest.raises(errors.SignatureInvalid):
        verify(M.RSA_PKCS, None, pub, raw[:-1] + b"\x00", sig)


def test_rsa_pkcs_is_single_part_and_checks_length():
    pub, priv = rsa_pair()
    ctx = registry.lookup(M.RSA_PKCS).sign_init(M.RSA_PKCS, None, priv)
    with pytest.raises(errors.OperationNotInitialized):
        ctx.update(b"abc")
    with pytest.raises(errors.DataLenRange):
        sign(M.RSA_PKCS, None, priv, b"x" * (256 - 10))
    with pytest.raises(errors.DataLenRange):
        encrypt(M.RSA_PKCS, None, pub, b"x" * (256 - 10))


def test_rsa_pkcs_encryption_both_ways():
    pub, priv = rsa_pair()
    ref = rsa_crypto(priv)
    ct = encrypt(M.RSA_PKCS, None, pub, b"secret")
    assert ref.decrypt(ct, padding.PKCS1v15()) == b"secret"
    assert decrypt(M.RSA_PKCS, None, priv, ref.public_key().encrypt(b"hi", padding.PKCS1v15())) == b"hi"
    with pytest.raises(errors.EncryptedDataLenRange):
        decrypt(M.RSA_PKCS, None, priv, ct[:-1])


def test_rsa_x509_is_raw_rsa():
    pub, priv = rsa_pair()
    nums = rsa_crypto(priv).private_numbers()
    n, d = nums.public_numbers.n, nums.d
    data = b"\x01" + os.urandom(100)
    sig = sign(M.RSA_X_509, None, priv, data)
    assert int.from_bytes(sig, "big") == pow(int.from_bytes(data, "big"), d, n)
    verify(M.RSA_X_509, None, pub, data, sig)
    assert decrypt(M.RSA_X_509, None, priv, encrypt(M.RSA_X_509, None, pub, data)) == data.rjust(256, b"\0")
    with pytest.raises(errors.DataLenRange):
        sign(M.RSA_X_509, None, priv, b"\xff" * 256)  # >= n
    with pytest.raises(errors.DataLenRange):
        sign(M.RSA_X_509, None, priv, b"\x01" * 257)


def _pss(name: str, salt: int, mgf: str | None = None) -> PssParams:
    return PssParams(CKM_HASH[name], CKG_MGF[mgf or name], salt)


@pytest.mark.parametrize("name", list(HASHES))
def test_rsa_pkcs_pss_prehashed_both_ways(name):
    pub, priv = rsa_pair()
    ref = rsa_crypto(priv)
    h = HASHES[name]()
    digest = hashlib.new(name, b"data").digest()
    param = _pss(name, h.digest_size)
    sig = sign(M.RSA_PKCS_PSS, param, priv, digest)
    ref.public_key().verify(sig, digest, padding.PSS(padding.MGF1(h), h.digest_size), utils.Prehashed(h))
    theirs = ref.sign(digest, padding.PSS(padding.MGF1(h), h.digest_size), utils.Prehashed(h))
    verify(M.RSA_PKCS_PSS, param, pub, digest, theirs)
    with pytest.raises(errors.DataLenRange):
        sign(M.RSA_PKCS_PSS, param, priv, digest + b"x")


def test_sha256_rsa_pkcs_pss_multi_part_and_parameter_checks():
    pub, priv = rsa_pair()
    ref = rsa_crypto(priv)
    param = _pss("sha256", 32, mgf="sha1")  # MGF hash may differ from the message hash
    ctx = registry.lookup(M.SHA256_RSA_PKCS_PSS).sign_init(M.SHA256_RSA_PKCS_PSS, param, priv)
    ctx.update(b"part one ")
    ctx.update(b"part two")
    sig = ctx.final()
    ref.public_key().verify(
        sig, b"part one part two", padding.PSS(padding.MGF1(hashes.SHA1()), 32), hashes.SHA256()
    )
    verify(M.SHA256_RSA_PKCS_PSS, param, pub, b"part one part two", sig)
    for bad in (_pss("sha384", 32), PssParams(M.SHA256, 0x77, 32), _pss("sha256", 256 - 32 - 1), None):
        with pytest.raises(errors.MechanismParamInvalid):
            registry.lookup(M.SHA256_RSA_PKCS_PSS).sign_init(M.SHA256_RSA_PKCS_PSS, bad, priv)


def test_python_pkcs11_default_pss_sha1_salt_20():
    pub, priv = rsa_pair()
    param = _pss("sha1", 20)
    digest = hashlib.sha1(b"x").digest()
    verify(M.RSA_PKCS_PSS, param, pub, digest, sign(M.RSA_PKCS_PSS, param, priv, digest))


@pytest.mark.parametrize("mgf", list(HASHES))
@pytest.mark.parametrize("name", list(HASHES))
def test_oaep_all_hash_and_mgf_pairs_both_ways(name, mgf):
    pub, priv = rsa_pair()
    ref = rsa_crypto(priv)
    param = OaepParams(CKM_HASH[name], CKG_MGF[mgf], b"label")
    pad = padding.OAEP(padding.MGF1(HASHES[mgf]()), HASHES[name](), b"label")
    ct = encrypt(M.RSA_PKCS_OAEP, param, pub, b"key material")
    assert ref.decrypt(ct, pad) == b"key material"
    assert decrypt(M.RSA_PKCS_OAEP, param, priv, ref.public_key().encrypt(b"k2", pad)) == b"k2"


def test_oaep_sha256_round_trip_and_failures():
    pub, priv = rsa_pair()
    param = OaepParams(M.SHA256, MGF.SHA256)
    ct = encrypt(M.RSA_PKCS_OAEP, param, pub, b"\x00" * 32)
    assert decrypt(M.RSA_PKCS_OAEP, param, priv, ct) == b"\x00" * 32
    with pytest.raises(errors.EncryptedDataInvalid):
        decrypt(M.RSA_PKCS_OAEP, OaepParams(M.SHA256, MGF.SHA256, b"other"), priv, ct)
    with pytest.raises(errors.DataLenRange):
        encrypt(M.RSA_PKCS_OAEP, param, pub, b"x" * (256 - 2 * 32 - 1))
    for bad in (
        None,
        OaepParams(M.SHA3_256, MGF.SHA3_256),
        OaepParams(M.SHA256, 0x99),
        OaepParams(0x1234, 1),
    ):
        with pytest.raises(errors.MechanismParamInvalid):
            registry.lookup(M.RSA_PKCS_OAEP).encrypt_init(M.RSA_PKCS_OAEP, bad, pub)


def test_oaep_wrap_unwrap_maps_errors():
    pub, priv = rsa_pair()
    impl, param = registry.lookup(M.RSA_PKCS_OAEP), OaepParams(M.SHA256, MGF.SHA256)
    key = os.urandom(32)
    wrapped = impl.wrap(M.RSA_PKCS_OAEP, param, pub, key)
    assert impl.unwrap(M.RSA_PKCS_OAEP, param, priv, wrapped) == key
    with pytest.raises(errors.WrappedKeyInvalid):
        impl.unwrap(M.RSA_PKCS_OAEP, param, priv, bytes(256))
    with pytest.raises(errors.WrappedKeyLenRange):
        impl.unwrap(M.RSA_PKCS_OAEP, param, priv, wrapped[:-1])
    with pytest.raises(errors.UnwrappingKeyTypeInconsistent):
        impl.unwrap(M.RSA_PKCS_OAEP, param, Key({**priv.attrs, A.KEY_TYPE: KeyType.EC}), wrapped)


def test_rsa_key_checks():
    pub, priv = rsa_pair()
    with pytest.raises(errors.KeyFunctionNotPermitted):
        sign(M.SHA256_RSA_PKCS, None, pub, b"x")
    with pytest.raises(errors.KeyTypeInconsistent):
        sign(M.SHA256_RSA_PKCS, None, Key({**priv.attrs, A.KEY_TYPE: KeyType.EC}), b"x")
    small = Key({**pub.attrs, A.MODULUS: b"\xc1" + bytes(63)})
    with pytest.raises(errors.KeySizeRange):
        verify(M.SHA256_RSA_PKCS, None, small, b"x", bytes(64))
    with pytest.raises(errors.MechanismParamInvalid):
        sign(M.SHA256_RSA_PKCS, b"unexpected", priv, b"x")


def test_rsa_private_key_without_crt_parts_loads_and_is_cached():
    pub, priv = rsa_pair()
    bare = Key(
        {
            t: v
            for t, v in priv.attrs.items()
            if t not in (A.PRIME_1, A.PRIME_2, A.EXPONENT_1, A.EXPONENT_2, A.COEFFICIENT)
        }
    )
    sig = sign(M.SHA256_RSA_PKCS, None, bare, b"x")
    verify(M.SHA256_RSA_PKCS, None, pub, b"x", sig)
    assert "rsa.private" in bare.cache


# --- ECDSA -------------------------------------------------------------------------------------

CURVES = {
    "P-256": (P256, ec.SECP256R1),
    "P-384": (P384, ec.SECP384R1),
    "P-521": (P521, ec.SECP521R1),
    "secp256k1": (SECP256K1, ec.SECP256K1),
    # OIDs as `openssl ecparam -name NAME -outform DER` writes them
    "P-192": (bytes.fromhex("06082a8648ce3d030101"), ec.SECP192R1),
    "P-224": (bytes.fromhex("06052b81040021"), ec.SECP224R1),
    "brainpoolP224r1": (bytes.fromhex("06092b2403030208010105"), ec.BrainpoolP224R1),
    "brainpoolP256r1": (bytes.fromhex("06092b2403030208010107"), ec.BrainpoolP256R1),
    "brainpoolP320r1": (bytes.fromhex("06092b2403030208010109"), ec.BrainpoolP320R1),
    "brainpoolP384r1": (bytes.fromhex("06092b240303020801010b"), ec.BrainpoolP384R1),
    "brainpoolP512r1": (bytes.fromhex("06092b240303020801010d"), ec.BrainpoolP512R1),
}


def _ec_crypto_public(pub: Key, curve) -> ec.EllipticCurvePublicKey:
    point = pub.attrs[A.EC_POINT]
    assert point[0] == 0x04  # DER OCTET STRING
    return ec.EllipticCurvePublicKey.from_encoded_point(curve(), point[2:] if point[1] < 0x80 else point[3:])


def _rs_to_der(sig: bytes) -> bytes:
    n = len(sig) // 2
    return utils.encode_dss_signature(int.from_bytes(sig[:n], "big"), int.from_bytes(sig[n:], "big"))


@pytest.mark.parametrize("curve_name", list(CURVES))
def test_ecdsa_raw_and_hashed_both_ways(curve_name):
    params, curve = CURVES[curve_name]
    pub, priv = pair(M.EC_KEY_PAIR_GEN, {A.EC_PARAMS: params})
    assert priv.attrs[A.EC_PARAMS] == params
    theirs_pub = _ec_crypto_public(pub, curve)
    digest = hashlib.sha256(b"m").digest()
    sig = sign(M.ECDSA, None, priv, digest)
    theirs_pub.verify(_rs_to_der(sig), digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
    sig = sign(M.ECDSA_SHA384, None, priv, b"message")
    theirs_pub.verify(_rs_to_der(sig), b"message", ec.ECDSA(hashes.SHA384()))
    verify(M.ECDSA_SHA384, None, pub, b"message", sig)
    theirs_priv = ec.derive_private_key(int.from_bytes(priv.attrs[A.VALUE], "big"), curve())
    der = theirs_priv.sign(b"message", ec.ECDSA(hashes.SHA512()))
    r, s = utils.decode_dss_signature(der)
    n = len(sig) // 2
    verify(M.ECDSA_SHA512, None, pub, b"message", r.to_bytes(n, "big") + s.to_bytes(n, "big"))
    with pytest.raises(errors.SignatureInvalid):
        verify(M.ECDSA_SHA512, None, pub, b"massage", r.to_bytes(n, "big") + s.to_bytes(n, "big"))
    with pytest.raises(errors.SignatureLenRange):
        verify(M.ECDSA_SHA512, None, pub, b"message", sig + b"\0")


def test_ecdsa_raw_truncates_long_digest_like_ecdsa():
    pub, priv = pair(M.EC_KEY_PAIR_GEN, {A.EC_PARAMS: P256})
    digest = hashlib.sha512(b"m").digest()
    sig = sign(M.ECDSA, None, priv, digest)
    _ec_crypto_public(pub, ec.SECP256R1).verify(
        _rs_to_der(sig), digest, ec.ECDSA(utils.Prehashed(hashes.SHA512()))
    )
    verify(M.ECDSA, None, pub, digest, sig)
    with pytest.raises(errors.OperationNotInitialized):
        registry.lookup(M.ECDSA).sign_init(M.ECDSA, None, priv).update(digest)


def test_ec_public_point_raw_accepted_and_unknown_curve_refused():
    pub, priv = pair(M.EC_KEY_PAIR_GEN, {A.EC_PARAMS: P256})
    raw = Key({**pub.attrs, A.EC_POINT: pub.attrs[A.EC_POINT][2:]})
    verify(M.ECDSA, None, raw, b"\x01" * 32, sign(M.ECDSA, None, priv, b"\x01" * 32))
    with pytest.raises(errors.CurveNotSupported):
        pair(M.EC_KEY_PAIR_GEN, {A.EC_PARAMS: bytes.fromhex("06052b81040020")})  # secp224k1
    with pytest.raises(errors.TemplateIncomplete):
        pair(M.EC_KEY_PAIR_GEN, {})


# --- EdDSA -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "cls"),
    [
        (ED25519_OID, ed25519.Ed25519PublicKey),
        (ED448_OID, ed448.Ed448PublicKey),
        (b"\x13\x0cedwards25519", ed25519.Ed25519PublicKey),
    ],
)
def test_eddsa_both_ways(params, cls):
    pub, priv = pair(M.EC_EDWARDS_KEY_PAIR_GEN, {A.EC_PARAMS: params})
    assert pub.attrs[A.KEY_TYPE] == KeyType.EC_EDWARDS
    sig = sign(M.EDDSA, None, priv, b"hello")
    theirs = cls.from_public_bytes(pub.attrs[A.EC_POINT][2:])
    theirs.verify(sig, b"hello")
    verify(M.EDDSA, EddsaParams(False, b""), pub, b"hello", sig)
    with pytest.raises(errors.SignatureInvalid):
        verify(M.EDDSA, None, pub, b"hellO", sig)
    with pytest.raises(errors.SignatureLenRange):
        verify(M.EDDSA, None, pub, b"hello", sig[:-1])
    with pytest.raises(errors.OperationNotInitialized):
        registry.lookup(M.EDDSA).sign_init(M.EDDSA, None, priv).update(b"x")


def test_eddsa_verifies_cryptography_signature_and_refuses_ph_ctx():
    theirs = ed25519.Ed25519PrivateKey.generate()
    raw_pub = theirs.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    pub = Key(
        {
            A.CLASS: ObjectClass.PUBLIC_KEY,
            A.KEY_TYPE: KeyType.EC_EDWARDS,
            A.EC_PARAMS: ED25519_OID,
            A.EC_POINT: raw_pub,
        }
    )
    verify(M.EDDSA, None, pub, b"m", theirs.sign(b"m"))
    for bad in (EddsaParams(True, b""), EddsaParams(False, b"ctx"), b"junk"):
        with pytest.raises(errors.MechanismParamInvalid):
            registry.lookup(M.EDDSA).verify_init(M.EDDSA, bad, pub)
    with pytest.raises(errors.KeyTypeInconsistent):
        pair(M.EC_EDWARDS_KEY_PAIR_GEN, {A.EC_PARAMS: X25519_OID})


# --- ECDH --------------------------------------------------------------------------------------


def _derive(mech, param, key, template):
    return registry.lookup(mech).derive(mech, param, key, template)


@pytest.mark.parametrize("mech", [M.ECDH1_DERIVE, M.ECDH1_COFACTOR_DERIVE])
def test_ecdh_p256_null_and_x963_kdfs(mech):
    pub, priv = pair(M.EC_KEY_PAIR_GEN, {A.EC_PARAMS: P256})
    peer = ec.generate_private_key(ec.SECP256R1())
    peer_point = peer.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    z = peer.exchange(ec.ECDH(), _ec_crypto_public(pub, ec.SECP256R1))
    out = _derive(mech, EcdhParams(KDF.NULL, b"", peer_point), priv, {})
    assert out[A.VALUE] == z and out[A.VALUE_LEN] == 32 and out[A.KEY_TYPE] == KeyType.GENERIC_SECRET
    der_point = b"\x04\x41" + peer_point  # DER-wrapped peer point is accepted too
    out = _derive(
        mech,
        EcdhParams(KDF.SHA256_KDF, b"shared", der_point),
        priv,
        {A.KEY_TYPE: KeyType.AES, A.VALUE_LEN: 16},
    )
    assert out[A.VALUE] == X963KDF(hashes.SHA256(), 16, b"shared").derive(z)
    out = _derive(mech, EcdhParams(KDF.NULL, b"", peer_point), priv, {A.KEY_TYPE: KeyType.AES})
    assert out[A.VALUE] == z  # AES-256 from a 32-byte Z
    with pytest.raises(errors.MechanismParamInvalid):
        _derive(mech, EcdhParams(KDF.NULL, b"x", peer_point), priv, {})
    with pytest.raises(errors.MechanismParamInvalid):
        _derive(mech, EcdhParams(KDF.NULL, b"", b"\x04" + bytes(64)), priv, {})
    with pytest.raises(errors.TemplateInconsistent):
        _derive(mech, EcdhParams(KDF.NULL, b"", peer_point), priv, {A.VALUE_LEN: 33})


@pytest.mark.parametrize("curve_name", list(CURVES))
def test_ecdh_every_prime_curve(curve_name):
    params, curve = CURVES[curve_name]
    pub, priv = pair(M.EC_KEY_PAIR_GEN, {A.EC_PARAMS: params})
    peer = ec.generate_private_key(curve())
    peer_point = peer.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    z = peer.exchange(ec.ECDH(), _ec_crypto_public(pub, curve))
    out = _derive(M.ECDH1_DERIVE, EcdhParams(KDF.NULL, b"", peer_point), priv, {})
    assert out[A.VALUE] == z and len(z) == (curve().key_size + 7) // 8


def test_ec_mechanism_info_spans_every_curve():
    sizes = [curve().key_size for _, curve in CURVES.values()]
    for mech in (M.ECDSA, M.EC_KEY_PAIR_GEN, M.ECDH1_DERIVE):
        info = registry.info(mech)
        assert info.min_key == min(sizes) and info.max_key == max(sizes)
    assert (registry.info(M.EDDSA).min_key, registry.info(M.EDDSA).max_key) == (255, 448)


@pytest.mark.parametrize(
    ("params", "cls", "pub_cls"),
    [
        (X25519_OID, x25519.X25519PrivateKey, x25519.X25519PublicKey),
        (X448_OID, x448.X448PrivateKey, x448.X448PublicKey),
    ],
)
def test_ecdh_montgomery(params, cls, pub_cls):
    pub, priv = pair(M.EC_MONTGOMERY_KEY_PAIR_GEN, {A.EC_PARAMS: params})
    peer = cls.generate()
    peer_raw = peer.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    ours = _derive(M.ECDH1_DERIVE, EcdhParams(KDF.NULL, b"", peer_raw), priv, {})[A.VALUE]
    theirs = peer.exchange(pub_cls.from_public_bytes(pub.attrs[A.EC_POINT][2:]))
    assert ours == theirs
