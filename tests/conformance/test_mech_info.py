"""C_GetMechanismList / C_GetMechanismInfo (3.0, 5.5): every listed mechanism has plausible
flags and key sizes, and a smoke test proves that it works for each function its flags claim.

The table below gives, per mechanism, how to make a key and a parameter; the generic code runs
one round trip per claimed flag (encrypt then decrypt, sign then verify, wrap then unwrap, ...).
A mechanism the module lists but the table does not know fails for softhsm-py (nothing may be
listed that is not exercised here) and is skipped for other modules."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from support import legacy
from support.constants import (
    KDF,
    Attribute,
    KeyType,
    Mechanism,
    MechanismFlag,
    MLDSAParameterSet,
    MLKEMParameterSet,
    ObjectClass,
)
from support.keys import OKP, P256, ec_key, ec_point, import_ec, import_okp, import_rsa, rsa_key
from support.mechanisms import (
    HASH_MECH,
    Mech,
    MessageParam,
    ccm,
    ccm_message,
    chacha_message,
    chacha_poly,
    ctr,
    digest,
    ecdh,
    gcm,
    gcm_message,
    hash_sign_context,
    hkdf,
    mac_general,
    mech,
    oaep,
    pss,
    sign_context,
)
from support.pkcs11 import CKRError, Module, ffi
from support.templates import cbytes
from support.token import Token

KNOWN_FLAGS = (
    MechanismFlag.HW
    | MechanismFlag.ENCRYPT
    | MechanismFlag.DECRYPT
    | MechanismFlag.DIGEST
    | MechanismFlag.SIGN
    | MechanismFlag.SIGN_RECOVER
    | MechanismFlag.VERIFY
    | MechanismFlag.VERIFY_RECOVER
    | MechanismFlag.GENERATE
    | MechanismFlag.GENERATE_KEY_PAIR
    | MechanismFlag.WRAP
    | MechanismFlag.UNWRAP
    | MechanismFlag.DERIVE
    | MechanismFlag.EC_F_P
    | MechanismFlag.EC_F_2M
    | MechanismFlag.EC_ECPARAMETERS
    | MechanismFlag.EC_OID
    | MechanismFlag.EC_UNCOMPRESS
    | MechanismFlag.EC_COMPRESS
    | MechanismFlag.EC_CURVENAME
    | MechanismFlag.MESSAGE_ENCRYPT
    | MechanismFlag.MESSAGE_DECRYPT
    | MechanismFlag.MESSAGE_SIGN
    | MechanismFlag.MESSAGE_VERIFY
    | MechanismFlag.MULTI_MESSAGE
    | MechanismFlag.FIND_OBJECTS
    | MechanismFlag.ENCAPSULATE
    | MechanismFlag.DECAPSULATE
)
MESSAGE_FLAGS = {  # a message flag -> the plain function flag it comes with
    MechanismFlag.MESSAGE_ENCRYPT: MechanismFlag.ENCRYPT,
    MechanismFlag.MESSAGE_DECRYPT: MechanismFlag.DECRYPT,
    MechanismFlag.MESSAGE_SIGN: MechanismFlag.SIGN,
    MechanismFlag.MESSAGE_VERIFY: MechanismFlag.VERIFY,
}
FUNCTION_FLAGS = (
    MechanismFlag.ENCRYPT
    | MechanismFlag.DECRYPT
    | MechanismFlag.DIGEST
    | MechanismFlag.SIGN
    | MechanismFlag.SIGN_RECOVER
    | MechanismFlag.VERIFY
    | MechanismFlag.VERIFY_RECOVER
    | MechanismFlag.GENERATE
    | MechanismFlag.GENERATE_KEY_PAIR
    | MechanismFlag.WRAP
    | MechanismFlag.UNWRAP
    | MechanismFlag.DERIVE
    | MechanismFlag.ENCAPSULATE
    | MechanismFlag.DECAPSULATE
    | MechanismFlag.MESSAGE_ENCRYPT
    | MechanismFlag.MESSAGE_DECRYPT
    | MechanismFlag.MESSAGE_SIGN
    | MechanismFlag.MESSAGE_VERIFY
)
EC_FLAGS = (
    MechanismFlag.EC_F_P
    | MechanismFlag.EC_F_2M
    | MechanismFlag.EC_ECPARAMETERS
    | MechanismFlag.EC_OID
    | MechanismFlag.EC_UNCOMPRESS
    | MechanismFlag.EC_COMPRESS
)


@pytest.fixture
def t(module: Module) -> Token:
    return Token(module)


# ------------------------------------------------------------------------------- keys, made once
class Keys:
    """Keys for the smoke tests, made on first use in the test's token."""

    def __init__(self, t: Token) -> None:
        self.t = t
        self._cache: dict[str, Any] = {}

    def get(self, name: str) -> Any:
        if name not in self._cache:
            self._cache[name] = getattr(self, f"_{name}")()
        return self._cache[name]

    def _aes(self) -> tuple[int, int]:
        key, _ = self.t.aes(32)
        return key, key

    def _generic(self) -> tuple[int, int]:
        key = self.t.secret(bytes(range(64)), KeyType.GENERIC_SECRET)
        return key, key

    def _chacha(self) -> tuple[int, int]:
        key = self.t.secret(bytes(range(32)), KeyType.CHACHA20)
        return key, key

    def _rsa(self) -> tuple[int, int]:
        recover = {Attribute.VERIFY_RECOVER: True}
        return import_rsa(self.t, rsa_key(2048), public=recover, SIGN_RECOVER=True)

    def _ec(self) -> tuple[int, int]:
        return import_ec(self.t, ec_key(P256), P256)

    def _ed25519(self) -> tuple[int, int]:
        return import_okp(self.t, "ed25519")[:2]

    def _x25519(self) -> tuple[int, int]:
        return import_okp(self.t, "x25519")[:2]

    def _mldsa(self) -> tuple[int, int]:
        return self.t.generate_pair(
            Mechanism.ML_DSA_KEY_PAIR_GEN,
            {Attribute.TOKEN: False, Attribute.PARAMETER_SET: MLDSAParameterSet.ML_DSA_44},
            {Attribute.TOKEN: False},
        )

    def _mlkem(self) -> tuple[int, int]:
        return self.t.generate_pair(
            Mechanism.ML_KEM_KEY_PAIR_GEN,
            {Attribute.TOKEN: False, Attribute.PARAMETER_SET: MLKEMParameterSet.ML_KEM_768},
            {Attribute.TOKEN: False},
        )

    def _des3(self) -> tuple[int, int]:
        key = self.t.secret(legacy.odd_parity(bytes(range(24))), KeyType.DES3)
        return key, key

    def _camellia(self) -> tuple[int, int]:
        key = self.t.secret(bytes(range(16)), KeyType.CAMELLIA)
        return key, key

    def _dsa(self) -> tuple[int, int]:
        return self.t.generate_pair(
            M.DSA_KEY_PAIR_GEN, {Attribute.TOKEN: False, **DSA_DOMAIN}, {Attribute.TOKEN: False}
        )

    def _dh(self) -> tuple[int, int]:
        return self.t.generate_pair(
            M.DH_PKCS_KEY_PAIR_GEN,
            {Attribute.TOKEN: False, **DH_DOMAIN},
            {Attribute.TOKEN: False, Attribute.DERIVE: True},  # CKA_DERIVE defaults to FALSE
        )


