"""The one place where an exception becomes a CK_RV.

Everything below the ABI raises ``softhsm_py.errors`` exceptions; every ``py_C_*`` entry runs inside
:func:`guard`. A ``PKCS11Error`` returns its code. Anything else is a bug: it is logged with the
function's name and a traceback (never the arguments, which may hold PINs or key bytes) and the
host gets CKR_GENERAL_ERROR. Nothing is ever printed to stdout.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from softhsm_py.constants import ReturnValue
from softhsm_py.errors import PKCS11Error
from softhsm_py.log import get_logger

log = get_logger()

OK = int(ReturnValue.OK)
GENERAL_ERROR = int(ReturnValue.GENERAL_ERROR)
HOST_MEMORY = int(ReturnValue.HOST_MEMORY)


def guard(fn: Callable[..., None], lib: object, m: object) -> Callable[..., int]:
    """``fn`` bound to its library and marshal (``fn(lib, m, *args)``), returning a CK_RV and never
    raising. The callback cffi calls is one frame above the entry, and takes exactly the entry's
    arguments: no ``functools.partial`` layer and no ``*args`` tuple, which cost every call ~50 ns
    (a quarter of the floor: one empty call from C into the interpreter)."""
    arity = fn.__code__.co_argcount - 2  # after (lib, m)
    entry: Callable[..., int] = _factory(arity)(fn, lib, m, fn.__name__, log, PKCS11Error)
    entry.__name__ = entry.__qualname__ = fn.__name__
    entry.__doc__ = fn.__doc__
    return entry


# The guard's body, once per number of arguments (the C_* functions take 0-8). Exec'd from this
# one text rather than written out nine times; nothing but the argument list varies.
_GUARD = """
def factory(fn, lib, m, name, log, PKCS11Error):
    def entry({args}):
        try:
            fn(lib, m{comma}{args})
        except PKCS11Error as exc:
            return int(exc.rv)
        except MemoryError:  # e.g. a caller asking for 2**62 random bytes: the host's to size
            with suppress(BaseException):
                log.warning("out of memory in %s", name)
            return HOST_MEMORY
        except BaseException:  # a bug, or MemoryError/KeyboardInterrupt in the host's process
            with suppress(BaseException):  # logging may fail at interpreter shutdown
                log.exception("internal error in %s", name)
            return GENERAL_ERROR
        return OK
    return entry
"""
_FACTORIES: dict[int, Callable[..., Callable[..., int]]] = {}


def _factory(arity: int) -> Callable[..., Callable[..., int]]:
    factory = _FACTORIES.get(arity)
    if factory is None:
        args = ", ".join(f"a{i}" for i in range(arity))
        scope: dict[str, Any] = {"suppress": contextlib.suppress, "OK": OK}
        scope.update(HOST_MEMORY=HOST_MEMORY, GENERAL_ERROR=GENERAL_ERROR)
        exec(_GUARD.format(args=args, comma=", " if arity else ""), scope)  # our own text
        factory = _FACTORIES[arity] = scope["factory"]
    return factory


def on_callback_error(exc_type: type, exc: BaseException, tb: object) -> None:
    """cffi's last resort (``def_extern(onerror=...)``): log instead of printing a traceback."""
    with contextlib.suppress(BaseException):
        log.error("unhandled %s in a PKCS#11 entry point", exc_type.__name__)
