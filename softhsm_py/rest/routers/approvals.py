"""Tag "Approval Tasks" (TSB.md 3.4): approvers fetch their tasks, approve, or reject.

An approver proves itself on every call that lists or deletes tasks: its signature over a fresh
timestamp (``rest.ska.authenticate``, within the configured clock skew); an approval is proof
enough by itself (the core checks it against the task's approver). When an approval completes a
quorum whose time has come, the request runs at once, in this call.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from softhsm_py.core.partition import Partition
from softhsm_py.core.ska.approvals import Approval
from softhsm_py.rest import ska
from softhsm_py.rest.binding import BoundPartition
from softhsm_py.rest.config import RestSettings
from softhsm_py.rest.errors import invalid
from softhsm_py.rest.models.ska import (
    DeleteTaskRequestDto,
    FilteredTasksRequestDto,
    GetTasksResponseDto,
    SendApprovalDto,
)
from softhsm_py.rest.routers.common import ERRORS

router = APIRouter(tags=["Approval Tasks"], responses=ERRORS)


def _bounds(request: Request) -> tuple[int, int]:
    settings: RestSettings = request.app.state.settings
    return settings.approver_timestamp_max_age, settings.approver_timestamp_max_future


def _tasks(kind: str, body: FilteredTasksRequestDto, partition: Partition, request: Request) -> Any:
    level = body.detailLevel or "level1"
    if level not in ska.LEVELS:
        raise invalid(f"Field 'detailLevel' must be one of {', '.join(ska.LEVELS)}")
    approver = ska.authenticate(body, *_bounds(request))
    found = partition.requests.tasks(
        approver, ska.TASK_FILTERS[kind], task_id=body.id, request_id=body.requestId
    )
    paging = body.paging
    if paging is not None:
        found = ska.page(found, paging.pageNumber, paging.pageSize, paging.sortOrder)
    else:
        found = ska.page(found, 0, max(len(found), 1), "CREATION_DATE_ASC")
    tasks = [ska.task_view(partition, req, task, level) for req, task in found]
    partition.requests.fetched(found)
    return JSONResponse({"tasks": tasks})


def _route(kind: str) -> None:
    path = f"/v1/filtered{kind}ApprovalTask"
    operation = "filterSignTasks" if kind == "Sign" else f"filter{kind}Tasks"

    def route(body: FilteredTasksRequestDto, partition: BoundPartition, request: Request) -> Any:
        return _tasks(kind, body, partition, request)

    route.__name__ = f"filtered_{kind.lower()}_tasks"
    router.post(
        path,
        operation_id=operation,
        response_model=GetTasksResponseDto,
        summary=f"The approver's {kind} approval tasks",
    )(route)


for _kind in ska.TASK_FILTERS:
    _route(_kind)


@router.post("/v1/approval", operation_id="approveTask", summary="Approve a task")
def approve(body: SendApprovalDto, partition: BoundPartition) -> Response:
    """The approver's signature over ``approvalToBeSigned`` (the whole decoded token)."""
    # no key or certificate (the docs' Python sample may send none): the task's approver is meant
    digest = ska.digest_of(body.approvalDigestAlgorithm)
    approval = Approval(body.signature, digest, body.approverPublicKey, body.approverCertificate)
    request = partition.requests.approve(body.id, body.approvalToBeSigned, approval)
    if partition.requests.runnable(request):
        ska.execute(partition, request)
    return Response(status_code=200)


def _reject(body: DeleteTaskRequestDto, partition: Partition, request: Request) -> Response:
    approver = ska.authenticate(body, *_bounds(request))
    partition.requests.reject(body.id, approver)
    return Response(status_code=200)


@router.delete("/v1/task", operation_id="deleteTask", summary="Reject a task (delete it)")
def reject(body: DeleteTaskRequestDto, partition: BoundPartition, request: Request) -> Response:
    return _reject(body, partition, request)


@router.patch(
    "/v1/task", operation_id="rejectTask", summary="Reject a task (release notes 1.14.2: PATCH /task)"
)
def reject_patch(body: DeleteTaskRequestDto, partition: BoundPartition, request: Request) -> Response:
    return _reject(body, partition, request)


__all__ = ["router"]