@dataclass
class Recipe:
    key: str  # a Keys attribute: (public-or-secret handle, private-or-secret handle)
    param: Callable[[], Mech | None] = lambda: None
    data: bytes = bytes(range(32))  # what to encrypt / sign
    gen: dict[int, Any] | None = None  # C_GenerateKey(Pair) template (pair: the public one)
    message: Callable[[], MessageParam] | None = None  # an AEAD's per-message parameter


def _p(m: int, param: Any = None) -> Callable[[], Mech]:
    return lambda: mech(m, param)


M = Mechanism
RSA_SIGN = [M.SHA1_RSA_PKCS, M.SHA224_RSA_PKCS, M.SHA256_RSA_PKCS, M.SHA384_RSA_PKCS, M.SHA512_RSA_PKCS,
            M.SHA3_224_RSA_PKCS, M.SHA3_256_RSA_PKCS, M.SHA3_384_RSA_PKCS, M.SHA3_512_RSA_PKCS]  # fmt: skip
RSA_PSS = {M.SHA1_RSA_PKCS_PSS: "sha1", M.SHA224_RSA_PKCS_PSS: "sha224", M.SHA256_RSA_PKCS_PSS: "sha256",
           M.SHA384_RSA_PKCS_PSS: "sha384", M.SHA512_RSA_PKCS_PSS: "sha512"}  # fmt: skip
