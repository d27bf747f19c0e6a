"""General-purpose functions (PKCS#11 3.0, 5.4): C_Initialize, C_Finalize, C_GetInfo."""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

from .. import __version__, errors
from ..config import ConfigError, load_config
from ..constants import InitializeFlag
from ..library import Library, Runtime
from ..log import setup_logging
from ..store import open_store
from . import sessions

log = logging.getLogger("softhsm_py")

MANUFACTURER = "softhsm-py"
DESCRIPTION = "softhsm-py PKCS#11 module"
CRYPTOKI_VERSION = (3, 0)


@dataclass(frozen=True)
class InitArgs:
    """What a caller's CK_C_INITIALIZE_ARGS said (the ABI layer already refused pReserved)."""

    mutex_functions: int  # how many of the four mutex callbacks are non-NULL
    flags: int


@dataclass(frozen=True)
class Info:
    cryptoki_version: tuple[int, int]
    manufacturer: str
    flags: int
    description: str
    library_version: tuple[int, int]


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
    with lib.lock:
        if lib.is_running():
            raise errors.CryptokiAlreadyInitialized()
        try:
            config = load_config()
        except ConfigError as exc:
            logging.getLogger("softhsm_py").error("configuration: %s", exc)
            raise errors.GeneralError() from None
        setup_logging(config)
        store = open_store(config.token_dir, kdf_cost=config.kdf_cost)
        lib.start(Runtime(config=config, store=store))
    log.info("initialised (token_dir=%s)", config.token_dir)


def finalize(lib: Library) -> None:
    with lib.lock:
        rt = lib.runtime
        for session in list(rt.sessions.values()):
            sessions.discard(rt, session)
        lib.stop()
    rt.store.close()
    log.info("finalised")


@functools.cache
def _info() -> Info:
    return Info(CRYPTOKI_VERSION, MANUFACTURER, 0, DESCRIPTION, library_version())


def get_info(lib: Library) -> Info:
    lib.runtime  # noqa: B018 (raises CryptokiNotInitialized)
    return _info()  # constant: built once
