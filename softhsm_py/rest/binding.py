"""Which partition a request acts on.

Each worker process opens every configured partition once at startup (logged in as the user for
its whole life) and closes them at shutdown. ``bound_partition`` is the one dependency routes
take: today it resolves to the single served partition; the authentication issue (API keys, JWT,
mTLS) replaces its body with "caller -> one partition and role set", and no route changes.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import Depends, Request

from softhsm_py.core.partition import Partition
from softhsm_py.rest.config import RestSettings
from softhsm_py.rest.errors import BusinessReason, TsbError

log = logging.getLogger("softhsm_py.rest")


class Partitions:
    """The partitions one worker serves, by label."""

    def __init__(self, settings: RestSettings) -> None:
        self.settings = settings
        self.by_label: dict[str, Partition] = {}

    def open_all(self) -> None:
        from softhsm_py.config import load_config
        from softhsm_py.core.partition import open_partition

        config = load_config()
        try:
            for source in self.settings.partitions:
                pin = source.read_pin()
                self.by_label[source.label] = open_partition(config, label=source.label, pin=pin)
        except BaseException:
            self.close_all()
            raise

    def close_all(self) -> None:
        opened, self.by_label = self.by_label, {}
        for partition in opened.values():
            try:
                partition.close()
            except Exception as exc:  # closing one must not keep the others open
                log.warning("closing a partition failed: %s", type(exc).__name__)

    def for_request(self, request: Request) -> Partition:
        if len(self.by_label) == 1:
            return next(iter(self.by_label.values()))
        # several partitions need a caller identity to choose one: the authentication issue
        raise TsbError(
            BusinessReason.INSUFFICIENT_LOGIN_INFORMATION,
            "This service serves several partitions; a request must authenticate to pick one",
            401,
        )


def bound_partition(request: Request) -> Partition:
    partitions: Partitions = request.app.state.partitions
    return partitions.for_request(request)


#: the route parameter type: ``partition: BoundPartition``
BoundPartition = Annotated[Partition, Depends(bound_partition)]
