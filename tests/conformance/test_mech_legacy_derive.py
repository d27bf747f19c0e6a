"""The legacy key derivations at the C ABI (issue 15 item 5): AES / DES3 _ECB / _CBC _ENCRYPT_DATA,
the simple derivations (CONCATENATE_BASE_AND_KEY, _BASE_AND_DATA, _DATA_AND_BASE,
XOR_BASE_AND_DATA, EXTRACT_KEY_FROM_KEY) with their protection rules (3.0, 2.43), the SP 800-108
KDFs in counter, feedback and double pipeline mode with additional keys, and PKCS #5 PBKDF2.
Known answers: NIST's SP 800-108 CAVP files (cryptography_vectors, and a selection in
tests/vectors/data), RFC 6070; the rest checked with pyca/cryptography."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from support import vectors
from support.constants import Attribute, KeyType, Mechanism, ObjectClass
from support.legacy import (
    AdditionalKey,
    byte_array,
    cbc_encrypt_data,
    chaining,
    counter,
    derived,
    dkm_length,
    generate_rv,
    need,
    odd_parity,
    optional_counter,
    pbkdf2,
    sp800_108,
    string_data,
    ulong_param,
)
from support.mechanisms import Mech, hkdf
from support.pkcs11 import Module, spec_departure
from support.token import Token

V = vectors
h = V.h
DATA = bytes(range(48))


@pytest.fixture
def t(module: Module) -> Token:
    return Token(module)


def ecb(algorithm: Any, data: bytes) -> bytes:
    enc = Cipher(algorithm, modes.ECB()).encryptor()
    return enc.update(data) + enc.finalize()


def cbc(algorithm: Any, iv: bytes, data: bytes) -> bytes:
    enc = Cipher(algorithm, modes.CBC(iv)).encryptor()
    return enc.update(data) + enc.finalize()


# ------------------------------------------------------------------------------- *_ENCRYPT_DATA
def test_aes_encrypt_data(t: Token) -> None:
    need(t, Mechanism.AES_ECB_ENCRYPT_DATA, Mechanism.AES_CBC_ENCRYPT_DATA)
    value = bytes(range(32))
    base = t.secret(value, KeyType.AES)
    iv = bytes(range(16, 32))
    expected_ecb = ecb(algorithms.AES(value), DATA[:32])
    key = t.derive(string_data(Mechanism.AES_ECB_ENCRYPT_DATA, DATA[:32]), base, derived(KeyType.AES, 32))
    assert t.get(key, Attribute.VALUE) == expected_ecb
    expected_cbc = cbc(algorithms.AES(value), iv, DATA)
    key = t.derive(cbc_encrypt_data(Mechanism.AES_CBC_ENCRYPT_DATA, iv, DATA), base, derived(length=48))
    assert t.get(key, Attribute.VALUE) == expected_cbc
    # a shorter key keeps the leading bytes
    key = t.derive(cbc_encrypt_data(Mechanism.AES_CBC_ENCRYPT_DATA, iv, DATA), base, derived(KeyType.AES, 16))
    assert t.get(key, Attribute.VALUE) == expected_cbc[:16]


@pytest.mark.parametrize("size", [16, 24])
def test_des3_encrypt_data(t: Token, size: int) -> None:
    need(t, Mechanism.DES3_ECB_ENCRYPT_DATA, Mechanism.DES3_CBC_ENCRYPT_DATA)
    value = odd_parity(bytes(range(50, 50 + size)))
    base = t.secret(value, KeyType.DES2 if size == 16 else KeyType.DES3)
    algorithm = TripleDES(value + value[:8] if size == 16 else value)
    key = t.derive(string_data(Mechanism.DES3_ECB_ENCRYPT_DATA, DATA[:24]), base, derived(length=24))
    assert t.get(key, Attribute.VALUE) == ecb(algorithm, DATA[:24])
    iv = bytes(range(8))
    key = t.derive(cbc_encrypt_data(Mechanism.DES3_CBC_ENCRYPT_DATA, iv, DATA[:16]), base, derived(length=16))
    assert t.get(key, Attribute.VALUE) == cbc(algorithm, iv, DATA[:16])


def test_derived_des_key_has_parity(t: Token) -> None:
    need(t, Mechanism.DES3_ECB_ENCRYPT_DATA, Mechanism.DES3_KEY_GEN)
    value = odd_parity(bytes(range(50, 74)))
    base = t.secret(value, KeyType.DES3)
    key = t.derive(string_data(Mechanism.DES3_ECB_ENCRYPT_DATA, DATA[:24]), base, derived(KeyType.DES3))
    assert t.get(key, Attribute.VALUE) == odd_parity(ecb(TripleDES(value), DATA[:24]))
    assert t.sign(Mechanism.DES3_CMAC, key, DATA) == t.sign(
        Mechanism.DES3_CMAC, t.secret(t.get(key, Attribute.VALUE), KeyType.DES3), DATA
    )


def test_encrypt_data_refusals(t: Token) -> None:
    need(t, Mechanism.AES_ECB_ENCRYPT_DATA, Mechanism.AES_CBC_ENCRYPT_DATA)
    base = t.secret(bytes(range(16)), KeyType.AES)
    assert t.derive_rv(string_data(Mechanism.AES_ECB_ENCRYPT_DATA, DATA[:20]), base, derived(length=16)) in (
        "DATA_LEN_RANGE",
        "MECHANISM_PARAM_INVALID",
    )
    des = t.secret(odd_parity(bytes(24)), KeyType.DES3)
    assert t.derive_rv(string_data(Mechanism.AES_ECB_ENCRYPT_DATA, DATA[:16]), des, derived(length=16)) == (
        "KEY_TYPE_INCONSISTENT"
    )


@spec_departure(
    "SoftHSMv2", clause="2.20 (v2.20 12.14.3): data too short for the key asked for is DATA_LEN_RANGE"
)
def test_encrypt_data_too_short(t: Token) -> None:
    need(t, Mechanism.AES_ECB_ENCRYPT_DATA)
    base = t.secret(bytes(range(16)), KeyType.AES)
    assert (
        t.derive_rv(string_data(Mechanism.AES_ECB_ENCRYPT_DATA, DATA[:16]), base, derived(KeyType.AES, 32))
        == "DATA_LEN_RANGE"
    )


# ------------------------------------------------------------------------------- simple derivations
def test_concatenate_and_xor(t: Token) -> None:
    need(
        t,
        Mechanism.CONCATENATE_BASE_AND_KEY,
        Mechanism.CONCATENATE_BASE_AND_DATA,
        Mechanism.CONCATENATE_DATA_AND_BASE,
        Mechanism.XOR_BASE_AND_DATA,
    )
    a, b = bytes(range(1, 17)), bytes(range(100, 132))
    base, other = t.secret(a, KeyType.GENERIC_SECRET), t.secret(b, KeyType.AES)
    key = t.derive(ulong_param(Mechanism.CONCATENATE_BASE_AND_KEY, other), base, derived())
    assert t.get(key, Attribute.VALUE) == a + b
    key = t.derive(string_data(Mechanism.CONCATENATE_BASE_AND_DATA, b"data"), base, derived())
    assert t.get(key, Attribute.VALUE) == a + b"data"
    key = t.derive(string_data(Mechanism.CONCATENATE_DATA_AND_BASE, b"data"), base, derived())
    assert t.get(key, Attribute.VALUE) == b"data" + a
    key = t.derive(string_data(Mechanism.XOR_BASE_AND_DATA, b"\xff" * 20), base, derived())
    assert t.get(key, Attribute.VALUE) == bytes(x ^ 0xFF for x in a)  # as long as the shorter of the two
    # a key type of fixed length takes the leading bytes; DES keys get their parity
    key = t.derive(ulong_param(Mechanism.CONCATENATE_BASE_AND_KEY, other), base, derived(KeyType.AES, 32))
    assert t.get(key, Attribute.VALUE) == (a + b)[:32]
    key = t.derive(ulong_param(Mechanism.CONCATENATE_BASE_AND_KEY, other), base, derived(KeyType.DES2))
    assert t.get(key, Attribute.VALUE) == odd_parity(a)


def test_extract_key_from_key(t: Token) -> None:
    """3.0 2.43.7's own example: 0x329F84A9 from bit 21 gives 0x9526; bits wrap around."""
    need(t, Mechanism.EXTRACT_KEY_FROM_KEY)
    base = t.secret(bytes.fromhex("329F84A9"), KeyType.GENERIC_SECRET)
    key = t.derive(ulong_param(Mechanism.EXTRACT_KEY_FROM_KEY, 21), base, derived(length=2))
    assert t.get(key, Attribute.VALUE) == bytes.fromhex("9526")
    key = t.derive(ulong_param(Mechanism.EXTRACT_KEY_FROM_KEY, 0), base, derived())
    assert t.get(key, Attribute.VALUE) == bytes.fromhex("329F84A9")
    key = t.derive(ulong_param(Mechanism.EXTRACT_KEY_FROM_KEY, 28), base, derived(length=4))
    assert t.get(key, Attribute.VALUE) == bytes.fromhex("9329F84A")
    assert (
        t.derive_rv(ulong_param(Mechanism.EXTRACT_KEY_FROM_KEY, 32), base, derived(length=2))
        == "MECHANISM_PARAM_INVALID"
    )
    assert (
        t.derive_rv(ulong_param(Mechanism.EXTRACT_KEY_FROM_KEY, 3), base, derived(length=5))
        == "TEMPLATE_INCONSISTENT"
    )


