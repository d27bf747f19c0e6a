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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from softhsm_py.audit import NOWHERE, AuditLog, open_log

__all__ = [
    "CURRENT",
    "AuditLog",
    "AuditRecord",
    "mark_reached",
    "note_key",
    "open_process_log",
    "process_log",
]

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


# The one writer of audit records (softhsm_py/audit.py): the core's security events and these
# request records go through it, to one file or two.
_process_log: AuditLog = NOWHERE


def process_log() -> AuditLog:
    """This worker's audit log (for writers outside a request: the TLS handshake)."""
    return _process_log


def open_process_log(path: str | None) -> AuditLog:
    global _process_log
    _process_log = open_log(None if path is None else Path(path))
    return _process_log