SHA3_PSS = {M.SHA3_224_RSA_PKCS_PSS: "sha3-224", M.SHA3_256_RSA_PKCS_PSS: "sha3-256",
            M.SHA3_384_RSA_PKCS_PSS: "sha3-384", M.SHA3_512_RSA_PKCS_PSS: "sha3-512"}  # fmt: skip
HMACS = [M.SHA_1_HMAC, M.SHA224_HMAC, M.SHA256_HMAC, M.SHA384_HMAC, M.SHA512_HMAC, M.SHA3_224_HMAC,
         M.SHA3_256_HMAC, M.SHA3_384_HMAC, M.SHA3_512_HMAC]  # fmt: skip
HASH_ML_DSA = [M.HASH_ML_DSA_SHA224, M.HASH_ML_DSA_SHA256, M.HASH_ML_DSA_SHA384, M.HASH_ML_DSA_SHA512,
               M.HASH_ML_DSA_SHA3_224, M.HASH_ML_DSA_SHA3_256, M.HASH_ML_DSA_SHA3_384, M.HASH_ML_DSA_SHA3_512,
               M.HASH_ML_DSA_SHAKE128, M.HASH_ML_DSA_SHAKE256]  # fmt: skip
ECDSAS = [M.ECDSA_SHA1, M.ECDSA_SHA224, M.ECDSA_SHA256, M.ECDSA_SHA384, M.ECDSA_SHA512, M.ECDSA_SHA3_224,
          M.ECDSA_SHA3_256, M.ECDSA_SHA3_384, M.ECDSA_SHA3_512]  # fmt: skip


def _pss3(m: int, h: str) -> Callable[[], Mech]:
    """SHA3 PSS: CK_RSA_PKCS_PSS_PARAMS names a SHA-3 hash and MGF1 (CKG_MGF1_SHA3_*: 6..9)."""

    def build() -> Mech:
        p = ffi.new("CK_RSA_PKCS_PSS_PARAMS *")
        p.hashAlg = HASH_MECH[h]
        p.mgf = {"sha3-224": 6, "sha3-256": 7, "sha3-384": 8, "sha3-512": 9}[h]
        p.sLen = len(digest(h, b""))
        return Mech(m, p)

    return build


DSA_DOMAIN, DH_DOMAIN = legacy.DSA_DOMAIN, legacy.DH_DOMAIN  # RFC 5114 2.1's group
_DH_PEER = legacy.big(pow(legacy.G1024, 12345, legacy.P1024))


def _kdf(m: int) -> Callable[[], Mech]:
    fields = (
        [legacy.counter(), legacy.byte_array(b"label")]
        if m == M.SP800_108_COUNTER_KDF
        else [legacy.chaining(), legacy.byte_array(b"label")]
    )
    iv = b"iv" if m == M.SP800_108_FEEDBACK_KDF else None
    return lambda: legacy.sp800_108(m, M.SHA256_HMAC, fields, iv=iv)