def test_simple_derivations_keep_protection(t: Token) -> None:
    """A key made of a sensitive key's bits is sensitive, of an unextractable one's unextractable,
    whatever its template says (3.0, 2.43); ALWAYS_SENSITIVE / NEVER_EXTRACTABLE follow all sources."""
    need(
        t,
        Mechanism.CONCATENATE_BASE_AND_DATA,
        Mechanism.CONCATENATE_BASE_AND_KEY,
        Mechanism.EXTRACT_KEY_FROM_KEY,
    )
    guarded = t.generate_key(
        Mechanism.AES_KEY_GEN,
        {
            Attribute.VALUE_LEN: 16,
            Attribute.TOKEN: False,
            Attribute.DERIVE: True,
            Attribute.SENSITIVE: True,
            Attribute.EXTRACTABLE: False,
        },
    )
    readable = t.secret(bytes(16), KeyType.GENERIC_SECRET)
    for m, base, n in (
        (string_data(Mechanism.CONCATENATE_BASE_AND_DATA, b"x"), guarded, 17),
        (ulong_param(Mechanism.EXTRACT_KEY_FROM_KEY, 3), guarded, 16),
        (ulong_param(Mechanism.CONCATENATE_BASE_AND_KEY, guarded), readable, 32),
    ):
        key = t.derive(m, base, derived(length=n))  # asks SENSITIVE FALSE, EXTRACTABLE TRUE
        assert t.get_bool(key, Attribute.SENSITIVE) and not t.get_bool(key, Attribute.EXTRACTABLE)
        assert t.get_rv(key, Attribute.VALUE) == "ATTRIBUTE_SENSITIVE"
        assert t.get_bool(key, Attribute.ALWAYS_SENSITIVE) is (base == guarded)
        assert t.get_bool(key, Attribute.NEVER_EXTRACTABLE) is (base == guarded)
    # a readable base with a silent template: the new key is as readable as its base
    key = t.derive(
        string_data(Mechanism.CONCATENATE_BASE_AND_DATA, b"x"),
        readable,
        {
            Attribute.CLASS: ObjectClass.SECRET_KEY,
            Attribute.KEY_TYPE: KeyType.GENERIC_SECRET,
            Attribute.TOKEN: False,
        },
    )
    assert t.get(key, Attribute.VALUE) == bytes(16) + b"x"


