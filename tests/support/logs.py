"""The package's log lines of one in-process test (unit and store tests only: it imports
softhsm_py). Our logger never propagates to the root logger, so pytest's caplog cannot see it."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def log_to(path: Path, level: str = "INFO") -> Iterator[Callable[[], str]]:
    """Send softhsm_py's log to ``path`` at ``level`` for the block; yields a reader of the file.
    The logger's handlers and its lazy setup are restored afterwards."""
    from softhsm_py import log
    from softhsm_py.config import Config

    logger = logging.getLogger(log.LOGGER_NAME)
    saved = (logger.handlers[:], logger.level, logger.propagate)
    pending = (log._Pending.level, log._Pending.config, log._Pending.applied)
    log.configure(Config(token_dir=path.parent, log_file=path, log_level=level))

    def read() -> str:
        for handler in logger.handlers:
            handler.flush()
        return path.read_text() if path.exists() else ""

    try:
        yield read
    finally:
        for handler in logger.handlers:
            if handler not in saved[0]:
                handler.close()
        logger.handlers[:], logger.level, logger.propagate = saved
        log._Pending.level, log._Pending.config, log._Pending.applied = pending
