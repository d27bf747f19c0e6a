"""Logging for the module: one package logger, "softhsm_py".

Rules for every log call in this package:

* Never log PINs, key material, attribute values or mechanism parameters, not even at DEBUG:
  log what happened (function, slot, handle, CKR name), never the data it happened to.
* Never write to stdout: the host owns it (pkcs11-tool, ssh, ... print their results there).
* The host may be a Python process with its own logging setup: our logger does not propagate to
  the root logger, and we never touch the root logger.

Module start stays light (``pkcs11-tool -L`` starts an interpreter each time): the modules hold
``get_logger()`` proxies, C_Initialize records the configuration with ``configure``, and the
``logging`` package is imported and set up only when a message passes the configured level.
"""

from __future__ import annotations

import sys
import threading
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    import logging
    from pathlib import Path

    from softhsm_py.config import Config

__all__ = ["LOGGER_NAME", "configure", "get_logger", "setup_logging"]

LOGGER_NAME = "softhsm_py"
_FORMAT = "%(asctime)s softhsm-py[%(process)d] %(levelname)s %(name)s: %(message)s"
_MARK = "_softhsm_py_handler"  # attribute set on the handler we own
_lock = threading.Lock()


def _handler_classes() -> tuple[type[logging.FileHandler], type[logging.StreamHandler[TextIO]]]:
    import logging

    class _FileHandler(logging.FileHandler):
        """Logging must never fail a PKCS#11 call: Python 3.11's FileHandler opens its (delayed)
        file outside its own error handling, so a vanished log directory would raise into the caller."""

        def emit(self, record: logging.LogRecord) -> None:
            try:
                super().emit(record)
            except Exception:
                self.handleError(record)

        def handleError(self, record: logging.LogRecord) -> None:
            pass  # nowhere better to report it: stdout is the host's, stderr may be too

    class _StreamHandler(logging.StreamHandler[TextIO]):
        def handleError(self, record: logging.LogRecord) -> None:
            pass

    return _FileHandler, _StreamHandler


_LEVELS = {"CRITICAL": 50, "FATAL": 50, "ERROR": 40, "WARNING": 30, "WARN": 30, "INFO": 20, "DEBUG": 10}
_DEFAULT_LEVEL = 30


class _Pending:
    """What C_Initialize asked for, until the first message that passes the level."""

    level = _DEFAULT_LEVEL
    config: Config | None = None
    applied = False


def configure(config: Config) -> None:
    """Record ``config``'s log level and destination; ``setup_logging`` runs on the first message
    at or above that level (most runs of a CLI host never log anything)."""
    with _lock:
        _Pending.level = _LEVELS.get(str(config.log_level).upper(), _DEFAULT_LEVEL)
        _Pending.config = config
        _Pending.applied = False


class LazyLogger:
    """The few ``logging.Logger`` methods this package calls, without importing ``logging``
    until a message passes the configured level. Before ``configure`` (a failed configuration)
    messages go through a default setup: WARNING and above, to stderr."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def _log(self, level: int, msg: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        if level < _Pending.level:
            return
        import logging

        if not _Pending.applied:
            config = _Pending.config
            _install(_Pending.level, config.log_file if config is not None else None)
            _Pending.applied = True
        logging.getLogger(self.name).log(level, msg, *args, **kwargs)

    def debug(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self._log(10, msg, args, kwargs)

    def info(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self._log(20, msg, args, kwargs)

    def warning(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self._log(30, msg, args, kwargs)

    def error(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self._log(40, msg, args, kwargs)

    def exception(self, msg: str, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("exc_info", True)
        self._log(40, msg, args, kwargs)


def get_logger(name: str | None = None) -> LazyLogger:
    """The package logger, or a child of it (``get_logger("store")`` -> "softhsm_py.store")."""
    return LazyLogger(LOGGER_NAME if not name else f"{LOGGER_NAME}.{name}")


def setup_logging(config: Config) -> logging.Logger:
    """Point the package logger at ``config.log_file`` (append) or stderr, at ``config.log_level``.

    Idempotent: a second call replaces our handler rather than adding one (so a re-read config
    takes effect), and never touches handlers someone else attached.
    """
    return _install(_LEVELS.get(str(config.log_level).upper(), _DEFAULT_LEVEL), config.log_file)


def _install(level: int, log_file: Path | None) -> logging.Logger:
    import logging

    file_handler, stream_handler = _handler_classes()
    logger = logging.getLogger(LOGGER_NAME)
    with _lock:
        handler: logging.Handler
        if log_file is not None:
            log_file.parent.mkdir(parents=True, exist_ok=True)
            handler = file_handler(log_file, mode="a", encoding="utf-8", delay=True)
            target = ("file", str(log_file))
        else:
            stream = sys.stderr or sys.__stderr__
            handler = stream_handler(stream) if stream else logging.NullHandler()
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
