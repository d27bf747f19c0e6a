"""DSA and PKCS #3 Diffie-Hellman at the C ABI (issue 15 item 5): domain parameter generation
(a CKO_DOMAIN_PARAMETERS object), key pairs from the domain a public template names, DSA and
DSA_SHA* signatures, DH_PKCS_DERIVE. Known answers: NIST's FIPS 186-3 SigVer vectors and the
RFC 5114 DH vectors of cryptography_vectors; the rest checked with pyca/cryptography."""

from __future__ import annotations

import hashlib
import warnings
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dh, dsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    Prehashed,
    encode_dss_signature,
)

from support import vectors
from support.constants import Attribute, KeyType, Mechanism, ObjectClass
from support.legacy import (
    DH_DOMAIN,
    DSA_DOMAIN,
    G1024,
    P1024,
    Q160,
    big,
    create_or_rv,
    create_rv,
    derived,
    generate_rv,
    need,
)
from support.mechanisms import Mech
from support.pkcs11 import Module, ffi, spec_departure
from support.templates import Template
from support.token import Token, split

V = vectors
h = V.h
MSG = b"DSA signs this message, DH agrees on a key"

with warnings.catch_warnings():  # cryptography marks DSA and finite-field DH deprecated
    warnings.simplefilter("ignore")
    DSAParameterNumbers, DSAPublicNumbers = dsa.DSAParameterNumbers, dsa.DSAPublicNumbers
    DHParameterNumbers, DHPublicNumbers = dh.DHParameterNumbers, dh.DHPublicNumbers


@pytest.fixture
def t(module: Module) -> Token:
    return Token(module)


def hash_of(name: str) -> hashes.HashAlgorithm:
    return {
        "SHA-1": hashes.SHA1(),
        "SHA-224": hashes.SHA224(),
        "SHA-256": hashes.SHA256(),
        "SHA-384": hashes.SHA384(),
        "SHA-512": hashes.SHA512(),
    }[name]


DSA_HASHED = {
    "SHA-1": Mechanism.DSA_SHA1,
    "SHA-224": Mechanism.DSA_SHA224,
    "SHA-256": Mechanism.DSA_SHA256,
    "SHA-384": Mechanism.DSA_SHA384,
    "SHA-512": Mechanism.DSA_SHA512,
}


def dsa_pair(t: Token, domain: dict[int, bytes] = DSA_DOMAIN, **private: Any) -> tuple[int, int]:
    pub = {Attribute.TOKEN: False, Attribute.VERIFY: True, Attribute.KEY_TYPE: KeyType.DSA, **domain}
    priv = {
        Attribute.TOKEN: False,
        Attribute.SIGN: True,
        Attribute.KEY_TYPE: KeyType.DSA,
        **{Attribute[k]: v for k, v in private.items()},
    }
    return t.generate_pair(Mechanism.DSA_KEY_PAIR_GEN, pub, priv)


def dsa_public(t: Token, pub: int) -> Any:
    p, q, g = (
        int.from_bytes(t.get(pub, a), "big") for a in (Attribute.PRIME, Attribute.SUBPRIME, Attribute.BASE)
    )
    y = int.from_bytes(t.get(pub, Attribute.VALUE), "big")
    return DSAPublicNumbers(y, DSAParameterNumbers(p, q, g)).public_key()


def der(signature: bytes) -> bytes:
    half = len(signature) // 2
    return encode_dss_signature(
        int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big")
    )