LEGACY_RECIPES: dict[int, Recipe] = {
    M.DES2_KEY_GEN: Recipe(""),
    M.DES3_KEY_GEN: Recipe(""),
    M.DES3_ECB: Recipe("des3"),
    M.DES3_CBC: Recipe("des3", _p(M.DES3_CBC, bytes(8))),
    M.DES3_CBC_PAD: Recipe("des3", _p(M.DES3_CBC_PAD, bytes(8)), data=b"not a block multiple"),
    M.DES3_MAC: Recipe("des3"),
    M.DES3_CMAC: Recipe("des3"),
    M.DES3_MAC_GENERAL: Recipe("des3", lambda: mac_general(M.DES3_MAC_GENERAL, 4)),
    M.DES3_CMAC_GENERAL: Recipe("des3", lambda: mac_general(M.DES3_CMAC_GENERAL, 4)),
    M.CAMELLIA_KEY_GEN: Recipe("", gen={Attribute.VALUE_LEN: 16}),
    M.CAMELLIA_ECB: Recipe("camellia"),
    M.CAMELLIA_CBC: Recipe("camellia", _p(M.CAMELLIA_CBC, bytes(16))),
    M.CAMELLIA_CBC_PAD: Recipe("camellia", _p(M.CAMELLIA_CBC_PAD, bytes(16)), data=b"not a block multiple"),
    M.MD5: Recipe(""),
    M.MD5_HMAC: Recipe("generic"),
    M.MD5_HMAC_GENERAL: Recipe("generic", lambda: mac_general(M.MD5_HMAC_GENERAL, 10)),
    M.DSA_PARAMETER_GEN: Recipe(
        "", gen={Attribute.CLASS: ObjectClass.DOMAIN_PARAMETERS, Attribute.PRIME_BITS: 1024}
    ),
    M.DSA_KEY_PAIR_GEN: Recipe("dsa", gen=DSA_DOMAIN),
    M.DSA: Recipe("dsa", data=digest("sha1", b"x")),
    **{
        m: Recipe("dsa")
        for m in (
            M.DSA_SHA1,
            M.DSA_SHA224,
            M.DSA_SHA256,
            M.DSA_SHA384,
            M.DSA_SHA512,
            M.DSA_SHA3_224,
            M.DSA_SHA3_256,
            M.DSA_SHA3_384,
            M.DSA_SHA3_512,
        )
    },
    M.DH_PKCS_KEY_PAIR_GEN: Recipe("dh", gen=DH_DOMAIN),
    M.DH_PKCS_DERIVE: Recipe("dh", _p(M.DH_PKCS_DERIVE, _DH_PEER)),
    M.AES_ECB_ENCRYPT_DATA: Recipe("aes", lambda: legacy.string_data(M.AES_ECB_ENCRYPT_DATA, bytes(32))),
    M.AES_CBC_ENCRYPT_DATA: Recipe(
        "aes", lambda: legacy.cbc_encrypt_data(M.AES_CBC_ENCRYPT_DATA, bytes(16), bytes(32))
    ),
    M.DES3_ECB_ENCRYPT_DATA: Recipe("des3", lambda: legacy.string_data(M.DES3_ECB_ENCRYPT_DATA, bytes(32))),
    M.DES3_CBC_ENCRYPT_DATA: Recipe(
        "des3", lambda: legacy.cbc_encrypt_data(M.DES3_CBC_ENCRYPT_DATA, bytes(8), bytes(32))
    ),
    M.CONCATENATE_BASE_AND_KEY: Recipe("generic"),  # the other key: the base key itself (see _run)
    **{
        m: Recipe("generic", (lambda m=m: legacy.string_data(m, bytes(32))))
        for m in (M.CONCATENATE_BASE_AND_DATA, M.CONCATENATE_DATA_AND_BASE, M.XOR_BASE_AND_DATA)
    },
    M.EXTRACT_KEY_FROM_KEY: Recipe("generic", lambda: legacy.ulong_param(M.EXTRACT_KEY_FROM_KEY, 5)),
    **{
        m: Recipe("generic", _kdf(m))
        for m in (M.SP800_108_COUNTER_KDF, M.SP800_108_FEEDBACK_KDF, M.SP800_108_DOUBLE_PIPELINE_KDF)
    },
    M.PKCS5_PBKD2: Recipe("", lambda: legacy.pbkdf2(b"password", b"salt", 2), gen={Attribute.VALUE_LEN: 16}),
    M.AES_KEY_WRAP_PAD: Recipe("aes"),
}
# The digest each digest mechanism is, by hashlib's name.
DIGESTS = {
    **{m: name.replace("-", "_") for name, m in HASH_MECH.items()},
    M.SHA512_224: "sha512_224",
    M.SHA512_256: "sha512_256",
    M.MD5: "md5",
}

