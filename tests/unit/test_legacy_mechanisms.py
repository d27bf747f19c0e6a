"""The pieces of issue 15 item 5 below the C ABI: parameter parsers of the legacy mechanisms, the
SP 800-108 engine's rules, explicit EC parameters, DES parity, and the DSA / DH key-type hooks
(PKCS#8 and SubjectPublicKeyInfo round trips). The C ABI tests are in tests/conformance."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest
from cffi import FFI
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dh, dsa
from hypothesis import given
from hypothesis import strategies as st

from softhsm_py import errors
from softhsm_py.constants import Attribute as A
from softhsm_py.constants import KeyType, Mechanism
from softhsm_py.constants import ObjectClass as O
from softhsm_py.core import keytypes
from softhsm_py.core.objects import Actor, Origin, build
from softhsm_py.engine import blockciphers, curve_params, curves, kbkdf
from softhsm_py.mechanisms import params as P
from softhsm_py.mechanisms import registry
from softhsm_py.mechanisms.kdf_simple import extract_bits
from softhsm_py.pkcs11.abi.mechparams import parse_param
from support import registry_calls

M = Mechanism
HEADER = Path(__file__).resolve().parents[2] / "native" / "pkcs11.h"
USER = Actor()


@pytest.fixture(scope="module")
def ffi() -> FFI:
    f = FFI()
    f.cdef(HEADER.read_text())
    return f


class Mem:
    def __init__(self, ffi: FFI) -> None:
        self.ffi, self.keep = ffi, []

    def new(self, ctype: str, init: Any = None) -> Any:
        obj = self.ffi.new(ctype, init)
        self.keep.append(obj)
        return obj

    def buf(self, data: bytes) -> Any:
        return self.new("CK_BYTE[]", data or b"\0")

    def param(self, struct: Any) -> tuple[Any, int]:
        return self.ffi.cast("void *", struct), self.ffi.sizeof(self.ffi.typeof(struct).item)


# ------------------------------------------------------------------------------- parsers
def test_string_data_and_cbc_encrypt_data(ffi: FFI) -> None:
    mem = Mem(ffi)
    s = mem.new("CK_KEY_DERIVATION_STRING_DATA *", {"pData": mem.buf(b"abc"), "ulLen": 3})
    assert parse_param(ffi, M.CONCATENATE_BASE_AND_DATA, *mem.param(s)) == b"abc"
    s.pData = ffi.NULL
    with pytest.raises(errors.MechanismParamInvalid):
        parse_param(ffi, M.CONCATENATE_BASE_AND_DATA, *mem.param(s))
    d = mem.new("CK_DES_CBC_ENCRYPT_DATA_PARAMS *", {"pData": mem.buf(bytes(16)), "length": 16})
    ffi.memmove(d.iv, bytes(range(8)), 8)
    assert parse_param(ffi, M.DES3_CBC_ENCRYPT_DATA, *mem.param(d)) == P.CbcEncryptData(
        bytes(range(8)), bytes(16)
    )
    with pytest.raises(errors.MechanismParamInvalid):  # the AES struct is longer
        parse_param(ffi, M.AES_CBC_ENCRYPT_DATA, *mem.param(d))


def test_handle_index_and_public_value(ffi: FFI) -> None:
    mem = Mem(ffi)
    n = mem.new("CK_ULONG *", 42)
    assert parse_param(ffi, M.CONCATENATE_BASE_AND_KEY, ffi.cast("void *", n), 8) == P.KeyHandle(42)
    assert parse_param(ffi, M.EXTRACT_KEY_FROM_KEY, ffi.cast("void *", n), 8) == 42
    assert parse_param(ffi, M.DH_PKCS_DERIVE, mem.buf(b"\x05\x06"), 2) == b"\x05\x06"
    with pytest.raises(errors.MechanismParamInvalid):
        parse_param(ffi, M.DH_PKCS_DERIVE, ffi.NULL, 0)
    assert "value" not in repr(P.KeyHandle(1, b"secret key bytes"))  # key material never in a repr


def _data_params(mem: Mem, fields: list[tuple[int, Any]]) -> Any:
    ffi = mem.ffi
    arr = mem.new("CK_PRF_DATA_PARAM[]", len(fields))
    for i, (kind, value) in enumerate(fields):
        arr[i].type = kind
        if isinstance(value, bytes):
            arr[i].pValue, arr[i].ulValueLen = mem.buf(value), len(value)
        elif isinstance(value, tuple):
            c = mem.new(
                "CK_SP800_108_COUNTER_FORMAT *", {"bLittleEndian": value[0], "ulWidthInBits": value[1]}
            )
            arr[i].pValue, arr[i].ulValueLen = c, ffi.sizeof("CK_SP800_108_COUNTER_FORMAT")
        else:
            arr[i].pValue, arr[i].ulValueLen = ffi.NULL, value or 0
    return arr


def _sp800(
    mem: Mem, fields: list[tuple[int, Any]], extra: int = 0, null_handle: bool = False
) -> tuple[Any, int]:
    p = mem.new("CK_SP800_108_KDF_PARAMS *")
    p.prfType, p.ulNumberOfDataParams, p.pDataParams = M.SHA256_HMAC, len(fields), _data_params(mem, fields)
    if extra:
        keys = mem.new("CK_DERIVED_KEY[]", extra)
        for i in range(extra):
            attr = mem.new(
                "CK_ATTRIBUTE *", {"type": A.VALUE_LEN, "pValue": mem.new("CK_ULONG *", 16), "ulValueLen": 8}
            )
            keys[i].pTemplate, keys[i].ulAttributeCount = attr, 1
            keys[i].phKey = mem.ffi.NULL if null_handle else mem.new("CK_OBJECT_HANDLE *")
        p.ulAdditionalDerivedKeys, p.pAdditionalDerivedKeys = extra, keys
    return mem.param(p)


def test_sp800_108_params(ffi: FFI) -> None:
    mem = Mem(ffi)
    parsed = parse_param(ffi, M.SP800_108_COUNTER_KDF, *_sp800(mem, [(1, (0, 32)), (4, b"label")], extra=2))
    assert isinstance(parsed, P.Sp800108) and parsed.prf == M.SHA256_HMAC
    (k1, f1), (k2, f2) = parsed.fields
    assert (k1, f1.little_endian, f1.bits) == (kbkdf.ITERATION, False, 32) and (k2, f2) == (
        kbkdf.BYTE_ARRAY,
        b"label",
    )
    assert [k.template for k in parsed.additional] == [{A.VALUE_LEN: 16}, {A.VALUE_LEN: 16}]
    for bad in ([(1, (2, 32))], [(9, b"x")], [(1, 7)], []):  # bool of 2, unknown type, length without pointer
        with pytest.raises(errors.MechanismParamInvalid):
            parse_param(ffi, M.SP800_108_COUNTER_KDF, *_sp800(mem, bad))
    with pytest.raises(errors.MechanismParamInvalid):  # an additional key without a place for its handle
        parse_param(ffi, M.SP800_108_COUNTER_KDF, *_sp800(mem, [(1, (0, 32))], extra=1, null_handle=True))


@pytest.mark.parametrize("legacy", [False, True])
def test_pbkdf2_both_layouts(ffi: FFI, legacy: bool) -> None:
    mem = Mem(ffi)
    p = mem.new("CK_PKCS5_PBKD2_PARAMS *" if legacy else "CK_PKCS5_PBKD2_PARAMS2 *")
    p.saltSource, p.iterations, p.prf = 1, 1000, 4
    p.pSaltSourceData, p.ulSaltSourceDataLen = mem.buf(b"salt"), 4
    p.pPassword = mem.buf(b"password")
    p.ulPasswordLen = mem.new("CK_ULONG *", 8) if legacy else 8
    parsed = parse_param(ffi, M.PKCS5_PBKD2, *mem.param(p))
    assert (parsed.salt, parsed.password, parsed.iterations, parsed.prf) == (b"salt", b"password", 1000, 4)
    assert "password" not in repr(parsed).replace("Pbkdf2Params", "")


def test_absurd_counts_and_lengths_read_no_memory(ffi: FFI) -> None:
    """Counts and lengths no caller's memory holds are refused before anything is read."""
    mem = Mem(ffi)
    p = mem.new("CK_SP800_108_KDF_PARAMS *")
    p.prfType, p.ulNumberOfDataParams, p.pDataParams = (
        M.SHA256_HMAC,
        1 << 40,
        _data_params(mem, [(1, (0, 8))]),
    )
    with pytest.raises(errors.MechanismParamInvalid):
        parse_param(ffi, M.SP800_108_COUNTER_KDF, *mem.param(p))
    p.ulNumberOfDataParams, p.ulAdditionalDerivedKeys = 1, (1 << 64) - 1
    p.pAdditionalDerivedKeys = mem.new("CK_DERIVED_KEY[]", 1)
    with pytest.raises(errors.MechanismParamInvalid):
        parse_param(ffi, M.SP800_108_COUNTER_KDF, *mem.param(p))
    q = mem.new("CK_PKCS5_PBKD2_PARAMS2 *", {"saltSource": 1, "iterations": 1, "prf": 1})
    q.pPassword, q.ulPasswordLen = mem.buf(b"pw"), 1 << 63  # neither a length nor a pointer
    with pytest.raises(errors.MechanismParamInvalid):
        parse_param(ffi, M.PKCS5_PBKD2, *mem.param(q))


