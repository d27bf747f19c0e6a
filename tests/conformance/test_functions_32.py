"""The functions PKCS#11 3.2 adds, through the 3.2 function list: C_VerifySignature* (the
signature given at the Init), C_GetSessionValidationFlags, and the ones softhsm-py refuses
(asynchronous sessions, authenticated key wrapping) cleanly. C_EncapsulateKey / C_DecapsulateKey
are in test_pqc.py. SoftHSMv2 2.6.1 has no 3.2 interface: skipped there."""

from __future__ import annotations

import pytest

from support.constants import KeyType, Mechanism, SessionFlag, rv_name
from support.keys import P256, ec_key, import_ec, import_rsa, rsa_key
from support.mechanisms import Mech, pss
from support.pkcs11 import Module, ffi
from support.templates import Template, cbytes
from support.token import Token

M = Mechanism
DATA = b"verified with the signature given first"


@pytest.fixture
def t(module: Module) -> Token:
    module.require_3_2()
    return Token(module)


def verify_signature(t: Token, mech: Mech, key: int, signature: bytes, parts: list[bytes]) -> str:
    t.ok("C_VerifySignatureInit", mech.ptr, key, cbytes(signature), len(signature))
    if len(parts) == 1:
        return t.rv("C_VerifySignature", cbytes(parts[0]), len(parts[0]))
    for part in parts:
        t.ok("C_VerifySignatureUpdate", cbytes(part), len(part))
    return t.rv("C_VerifySignatureFinal")


@pytest.mark.parametrize("kind", ["rsa-pss", "ecdsa", "hmac"])
def test_verify_signature(t: Token, kind: str) -> None:
    if kind == "rsa-pss":
        pub, priv = import_rsa(t, rsa_key(2048))
        mech = pss(M.SHA256_RSA_PKCS_PSS, "sha256")
    elif kind == "ecdsa":
        pub, priv = import_ec(t, ec_key(P256), P256)
        mech = Mech(M.ECDSA_SHA256)
    else:
        pub = priv = t.secret(bytes(range(32)), KeyType.GENERIC_SECRET)
        mech = Mech(M.SHA256_HMAC)
    sig = t.sign(mech, priv, DATA)
    assert verify_signature(t, mech, pub, sig, [DATA]) == "OK"
    assert verify_signature(t, mech, pub, sig, [DATA[:5], DATA[5:]]) == "OK"
    assert verify_signature(t, mech, pub, sig, [DATA + b"!"]) == "SIGNATURE_INVALID"
    assert verify_signature(t, mech, pub, sig, [DATA[:5], b"?"]) == "SIGNATURE_INVALID"
    # each verification ends its operation
    assert t.rv("C_VerifySignature", cbytes(DATA), len(DATA)) == "OPERATION_NOT_INITIALIZED"


def test_verify_signature_operation_rules(t: Token) -> None:
    pub, priv = import_ec(t, ec_key(P256), P256)
    sig = t.sign(Mech(M.ECDSA_SHA256), priv, DATA)
    t.ok("C_VerifySignatureInit", Mech(M.ECDSA_SHA256).ptr, pub, cbytes(sig), len(sig))
    assert (
        t.rv("C_VerifySignatureInit", Mech(M.ECDSA_SHA256).ptr, pub, cbytes(sig), len(sig))
        == "OPERATION_ACTIVE"
    )
    # a C_VerifyInit runs beside it: another kind of operation
    t.ok("C_VerifyInit", Mech(M.ECDSA_SHA256).ptr, pub)
    assert t.rv("C_Verify", cbytes(DATA), len(DATA), cbytes(sig), len(sig)) == "OK"
    # NULL pMechanism ends the active one (3.2 5.15)
    t.ok("C_VerifySignatureInit", ffi.NULL, 0, ffi.NULL, 0)
    assert t.rv("C_VerifySignatureFinal") == "OPERATION_NOT_INITIALIZED"
    assert t.rv("C_VerifySignatureInit", ffi.NULL, 0, ffi.NULL, 0) == "OPERATION_NOT_INITIALIZED"
    # the key's CKA_VERIFY and the mechanism are checked at the Init, as for C_VerifyInit
    assert t.rv("C_VerifySignatureInit", Mech(M.ECDSA_SHA256).ptr, priv, cbytes(sig), len(sig)) == (
        "KEY_FUNCTION_NOT_PERMITTED"
    )
    assert t.rv("C_VerifySignatureInit", Mech(M.AES_CBC, bytes(16)).ptr, pub, cbytes(sig), len(sig)) == (
        "KEY_TYPE_INCONSISTENT"
    )
    # a one-shot mechanism is single-part
    t.ok("C_VerifySignatureInit", Mech(M.ECDSA).ptr, pub, cbytes(sig), len(sig))
    assert t.rv("C_VerifySignatureUpdate", cbytes(DATA), len(DATA)) == "OPERATION_NOT_INITIALIZED"
    # C_SessionCancel(CKF_VERIFY) ends it too
    t.ok("C_VerifySignatureInit", Mech(M.ECDSA_SHA256).ptr, pub, cbytes(sig), len(sig))
    t.ok("C_SessionCancel", 0x2000)
    assert t.rv("C_VerifySignature", cbytes(DATA), len(DATA)) == "OPERATION_NOT_INITIALIZED"


