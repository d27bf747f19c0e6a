"""The core's clock for Smart Key Attributes: whole seconds since the epoch. Time locks and time
outs are judged by it, never by a caller's clock. One function, so that in-process tests can
move time (``monkeypatch.setattr(clock, "now", ...)``) instead of waiting."""

from __future__ import annotations

import time


def now() -> int:
    return int(time.time())