def test_simple_derivations_keep_every_bit_of_a_protected_key(t: Token) -> None:
    """A short key made of a protected key's bits would give that key away: derive a 1-byte key
    (EXTRACT_KEY_FROM_KEY, or 15 known bytes and 1 unknown with CONCATENATE_DATA_AND_BASE cut to
    16), MAC a message with it, try the 256 values outside. So a key made from a sensitive or
    unextractable key keeps all of its bits; a readable key's may be cut (test_concatenate_and_xor)."""
    need(
        t,
        Mechanism.EXTRACT_KEY_FROM_KEY,
        Mechanism.CONCATENATE_DATA_AND_BASE,
        Mechanism.XOR_BASE_AND_DATA,
        Mechanism.CONCATENATE_BASE_AND_KEY,
    )
    guarded = t.generate_key(
        Mechanism.AES_KEY_GEN,
        {
            Attribute.VALUE_LEN: 16,
            Attribute.TOKEN: False,
            Attribute.DERIVE: True,
            Attribute.SENSITIVE: True,
            Attribute.EXTRACTABLE: True,
        },
    )
    readable = t.secret(bytes(16), KeyType.GENERIC_SECRET)
    refused = "TEMPLATE_INCONSISTENT"
    assert t.derive_rv(ulong_param(Mechanism.EXTRACT_KEY_FROM_KEY, 8), guarded, derived(length=1)) == refused
    assert (
        t.derive_rv(
            string_data(Mechanism.CONCATENATE_DATA_AND_BASE, bytes(15)), guarded, derived(KeyType.AES, 16)
        )
        == refused
    )
    assert t.derive_rv(string_data(Mechanism.XOR_BASE_AND_DATA, b"\x01"), guarded, derived()) == refused
    assert (
        t.derive_rv(ulong_param(Mechanism.CONCATENATE_BASE_AND_KEY, guarded), readable, derived(length=17))
        == refused
    )
    key = t.derive(
        string_data(Mechanism.CONCATENATE_DATA_AND_BASE, bytes(15)), guarded, derived()
    )  # all 31 bytes
    assert t.get_bool(key, Attribute.SENSITIVE)