# ------------------------------------------------------------------------------- SP 800-108 engine
def _hmac_prf() -> tuple[Any, int]:
    from softhsm_py.engine import hashes

    return (lambda: hashes.Hmac("sha256", bytes(32))), 32


@pytest.mark.parametrize(
    ("mode", "fields"),
    [
        (kbkdf.COUNTER_MODE, [(kbkdf.BYTE_ARRAY, b"x")]),  # no iteration variable
        (kbkdf.COUNTER_MODE, [(kbkdf.ITERATION, None)]),  # counter mode's needs a format
        (
            kbkdf.FEEDBACK_MODE,
            [(kbkdf.ITERATION, kbkdf.CounterFormat(False, 8))],
        ),  # the chaining value has none
        (kbkdf.FEEDBACK_MODE, [(kbkdf.ITERATION, None), (kbkdf.COUNTER, kbkdf.CounterFormat(False, 12))]),
        (kbkdf.PIPELINE_MODE, [(kbkdf.ITERATION, None), (kbkdf.DKM_LENGTH, kbkdf.DkmFormat(3, False, 32))]),
        (kbkdf.PIPELINE_MODE, [(kbkdf.ITERATION, None), (kbkdf.DKM_LENGTH, kbkdf.DkmFormat(1, False, 72))]),
    ],
)
def test_kbkdf_refuses_bad_field_lists(mode: str, fields: list[Any]) -> None:
    new_prf, n = _hmac_prf()
    with pytest.raises(errors.MechanismParamInvalid):
        kbkdf.derive(mode, new_prf, n, fields, [32])