RECIPES: dict[int, Recipe] = {
    **LEGACY_RECIPES,
    M.RSA_PKCS_KEY_PAIR_GEN: Recipe("rsa", gen={Attribute.MODULUS_BITS: 1024}),
    M.RSA_PKCS: Recipe("rsa"),
    M.RSA_X_509: Recipe("rsa", data=b"\x00" + bytes(range(1, 255)) + b"\x01"),
    M.RSA_PKCS_OAEP: Recipe("rsa", lambda: oaep("sha256")),
    M.RSA_PKCS_PSS: Recipe("rsa", lambda: pss(M.RSA_PKCS_PSS, "sha256"), data=digest("sha256", b"x")),
    **{m: Recipe("rsa") for m in RSA_SIGN},
    **{m: Recipe("rsa", (lambda m=m, h=h: pss(m, h))) for m, h in RSA_PSS.items()},
    **{m: Recipe("rsa", _pss3(m, h)) for m, h in SHA3_PSS.items()},
    **{m: Recipe("") for m in HASH_MECH.values()},
    M.SHA512_224: Recipe(""),
    M.SHA512_256: Recipe(""),
    **{m: Recipe("generic") for m in HMACS},
    **{m + 1: Recipe("generic", (lambda m=m: mac_general(m + 1, 10))) for m in HMACS},  # *_HMAC_GENERAL
    M.GENERIC_SECRET_KEY_GEN: Recipe("", gen={Attribute.VALUE_LEN: 24}),
    M.EC_KEY_PAIR_GEN: Recipe("ec", gen={Attribute.EC_PARAMS: P256}),
    M.ECDSA: Recipe("ec", data=digest("sha256", b"x")),
    **{m: Recipe("ec") for m in ECDSAS},
    M.ECDH1_DERIVE: Recipe("ec"),
    M.ECDH1_COFACTOR_DERIVE: Recipe("ec"),
    M.EC_EDWARDS_KEY_PAIR_GEN: Recipe("ed25519", gen={Attribute.EC_PARAMS: OKP["ed25519"][1]}),
    M.EC_MONTGOMERY_KEY_PAIR_GEN: Recipe("x25519", gen={Attribute.EC_PARAMS: OKP["x25519"][1]}),
    M.EDDSA: Recipe("ed25519"),
    M.AES_KEY_GEN: Recipe("", gen={Attribute.VALUE_LEN: 16}),
    M.AES_ECB: Recipe("aes"),
    M.AES_CBC: Recipe("aes", _p(M.AES_CBC, bytes(16))),
    M.AES_CBC_PAD: Recipe("aes", _p(M.AES_CBC_PAD, bytes(16)), data=b"not a block multiple"),
    M.AES_CTR: Recipe("aes", lambda: ctr(bytes(16)), data=b"any length"),
    M.AES_GCM: Recipe("aes", lambda: gcm(bytes(12), b"aad"), data=b"any length"),
    M.AES_CMAC: Recipe("aes"),
    M.AES_MAC: Recipe("aes"),
    M.AES_CMAC_GENERAL: Recipe("aes", lambda: mac_general(M.AES_CMAC_GENERAL, 8)),
    M.AES_MAC_GENERAL: Recipe("aes", lambda: mac_general(M.AES_MAC_GENERAL, 8)),
    M.AES_KEY_WRAP: Recipe("aes"),
    M.AES_KEY_WRAP_KWP: Recipe("aes", data=b"seventeen bytes!!"),
    M.CHACHA20_KEY_GEN: Recipe("", gen={Attribute.KEY_TYPE: KeyType.CHACHA20}),
    M.CHACHA20_POLY1305: Recipe("chacha", lambda: chacha_poly(bytes(12), b"aad")),
    M.HKDF_DERIVE: Recipe("generic", lambda: hkdf(salt=b"salt", info=b"info")),
    M.HKDF_DATA: Recipe("generic", lambda: hkdf(Mechanism.HKDF_DATA, salt=b"salt", info=b"info")),
    M.AES_CCM: Recipe(
        "aes", lambda: ccm(32, bytes(12), b"aad"), message=lambda: ccm_message(32, bytes(12), 1)
    ),
    M.ML_DSA_KEY_PAIR_GEN: Recipe("", gen={Attribute.PARAMETER_SET: MLDSAParameterSet.ML_DSA_44}),
    M.ML_DSA: Recipe("mldsa", lambda: sign_context(M.ML_DSA, b"ctx")),
    M.HASH_ML_DSA: Recipe("mldsa", lambda: hash_sign_context(M.SHA256), data=digest("sha256", b"x")),
    **{m: Recipe("mldsa") for m in HASH_ML_DSA},
    M.ML_KEM_KEY_PAIR_GEN: Recipe("", gen={Attribute.PARAMETER_SET: MLKEMParameterSet.ML_KEM_1024}),
    M.ML_KEM: Recipe("mlkem"),
}
RECIPES[M.AES_GCM].message = lambda: gcm_message(bytes(12), 1)
RECIPES[M.CHACHA20_POLY1305].message = lambda: chacha_message(bytes(range(12)))


