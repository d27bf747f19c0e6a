"""RSA mechanisms: PKCS#1 v1.5 (raw and hashed), X.509 raw, PSS, OAEP and key pair generation."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from softhsm_py import errors
from softhsm_py.constants import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass
from softhsm_py.engine import hash_table, hashes
from softhsm_py.engine import rsa as engine
from softhsm_py.mechanisms.base import (
    CipherContext,
    CipherWrap,
    KeyView,
    MechanismImpl,
    OneShotCipher,
    OneShotSign,
    OneShotVerify,
    SignContext,
    StreamSign,
    StreamVerify,
    VerifyContext,
    attr,
    cached,
    check_size,
    require_class,
    require_type,
)
from softhsm_py.mechanisms.digest import mgf_hash, param_hash
from softhsm_py.mechanisms.params import OaepParams, PssParams
from softhsm_py.mechanisms.registry import MechInfo, mechanism

MIN_BITS, MAX_BITS = 1024, 8192
RSA = frozenset({KeyType.RSA})
F = MechanismFlag
_SV = F.SIGN | F.VERIFY
_OAEP_HASHES = frozenset(h.name for h in hash_table.HASHES if h.oaep)  # what OpenSSL's OAEP takes
_HASHED_PKCS: dict[int, str] = hash_table.names_by("rsa_pkcs")
_HASHED_PSS: dict[int, str] = hash_table.names_by("rsa_pss")


def _check_bits(key: KeyView) -> None:
    # The modulus size lives in the key's cache (cleared with the loaded keys when the key changes).
    bits = key.cache.get("rsa.bits")
    if bits is None:
        bits = key.cache["rsa.bits"] = int.from_bytes(attr(key, Attribute.MODULUS), "big").bit_length()
    check_size(bits, MIN_BITS, MAX_BITS)


_PRIVATE_KEY, _PUBLIC_KEY = int(ObjectClass.PRIVATE_KEY), int(ObjectClass.PUBLIC_KEY)


def load_private(key: KeyView) -> engine.PrivateKey:
    require_class(key, _PRIVATE_KEY)
    require_type(key, RSA)
    _check_bits(key)
    a = key.attrs

    def load() -> engine.PrivateKey:
        return engine.load_private(
            attr(key, Attribute.MODULUS),
            attr(key, Attribute.PUBLIC_EXPONENT),
            attr(key, Attribute.PRIVATE_EXPONENT),
            a.get(Attribute.PRIME_1),
            a.get(Attribute.PRIME_2),
            a.get(Attribute.EXPONENT_1),
            a.get(Attribute.EXPONENT_2),
            a.get(Attribute.COEFFICIENT),
        )

    return cached(key, "rsa.private", load)


def load_public(key: KeyView) -> engine.PublicKey:
    require_class(key, _PUBLIC_KEY)
    require_type(key, RSA)
    _check_bits(key)
    return cached(
        key,
        "rsa.public",
        lambda: engine.load_public(attr(key, Attribute.MODULUS), attr(key, Attribute.PUBLIC_EXPONENT)),
    )


def _no_param(param: Any) -> None:
    if param is not None:
        raise errors.MechanismParamInvalid()


class RecoverContext:
    """C_VerifyRecover: the signature in, the signed data out (single-part)."""

    def __init__(self, fn: Callable[[bytes], bytes], length: int) -> None:
        self._fn, self._length = fn, length

    def recover(self, signature: bytes) -> bytes:
        if len(signature) != self._length:
            raise errors.SignatureLenRange()
        return self._fn(bytes(signature))

    run = recover  # the single-part call (C_VerifyRecover)

    def output_bound(self, in_len: int, final: bool) -> int:
        return self._length  # the recovered data is at most the modulus long


def _public_block(k: engine.PublicKey, signature: bytes) -> bytes:
    try:
        return engine.raw_public(k, signature)
    except errors.DataLenRange:  # the signature as a number is not below n
        raise errors.SignatureInvalid() from None


def _unpad_type1(block: bytes) -> bytes:
    """EB = 00 01 FF..FF 00 data, at least 8 FF bytes (RFC 8017 9.2 / PKCS #1 v1.5 block type 1)."""
    if block[:2] != b"\x00\x01":
        raise errors.SignatureInvalid()
    end = block.find(b"\x00", 2)
    if end < 10 or block[2:end].strip(b"\xff"):
        raise errors.SignatureInvalid()
    return block[end + 1 :]


_RECOVER = F.SIGN_RECOVER | F.VERIFY_RECOVER


@mechanism(
    Mechanism.RSA_PKCS,
    info=MechInfo(MIN_BITS, MAX_BITS, _SV | _RECOVER | F.ENCRYPT | F.DECRYPT | F.WRAP | F.UNWRAP),
)
class RsaPkcs(CipherWrap, MechanismImpl):
    """Single-part; signing takes the caller's DigestInfo (or any data up to k - 11 bytes)."""

    key_types = RSA

    def sign_init(self, mech: int, param: Any, key: KeyView) -> SignContext:
        _no_param(param)
        k = load_private(key)
        return OneShotSign(lambda d: engine.sign_pkcs1(k, d), engine.modulus_len(k))

    def verify_init(self, mech: int, param: Any, key: KeyView) -> VerifyContext:
        _no_param(param)
        k = load_public(key)
        return OneShotVerify(lambda d, s: engine.verify_pkcs1(k, d, s), engine.modulus_len(k))

    # With message recovery the signature is the same as a plain signature (3.0, 2.1.6).
    sign_recover_init = sign_init

    def verify_recover_init(self, mech: int, param: Any, key: KeyView) -> RecoverContext:
        _no_param(param)
        k = load_public(key)
        return RecoverContext(lambda s: _unpad_type1(_public_block(k, s)), engine.modulus_len(k))

    def encrypt_init(self, mech: int, param: Any, key: KeyView) -> CipherContext:
        _no_param(param)
        k = load_public(key)
        return OneShotCipher(lambda d: engine.encrypt_pkcs1(k, d), lambda n: engine.modulus_len(k))

    def decrypt_init(self, mech: int, param: Any, key: KeyView) -> CipherContext:
        _no_param(param)
        k = load_private(key)
        return OneShotCipher(lambda d: engine.decrypt_pkcs1(k, d), lambda n: engine.modulus_len(k))


def _x509_in(data: bytes, k: int) -> bytes:
    if len(data) > k:
        raise errors.DataLenRange()
    return data


@mechanism(Mechanism.RSA_X_509, info=MechInfo(MIN_BITS, MAX_BITS, _SV | _RECOVER | F.ENCRYPT | F.DECRYPT))
class RsaX509(MechanismImpl):
    """Raw RSA, single-part: input shorter than k is taken as a big-endian number."""

    key_types = RSA

    def sign_init(self, mech: int, param: Any, key: KeyView) -> SignContext:
        _no_param(param)
        k = load_private(key)
        n = engine.modulus_len(k)
        return OneShotSign(lambda d: engine.raw_private(k, _x509_in(d, n)), n)

    def verify_init(self, mech: int, param: Any, key: KeyView) -> VerifyContext:
        _no_param(param)
        k = load_public(key)
        n = engine.modulus_len(k)

        def check(data: bytes, sig: bytes) -> None:
            expected = _x509_in(data, n).rjust(n, b"\x00")
            if int.from_bytes(sig, "big") >= k.public_numbers().n:
                raise errors.SignatureInvalid()
            if not hashes.equal(engine.raw_public(k, sig), expected):
                raise errors.SignatureInvalid()

        return OneShotVerify(check, n)

    sign_recover_init = sign_init

    def verify_recover_init(self, mech: int, param: Any, key: KeyView) -> RecoverContext:
        _no_param(param)
        k = load_public(key)
        return RecoverContext(lambda s: _public_block(k, s), engine.modulus_len(k))  # all k bytes (2.1.7)

    def encrypt_init(self, mech: int, param: Any, key: KeyView) -> CipherContext:
        _no_param(param)
        k = load_public(key)
        n = engine.modulus_len(k)
        return OneShotCipher(lambda d: engine.raw_public(k, _x509_in(d, n)), lambda _: n)

    def decrypt_init(self, mech: int, param: Any, key: KeyView) -> CipherContext:
        _no_param(param)
        k = load_private(key)
        n = engine.modulus_len(k)

        def decrypt(data: bytes) -> bytes:
            if len(data) != n:
                raise errors.EncryptedDataLenRange()
            try:
                return engine.raw_private(k, data)
            except errors.DataLenRange:
                raise errors.EncryptedDataInvalid() from None

        return OneShotCipher(decrypt, lambda _: n)


@mechanism(*_HASHED_PKCS, info=MechInfo(MIN_BITS, MAX_BITS, _SV))
class RsaPkcsHashed(MechanismImpl):
    key_types = RSA

    def sign_init(self, mech: int, param: Any, key: KeyView) -> SignContext:
        _no_param(param)
        k, h = load_private(key), _HASHED_PKCS[mech]
        return StreamSign(
            hashes.Digest(h), lambda d: engine.sign_pkcs1_digest(k, h, d), engine.modulus_len(k)
        )

    def verify_init(self, mech: int, param: Any, key: KeyView) -> VerifyContext:
        _no_param(param)
        k, h = load_public(key), _HASHED_PKCS[mech]
        return StreamVerify(
            hashes.Digest(h), lambda d, s: engine.verify_pkcs1_digest(k, h, d, s), engine.modulus_len(k)
        )


def _pss_params(mech: int, param: Any, key: engine.PrivateKey | engine.PublicKey) -> tuple[str, str, int]:
    """PSS parameters checked against the key and, for SHA*_RSA_PKCS_PSS, the mechanism's hash."""
    if not isinstance(param, PssParams):
        raise errors.MechanismParamInvalid()
    h, mgf = param_hash(param.hash_alg), mgf_hash(param.mgf)
    if mech in _HASHED_PSS and _HASHED_PSS[mech] != h:
        raise errors.MechanismParamInvalid()
    if not 0 <= param.salt_len <= engine.pss_max_salt(key, h):
        raise errors.MechanismParamInvalid()
    return h, mgf, param.salt_len


def _exact(data: bytes, size: int) -> bytes:
    if len(data) != size:
        raise errors.DataLenRange()
    return data


@mechanism(Mechanism.RSA_PKCS_PSS, *_HASHED_PSS, info=MechInfo(MIN_BITS, MAX_BITS, _SV), param=PssParams)
class RsaPss(MechanismImpl):
    """RSA_PKCS_PSS signs a caller's hash (single-part); SHA*_RSA_PKCS_PSS hash multi-part."""

    key_types = RSA

    def sign_init(self, mech: int, param: Any, key: KeyView) -> SignContext:
        k = load_private(key)
        h, mgf, salt = _pss_params(mech, param, k)
        n = engine.modulus_len(k)
        if mech == Mechanism.RSA_PKCS_PSS:
            size = hashes.digest_size(h)
            return OneShotSign(lambda d: engine.sign_pss(k, h, mgf, salt, _exact(d, size)), n)
        return StreamSign(hashes.Digest(h), lambda d: engine.sign_pss(k, h, mgf, salt, d), n)

    def verify_init(self, mech: int, param: Any, key: KeyView) -> VerifyContext:
        k = load_public(key)
        h, mgf, salt = _pss_params(mech, param, k)
        n = engine.modulus_len(k)
        if mech == Mechanism.RSA_PKCS_PSS:
            size = hashes.digest_size(h)
            return OneShotVerify(lambda d, s: engine.verify_pss(k, h, mgf, salt, _exact(d, size), s), n)
        return StreamVerify(hashes.Digest(h), lambda d, s: engine.verify_pss(k, h, mgf, salt, d, s), n)


def _oaep_params(param: Any) -> tuple[str, str, bytes]:
    if not isinstance(param, OaepParams):
        raise errors.MechanismParamInvalid()
    h, mgf = param_hash(param.hash_alg), mgf_hash(param.mgf)
    if h not in _OAEP_HASHES or mgf not in _OAEP_HASHES:
        raise errors.MechanismParamInvalid()
    return h, mgf, param.source_data


@mechanism(
    Mechanism.RSA_PKCS_OAEP,
    info=MechInfo(MIN_BITS, MAX_BITS, F.ENCRYPT | F.DECRYPT | F.WRAP | F.UNWRAP),
    param=OaepParams,
)
class RsaOaep(CipherWrap, MechanismImpl):
    """Single-part. The OAEP hash and the MGF1 hash may differ (spec allows it; hosts use it)."""

    key_types = RSA

    def encrypt_init(self, mech: int, param: Any, key: KeyView) -> CipherContext:
        h, mgf, label = _oaep_params(param)
        k = load_public(key)
        return OneShotCipher(
            lambda d: engine.encrypt_oaep(k, h, mgf, label, d), lambda n: engine.modulus_len(k)
        )

    def decrypt_init(self, mech: int, param: Any, key: KeyView) -> CipherContext:
        h, mgf, label = _oaep_params(param)
        k = load_private(key)
        return OneShotCipher(
            lambda d: engine.decrypt_oaep(k, h, mgf, label, d), lambda n: engine.modulus_len(k)
        )


@mechanism(Mechanism.RSA_PKCS_KEY_PAIR_GEN, info=MechInfo(MIN_BITS, MAX_BITS, F.GENERATE_KEY_PAIR))
class RsaKeyPairGen(MechanismImpl):
    def generate_key_pair(
        self, mech: int, param: Any, pub_t: Mapping[int, Any], priv_t: Mapping[int, Any]
    ) -> tuple[dict[int, Any], dict[int, Any]]:
        _no_param(param)
        bits = pub_t.get(Attribute.MODULUS_BITS)
        if bits is None:
            raise errors.TemplateIncomplete()
        if not isinstance(bits, int) or isinstance(bits, bool):
            raise errors.AttributeValueInvalid()
        check_size(bits, MIN_BITS, MAX_BITS)
        e_bytes = pub_t.get(Attribute.PUBLIC_EXPONENT)
        e = int.from_bytes(e_bytes, "big") if e_bytes else 65537
        m = engine.generate(bits, e)
        pub: dict[int, Any] = {
            Attribute.KEY_TYPE: KeyType.RSA,
            Attribute.MODULUS: m.n,
            Attribute.PUBLIC_EXPONENT: m.e,
            Attribute.PUBLIC_KEY_INFO: m.spki,
        }
        priv: dict[int, Any] = {
            Attribute.KEY_TYPE: KeyType.RSA,
            Attribute.MODULUS: m.n,
            Attribute.PUBLIC_EXPONENT: m.e,
            Attribute.PRIVATE_EXPONENT: m.d,
            Attribute.PRIME_1: m.p,
            Attribute.PRIME_2: m.q,
            Attribute.EXPONENT_1: m.dp,
            Attribute.EXPONENT_2: m.dq,
            Attribute.COEFFICIENT: m.qinv,
            Attribute.PUBLIC_KEY_INFO: m.spki,
        }
        return pub, priv
