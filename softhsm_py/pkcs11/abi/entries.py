"""What every entry module shares: the registry of ``py_C_*`` entries and the argument wrappers
(a caller's CK_MECHANISM, input buffer and output buffer)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from softhsm_py import errors
from softhsm_py.core.mechanism import Mechanism
from softhsm_py.pkcs11.abi.marshal import Marshal

ENTRIES: dict[str, Callable[..., None]] = {}
# The functions of the list that always answer CKR_FUNCTION_NOT_SUPPORTED once their session checks
# out (the README's coverage table says which, and why).
NOT_SUPPORTED: set[str] = set()


def entry(fn: Callable[..., None]) -> Callable[..., None]:
    """Register ``fn`` as the Python side of the C function of the same name."""
    ENTRIES[fn.__name__] = fn
    return fn


def not_supported(fn: Callable[..., None]) -> Callable[..., None]:
    """``entry`` for a function softhsm-py does not offer: it checks its session and raises
    FunctionNotSupported."""
    NOT_SUPPORTED.add(fn.__name__)
    return entry(fn)


class Chapter:
    """A chapter module imported on first use: module start (``pkcs11-tool -L``) needs none of
    objects, crypto or keys, which pull in the object factory, policy tables and mechanism
    parameters. The first attribute read imports the module and rebinds the caller's global to
    it, so later calls pay nothing."""

    __slots__ = ("_home", "_name")

    def __init__(self, name: str, home: dict[str, Any]) -> None:
        self._name = name
        self._home = home

    def __getattr__(self, attr: str) -> Any:
        module = importlib.import_module(f"softhsm_py.pkcs11.{self._name}")
        self._home[self._name] = module
        return getattr(module, attr)


_parse_param: Callable[..., Any] | None = None


def mechanism_in(m: Marshal, ptr: Any, *, message: bool = False) -> Mechanism:
    """A caller's CK_MECHANISM: its type, and its parameter parsed now; a parameter that does not
    parse travels as its error, raised when the core asks for it (after the session and key
    checks, whose errors rank first). ``message``: a C_Message*Init's, where an AEAD takes no
    parameter (each message brings its own) and a signature's is optional."""
    global _parse_param
    if not ptr:
        raise errors.ArgumentsBad()
    if _parse_param is None:  # first use: mechparams imports the mechanism layer's parameter types
        from softhsm_py.pkcs11.abi.mechparams import parse_param

        _parse_param = parse_param
    # ``ptr`` is the callback's CK_MECHANISM_PTR (native/functions.h): typed already, no cast; its
    # CK_ULONG fields read as ints.
    mech_type = ptr.mechanism
    if message and ptr.ulParameterLen == 0:
        return Mechanism(mech_type)
    try:
        return Mechanism(mech_type, _parse_param(m.ffi, mech_type, ptr.pParameter, ptr.ulParameterLen))
    except errors.PKCS11Error as exc:
        return Mechanism(mech_type, error=type(exc))


def data_in(m: Marshal, ptr: Any, length: int) -> Callable[[], bytes]:
    """A caller's input buffer, read when the chapter asks: a refused pointer is then an error of
    the operation's step, which ends the operation (3.0, 5.2)."""
    return lambda: m.bytes_in(ptr, length)


class Out:
    """A caller's output buffer (pointer + length pointer), for the chapters' ``deliver``."""

    __slots__ = ("_buf", "_len", "_m")

    def __init__(self, m: Marshal, buf: Any, len_ptr: Any) -> None:
        self._m, self._buf, self._len = m, buf, len_ptr

    def wants_length(self) -> bool:
        if not self._len:  # Marshal.require, inlined: every output asks this first
            raise errors.ArgumentsBad()
        return not self._buf

    def room(self) -> int:
        return int(self._len[0])

    def tell(self, length: int) -> None:
        self._len[0] = length

    def deliver(self, data: bytes) -> bool:
        return self._m.bytes_out(self._buf, self._len, data)
