"""A cffi ABI-mode loader for any PKCS#11 module, for the conformance and host tests and bench/.

The types come from native/pkcs11.h; the function-list structs and the ``C_*`` prototypes are built
from native/functions.h (the same list shim.c expands). The constants are support.constants', written
from the PKCS#11 3.0 specification independently of softhsm_py.constants.

Also usable from a plain script (the multi-process tests run one, with tests/ on its sys.path):
``Module(path)``, then ``write_config(...)`` to point it at a token directory.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cffi import FFI

from .constants import ReturnValue, SessionFlag, TokenFlag, UserType, rv_name

TESTS = Path(__file__).resolve().parents[1]  # on a child process's sys.path for `import support`
ROOT = TESTS.parent
NATIVE = ROOT / "native"
SOFTHSM2_PATH = "/usr/lib/softhsm/libsofthsm2.so"

# FWD(name, (params), (args)) / FWD3(...) / FWD32(...) / LOCAL(name, (params)) / LOCAL3(...)
_LINE = re.compile(r"^(FWD(?:3|32)?|LOCAL3?)\((\w+), (\(.*?\))(?:, \(.*\))?\)\s*$")


def _functions() -> list[tuple[str, str, bool]]:
    """(name, params, is_3_0_only) for every line of native/functions.h up to 3.0, in table order."""
    return [(name, params, version == (3, 0)) for name, params, version in FUNCTIONS_32 if version < (3, 2)]


def _functions_32() -> list[tuple[str, str, tuple[int, int]]]:
    """(name, params, the version that added it) for every line of native/functions.h."""
    out = []
    for line in (NATIVE / "functions.h").read_text().splitlines():
        match = _LINE.match(line)
        if match:
            kind, name, params = match.groups()
            version = (3, 2) if kind.endswith("32") else (3, 0) if kind.endswith("3") else (2, 40)
            out.append((name, params, version))
    return out


FUNCTIONS_32 = _functions_32()
FUNCTIONS = _functions()  # the 3.0 list: what most tests drive
FUNCTION_NAMES = [name for name, _, _ in FUNCTIONS]
FUNCTION_NAMES_32 = [name for name, _, _ in FUNCTIONS_32]
V3_2_ONLY = frozenset(name for name, _, version in FUNCTIONS_32 if version == (3, 2))


# softhsm-py's empty embedded call (native/shim.c): not PKCS#11, the floor bench/ measures against.
FLOOR = "softhsm_py_floor"


def _cdef() -> str:
    parts = [(NATIVE / "pkcs11.h").read_text()]
    for struct, upto in (
        ("CK_FUNCTION_LIST", (2, 40)),
        ("CK_FUNCTION_LIST_3_0", (3, 0)),
        ("CK_FUNCTION_LIST_3_2", (3, 2)),
    ):
        fields = "".join(f"    CK_RV (*{name}){params};\n" for name, params, v in FUNCTIONS_32 if v <= upto)
        parts.append(f"typedef struct {struct} {{\n    CK_VERSION version;\n{fields}}} {struct};")
    parts.extend(f"CK_RV {name}{params};" for name, params, _ in FUNCTIONS_32)
    parts.append(f"CK_RV {FLOOR}(void);")
    return "\n".join(parts)


ffi = FFI()
ffi.cdef(_cdef())

INTERFACE_NAME = b"PKCS 11"

# The PINs every test token gets; a module with other PIN rules can be given its own.
SO_PIN = os.environ.get("PKCS11_TEST_SO_PIN", "12345678").encode()
USER_PIN = os.environ.get("PKCS11_TEST_USER_PIN", "87654321").encode()


class CKRError(AssertionError):
    """A call returned something other than the expected CK_RV; ``.name`` is the CKR name.
    An AssertionError: in a test, an unexpected CK_RV is a failed expectation."""

    def __init__(self, function: str, rv: int) -> None:
        self.function, self.rv = function, rv
        self.name = rv_name(rv)
        super().__init__(f"{function} returned CKR_{self.name}")


def text(field: Any) -> str:
    """A blank-padded CK_UTF8CHAR[n] field as str, padding removed."""
    return bytes(ffi.buffer(field)).decode("utf-8", "replace").rstrip(" ")


def padded(label: str, size: int = 32) -> bytes:
    return label.encode().ljust(size, b" ")


# ------------------------------------------------------------------------------- configuration
def is_softhsm2(path: str | os.PathLike[str]) -> bool:
    return "softhsm2" in Path(path).name


def write_config(directory: Path, module_path: str | os.PathLike[str], **overrides: Any) -> dict[str, str]:
    """Write a config file for ``module_path`` (softhsm-py or SoftHSMv2) with its token directory
    under ``directory``; return the environment variables that point the module at it."""
    directory.mkdir(parents=True, exist_ok=True)
    tokens = directory / "tokens"
    tokens.mkdir(exist_ok=True)
    if is_softhsm2(module_path):
        conf = directory / "softhsm2.conf"
        conf.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n")
        return {"SOFTHSM2_CONF": str(conf)}
    settings: dict[str, Any] = {
        "token_dir": "tokens",
        "kdf_cost": 10,
        "pin_lockout": 3,
        "log_level": "WARNING",
    }
    conf = softhsm_py_config(directory, {**settings, **overrides})
    return {"SOFTHSM_PY_CONF": str(conf)}


def softhsm_py_config(directory: Path, settings: dict[str, Any]) -> Path:
    """Write ``settings`` as ``directory``/softhsm-py.toml (and make its token directory); return its path."""
    (directory / str(settings.get("token_dir", "tokens"))).mkdir(parents=True, exist_ok=True)
    lines = [f'{k} = "{v}"' if isinstance(v, str) else f"{k} = {v!r}" for k, v in settings.items()]
    conf = directory / "softhsm-py.toml"
    conf.write_text("\n".join(lines) + "\n")
    return conf


def default_module_path() -> str:
    """$SOFTHSM_PY_TEST_MODULE, else the in-place build next to the imported softhsm_py package."""
    env = os.environ.get("SOFTHSM_PY_TEST_MODULE")
    if env:
        return env
    import softhsm_py

    built = sorted(Path(softhsm_py.__file__).parent.glob("_native*.so"))
    if not built:
        raise RuntimeError("no softhsm_py/_native*.so: run `python3 build.py` first")
    return str(built[0])


# ------------------------------------------------------------------------------- the module
class Module:
    """One loaded PKCS#11 module: ``lib`` (its exported symbols) and ``fl`` (its function list:
    the 3.0 one from C_GetInterface when the module has it, else C_GetFunctionList's)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = str(path)
        self.ffi = ffi
        self.lib = ffi.dlopen(self.path)
        self.softhsm2 = is_softhsm2(self.path)
        pp = ffi.new("CK_VOID_PTR *")
        rv = int(self.lib.C_GetFunctionList(pp))
        if rv != ReturnValue.OK:
            raise CKRError("C_GetFunctionList", rv)
        self.fl2 = ffi.cast("CK_FUNCTION_LIST *", pp[0])
        self.fl3 = None
        self.fl32 = None  # the 3.2 list, for the 3.2 functions (None: the module has no 3.2 interface)
        if self.has_symbol("C_GetInterface"):
            iface = ffi.new("CK_INTERFACE **")
            version = ffi.new("CK_VERSION *", {"major": 3, "minor": 0})
            if self.lib.C_GetInterface(ffi.NULL, version, iface, 0) == ReturnValue.OK:
                self.fl3 = ffi.cast("CK_FUNCTION_LIST_3_0 *", iface[0].pFunctionList)
            version = ffi.new("CK_VERSION *", {"major": 3, "minor": 2})
            if self.lib.C_GetInterface(ffi.NULL, version, iface, 0) == ReturnValue.OK:
                self.fl32 = ffi.cast("CK_FUNCTION_LIST_3_2 *", iface[0].pFunctionList)
        self.fl = self.fl3 if self.fl3 is not None else self.fl2
        self._in_list = {n for n, _, v3 in FUNCTIONS if self.fl3 is not None or not v3}

    @property
    def name(self) -> str:
        return "SoftHSMv2" if self.softhsm2 else "softhsm-py"

    def has_symbol(self, name: str) -> bool:
        try:
            getattr(self.lib, name)
        except AttributeError:
            return False
        return True

    def floor(self) -> Any:
        """softhsm-py's empty embedded call (``softhsm_py_floor``, dlsym on this module's handle),
        or None for a module without it (SoftHSMv2)."""
        return getattr(self.lib, FLOOR) if self.has_symbol(FLOOR) else None

    # -- raw calls -----------------------------------------------------------------------------
    def rv(self, name: str, *args: Any) -> int:
        """Call ``name`` through the function list (a 3.2 function through the 3.2 list); return
        its CK_RV."""
        if name in self._in_list:
            return int(getattr(self.fl, name)(*args))
        if name in V3_2_ONLY and self.fl32 is not None:
            return int(getattr(self.fl32, name)(*args))
        return int(getattr(self.lib, name)(*args))

    def check(self, name: str, *args: Any) -> None:
        """Call ``name``; raise CKRError unless it returns CKR_OK."""
        rv = self.rv(name, *args)
        if rv != ReturnValue.OK:
            raise CKRError(name, rv)

    def expect(self, expected: str | tuple[str, ...], name: str, *args: Any) -> str:
        """Call and assert the CKR name is ``expected`` (or one of them); return it."""
        got = rv_name(self.rv(name, *args))
        allowed = (expected,) if isinstance(expected, str) else expected
        assert got in allowed, f"{name}: expected CKR_{'/'.join(allowed)}, got CKR_{got}"
        return got

    # -- general -------------------------------------------------------------------------------
    def initialize(self, args: Any = None) -> None:
        self.check("C_Initialize", args if args is not None else ffi.NULL)

    def finalize(self) -> int:
        return self.rv("C_Finalize", ffi.NULL)

    def info(self) -> Any:
        info = ffi.new("CK_INFO *")
        self.check("C_GetInfo", info)
        return info

    # -- slots and tokens ----------------------------------------------------------------------
    def slot_list(self, token_present: bool = False) -> list[int]:
        count = ffi.new("CK_ULONG *")
        self.check("C_GetSlotList", token_present, ffi.NULL, count)
        slots = ffi.new("CK_SLOT_ID[]", max(count[0], 1))
        self.check("C_GetSlotList", token_present, slots, count)
        return [int(slots[i]) for i in range(count[0])]

    def token_info(self, slot: int) -> Any:
        info = ffi.new("CK_TOKEN_INFO *")
        self.check("C_GetTokenInfo", slot, info)
        return info

    def slot_info(self, slot: int) -> Any:
        info = ffi.new("CK_SLOT_INFO *")
        self.check("C_GetSlotInfo", slot, info)
        return info

    def token_flags(self, slot: int) -> int:
        return int(self.token_info(slot).flags)

    def empty_slots(self) -> list[int]:
        return [s for s in self.slot_list() if not self.token_flags(s) & TokenFlag.TOKEN_INITIALIZED]

    def empty_slot(self) -> int:
        empty = self.empty_slots()
        assert len(empty) == 1, f"expected one uninitialised slot, got {empty}"
        return empty[0]

    def slot_of(self, label: str) -> int:
        for slot in self.slot_list():
            info = self.token_info(slot)
            if info.flags & TokenFlag.TOKEN_INITIALIZED and text(info.label) == label:
                return slot
        raise LookupError(label)

    def init_token(self, label: str = "test", so_pin: bytes = SO_PIN, slot: int | None = None) -> int:
        """Initialise a token (on the empty slot by default); return the slot it now lives in
        (SoftHSMv2 moves a new token to a slot id derived from its serial)."""
        slot = self.empty_slot() if slot is None else slot
        self.check("C_InitToken", slot, so_pin, len(so_pin), padded(label))
        return self.slot_of(label)

    def init_pin(self, slot: int, user_pin: bytes = USER_PIN, so_pin: bytes = SO_PIN) -> None:
        with self.session(slot) as h:
            self.login(h, UserType.SO, so_pin)
            self.check("C_InitPIN", h, user_pin, len(user_pin))
            self.check("C_Logout", h)

    def ready_token(self, label: str = "test", user_pin: bytes = USER_PIN) -> int:
        """A token with both PINs set, nobody logged in; returns its slot."""
        slot = self.init_token(label)
        self.init_pin(slot, user_pin)
        return slot

    # -- sessions ------------------------------------------------------------------------------
    def open(self, slot: int, rw: bool = True) -> int:
        h = ffi.new("CK_SESSION_HANDLE *")
        flags = SessionFlag.SERIAL_SESSION | (SessionFlag.RW_SESSION if rw else 0)
        self.check("C_OpenSession", slot, flags, ffi.NULL, ffi.NULL, h)
        return int(h[0])

    def close(self, h: int) -> None:
        self.check("C_CloseSession", h)

    @contextmanager
    def session(self, slot: int, rw: bool = True) -> Iterator[int]:
        h = self.open(slot, rw)
        try:
            yield h
        finally:
            self.rv("C_CloseSession", h)

    def login(self, h: int, user: int = UserType.USER, pin: bytes = USER_PIN) -> None:
        self.check("C_Login", h, user, pin, len(pin))

    def session_info(self, h: int) -> Any:
        info = ffi.new("CK_SESSION_INFO *")
        self.check("C_GetSessionInfo", h, info)
        return info

    def state(self, h: int) -> int:
        return int(self.session_info(h).state)

    def random(self, h: int, n: int) -> bytes:
        buf = ffi.new("CK_BYTE[]", n)
        self.check("C_GenerateRandom", h, buf, n)
        return bytes(buf)

    # -- test helpers --------------------------------------------------------------------------
    def departure(self, impl: str, *, clause: str) -> None:
        """Inline form of the ``spec_departure`` marker: xfail now if this module is ``impl``."""
        if self.name == impl:
            import pytest

            pytest.xfail(f"{impl} departs from the spec ({clause})")

    def require_3_0(self) -> None:
        """The 3.0 interface (C_GetInterface*, C_LoginUser, C_SessionCancel): SoftHSMv2 2.6.1
        is a 2.40 module."""
        if self.fl3 is None:
            self.departure(self.name, clause="3.0 5.4: C_GetInterface, a 3.0 function list")

    def require_3_2(self) -> None:
        """The 3.2 interface (ML-DSA, ML-KEM, C_EncapsulateKey, C_VerifySignature*): SoftHSMv2
        2.6.1 has none."""
        if self.fl32 is None:
            self.departure(self.name, clause="3.2 5.4: a 3.2 function list")


def spec_departure(impl: str, *, clause: str, run: bool = True) -> Any:
    """Mark a test that ``impl`` ("SoftHSMv2") fails because it departs from the spec at
    ``clause``: run against that module, the test is a strict xfail (an unexpected pass fails, so
    the list of departures stays true). ``run=False`` for departures that crash the process."""
    import pytest

    return pytest.mark.spec_departure(impl, clause=clause, run=run)