# ------------------------------------------------------------------------------- DSA
def test_dsa_parameter_generation(t: Token) -> None:
    """python-pkcs11's generate_domain_parameters(KeyType.DSA, 1024): CLASS, PRIME_BITS, no key type."""
    need(t, Mechanism.DSA_PARAMETER_GEN, Mechanism.DSA_KEY_PAIR_GEN)
    params = t.generate_key(
        Mechanism.DSA_PARAMETER_GEN,
        {Attribute.CLASS: ObjectClass.DOMAIN_PARAMETERS, Attribute.TOKEN: False, Attribute.PRIME_BITS: 1024},
        with_class=False,
    )
    assert t.get_ulong(params, Attribute.CLASS) == ObjectClass.DOMAIN_PARAMETERS
    assert t.get_ulong(params, Attribute.KEY_TYPE) == KeyType.DSA
    assert t.get_ulong(params, Attribute.PRIME_BITS) == 1024
    assert t.get_bool(params, Attribute.LOCAL)
    p, q, g = (
        int.from_bytes(t.get(params, a), "big") for a in (Attribute.PRIME, Attribute.SUBPRIME, Attribute.BASE)
    )
    assert p.bit_length() == 1024 and (p - 1) % q == 0 and pow(g, q, p) == 1
    DSAParameterNumbers(p, q, g).parameters()  # cryptography takes them
    domain = {a: t.get(params, a) for a in (Attribute.PRIME, Attribute.SUBPRIME, Attribute.BASE)}
    pub, priv = dsa_pair(t, domain)
    signature = t.sign(Mechanism.DSA_SHA256, priv, MSG)
    dsa_public(t, pub).verify(der(signature), MSG, hashes.SHA256())


def test_dsa_domain_parameters_object(t: Token) -> None:
    """A CKO_DOMAIN_PARAMETERS object made with C_CreateObject: checked, PRIME_BITS computed, not local."""
    need(t, Mechanism.DSA_KEY_PAIR_GEN)
    params = t.create(
        {
            Attribute.CLASS: ObjectClass.DOMAIN_PARAMETERS,
            Attribute.KEY_TYPE: KeyType.DSA,
            Attribute.TOKEN: False,
            **DSA_DOMAIN,
        }
    )
    assert t.get_ulong(params, Attribute.PRIME_BITS) == 1024
    assert not t.get_bool(params, Attribute.LOCAL)
    assert t.get(params, Attribute.SUBPRIME) == DSA_DOMAIN[Attribute.SUBPRIME]


@spec_departure("SoftHSMv2", clause="3.0 4.1.1: DSA domain parameters that are none are an invalid value")
def test_dsa_domain_parameters_refused(t: Token) -> None:
    need(t, Mechanism.DSA_KEY_PAIR_GEN)
    base = {
        Attribute.CLASS: ObjectClass.DOMAIN_PARAMETERS,
        Attribute.KEY_TYPE: KeyType.DSA,
        Attribute.TOKEN: False,
    }
    assert (
        create_rv(t, {**base, **DSA_DOMAIN, Attribute.SUBPRIME: big(Q160 + 2)}) == "ATTRIBUTE_VALUE_INVALID"
    )
    assert create_rv(t, {**base, **DSA_DOMAIN, Attribute.PRIME_BITS: 1024}) == "ATTRIBUTE_READ_ONLY"


def test_dsa_key_pair_and_signatures(t: Token) -> None:
    need(t, Mechanism.DSA_KEY_PAIR_GEN, Mechanism.DSA, Mechanism.DSA_SHA1, Mechanism.DSA_SHA256)
    pub, priv = dsa_pair(t)
    public = dsa_public(t, pub)
    assert len(t.get(pub, Attribute.VALUE)) >= 120  # python-pkcs11's check of a 1024-bit public value
    for name, mechanism in DSA_HASHED.items():
        if mechanism not in t.mechanisms():
            continue
        signature = t.sign(mechanism, priv, MSG)
        assert len(signature) == 40  # r || s, each as long as q
        public.verify(der(signature), MSG, hash_of(name))
        assert t.verify(mechanism, pub, MSG, signature) == "OK"
        assert t.sign_parts(mechanism, priv, split(MSG, 5, 11)) != b""
        assert t.verify_parts(mechanism, pub, split(MSG, 3), signature) == "OK"
        assert t.verify(mechanism, pub, MSG + b"!", signature) == "SIGNATURE_INVALID"
    # CKM_DSA signs the caller's digest
    digest = hashes.Hash(hashes.SHA1())
    digest.update(MSG)
    d = digest.finalize()
    signature = t.sign(Mechanism.DSA, priv, d)
    public.verify(der(signature), d, Prehashed(hashes.SHA1()))
    assert t.verify(Mechanism.DSA, pub, d, signature) == "OK"


