"""The one place where an exception becomes a CK_RV.

Everything below the ABI raises ``softhsm_py.errors`` exceptions; every ``py_C_*`` entry runs inside
:func:`guard`. A ``PKCS11Error`` returns its code. Anything else is a bug: it is logged with the
function's name and a traceback (never the arguments, which may hold PINs or key bytes) and the
host gets CKR_GENERAL_ERROR. Nothing is ever printed to stdout.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from functools import wraps

from softhsm_py.constants import ReturnValue
from softhsm_py.errors import PKCS11Error
from softhsm_py.log import get_logger

log = get_logger()

OK = int(ReturnValue.OK)
GENERAL_ERROR = int(ReturnValue.GENERAL_ERROR)
HOST_MEMORY = int(ReturnValue.HOST_MEMORY)


def guard(fn: Callable[..., None]) -> Callable[..., int]:
    """Wrap an entry function so that it returns a CK_RV and never raises."""

    @wraps(fn)
    def entry(*args: object) -> int:
        try:
            fn(*args)
        except PKCS11Error as exc:
            return int(exc.rv)
        except MemoryError:  # e.g. a caller asking for 2**62 random bytes: the host's problem to size
            with contextlib.suppress(BaseException):
                log.warning("out of memory in %s", fn.__name__)
            return HOST_MEMORY
        except BaseException:  # a bug, or MemoryError/KeyboardInterrupt in the host's process
            with contextlib.suppress(BaseException):  # logging may fail at interpreter shutdown
                log.exception("internal error in %s", fn.__name__)
            return GENERAL_ERROR
        return OK

    return entry


def on_callback_error(exc_type: type, exc: BaseException, tb: object) -> None:
    """cffi's last resort (``def_extern(onerror=...)``): log instead of printing a traceback."""
    with contextlib.suppress(BaseException):
        log.error("unhandled %s in a PKCS#11 entry point", exc_type.__name__)