def test_session_validation_flags(t: Token) -> None:
    flags = ffi.new("CK_FLAGS *", 0xFFFF)
    t.ok("C_GetSessionValidationFlags", 1, flags)  # CKS_LAST_VALIDATION_OK
    assert flags[0] == 0  # nothing here runs under a FIPS 140 / CC validation
    assert t.rv("C_GetSessionValidationFlags", 2, flags) == "ARGUMENTS_BAD"
    assert t.rv("C_GetSessionValidationFlags", 1, ffi.NULL) == "ARGUMENTS_BAD"
    assert rv_name(t.m.rv("C_GetSessionValidationFlags", 0xDEAD, 1, flags)) == "SESSION_HANDLE_INVALID"


def test_refused_functions(t: Token) -> None:
    """Listed in the README as CKR_FUNCTION_NOT_SUPPORTED; the session is checked first."""
    n, h = ffi.new("CK_ULONG *"), ffi.new("CK_OBJECT_HANDLE *")
    data = ffi.new("CK_ASYNC_DATA *")
    key = t.secret(bytes(32), KeyType.AES)
    tmpl = Template({})
    calls = {
        "C_AsyncComplete": (b"C_Sign", data),
        "C_AsyncGetID": (b"C_Sign", n),
        "C_AsyncJoin": (b"C_Sign", 1, ffi.NULL, 0),
        "C_WrapKeyAuthenticated": (Mech(M.AES_GCM).ptr, key, key, ffi.NULL, 0, ffi.NULL, n),
        "C_UnwrapKeyAuthenticated": (Mech(M.AES_GCM).ptr, key, cbytes(b"x"), 1, tmpl.ptr, 0, ffi.NULL, 0, h),
    }
    for name, args in calls.items():
        assert t.rv(name, *args) == "FUNCTION_NOT_SUPPORTED", name
        assert rv_name(t.m.rv(name, 0xDEAD, *args)) == "SESSION_HANDLE_INVALID", name


def test_async_session_refused(t: Token) -> None:
    out = ffi.new("CK_SESSION_HANDLE *")
    flags = SessionFlag.SERIAL_SESSION | 0x8  # CKF_ASYNC_SESSION
    rv = rv_name(t.m.rv("C_OpenSession", t.slot, flags, ffi.NULL, ffi.NULL, out))
    assert rv == "SESSION_ASYNC_NOT_SUPPORTED"


def test_3_2_functions_only_in_the_3_2_list(module: Module) -> None:
    """A 3.0 host sees a CK_FUNCTION_LIST_3_0: the 3.2 functions are past its end, reached only
    through the 3.2 list (and the exported symbols)."""
    module.require_3_2()
    assert (module.fl32.version.major, module.fl32.version.minor) == (3, 2)
    assert (module.fl3.version.major, module.fl3.version.minor) == (3, 0)
    assert ffi.cast("void *", module.fl32.C_EncapsulateKey) == ffi.cast("void *", module.lib.C_EncapsulateKey)
