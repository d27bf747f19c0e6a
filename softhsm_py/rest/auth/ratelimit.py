"""Refused authentications per client address: after ``limit`` within ``window`` seconds, the
address is refused outright (429) until the oldest of them leaves the window.

One counter per worker process (each worker sees its own connections), kept in memory and
bounded: with more than ``MAX_ADDRESSES`` addresses, those with nothing in the window go first,
then the longest known.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

MAX_ADDRESSES = 10_000


class FailureLimiter:
    def __init__(self, limit: int, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.window, self.clock = limit, window, clock
        self.failures: dict[str, deque[float]] = {}

    def _recent(self, address: str, now: float) -> deque[float] | None:
        times = self.failures.get(address)
        if times is None:
            return None
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self.failures[address]
            return None
        return times

    def retry_after(self, address: str) -> int | None:
        """Seconds until ``address`` may try again, or None when it is not blocked."""
        now = self.clock()
        times = self._recent(address, now)
        if times is None or len(times) < self.limit:
            return None
        return max(1, int(times[-self.limit] + self.window - now + 0.999))

    def failed(self, address: str) -> None:
        now = self.clock()
        times = self._recent(address, now)
        if times is None:
            if len(self.failures) >= MAX_ADDRESSES:
                self._shrink(now)
            times = self.failures[address] = deque(maxlen=self.limit)
        times.append(now)

    def _shrink(self, now: float) -> None:
        for address in list(self.failures):
            self._recent(address, now)
        while len(self.failures) >= MAX_ADDRESSES:
            del self.failures[next(iter(self.failures))]