def test_concatenate_other_key_is_checked(t: Token) -> None:
    """The other key of CONCATENATE_BASE_AND_KEY is keying material: it needs CKA_DERIVE, as the
    base key does, and must be a secret key."""
    need(t, Mechanism.CONCATENATE_BASE_AND_KEY)
    base = t.secret(bytes(16), KeyType.GENERIC_SECRET)
    no_derive = t.secret(bytes(16), KeyType.GENERIC_SECRET, DERIVE=False)
    m = ulong_param(Mechanism.CONCATENATE_BASE_AND_KEY, no_derive)
    assert t.derive_rv(m, base, derived()) == "KEY_FUNCTION_NOT_PERMITTED"
    assert (
        t.derive_rv(ulong_param(Mechanism.CONCATENATE_BASE_AND_KEY, 0xBAD), base, derived())
        == "KEY_HANDLE_INVALID"
    )
    assert (
        t.derive_rv(string_data(Mechanism.CONCATENATE_BASE_AND_DATA, b""), base, derived())
        == "MECHANISM_PARAM_INVALID"
    )


def test_keying_material_keys_that_ask_for_a_context_login_are_refused(t: Token) -> None:
    """C_DeriveKey is a single call: no *Init gives a C_Login(CKU_CONTEXT_SPECIFIC) a place. As
    the base key, a key its parameter names as keying material (CONCATENATE_BASE_AND_KEY's other
    key, HKDF's salt key) is refused when it asks for one (CKA_ALWAYS_AUTHENTICATE)."""
    if t.softhsm2:
        pytest.skip("SoftHSMv2 does not enforce CKA_ALWAYS_AUTHENTICATE")
    need(t, Mechanism.CONCATENATE_BASE_AND_KEY, Mechanism.HKDF_DERIVE)
    base = t.secret(bytes(range(32)), KeyType.GENERIC_SECRET)
    guarded = t.secret(bytes(range(32, 64)), KeyType.GENERIC_SECRET, ALWAYS_AUTHENTICATE=True)
    plain = t.secret(bytes(range(32, 64)), KeyType.GENERIC_SECRET)
    for other, rv in ((guarded, "USER_NOT_LOGGED_IN"), (plain, "OK")):
        concatenate = ulong_param(Mechanism.CONCATENATE_BASE_AND_KEY, other)
        assert t.derive_rv(concatenate, base, derived(length=64)) == rv
        assert t.derive_rv(hkdf(salt_key=other), base, derived(length=32)) == rv


# ------------------------------------------------------------------------------- SP 800-108
PRF = {
    "HMAC_SHA1": Mechanism.SHA_1_HMAC,
    "HMAC_SHA224": Mechanism.SHA224_HMAC,
    "HMAC_SHA256": Mechanism.SHA256_HMAC,
    "HMAC_SHA384": Mechanism.SHA384_HMAC,
    "HMAC_SHA512": Mechanism.SHA512_HMAC,
    "CMAC_AES128": Mechanism.AES_CMAC,
    "CMAC_AES192": Mechanism.AES_CMAC,
    "CMAC_AES256": Mechanism.AES_CMAC,
    "CMAC_TDES2": Mechanism.DES3_CMAC,
    "CMAC_TDES3": Mechanism.DES3_CMAC,
}