# ------------------------------------------------------------------------------- one function each
def _message_round_trip(t: Token, param: Mech, m: int, pub: int, priv: int, r: Recipe) -> None:
    """C_MessageEncryptInit + C_EncryptMessage, then the same parameter (IV and tag filled in by
    the token) decrypts it; a signature made with C_SignMessage checks out with C_Verify."""
    if r.message is not None:
        mp, aad = r.message(), b"aad"
        t.ok("C_MessageEncryptInit", Mech(m).ptr, pub)
        ct = t.out("C_EncryptMessage", mp.p, mp.size, cbytes(aad), len(aad), cbytes(r.data), len(r.data))
        t.ok("C_MessageEncryptFinal")
        t.ok("C_MessageDecryptInit", Mech(m).ptr, priv)
        assert t.out("C_DecryptMessage", mp.p, mp.size, cbytes(aad), len(aad), cbytes(ct), len(ct)) == r.data
        t.ok("C_MessageDecryptFinal")
        return
    t.ok("C_MessageSignInit", param.ptr, priv)
    sig = t.out("C_SignMessage", ffi.NULL, 0, cbytes(r.data), len(r.data))
    t.ok("C_MessageSignFinal")
    assert t.verify(param, pub, r.data, sig) == "OK"
    t.ok("C_MessageVerifyInit", param.ptr, pub)
    assert t.rv("C_VerifyMessage", ffi.NULL, 0, cbytes(r.data), len(r.data), cbytes(sig), len(sig)) == "OK"
    t.ok("C_MessageVerifyFinal")