def test_dsa_sha3(t: Token) -> None:
    need(t, Mechanism.DSA_KEY_PAIR_GEN, Mechanism.DSA_SHA3_256)
    pub, priv = dsa_pair(t)
    for mechanism, algorithm in (
        (Mechanism.DSA_SHA3_224, hashes.SHA3_224()),
        (Mechanism.DSA_SHA3_256, hashes.SHA3_256()),
        (Mechanism.DSA_SHA3_384, hashes.SHA3_384()),
        (Mechanism.DSA_SHA3_512, hashes.SHA3_512()),
    ):
        signature = t.sign(mechanism, priv, MSG)
        dsa_public(t, pub).verify(der(signature), MSG, algorithm)


def sigver_records() -> list[dict[str, str]]:
    """FIPS 186-3 SigVer.rsp: each record with the domain of its section."""
    out, domain, current = [], {}, {}
    for line in V.external("asymmetric/DSA/FIPS_186-3/SigVer.rsp").read_text().splitlines():
        line = line.strip()
        if line.startswith("[mod"):
            domain = {"hash": line.rstrip("]").split(", ")[-1]}
            continue
        if "=" not in line or line.startswith("#"):
            continue
        key, _, value = (part.strip() for part in line.partition("="))
        if key in ("P", "Q", "G"):
            domain[key] = value
        else:
            current[key] = value
            if key == "Result":
                out.append({**domain, **current})
                current = {}
    return out


def test_dsa_nist_sigver(t: Token) -> None:
    """NIST's FIPS 186-3 signature verification vectors: public keys imported with
    C_CreateObject, good signatures verify, changed ones (message, key, r, s) do not."""
    need(t, Mechanism.DSA_SHA1, Mechanism.DSA_SHA256)
    records = sigver_records()
    assert len(records) == 300
    for v in records[::3]:  # every third: each domain size and hash, a third of the time
        mechanism = DSA_HASHED[v["hash"]]
        if mechanism not in t.mechanisms():
            continue
        p = int(v["P"], 16)
        rv, pub = create_or_rv(
            t,
            {
                Attribute.CLASS: ObjectClass.PUBLIC_KEY,
                Attribute.KEY_TYPE: KeyType.DSA,
                Attribute.TOKEN: False,
                Attribute.VERIFY: True,
                Attribute.PRIME: h(v["P"]),
                Attribute.SUBPRIME: h(v["Q"]),
                Attribute.BASE: h(v["G"]),
                Attribute.VALUE: big(int(v["Y"], 16)),
            },
        )
        good = v["Result"].startswith("P")
        if rv != "OK":  # a changed Y outside the order-q subgroup is no public key: refused at import
            assert rv == "ATTRIBUTE_VALUE_INVALID" and not good and "Y changed" in v["Result"], v["Result"]
            continue
        n = (int(v["Q"], 16).bit_length() + 7) // 8
        signature = int(v["R"], 16).to_bytes(n, "big") + int(v["S"], 16).to_bytes(n, "big")
        expected = "OK" if good else "SIGNATURE_INVALID"
        assert t.verify(mechanism, pub, h(v["Msg"]), signature) == expected, (v["hash"], p.bit_length())


def test_dsa_private_key_import(t: Token) -> None:
    """A DSA private key made by cryptography signs in the token; the public half verifies."""
    need(t, Mechanism.DSA_SHA256)
    key = DSAParameterNumbers(P1024, Q160, G1024).parameters().generate_private_key()
    x = key.private_numbers().x
    priv = t.create(
        {
            Attribute.CLASS: ObjectClass.PRIVATE_KEY,
            Attribute.KEY_TYPE: KeyType.DSA,
            Attribute.TOKEN: False,
            Attribute.SIGN: True,
            **DSA_DOMAIN,
            Attribute.VALUE: big(x),
        }
    )
    key.public_key().verify(der(t.sign(Mechanism.DSA_SHA256, priv, MSG)), MSG, hashes.SHA256())