def test_kbkdf_little_endian_and_segments() -> None:
    """A little-endian 16-bit counter; each key starts on its own PRF output."""
    from softhsm_py.engine import hashes

    new_prf, n = _hmac_prf()
    fields = [(kbkdf.ITERATION, kbkdf.CounterFormat(True, 16)), (kbkdf.BYTE_ARRAY, b"fixed")]
    first, second = kbkdf.derive(kbkdf.COUNTER_MODE, new_prf, n, fields, [10, 40])
    k = [hashes.hmac_digest("sha256", bytes(32), i.to_bytes(2, "little") + b"fixed") for i in (1, 2, 3)]
    assert first == k[0][:10] and second == (k[1] + k[2])[:40]


# ------------------------------------------------------------------------------- curves, parity, bits
@given(st.binary(max_size=200))
def test_explicit_parameters_never_raise(data: bytes) -> None:
    assert curve_params.curve_name(b"\x30" + data) is None or curves.BY_NAME.get(
        curve_params.curve_name(data) or ""
    )
    curves.lookup(b"\x30" + data)


def test_explicit_parameters_truncated() -> None:
    p256 = curves.BY_NAME["secp256r1"]
    pn, a, b, gx, gy, n, _ = curve_params.DOMAINS["secp256r1"]
    assert p256.bits == n.bit_length()

    def integer(v: int) -> bytes:
        body = v.to_bytes(v.bit_length() // 8 + 1, "big")
        return bytes([2, len(body)]) + body

    def seq(body: bytes) -> bytes:
        return bytes([0x30]) + (bytes([len(body)]) if len(body) < 128 else bytes([0x81, len(body)])) + body

    def octets(v: bytes) -> bytes:
        return bytes([4, len(v)]) + v

    field = seq(bytes.fromhex("06072a8648ce3d0101") + integer(pn))
    curve = seq(octets(a.to_bytes(32, "big")) + octets(b.to_bytes(32, "big")))
    base = octets(b"\x04" + gx.to_bytes(32, "big") + gy.to_bytes(32, "big"))
    der = seq(integer(1) + field + curve + base + integer(n))  # no cofactor: optional
    assert curve_params.curve_name(der) == "secp256r1"
    assert curves.lookup(der) is p256
    for cut in range(1, len(der)):
        assert curve_params.curve_name(der[:cut]) is None


_BLOCK_MODES = [
    (M.DES3_ECB, KeyType.DES3, None),
    (M.DES3_CBC, KeyType.DES3, bytes(8)),
    (M.DES3_CBC_PAD, KeyType.DES3, bytes(8)),
    (M.CAMELLIA_ECB, KeyType.CAMELLIA, None),
    (M.CAMELLIA_CBC, KeyType.CAMELLIA, bytes(16)),
    (M.CAMELLIA_CBC_PAD, KeyType.CAMELLIA, bytes(16)),
]


@given(st.sampled_from(_BLOCK_MODES), st.lists(st.binary(max_size=40), max_size=6))
def test_block_mode_bounds_hold_every_call(mode: tuple[int, int, bytes | None], parts: list[bytes]) -> None:
    """Size queries are answered from ``output_bound`` without the cipher: no update or final of
    TDEA / Camellia may give more than it announced, in either direction, for any split."""
    mech, key_type, iv = mode
    key = registry_calls.secret(key_type, bytes(range(1, 25)) if key_type == KeyType.DES3 else bytes(16))
    block = 8 if key_type == KeyType.DES3 else 16
    pad = mech in (M.DES3_CBC_PAD, M.CAMELLIA_CBC_PAD)
    data = b"".join(parts)
    if not pad:  # the unpadded modes take whole blocks only
        data += bytes(-len(data) % block)
        parts = [*parts, bytes(-len(b"".join(parts)) % block)]
    impl = registry.lookup(mech)
    encryptor = impl.encrypt_init(mech, iv, key)
    ciphertext = b""
    for part in parts:
        bound = encryptor.output_bound(len(part), False)
        out = encryptor.update(part)
        assert len(out) <= bound
        ciphertext += out
    bound = encryptor.output_bound(0, True)
    ciphertext += (last := encryptor.final())
    assert len(last) <= bound
    assert len(ciphertext) <= impl.encrypt_init(mech, iv, key).output_bound(len(data), True)
    decryptor = impl.decrypt_init(mech, iv, key)
    plain = b""
    for piece in (ciphertext[:13], ciphertext[13:]):
        bound = decryptor.output_bound(len(piece), False)
        out = decryptor.update(piece)
        assert len(out) <= bound
        plain += out
    bound = decryptor.output_bound(0, True)
    plain += (last := decryptor.final())
    assert len(last) <= bound
    assert plain == data


def test_des_parity() -> None:
    key = blockciphers.with_odd_parity(bytes(range(256)))
    assert blockciphers.has_odd_parity(key)
    assert all(a >> 1 == b >> 1 for a, b in zip(key, bytes(range(256)), strict=True))  # only the low bit


@given(st.binary(min_size=1, max_size=16), st.data())
def test_extract_bits_is_a_rotation(value: bytes, data: st.DataObject) -> None:
    bits = 8 * len(value)
    start = data.draw(st.integers(0, bits - 1))
    as_bits = bin(int.from_bytes(value, "big"))[2:].zfill(bits)
    rotated = as_bits[start:] + as_bits[:start]
    assert extract_bits(value, start, len(value)) == int(rotated, 2).to_bytes(len(value), "big")


# ------------------------------------------------------------------------------- DSA / DH key types
# RFC 2409 6.2: the 1024-bit MODP group (generator 2).
OAKLEY_1024 = int(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD"
    "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE65381FFFFFFFFFFFFFFFF",
    16,
)


def _keys() -> list[tuple[int, Any]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dsa_key = dsa.generate_private_key(1024)
        dh_key = dh.DHParameterNumbers(OAKLEY_1024, 2).parameters().generate_private_key()
    return [(KeyType.DSA, dsa_key), (KeyType.DH, dh_key)]


@pytest.mark.parametrize(("key_type", "key"), _keys(), ids=["dsa", "dh"])
def test_ffc_keys_through_every_hook(key_type: int, key: Any) -> None:
    der = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    spki = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    material = keytypes.import_private(der, key_type)
    obj = build({A.CLASS: O.PRIVATE_KEY, A.KEY_TYPE: key_type}, Origin.UNWRAP, USER, material=material)
    assert obj[A.PUBLIC_KEY_INFO] == spki
    assert keytypes.export_private(obj) == der
    public = keytypes.spec_for(O.PUBLIC_KEY, key_type)
    assert public.import_public is not None
    pub = build(
        {A.CLASS: O.PUBLIC_KEY, A.KEY_TYPE: key_type, **public.import_public(spki)}, Origin.CREATE, USER
    )
    assert pub[A.PUBLIC_KEY_INFO] == spki
    assert public.key_bits(pub) == key.key_size
    other = KeyType.DH if key_type == KeyType.DSA else KeyType.DSA
    with pytest.raises(errors.KeyTypeInconsistent):
        keytypes.import_private(der, other)


def test_no_deprecation_warning_reaches_the_host() -> None:
    """cryptography's DSA / FFDH deprecation warnings stay inside the token, even in a host that
    turns warnings into errors (python-pkcs11 and PyKCS11 run us in their own interpreter)."""
    from softhsm_py.engine import dh as engine_dh
    from softhsm_py.engine import dsa as engine_dsa

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for key_type, key in _keys():
            der = key.private_bytes(
                serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            keytypes.import_private(der, key_type)
        assert engine_dsa.generate(engine_dsa.generate_parameters(1024))[0] > 0
        assert engine_dh.generate((OAKLEY_1024, 2), 160)[0].bit_length() == 160
