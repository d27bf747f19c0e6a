"""The audit log: security events as JSON lines, in a file of its own (``audit_file``), apart from
the debug log. The one writer of audit records in the package: the core's events
(``core/events.py``: logins, lockouts, PIN changes, token init and delete, key creation and use,
destruction, attribute changes), whichever front end caused them, and any other writer's records
(the REST service's request records) go through :class:`AuditLog`.

API: ``log.event(name, fields)`` appends ``{"time", "event": name, "pid", **fields}``;
``log.write(entry)`` appends a record made elsewhere, as it is (the REST service's request records,
``rest/auth/audit.py``). One line per record, written with one ``write`` on an ``O_APPEND``
descriptor of a 0600 file (``logfiles.open_append``), so records of several processes and workers
sharing the file never interleave; a file renamed or removed (logrotate) is opened again.
``open_log(path)`` gives the process's one writer of ``path``.

What a record may hold: names, handles, slots, serials, labels, mechanism and attribute names,
CKR names. Never a PIN, password, token, key, key material or data: callers pass only such fields,
and ``event`` refuses nothing itself (it cannot tell a secret from a label), so every call site
is kept to that list (tests/unit/test_audit.py reads the log of a whole session for secrets).

Writing never fails the operation it records: a file that cannot be written is reported in the
debug log, once per outage.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from softhsm_py.log import get_logger
from softhsm_py.logfiles import open_append

__all__ = ["NOWHERE", "AuditLog", "open_log"]

log = get_logger("audit")


def _now() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"


class AuditLog:
    """Appends JSON lines to ``path``; with no path, records go nowhere (``enabled`` is False:
    callers skip building them)."""

    def __init__(self, path: Path | str | None) -> None:
        self.path = None if path is None else Path(path)
        self.enabled = path is not None
        self._fd: int | None = None
        self._lock = threading.Lock()
        self._failed = False

    def __repr__(self) -> str:
        return f"AuditLog({str(self.path)!r})"

    def event(self, name: str, fields: Mapping[str, Any]) -> None:
        if self.enabled:
            self.write({"time": _now(), "event": name, "pid": os.getpid(), **fields})

    def write(self, entry: Mapping[str, Any]) -> None:
        if self.path is None:
            return
        import json  # here: module start never pays for it

        line = (json.dumps(entry, ensure_ascii=False, separators=(",", ":"), default=str) + "\n").encode()
        with self._lock:
            try:
                if self._fd is not None and self._rotated():
                    os.close(self._fd)
                    self._fd = None
                if self._fd is None:
                    self._fd = open_append(self.path)
                os.write(self._fd, line)
                self._failed = False
            except OSError as exc:
                if not self._failed:  # once per outage, not once per record
                    log.error(
                        "audit log %s: cannot write (%s)", self.path, exc.strerror or type(exc).__name__
                    )
                self._failed = True

    def _rotated(self) -> bool:
        """The file at ``path`` is no longer the one open (logrotate renamed or removed it)."""
        assert self.path is not None and self._fd is not None
        try:
            now = os.stat(self.path)
        except FileNotFoundError:
            return True
        was = os.fstat(self._fd)
        return (now.st_dev, now.st_ino) != (was.st_dev, was.st_ino)

    def close(self) -> None:
        with self._lock:
            fd, self._fd = self._fd, None
            if fd is not None:
                os.close(fd)


NOWHERE = AuditLog(None)

_open: dict[Path, AuditLog] = {}
_open_lock = threading.Lock()


def _new_locks_in_child() -> None:
    """A thread of the parent may have held a lock at fork: the child would wait for ever."""
    global _open_lock
    _open_lock = threading.Lock()
    for writer in [NOWHERE, *_open.values()]:
        writer._lock = threading.Lock()


os.register_at_fork(after_in_child=_new_locks_in_child)


def open_log(path: Path | None) -> AuditLog:
    """This process's writer of ``path`` (NOWHERE for None). Runtimes and REST workers of one
    process that name the same file share it; it stays open for the process's life."""
    if path is None:
        return NOWHERE
    key = Path(os.path.abspath(path))
    with _open_lock:
        writer = _open.get(key)
        if writer is None:
            writer = _open[key] = AuditLog(key)
        return writer
