"""Which partition a request acts on.

Each worker opens every configured partition once at startup (logged in as the user for its
whole life) and closes them at shutdown. ``bound_partition`` is the one dependency routes take:
it hands the route the partition of the caller the authentication middleware admitted
(``rest.auth``), and nothing else; a request without an admitted caller gets no partition.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import Depends, Request

from softhsm_py.core.partition import Partition
from softhsm_py.rest.auth.audit import mark_reached
from softhsm_py.rest.auth.middleware import caller_of
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
        caller = caller_of(request.scope)
        partition = self.by_label.get(caller.partition) if caller is not None else None
        if partition is None:  # a route the role table left public, or a bug: fail closed
            raise TsbError(BusinessReason.INSUFFICIENT_LOGIN_INFORMATION, "This route needs a caller", 401)
        mark_reached()
        return partition


def bound_partition(request: Request) -> Partition:
    partitions: Partitions = request.app.state.partitions
    return partitions.for_request(request)


#: the route parameter type: ``partition: BoundPartition``
BoundPartition = Annotated[Partition, Depends(bound_partition)]
