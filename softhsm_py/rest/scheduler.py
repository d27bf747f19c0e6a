"""The multi-authorization scheduler: runs requests whose time lock has passed, expires and rejects
what can no longer run, and deletes old finished requests (TSB.md 3.3: the TSB's
``hsmRequestsTimerService`` and ``approvalTaskCleanup``).

Every worker of every instance starts one thread; a store-wide lease per partition lets one of
them do each round (``Store.take_lease``: the holder renews it each round, another takes over
once it lapses). A round's work is the core's (``Requests.tick``); running a request replays its
call through the key gate like any other call.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable

from softhsm_py.core.partition import Partition

log = logging.getLogger("softhsm_py.rest")


class Scheduler:
    def __init__(
        self,
        partitions: Callable[[], list[Partition]],
        run: Callable[[Partition], None],
        interval: int,
    ) -> None:
        self.partitions, self.run, self.interval = partitions, run, interval
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.interval <= 0:
            return
        self._thread = threading.Thread(target=self._loop, name="ska-scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def round(self) -> None:
        for partition in self.partitions():
            try:
                store = partition.lib.runtime.store
                if store.take_lease(f"ska-scheduler/{partition.label}", self.holder, 3 * self.interval):
                    self.run(partition)
            except Exception as exc:  # one partition's trouble must not stop the others, nor the loop
                log.warning("SKA scheduler round on a partition failed: %s", type(exc).__name__)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.round()


__all__ = ["Scheduler"]
