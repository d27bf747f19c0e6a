"""The PKCS#11 loader and the few constants the benchmark needs.

The loader is the test suite's (tests/support/pkcs11.py: cffi ABI mode, types from native/pkcs11.h,
function lists from native/functions.h), imported as ``support.pkcs11`` with tests/ on sys.path (the
module the test process already has, if it runs there), else as ``tests.support.pkcs11``. The
constants are written from the PKCS#11 3.0 specification, like the suite's, not taken from softhsm_py.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LOADER_FILE = ROOT / "tests" / "support" / "pkcs11.py"


def _load() -> ModuleType:
    for name, where in (("support.pkcs11", ROOT / "tests"), ("tests.support.pkcs11", ROOT)):
        if str(where) not in sys.path:
            sys.path.append(str(where))  # appended: an installed softhsm_py still wins over the tree
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        if Path(module.__file__ or "").resolve() == LOADER_FILE:
            return module
    raise ImportError(f"cannot import the PKCS#11 loader {LOADER_FILE}")  # another `support` shadows it


pkcs11 = _load()
ffi = pkcs11.ffi
Module = pkcs11.Module
CKRError = pkcs11.CKRError
SOFTHSM2_PATH: str = pkcs11.SOFTHSM2_PATH
SO_PIN: bytes = pkcs11.SO_PIN
USER_PIN: bytes = pkcs11.USER_PIN
write_config = pkcs11.write_config
is_softhsm2 = pkcs11.is_softhsm2
default_module_path = pkcs11.default_module_path
rv_name = pkcs11.rv_name

# ------------------------------------------------------------------------------- constants (3.0)
CKU_USER = 1
CKF_SERIAL_SESSION, CKF_RW_SESSION, CKF_OS_LOCKING_OK = 0x4, 0x2, 0x2
CKO_DATA, CKO_PUBLIC_KEY, CKO_PRIVATE_KEY, CKO_SECRET_KEY = 0, 2, 3, 4
CKK_GENERIC_SECRET, CKK_AES = 0x10, 0x1F

CKA_CLASS, CKA_TOKEN, CKA_PRIVATE, CKA_LABEL, CKA_VALUE = 0x0, 0x1, 0x2, 0x3, 0x11
CKA_KEY_TYPE, CKA_SENSITIVE, CKA_ENCRYPT, CKA_DECRYPT = 0x100, 0x103, 0x104, 0x105
CKA_SIGN, CKA_VERIFY = 0x108, 0x10A
CKA_MODULUS_BITS, CKA_PUBLIC_EXPONENT = 0x121, 0x122
CKA_VALUE_LEN, CKA_EXTRACTABLE, CKA_EC_PARAMS = 0x161, 0x162, 0x180

CKM_RSA_PKCS_KEY_PAIR_GEN, CKM_SHA256_RSA_PKCS, CKM_SHA256_RSA_PKCS_PSS = 0x0, 0x40, 0x43
CKM_SHA256, CKM_SHA256_HMAC, CKM_GENERIC_SECRET_KEY_GEN = 0x250, 0x251, 0x350
CKM_EC_KEY_PAIR_GEN, CKM_ECDSA = 0x1040, 0x1041
CKM_EC_EDWARDS_KEY_PAIR_GEN, CKM_EDDSA = 0x1055, 0x1057
CKM_AES_KEY_GEN, CKM_AES_CBC_PAD, CKM_AES_GCM = 0x1080, 0x1085, 0x1087
CKG_MGF1_SHA256 = 0x2

# DER OBJECT IDENTIFIERs for CKA_EC_PARAMS
P256_OID = bytes.fromhex("06082a8648ce3d030107")
ED25519_OID = bytes.fromhex("06032b6570")

_BOOLS = frozenset(
    {CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE, CKA_ENCRYPT, CKA_DECRYPT, CKA_SIGN, CKA_VERIFY, CKA_EXTRACTABLE}
)
_ULONGS = frozenset({CKA_CLASS, CKA_KEY_TYPE, CKA_MODULUS_BITS, CKA_VALUE_LEN})


class Template:
    """A CK_ATTRIBUTE array built once from ``{type: value}`` (bool, int or bytes/str); it keeps
    its value buffers alive, so a timed loop can pass ``t.array, len(t)`` again and again."""

    def __init__(self, values: dict[int, Any]) -> None:
        self.array = ffi.new("CK_ATTRIBUTE[]", max(len(values), 1))
        self._keep: list[Any] = []
        for i, (kind, value) in enumerate(values.items()):
            if kind in _BOOLS:
                buf = ffi.new("CK_BBOOL *", bool(value))
                size = ffi.sizeof("CK_BBOOL")
            elif kind in _ULONGS:
                buf = ffi.new("CK_ULONG *", int(value))
                size = ffi.sizeof("CK_ULONG")
            else:
                raw = value.encode() if isinstance(value, str) else bytes(value)
                buf = ffi.new("CK_BYTE[]", raw)
                size = len(raw)
            self._keep.append(buf)
            self.array[i].type = kind
            self.array[i].pValue = buf
            self.array[i].ulValueLen = size
        self.count = len(values)

    def __len__(self) -> int:
        return self.count


class Mechanism:
    """A CK_MECHANISM (with its parameter, if any) kept alive for repeated calls. ``param`` is a
    pointer to a parameter struct, or a byte array with ``size`` given."""

    def __init__(self, mechanism: int, param: Any = None, size: int | None = None, keep: tuple = ()) -> None:
        self.ptr = ffi.new("CK_MECHANISM *")
        self._keep = (param, *keep)
        self.ptr.mechanism = mechanism
        if param is not None:
            self.ptr.pParameter = param
            self.ptr.ulParameterLen = ffi.sizeof(param[0]) if size is None else size


def gcm_mechanism(iv: bytes, tag_bits: int = 128) -> Mechanism:
    params = ffi.new("CK_GCM_PARAMS *")
    iv_buf = ffi.new("CK_BYTE[]", iv)
    params.pIv, params.ulIvLen, params.ulIvBits = iv_buf, len(iv), len(iv) * 8
    params.pAAD, params.ulAADLen, params.ulTagBits = ffi.NULL, 0, tag_bits
    return Mechanism(CKM_AES_GCM, params, keep=(iv_buf,))


def cbc_pad_mechanism(iv: bytes) -> Mechanism:
    return Mechanism(CKM_AES_CBC_PAD, ffi.new("CK_BYTE[]", iv), size=len(iv))


def pss_mechanism() -> Mechanism:
    params = ffi.new("CK_RSA_PKCS_PSS_PARAMS *")
    params.hashAlg, params.mgf, params.sLen = CKM_SHA256, CKG_MGF1_SHA256, 32
    return Mechanism(CKM_SHA256_RSA_PKCS_PSS, params)


def check(name: str, rv: int) -> None:
    if rv:
        raise CKRError(name, int(rv))
