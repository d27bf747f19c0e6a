"""Logging for the module: one package logger, "softhsm_py".

Rules for every log call in this package:

* Never log PINs, key material, attribute values or mechanism parameters, not even at DEBUG:
  log what happened (function, slot, handle, CKR name), never the data it happened to.
* Never write to stdout: the host owns it (pkcs11-tool, ssh, ... print their results there).
* The host may be a Python process with its own logging setup: our logger does not propagate to
  the root logger, and we never touch the root logger.
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from softhsm_py.config import Config

__all__ = ["LOGGER_NAME", "get_logger", "setup_logging"]

LOGGER_NAME = "softhsm_py"
_FORMAT = "%(asctime)s softhsm-py[%(process)d] %(levelname)s %(name)s: %(message)s"
_MARK = "_softhsm_py_handler"  # attribute set on the handler we own
_lock = threading.Lock()


class _FileHandler(logging.FileHandler):
    """Logging must never fail a PKCS#11 call: Python 3.11's FileHandler opens its (delayed) file
    outside its own error handling, so a vanished log directory would raise into the caller."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            super().emit(record)
        except Exception:
            self.handleError(record)

    def handleError(self, record: logging.LogRecord) -> None:
        pass  # nowhere better to report it: stdout is the host's, stderr may be too


class _StreamHandler(logging.StreamHandler):
    def handleError(self, record: logging.LogRecord) -> None:
        pass


def get_logger(name: str | None = None) -> logging.Logger:
    """The package logger, or a child of it (``get_logger("store")`` -> "softhsm_py.store")."""
    return logging.getLogger(LOGGER_NAME if not name else f"{LOGGER_NAME}.{name}")


def setup_logging(config: Config) -> logging.Logger:
    """Point the package logger at ``config.log_file`` (append) or stderr, at ``config.log_level``.

    Idempotent: a second call replaces our handler rather than adding one (so a re-read config
    takes effect), and never touches handlers someone else attached.
    """
    logger = logging.getLogger(LOGGER_NAME)
    with _lock:
        level = logging.getLevelName(str(config.log_level).upper())
        if not isinstance(level, int):
            level = logging.WARNING
        handler: logging.Handler
        if config.log_file is not None:
            path = config.log_file
            path.parent.mkdir(parents=True, exist_ok=True)
            handler = _FileHandler(path, mode="a", encoding="utf-8", delay=True)
            target = ("file", str(path))
        else:
            stream = sys.stderr or sys.__stderr__
            handler = _StreamHandler(stream) if stream else logging.NullHandler()
            target = ("stderr", "")
        old = [h for h in logger.handlers if getattr(h, _MARK, None) is not None]
        if len(old) == 1 and getattr(old[0], _MARK) == target:
            handler.close()  # same destination: keep the existing handler
        else:
            for h in old:
                logger.removeHandler(h)
                h.close()
            handler.setFormatter(logging.Formatter(_FORMAT))
            setattr(handler, _MARK, target)
            logger.addHandler(handler)
        logger.setLevel(level)
        logger.propagate = False
    return logger
