"""General-purpose functions (PKCS#11 3.0, 5.4): C_Initialize, C_Finalize, C_GetInfo."""

from __future__ import annotations

import functools

from softhsm_py import __version__, errors
from softhsm_py.constants import InitializeFlag
from softhsm_py.core import slotevents, startup
from softhsm_py.core.runtime import Library

MANUFACTURER = "softhsm-py"
DESCRIPTION = "softhsm-py PKCS#11 module"
CRYPTOKI_VERSION = (3, 0)


# Answers are plain slotted classes, read-only by convention: ``dataclasses`` would cost ~5 ms
# of every module start (tests/conformance/test_startup.py).


class InitArgs:
    """What a caller's CK_C_INITIALIZE_ARGS said (the ABI layer already refused pReserved)."""

    __slots__ = ("flags", "mutex_functions")

    def __init__(self, mutex_functions: int, flags: int) -> None:
        self.mutex_functions = mutex_functions  # how many of the four mutex callbacks are non-NULL
        self.flags = flags


class Info:
    """CK_INFO. Built once (``_info``), so hashing by identity keys the ABI's struct cache."""

    __slots__ = ("cryptoki_version", "description", "flags", "library_version", "manufacturer")

    def __init__(
        self,
        cryptoki_version: tuple[int, int],
        manufacturer: str,
        flags: int,
        description: str,
        library_version: tuple[int, int],
    ) -> None:
        self.cryptoki_version = cryptoki_version
        self.manufacturer = manufacturer
        self.flags = flags
        self.description = description
        self.library_version = library_version


def library_version() -> tuple[int, int]:
    major, minor, *_ = (int(part) for part in __version__.split(".")[:2])
    return major, minor


def initialize(lib: Library, args: InitArgs | None) -> None:
    if args is not None:
        if args.mutex_functions not in (0, 4):
            raise errors.ArgumentsBad()  # all four mutex callbacks or none (3.0, 5.4 C_Initialize)
        if args.mutex_functions == 4 and not args.flags & InitializeFlag.OS_LOCKING_OK:
            # We only lock with the OS's primitives; the caller forbids them.
            raise errors.CantLock()
    startup.start(lib)
    slotevents.baseline(lib)  # C_WaitForSlotEvent reports changes from now on


def finalize(lib: Library) -> None:
    startup.stop(lib)


@functools.cache
def _info() -> Info:
    return Info(CRYPTOKI_VERSION, MANUFACTURER, 0, DESCRIPTION, library_version())


def get_info(lib: Library) -> Info:
    lib.runtime  # noqa: B018 (raises CryptokiNotInitialized)
    return _info()  # constant: built once