def prf_key(t: Token, prf: str, value: bytes) -> int:
    if prf.startswith("HMAC"):
        return t.secret(value, KeyType.GENERIC_SECRET)
    if prf.startswith("CMAC_AES"):
        return t.secret(value, KeyType.AES)
    # DES ignores its parity bits: the key with its parity set is the same TDEA key
    return t.secret(odd_parity(value), KeyType.DES2 if len(value) == 16 else KeyType.DES3)


def test_sp800_108_counter_nist(t: Token) -> None:
    """NIST's counter-mode CAVP file: every PRF, counter before, after and amid the fixed input,
    8 to 32-bit counters (two records of each section)."""
    need(t, Mechanism.SP800_108_COUNTER_KDF)
    records = V.cavp_records(V.external("KDF/nist-800-108-KBKDF-CTR.txt").read_text())
    assert len(records) == 4800
    seen: dict[tuple[str, str, str], int] = {}
    for v in records:
        section = (v["PRF"], v["CTRLOCATION"], v["RLEN"])
        seen[section] = seen.get(section, 0) + 1
        if seen[section] > 2:
            continue
        ctr = counter(int(v["RLEN"].split("_")[0]))
        if v["CTRLOCATION"] == "BEFORE_FIXED":
            fields = [ctr, byte_array(h(v["FixedInputData"]))]
        elif v["CTRLOCATION"] == "AFTER_FIXED":
            fields = [byte_array(h(v["FixedInputData"])), ctr]
        else:
            fields = [byte_array(h(v["DataBeforeCtrData"])), ctr, byte_array(h(v["DataAfterCtrData"]))]
        base = prf_key(t, v["PRF"], h(v["KI"]))
        n = int(v["L"]) // 8
        key = t.derive(
            sp800_108(Mechanism.SP800_108_COUNTER_KDF, PRF[v["PRF"]], fields), base, derived(length=n)
        )
        assert t.get(key, Attribute.VALUE) == h(v["KO"]), section
    assert len(seen) == 120