def _run(t: Token, keys: Keys, m: int, flag: int, r: Recipe) -> None:
    def param() -> Mech:
        return r.param() or Mech(m)

    pub, priv = keys.get(r.key) if r.key else (0, 0)
    if flag in (MechanismFlag.MESSAGE_ENCRYPT, MechanismFlag.MESSAGE_SIGN):
        _message_round_trip(t, param(), m, pub, priv, r)
    elif flag in (MechanismFlag.MESSAGE_DECRYPT, MechanismFlag.MESSAGE_VERIFY, MechanismFlag.DECAPSULATE):
        pass  # with MESSAGE_ENCRYPT / MESSAGE_SIGN / ENCAPSULATE
    elif flag == MechanismFlag.ENCAPSULATE:
        made, ciphertext = t.encapsulate(param(), pub, {Attribute.EXTRACTABLE: True})
        back = t.decapsulate(param(), priv, ciphertext, {Attribute.EXTRACTABLE: True})
        assert t.get(made, Attribute.VALUE) == t.get(back, Attribute.VALUE)
    elif flag == MechanismFlag.ENCRYPT:
        ct = t.encrypt(param(), pub, r.data)
        assert t.decrypt(param(), priv, ct) == r.data, "decrypt(encrypt(x)) != x"
    elif flag == MechanismFlag.DECRYPT:
        pass  # proved together with ENCRYPT (a decrypt-only mechanism would need its own recipe)
    elif flag == MechanismFlag.SIGN:
        sig = t.sign(param(), priv, r.data)
        assert t.verify(param(), pub, r.data, sig) == "OK"
    elif flag == MechanismFlag.VERIFY:
        sig = t.sign(param(), priv, r.data)
        changed = bytes([r.data[0] ^ 1]) + r.data[1:]
        assert t.verify(param(), pub, changed, sig) == "SIGNATURE_INVALID"
    elif flag == MechanismFlag.SIGN_RECOVER:
        t.ok("C_SignRecoverInit", param().ptr, priv)
        sig = t.out("C_SignRecover", cbytes(r.data), len(r.data))
        t.ok("C_VerifyRecoverInit", param().ptr, pub)
        recovered = t.out("C_VerifyRecover", cbytes(sig), len(sig))
        assert recovered.lstrip(b"\x00") == r.data.lstrip(b"\x00")
    elif flag == MechanismFlag.VERIFY_RECOVER:
        pass  # with SIGN_RECOVER
    elif flag == MechanismFlag.DIGEST:
        assert t.digest(m, b"abc") == hashlib.new(DIGESTS[m], b"abc").digest()
    elif flag == MechanismFlag.GENERATE:
        key = t.generate_key(param(), {Attribute.TOKEN: False, **(r.gen or {})})
        assert t.get_bool(key, Attribute.LOCAL) is True
    elif flag == MechanismFlag.GENERATE_KEY_PAIR:
        _, priv_h = t.generate_pair(m, {Attribute.TOKEN: False, **(r.gen or {})}, {Attribute.TOKEN: False})
        assert t.get_ulong(priv_h, Attribute.KEY_GEN_MECHANISM) == m
    elif flag == MechanismFlag.WRAP:
        target = t.secret(
            bytes(range(32)) if m != Mechanism.AES_KEY_WRAP_KWP else r.data, KeyType.GENERIC_SECRET
        )
        wrapped = t.wrap(param(), pub, target)
        template = {
            Attribute.CLASS: ObjectClass.SECRET_KEY,
            Attribute.KEY_TYPE: KeyType.GENERIC_SECRET,
            Attribute.TOKEN: False,
            Attribute.SENSITIVE: False,
            Attribute.EXTRACTABLE: True,
        }
        back = t.unwrap(param(), priv, wrapped, template)
        assert t.get(back, Attribute.VALUE) == t.get(target, Attribute.VALUE)
    elif flag == MechanismFlag.UNWRAP:
        pass  # with WRAP
    elif flag == MechanismFlag.DERIVE:
        if m in (Mechanism.ECDH1_DERIVE, Mechanism.ECDH1_COFACTOR_DERIVE):
            peer = ec_key(P256)
            p = ecdh(ec_point(peer.public_key()), KDF.NULL, mechanism=m)
            tpl = {
                Attribute.CLASS: ObjectClass.SECRET_KEY,
                Attribute.KEY_TYPE: KeyType.GENERIC_SECRET,
                Attribute.VALUE_LEN: 32,
            }
        elif m == Mechanism.HKDF_DATA:
            p, tpl = param(), {Attribute.CLASS: ObjectClass.DATA, Attribute.VALUE_LEN: 32}
        elif m == Mechanism.CONCATENATE_BASE_AND_KEY:
            p = legacy.ulong_param(m, priv)
            tpl = {
                Attribute.CLASS: ObjectClass.SECRET_KEY,
                Attribute.KEY_TYPE: KeyType.GENERIC_SECRET,
                Attribute.VALUE_LEN: 32,
            }
        else:
            p, tpl = (
                param(),
                {
                    Attribute.CLASS: ObjectClass.SECRET_KEY,
                    Attribute.KEY_TYPE: KeyType.GENERIC_SECRET,
                    Attribute.VALUE_LEN: 32,
                },
            )
        t.derive(p, priv, {Attribute.TOKEN: False, **tpl})
    else:
        raise AssertionError(f"flag 0x{flag:x} has no smoke test")