def test_dsa_refusals(t: Token) -> None:
    need(t, Mechanism.DSA_KEY_PAIR_GEN, Mechanism.DSA, Mechanism.DSA_SHA1)
    pub, _ = dsa_pair(t)
    assert t.rv("C_SignInit", Mech(Mechanism.DSA_SHA1).ptr, pub) in (
        "KEY_FUNCTION_NOT_PERMITTED",
        "KEY_TYPE_INCONSISTENT",
    )
    assert t.verify(Mechanism.DSA_SHA1, pub, MSG, bytes(39)) == "SIGNATURE_LEN_RANGE"
    # a public template without its domain
    tp, tq = (
        Template({Attribute.CLASS: ObjectClass.PUBLIC_KEY, Attribute.TOKEN: False}),
        Template({Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.TOKEN: False}),
    )
    hp, hq = ffi.new("CK_OBJECT_HANDLE *"), ffi.new("CK_OBJECT_HANDLE *")
    rv = t.rv(
        "C_GenerateKeyPair", Mech(Mechanism.DSA_KEY_PAIR_GEN).ptr, tp.ptr, tp.count, tq.ptr, tq.count, hp, hq
    )
    assert rv == "TEMPLATE_INCOMPLETE"


@spec_departure("SoftHSMv2", clause="3.0 5.12 C_SignInit: KEY_TYPE_INCONSISTENT (an AES key for DSA: OK)")
def test_dsa_wrong_key_type(t: Token) -> None:
    need(t, Mechanism.DSA_SHA1)
    aes = t.secret(bytes(16), KeyType.AES)
    assert t.rv("C_SignInit", Mech(Mechanism.DSA_SHA1).ptr, aes) == "KEY_TYPE_INCONSISTENT"


@spec_departure(
    "SoftHSMv2", clause="3.0 2.2: CKM_DSA signs a 20, 28, 32, 48 or 64-byte digest (DATA_LEN_RANGE)"
)
def test_dsa_digest_length(t: Token) -> None:
    need(t, Mechanism.DSA_KEY_PAIR_GEN, Mechanism.DSA)
    _, priv = dsa_pair(t)
    t.ok("C_SignInit", Mech(Mechanism.DSA).ptr, priv)
    n, out = ffi.new("CK_ULONG *", 64), ffi.new("CK_BYTE[]", 64)
    assert t.rv("C_Sign", *t._data(bytes(21)), out, n) == "DATA_LEN_RANGE"


@pytest.mark.parametrize("mechanism", [Mechanism.DSA, Mechanism.DSA_SHA256], ids=["DSA", "DSA_SHA256"])
def test_dsa_size_query(t: Token, mechanism: int) -> None:
    """A size query answers r || s (each as long as q) without signing, and consumes nothing: the
    signature that follows is of the data passed, not of the data asked about (3.0, 5.2)."""
    need(t, Mechanism.DSA_KEY_PAIR_GEN, mechanism)
    pub, priv = dsa_pair(t)
    asked, passed = b"the data asked about", b"the data passed after the query"
    algorithm: Any = hashes.SHA256()
    if mechanism == Mechanism.DSA:  # CKM_DSA signs the caller's digest
        asked, passed = hashlib.sha1(asked).digest(), hashlib.sha1(passed).digest()
        algorithm = Prehashed(hashes.SHA1())
    t.ok("C_SignInit", Mech(mechanism).ptr, priv)
    n = ffi.new("CK_ULONG *")
    t.ok("C_Sign", *t._data(asked), ffi.NULL, n)
    assert int(n[0]) == 2 * len(DSA_DOMAIN[Attribute.SUBPRIME])
    out = ffi.new("CK_BYTE[]", int(n[0]))
    t.ok("C_Sign", *t._data(passed), out, n)
    dsa_public(t, pub).verify(der(bytes(ffi.buffer(out, int(n[0])))), passed, algorithm)


def test_dsa_parameter_gen_refusals(t: Token) -> None:
    need(t, Mechanism.DSA_PARAMETER_GEN)
    no_bits = {
        Attribute.CLASS: ObjectClass.DOMAIN_PARAMETERS,
        Attribute.KEY_TYPE: KeyType.DSA,
        Attribute.TOKEN: False,
    }
    assert generate_rv(t, Mech(Mechanism.DSA_PARAMETER_GEN), no_bits) == "TEMPLATE_INCOMPLETE"
    if not t.softhsm2:  # SoftHSMv2 makes 512-bit DSA domains; FIPS 186-4 starts at 1024
        assert (
            generate_rv(t, Mech(Mechanism.DSA_PARAMETER_GEN), {**no_bits, Attribute.PRIME_BITS: 512})
            == "KEY_SIZE_RANGE"
        )


