"""Starting and stopping a runtime: configuration, logging and the store (C_Initialize and
C_Finalize on the PKCS#11 side; a REST worker's start and shutdown; the CLI's every command)."""

from __future__ import annotations

from softhsm_py import errors
from softhsm_py.config import Config, ConfigError, load_config
from softhsm_py.core import sessions
from softhsm_py.core.runtime import Library, Runtime
from softhsm_py.log import configure as configure_logging
from softhsm_py.log import get_logger
from softhsm_py.store import open_store

log = get_logger()


def start(lib: Library, config: Config | None = None) -> None:
    """Read the configuration (unless given), open the store and make the runtime.
    CryptokiAlreadyInitialized if ``lib`` runs; GeneralError (logged) for a bad configuration."""
    with lib.lock:
        if lib.is_running():
            raise errors.CryptokiAlreadyInitialized()
        if config is None:
            try:
                config = load_config()
            except ConfigError as exc:
                log.error("configuration: %s", exc)
                raise errors.GeneralError() from None
        configure_logging(config)
        store = open_store(config.token_dir, kdf_cost=config.kdf_cost, location=config.store)
        lib.start(Runtime(config=config, store=store))
    log.info("initialised (token_dir=%s)", config.token_dir)


def stop(lib: Library) -> None:
    """Close every session (their logins and operations go with them), then the store."""
    with lib.lock:
        rt = lib.runtime
        for session in list(rt.sessions.values()):
            sessions.discard(rt, session)
        lib.stop()
    rt.store.close()
    log.info("finalised")