def _flags(value: int) -> list[int]:
    return [1 << i for i in range(32) if value & (1 << i)]


# ------------------------------------------------------------------------------- the tests
def test_mechanism_list_and_info(t: Token) -> None:
    listed = t.mechanisms()
    assert listed, "no mechanisms listed"
    assert len(set(listed)) == len(listed), "a mechanism is listed twice"
    problems = []
    for m in listed:
        info = t.mechanism_info(m)
        flags, lo, hi = int(info.flags), int(info.ulMinKeySize), int(info.ulMaxKeySize)
        if flags & ~KNOWN_FLAGS & ~MechanismFlag.EXTENSION:
            problems.append(f"0x{m:x}: unknown flags 0x{flags & ~KNOWN_FLAGS:x}")
        if not flags & FUNCTION_FLAGS:
            problems.append(f"0x{m:x}: no function flag")
        if lo > hi:
            problems.append(f"0x{m:x}: min key size {lo} > max {hi}")
        if flags & MechanismFlag.HW and not t.softhsm2:
            problems.append(f"0x{m:x}: CKF_HW on a software token")
        if flags & EC_FLAGS and not flags & (
            MechanismFlag.SIGN | MechanismFlag.VERIFY | MechanismFlag.DERIVE | MechanismFlag.GENERATE_KEY_PAIR
        ):
            problems.append(f"0x{m:x}: EC capability flags on a non-EC mechanism")
        for message, plain in MESSAGE_FLAGS.items():
            if flags & message and not flags & plain:
                problems.append(f"0x{m:x}: 0x{message:x} without the plain function's flag")
    assert not problems, "\n".join(problems)


def test_info_for_unlisted_mechanism(t: Token) -> None:
    info = ffi.new("CK_MECHANISM_INFO *")
    assert t.m.rv("C_GetMechanismInfo", t.slot, 0x7FFF0000, info) == 0x70  # MECHANISM_INVALID
    assert t.m.rv("C_GetMechanismInfo", 0x7FFF, Mechanism.SHA256, info) == 0x3  # SLOT_ID_INVALID


def test_mechanism_list_short_buffer(t: Token) -> None:
    n = ffi.new("CK_ULONG *")
    t.m.check("C_GetMechanismList", t.slot, ffi.NULL, n)
    total = int(n[0])
    arr = ffi.new("CK_MECHANISM_TYPE[]", total)
    n[0] = total - 1
    assert t.m.rv("C_GetMechanismList", t.slot, arr, n) == 0x150  # BUFFER_TOO_SMALL
    assert int(n[0]) == total


def test_every_listed_mechanism_does_what_it_claims(t: Token) -> None:
    """The table-driven smoke test: one round trip per (mechanism, function flag)."""
    keys = Keys(t)
    problems, checked = [], 0
    for m in t.mechanisms():
        recipe = RECIPES.get(m)
        if recipe is None:
            if not t.softhsm2:
                problems.append(f"0x{m:x}: listed but no smoke test knows it")
            continue
        for flag in _flags(int(t.mechanism_info(m).flags) & FUNCTION_FLAGS):
            try:
                _run(t, keys, m, flag, recipe)
                checked += 1
            except (CKRError, AssertionError) as exc:
                problems.append(f"0x{m:x} flag 0x{flag:x}: {exc}")
                # A failed step may leave an operation active: go on in a new session (the
                # keys, session objects of the first one, stay usable while it stays open).
                t.h = t.m.open(t.slot)
    assert checked > 0
    if t.softhsm2 and problems:
        pytest.xfail("SoftHSMv2 claims more than it does:\n" + "\n".join(problems))
    assert not problems, "\n".join(problems)