# ------------------------------------------------------------------------------- DH
def dh_pair(t: Token, domain: dict[int, bytes] = DH_DOMAIN, **private: Any) -> tuple[int, int]:
    pub = {Attribute.TOKEN: False, Attribute.KEY_TYPE: KeyType.DH, **domain}
    priv = {
        Attribute.TOKEN: False,
        Attribute.DERIVE: True,
        Attribute.KEY_TYPE: KeyType.DH,
        **{Attribute[k]: v for k, v in private.items()},
    }
    return t.generate_pair(Mechanism.DH_PKCS_KEY_PAIR_GEN, pub, priv)


def test_dh_key_pair_and_derive(t: Token) -> None:
    need(t, Mechanism.DH_PKCS_KEY_PAIR_GEN, Mechanism.DH_PKCS_DERIVE)
    pub, priv = dh_pair(t)
    y = int.from_bytes(t.get(pub, Attribute.VALUE), "big")
    assert 1 < y < P1024 - 1
    params = DHParameterNumbers(P1024, G1024).parameters()
    peer = params.generate_private_key()
    peer_y = peer.public_key().public_numbers().y
    shared = peer.exchange(DHPublicNumbers(y, DHParameterNumbers(P1024, G1024)).public_key())
    secret_key = t.derive(Mech(Mechanism.DH_PKCS_DERIVE, big(peer_y)), priv, derived(length=128))
    assert t.get(secret_key, Attribute.VALUE) == shared.rjust(128, b"\0")
    # a shorter key takes the trailing bytes (the truncation removes bytes from the leading end)
    short = t.derive(Mech(Mechanism.DH_PKCS_DERIVE, big(peer_y)), priv, derived(KeyType.AES, 16))
    assert t.get(short, Attribute.VALUE) == shared.rjust(128, b"\0")[-16:]


@spec_departure("SoftHSMv2", clause="PKCS #3 DH private keys: CKA_VALUE_BITS is the length of x (x shorter)")
def test_dh_value_bits(t: Token) -> None:
    need(t, Mechanism.DH_PKCS_KEY_PAIR_GEN)
    for _ in range(16):  # a random x of up to 160 bits has exactly 160 one time in two
        _, priv = dh_pair(t, VALUE_BITS=160, SENSITIVE=False, EXTRACTABLE=True)
        x = int.from_bytes(t.get(priv, Attribute.VALUE), "big")
        assert x.bit_length() == 160 and t.get_ulong(priv, Attribute.VALUE_BITS) == 160


def test_dh_rfc5114(t: Token) -> None:
    """RFC 5114's DH examples: the IUT's static key imported, the CAVS public value as the
    parameter, Z the agreed secret."""
    need(t, Mechanism.DH_PKCS_DERIVE)
    records = V.parse_cavp(V.external("asymmetric/DH/RFC5114.txt").read_text())
    assert len(records) == 3
    for v in records:
        priv = t.create(
            {
                Attribute.CLASS: ObjectClass.PRIVATE_KEY,
                Attribute.KEY_TYPE: KeyType.DH,
                Attribute.TOKEN: False,
                Attribute.DERIVE: True,
                Attribute.PRIME: h(v["P"]),
                Attribute.BASE: h(v["G"]),
                Attribute.VALUE: h(v["XstatIUT"]),
            }
        )
        key = t.derive(
            Mech(Mechanism.DH_PKCS_DERIVE, h(v["YstatCAVS"])), priv, derived(length=len(h(v["Z"])))
        )
        assert t.get(key, Attribute.VALUE) == h(v["Z"])


@spec_departure(
    "SoftHSMv2", clause="3.0 5.18: a peer value outside 1 < y < p-1 is PUBLIC_KEY_INVALID (GENERAL_ERROR)"
)
def test_dh_bad_peer_value(t: Token) -> None:
    need(t, Mechanism.DH_PKCS_KEY_PAIR_GEN, Mechanism.DH_PKCS_DERIVE)
    _, priv = dh_pair(t)
    for bad in (b"\x01", big(P1024 - 1), big(P1024 + 5)):
        rv = t.derive_rv(Mech(Mechanism.DH_PKCS_DERIVE, bad), priv, derived(length=16))
        assert rv == "PUBLIC_KEY_INVALID"


