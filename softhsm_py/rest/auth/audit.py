"""The audit log: one JSON line per request that reaches a partition (uses, changes or lists its
keys) and one per refused authentication, in a file of mode 0600.

A line says who (API key id, token subject and id, certificate fingerprint), from where, which
partition, which route, which keys, and the outcome (HTTP status and TSB errorCode). Never a
password, token, key, key material or payload: key *names* are the only request data in it.
Each worker appends whole lines with one ``write`` on an ``O_APPEND`` descriptor, so lines from
several workers do not interleave, and opens the file again when it was renamed or removed (log
rotation).

The key names come from ``note_key``, which the routers' one key-name check
(``routers.common.key_name``) calls; the record of the request in flight is a context variable,
so the route code never sees it.
"""

from __future__ import annotations

import contextvars
import datetime
import json
import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("softhsm_py.rest")

MAX_KEYS = 16  # names recorded per request
MAX_TEXT = 256  # characters of a name or path recorded


@dataclass
class AuditRecord:
    """What one request did, filled in as it runs."""

    client: str | None
    method: str
    path: str
    partition: str | None = None
    who: dict[str, str] = field(default_factory=dict)
    keys: list[str] = field(default_factory=list)
    reached: bool = False  # a route took the partition

    def entry(
        self, event: str, status: int, error_code: int | None, reason: str | None = None
    ) -> dict[str, Any]:
        out: dict[str, Any] = {
            "time": datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds"),
            "event": event,
            "client": self.client,
            "who": self.who,
            "partition": self.partition,
            "route": f"{self.method} {self.path[:MAX_TEXT]}",
            "keys": self.keys,
            "status": status,
            "errorCode": error_code,
        }
        if reason is not None:
            out["reason"] = reason
        return out


CURRENT: contextvars.ContextVar[AuditRecord | None] = contextvars.ContextVar("softhsm_py_audit", default=None)


def note_key(name: str) -> None:
    """Record that the request in flight names the key ``name`` (no-op outside a request)."""
    record = CURRENT.get()
    if name and record is not None and len(record.keys) < MAX_KEYS:
        text = name[:MAX_TEXT]
        if text not in record.keys:
            record.keys.append(text)


def mark_reached() -> None:
    record = CURRENT.get()
    if record is not None:
        record.reached = True


class AuditLog:
    """Appends JSON lines to ``path`` (None: nowhere)."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self._fd: int | None = None
        self._lock = threading.Lock()
        self._failed = False

    def _open(self) -> int:
        assert self.path is not None
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
        fd = os.open(self.path, flags, 0o600)
        os.fchmod(fd, 0o600)  # also when the file was there before with a looser mode
        return fd

    def _rotated(self) -> bool:
        """The file at ``path`` is no longer the one open (logrotate renamed or removed it)."""
        assert self.path is not None and self._fd is not None
        try:
            now = os.stat(self.path)
        except FileNotFoundError:
            return True
        was = os.fstat(self._fd)
        return (now.st_dev, now.st_ino) != (was.st_dev, was.st_ino)

    def write(self, entry: Mapping[str, Any]) -> None:
        if self.path is None:
            return
        line = (json.dumps(entry, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
        with self._lock:
            try:
                if self._fd is not None and self._rotated():
                    os.close(self._fd)
                    self._fd = None
                if self._fd is None:
                    self._fd = self._open()
                os.write(self._fd, line)
                self._failed = False
            except OSError as exc:
                if not self._failed:  # once per outage, not once per request
                    why = exc.strerror or type(exc).__name__
                    log.error("audit log %s: cannot write (%s)", self.path, why)
                self._failed = True

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


_process_log = AuditLog(None)


def process_log() -> AuditLog:
    """This worker's audit log (for writers outside a request: the TLS handshake)."""
    return _process_log


def open_process_log(path: str | None) -> AuditLog:
    global _process_log
    if _process_log.path != path:
        _process_log.close()
        _process_log = AuditLog(path)
    return _process_log