def test_sp800_108_feedback_and_pipeline_nist(t: Token) -> None:
    """NIST's feedback (IV, zero IV, no counter) and double pipeline (with and without counter)
    CAVP files, a selection (tests/vectors/data/kbkdf_feedback_pipeline_nist.txt)."""
    need(t, Mechanism.SP800_108_FEEDBACK_KDF, Mechanism.SP800_108_DOUBLE_PIPELINE_KDF)
    records = V.load("kbkdf_feedback_pipeline_nist.txt")
    assert len(records) == 72
    for v in records:
        fixed = byte_array(h(v["FixedInputData"]))
        ctr = optional_counter(int(v["RLen"]))
        fields = {
            "BEFORE_ITER": [ctr, chaining(), fixed],
            "AFTER_ITER": [chaining(), ctr, fixed],
            "AFTER_FIXED": [chaining(), fixed, ctr],
            "NONE": [chaining(), fixed],
        }[v["CtrLocation"]]
        base = prf_key(t, v["PRF"], h(v["KI"]))
        if v["Mode"] == "feedback":
            m = sp800_108(Mechanism.SP800_108_FEEDBACK_KDF, PRF[v["PRF"]], fields, iv=h(v["IV"]))
        else:
            m = sp800_108(Mechanism.SP800_108_DOUBLE_PIPELINE_KDF, PRF[v["PRF"]], fields)
        key = t.derive(m, base, derived(length=int(v["L"]) // 8))
        assert t.get(key, Attribute.VALUE) == h(v["KO"]), (v["Mode"], v["PRF"], v["CtrLocation"])


def counter_kdf(key: bytes, fixed: bytes, lengths: list[int], dkm_bits: int) -> list[bytes]:
    """SP 800-108 counter mode with HMAC-SHA256, 32-bit counter before the fixed input and L after
    it; each key takes whole PRF outputs (an independent reading of the 3.0 text)."""
    out = []
    i = 1
    for n in lengths:
        stream = b""
        while len(stream) < n:
            mac = hmac.HMAC(key, hashes.SHA256())
            mac.update(i.to_bytes(4, "big") + fixed + dkm_bits.to_bytes(4, "big"))
            stream += mac.finalize()
            i += 1
        out.append(stream[:n])
    return out


def test_sp800_108_additional_keys(t: Token) -> None:
    """One C_DeriveKey, three keys: each its own segments of the key stream, each handle written
    to its CK_DERIVED_KEY; L counts all keys (SUM_OF_KEYS) or all segments (SUM_OF_SEGMENTS)."""
    need(t, Mechanism.SP800_108_COUNTER_KDF)
    ki = bytes(range(32))
    base = t.secret(ki, KeyType.GENERIC_SECRET)
    for method, bits in ((1, 8 * (16 + 40 + 24)), (2, 8 * (32 + 64 + 32))):
        extra = [AdditionalKey(derived(length=40)), AdditionalKey(derived(KeyType.DES3))]
        fields = [counter(), byte_array(b"label\x00context"), dkm_length(32, method)]
        key = t.derive(
            sp800_108(Mechanism.SP800_108_COUNTER_KDF, Mechanism.SHA256_HMAC, fields, additional=extra),
            base,
            derived(KeyType.AES, 16),
        )
        first, second, third = counter_kdf(ki, b"label\x00context", [16, 40, 24], bits)
        assert t.get(key, Attribute.VALUE) == first
        assert t.get(int(extra[0].handle[0]), Attribute.VALUE) == second
        assert t.get(int(extra[1].handle[0]), Attribute.VALUE) == odd_parity(third)
        assert t.get_ulong(int(extra[1].handle[0]), Attribute.KEY_TYPE) == KeyType.DES3


def test_sp800_108_refusals(t: Token) -> None:
    need(t, Mechanism.SP800_108_COUNTER_KDF, Mechanism.SP800_108_FEEDBACK_KDF)
    base = t.secret(bytes(32), KeyType.GENERIC_SECRET)
    fixed = byte_array(b"fixed")

    def rv(
        fields: list[Any],
        template: dict[int, Any] | None = None,
        prf: int = Mechanism.SHA256_HMAC,
        key: int = base,
    ) -> str:
        m = sp800_108(Mechanism.SP800_108_COUNTER_KDF, prf, fields)
        return t.derive_rv(m, key, template or derived(length=32))

    assert rv([fixed]) == "MECHANISM_PARAM_INVALID"  # no iteration variable
    assert rv([counter(), counter(), fixed]) == "MECHANISM_PARAM_INVALID"
    assert rv([counter(12), fixed]) == "MECHANISM_PARAM_INVALID"
    assert rv([counter(), optional_counter(), fixed]) == "MECHANISM_PARAM_INVALID"
    assert rv([counter(8), fixed], derived(length=256 * 32)) == "MECHANISM_PARAM_INVALID"  # n > 2^8 - 1
    assert rv([counter(), fixed], prf=Mechanism.SHA256) == "MECHANISM_PARAM_INVALID"  # no PRF
    assert rv([counter(), fixed], prf=Mechanism.AES_CMAC) == "KEY_TYPE_INCONSISTENT"
    assert rv([counter(), fixed], derived()) == "TEMPLATE_INCOMPLETE"  # a generic secret needs a length
    feedback = sp800_108(Mechanism.SP800_108_FEEDBACK_KDF, Mechanism.SHA256_HMAC, [counter(), fixed], iv=b"")
    assert t.derive_rv(feedback, base, derived(length=32)) == "MECHANISM_PARAM_INVALID"
    # an additional key whose template fails: no key is made, its handle stays CK_INVALID_HANDLE
    extra = [
        AdditionalKey(
            {
                Attribute.CLASS: ObjectClass.SECRET_KEY,
                Attribute.KEY_TYPE: KeyType.GENERIC_SECRET,
                Attribute.TOKEN: False,
            }
        )
    ]
    m = sp800_108(
        Mechanism.SP800_108_COUNTER_KDF, Mechanism.SHA256_HMAC, [counter(), fixed], additional=extra
    )
    assert t.derive_rv(m, base, derived(length=32)) == "TEMPLATE_INCOMPLETE"
    assert int(extra[0].handle[0]) == 0


# ------------------------------------------------------------------------------- PBKDF2
def test_pbkdf2_rfc6070(t: Token) -> None:
    need(t, Mechanism.PKCS5_PBKD2)
    records = V.parse(V.external("KDF/rfc-6070-PBKDF2-SHA1.txt").read_text())
    for v in records:
        if int(v["ITERATIONS"]) > 5000:
            continue  # RFC 6070 case 4 runs 16,777,216 iterations
        password = v["PASSWORD"].encode().decode("unicode_escape").encode("latin-1")
        salt = v["SALT"].encode().decode("unicode_escape").encode("latin-1")
        m = pbkdf2(password, salt, int(v["ITERATIONS"]))
        key = t.generate_key(m, derived(length=int(v["LENGTH"])))
        assert t.get(key, Attribute.VALUE) == h(v["DERIVED_KEY"]), v["COUNT"]
        assert t.get_ulong(key, Attribute.KEY_GEN_MECHANISM) == Mechanism.PKCS5_PBKD2


def test_pbkdf2_layouts_and_keys(t: Token) -> None:
    """The 2.40 parameter (password length by pointer) gives the same key as 3.0's; an AES key
    of the template's length; SHA-256 checked with cryptography."""
    from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

    need(t, Mechanism.PKCS5_PBKD2)
    expected = PBKDF2HMAC(hashes.SHA256(), 32, b"NaCl", 1000).derive(b"pass phrase")
    for legacy in (False, True):
        key = t.generate_key(
            pbkdf2(b"pass phrase", b"NaCl", 1000, "sha256", legacy), derived(KeyType.AES, 32)
        )
        assert t.get(key, Attribute.VALUE) == expected
        assert t.get_ulong(key, Attribute.KEY_TYPE) == KeyType.AES


def test_pbkdf2_refusals(t: Token) -> None:
    need(t, Mechanism.PKCS5_PBKD2)
    assert generate_rv(t, pbkdf2(b"pw", b"salt", 0), derived(length=16)) == "MECHANISM_PARAM_INVALID"
    gost = pbkdf2(b"pw", b"salt", 10, prf=2)  # CKP_PKCS5_PBKD2_HMAC_GOSTR3411
    assert generate_rv(t, gost, derived(length=16)) == "MECHANISM_PARAM_INVALID"
    assert generate_rv(t, pbkdf2(b"pw", b"salt", 10), derived()) == "TEMPLATE_INCOMPLETE"
    assert generate_rv(t, Mech(Mechanism.PKCS5_PBKD2), derived(length=16)) == "MECHANISM_PARAM_INVALID"


# ------------------------------------------------------------------------------- mechanism info
INFO = [
    (Mechanism.AES_ECB_ENCRYPT_DATA, 16, 32, 0x80000),
    (Mechanism.AES_CBC_ENCRYPT_DATA, 16, 32, 0x80000),
    (Mechanism.DES3_ECB_ENCRYPT_DATA, 16, 24, 0x80000),
    (Mechanism.DES3_CBC_ENCRYPT_DATA, 16, 24, 0x80000),
    (Mechanism.CONCATENATE_BASE_AND_KEY, 0, 0, 0x80000),
    (Mechanism.CONCATENATE_BASE_AND_DATA, 0, 0, 0x80000),
    (Mechanism.CONCATENATE_DATA_AND_BASE, 0, 0, 0x80000),
    (Mechanism.XOR_BASE_AND_DATA, 0, 0, 0x80000),
    (Mechanism.EXTRACT_KEY_FROM_KEY, 0, 0, 0x80000),
    (Mechanism.SP800_108_COUNTER_KDF, 1, 0xFFFFFFFF, 0x80000),
    (Mechanism.SP800_108_FEEDBACK_KDF, 1, 0xFFFFFFFF, 0x80000),
    (Mechanism.SP800_108_DOUBLE_PIPELINE_KDF, 1, 0xFFFFFFFF, 0x80000),
    (Mechanism.PKCS5_PBKD2, 1, 1024, 0x8000),
]


@pytest.mark.parametrize(("mechanism", "lo", "hi", "flags"), INFO, ids=[hex(i[0]) for i in INFO])
def test_mechanism_info(t: Token, mechanism: int, lo: int, hi: int, flags: int) -> None:
    if t.softhsm2:
        pytest.skip("softhsm-py's own sizes and flags (SoftHSMv2 reports its own)")
    info = t.mechanism_info(mechanism)
    assert (int(info.ulMinKeySize), int(info.ulMaxKeySize), int(info.flags)) == (lo, hi, flags)