def test_dh_refusals(t: Token) -> None:
    need(t, Mechanism.DH_PKCS_KEY_PAIR_GEN, Mechanism.DH_PKCS_DERIVE)
    pub, priv = dh_pair(t)
    assert t.derive_rv(Mech(Mechanism.DH_PKCS_DERIVE), priv, derived()) in (
        "MECHANISM_PARAM_INVALID",
        "ARGUMENTS_BAD",
    )
    assert t.derive_rv(Mech(Mechanism.DH_PKCS_DERIVE, big(7)), pub, derived()) in (
        "KEY_FUNCTION_NOT_PERMITTED",
        "KEY_TYPE_INCONSISTENT",
    )


@spec_departure(
    "SoftHSMv2", clause="3.0 5.18 C_DeriveKey: a CKA_VALUE_LEN longer than the secret is a template error"
)
def test_dh_derive_too_long(t: Token) -> None:
    need(t, Mechanism.DH_PKCS_KEY_PAIR_GEN, Mechanism.DH_PKCS_DERIVE)
    _, priv = dh_pair(t)
    assert (
        t.derive_rv(Mech(Mechanism.DH_PKCS_DERIVE, big(G1024)), priv, derived(length=129))
        == "TEMPLATE_INCONSISTENT"
    )


def test_dh_and_dsa_keys_wrap_as_pkcs8(t: Token) -> None:
    """C_WrapKey of a DSA or DH private key is its PKCS#8 encoding, which cryptography reads (with
    3.0's RFC 5649 mechanism: SoftHSMv2's 0x210A pads the PKCS#8 with zeros first)."""
    need(t, Mechanism.DSA_KEY_PAIR_GEN, Mechanism.DH_PKCS_KEY_PAIR_GEN, Mechanism.AES_KEY_WRAP_KWP)
    kek = t.secret(bytes(range(32)), KeyType.AES)
    from cryptography.hazmat.primitives import keywrap

    for pair in (dsa_pair(t, EXTRACTABLE=True), dh_pair(t, EXTRACTABLE=True)):
        wrapped = t.wrap(Mech(Mechanism.AES_KEY_WRAP_KWP), kek, pair[1])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            key = serialization.load_der_private_key(
                keywrap.aes_key_unwrap_with_padding(bytes(range(32)), wrapped), None
            )
        y = int.from_bytes(t.get(pair[0], Attribute.VALUE), "big")
        assert key.public_key().public_numbers().y == y  # type: ignore[union-attr]


# ------------------------------------------------------------------------------- mechanism info
_SIGN = 0x800 | 0x2000 | 0x8 | 0x10  # SIGN, VERIFY and their message forms (CKF_MESSAGE_SIGN / _VERIFY)
INFO = [
    (Mechanism.DSA_PARAMETER_GEN, 1024, 4096, 0x8000),
    (Mechanism.DSA_KEY_PAIR_GEN, 1024, 4096, 0x10000),
    (Mechanism.DSA, 1024, 4096, _SIGN),
    (Mechanism.DSA_SHA1, 1024, 4096, _SIGN),
    (Mechanism.DSA_SHA512, 1024, 4096, _SIGN),
    (Mechanism.DSA_SHA3_256, 1024, 4096, _SIGN),
    (Mechanism.DH_PKCS_KEY_PAIR_GEN, 512, 10000, 0x10000),
    (Mechanism.DH_PKCS_DERIVE, 512, 10000, 0x80000),
]


@pytest.mark.parametrize(("mechanism", "lo", "hi", "flags"), INFO, ids=[hex(i[0]) for i in INFO])
def test_mechanism_info(t: Token, mechanism: int, lo: int, hi: int, flags: int) -> None:
    if t.softhsm2:
        pytest.skip("softhsm-py's own sizes and flags (SoftHSMv2 reports its own)")
    info = t.mechanism_info(mechanism)
    assert (int(info.ulMinKeySize), int(info.ulMaxKeySize), int(info.flags)) == (lo, hi, flags)
