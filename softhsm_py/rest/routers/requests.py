"""Tag "Requests": the asynchronous multi-authorization routes (TSB.md 3.3), their status, and the
synchronous block/unblock/modify routes that carry ``signedApprovals`` (3.2).

An asynchronous route checks what it can at once (the key, its password, its algorithm), then
files a request with its own body (``rest.ska.submit``) and answers its id with 201. A request
whose rule needs no approval now runs at once; the others wait for approvals (``/v1/approval``)
and for the scheduler. Each kind registers the executor that replays its call with the request's
approvals: the same code the synchronous route runs, through the same key gate.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import Response

from softhsm_py.core.partition import Partition, Presented
from softhsm_py.core.ska.tlv import Op
from softhsm_py.rest import ska
from softhsm_py.rest.binding import BoundPartition
from softhsm_py.rest.errors import unsupported
from softhsm_py.rest.models.ska import (
    BlockKeyRequestResponseDto,
    DecryptRequestResponseDto,
    FilteredRequestsDto,
    FilteredRequestsResponseDto,
    ModifyKeyRequestResponseDto,
    RequestStatusDto,
    SignedBlockKeyRequestDto,
    SignedCertificateRequestRequestDto,
    SignedDecryptRequestDto,
    SignedModifyKeyRequestDto,
    SignedSelfSignCertificateRequestDto,
    SignedSignCertificateRequestDto,
    SignedSignRequestDto,
    SignedSynchronousBlockKeyRequestDto,
    SignedSynchronousModifyKeyRequestDto,
    SignedSynchronousUnblockKeyRequestDto,
    SignedUnblockKeyRequestDto,
    SignedUnwrapKeyRequestDto,
    SignRequestResponseDto,
    UnblockKeyRequestResponseDto,
    UnwrapKeyRequestResponseDto,
)
from softhsm_py.rest.routers import certificates as certificate_routes
from softhsm_py.rest.routers import operations
from softhsm_py.rest.routers.common import ERRORS, key_name

router = APIRouter(tags=["Requests"], responses=ERRORS)
RequestIdPath = Annotated[str, Path(description="The id of the request")]


def _policy_json(policy: Any) -> dict[str, Any]:
    return dict(policy.model_dump(mode="json"))


# ------------------------------------------------------------------------------ sign, decrypt, unwrap


def _check_sign(req: Any) -> None:
    if any(
        getattr(req, f) is not None
        for f in ("context", "auxiliaryRandomData", "taprootTweakData", "merkleRootData")
    ):
        raise unsupported("context, auxiliaryRandomData, taprootTweakData and merkleRootData")


@router.post("/v1/sign", operation_id="sign", status_code=201, response_model=SignRequestResponseDto)
def sign(body: SignedSignRequestDto, partition: BoundPartition, raw: ska.RawBody) -> Any:
    """A signature request: runs once the key's ``ruleUse`` is satisfied."""
    req = body.signRequest
    _check_sign(req)
    plan, _ = operations.sign_plan(req)
    payload_type = req.payloadType.value if req.payloadType else None
    request = ska.submit(
        partition,
        "sign",
        Op.SIGN,
        key_name(req.signKeyName),
        plan.data,
        raw,
        req.keyPassword,
        ska.meta_of(req, payload_type),
    )
    return SignRequestResponseDto(signRequestId=request.id)


@ska.executor("sign")
def _run_sign(partition: Partition, raw: dict[str, Any], approvals: Presented) -> str | None:
    return operations.do_sign(SignedSignRequestDto.model_validate(raw).signRequest, partition, approvals)


@router.post("/v1/decrypt", operation_id="decrypt", status_code=201, response_model=DecryptRequestResponseDto)
def decrypt(body: SignedDecryptRequestDto, partition: BoundPartition, raw: ska.RawBody) -> Any:
    req = body.decryptRequest
    operations.decrypt_plan(req)
    request = ska.submit(
        partition,
        "decrypt",
        Op.DECRYPT,
        key_name(req.decryptKeyName),
        req.encryptedPayload,
        raw,
        req.keyPassword,
        ska.meta_of(req),
    )
    return DecryptRequestResponseDto(decryptRequestId=request.id)


@ska.executor("decrypt")
def _run_decrypt(partition: Partition, raw: dict[str, Any], approvals: Presented) -> str | None:
    return operations.do_decrypt(
        SignedDecryptRequestDto.model_validate(raw).decryptRequest, partition, approvals
    )


@router.post("/v1/unwrap", operation_id="unwrap", status_code=201, response_model=UnwrapKeyRequestResponseDto)
def unwrap(body: SignedUnwrapKeyRequestDto, partition: BoundPartition, raw: ska.RawBody) -> Any:
    req = body.unwrapKeyRequest
    request = ska.submit(
        partition,
        "unwrap",
        Op.UNWRAP,
        key_name(req.unwrapKeyName),
        req.wrappedKey,
        raw,
        req.unwrapKeyPassword,
        ska.meta_of(req),
    )
    return UnwrapKeyRequestResponseDto(unwrapRequestId=request.id)


@ska.executor("unwrap")
def _run_unwrap(partition: Partition, raw: dict[str, Any], approvals: Presented) -> str | None:
    operations.do_unwrap(
        SignedUnwrapKeyRequestDto.model_validate(raw).unwrapKeyRequest, partition, approvals, None
    )
    return None


# ------------------------------------------------------------------------------ block, unblock, modify


@router.post("/v1/block", operation_id="block", status_code=201, response_model=BlockKeyRequestResponseDto)
def block(body: SignedBlockKeyRequestDto, partition: BoundPartition, raw: ska.RawBody) -> Any:
    req = body.blockRequest
    request = ska.submit(
        partition, "block", Op.BLOCK, key_name(req.blockKeyName), b"", raw, req.keyPassword, ska.meta_of(req)
    )
    return BlockKeyRequestResponseDto(blockKeyRequestId=request.id)


@ska.executor("block")
def _run_block(partition: Partition, raw: dict[str, Any], approvals: Presented) -> str | None:
    req = SignedBlockKeyRequestDto.model_validate(raw).blockRequest
    partition.block(key_name(req.blockKeyName), req.keyPassword, approvals=approvals)
    return None


@router.post(
    "/v1/unblock", operation_id="unblock", status_code=201, response_model=UnblockKeyRequestResponseDto
)
def unblock(body: SignedUnblockKeyRequestDto, partition: BoundPartition, raw: ska.RawBody) -> Any:
    req = body.unblockRequest
    request = ska.submit(
        partition,
        "unblock",
        Op.UNBLOCK,
        key_name(req.unblockKeyName),
        b"",
        raw,
        req.keyPassword,
        ska.meta_of(req),
    )
    return UnblockKeyRequestResponseDto(unblockKeyRequestId=request.id)


@ska.executor("unblock")
def _run_unblock(partition: Partition, raw: dict[str, Any], approvals: Presented) -> str | None:
    req = SignedUnblockKeyRequestDto.model_validate(raw).unblockRequest
    partition.unblock(key_name(req.unblockKeyName), req.keyPassword, approvals=approvals)
    return None


@router.post(
    "/v1/modify",
    operation_id="modify",
    status_code=201,
    response_model=ModifyKeyRequestResponseDto,
    tags=["Keys"],
)
def modify(body: SignedModifyKeyRequestDto, partition: BoundPartition, raw: ska.RawBody) -> Any:
    """A policy change: runs once the key's ``ruleModify`` is satisfied; approvers sign the new
    policy's encoding."""
    req = body.modifyRequest
    payload = partition.modify_payload(_policy_json(req.policy))
    request = ska.submit(
        partition,
        "modify",
        Op.MODIFY,
        key_name(req.modifyKeyName),
        payload,
        raw,
        req.keyPassword,
        ska.meta_of(req),
    )
    return ModifyKeyRequestResponseDto(modifyKeyRequestId=request.id)


@ska.executor("modify")
def _run_modify(partition: Partition, raw: dict[str, Any], approvals: Presented) -> str | None:
    req = SignedModifyKeyRequestDto.model_validate(raw).modifyRequest
    partition.modify(
        key_name(req.modifyKeyName), _policy_json(req.policy), req.keyPassword, approvals=approvals
    )
    return None


@router.post("/v1/synchronousBlock", operation_id="synchronousBlock", tags=["Synchronous Key Operations"])
def synchronous_block(body: SignedSynchronousBlockKeyRequestDto, partition: BoundPartition) -> Response:
    req = body.blockRequest
    partition.block(key_name(req.blockKeyName), req.keyPassword, approvals=ska.presented(req.signedApprovals))
    return Response(status_code=200)


@router.post("/v1/synchronousUnblock", operation_id="synchronousUnblock", tags=["Synchronous Key Operations"])
def synchronous_unblock(body: SignedSynchronousUnblockKeyRequestDto, partition: BoundPartition) -> Response:
    req = body.unblockRequest
    partition.unblock(
        key_name(req.unblockKeyName), req.keyPassword, approvals=ska.presented(req.signedApprovals)
    )
    return Response(status_code=200)


@router.post("/v1/synchronousModify", operation_id="synchronousModify", tags=["Keys"])
def synchronous_modify(body: SignedSynchronousModifyKeyRequestDto, partition: BoundPartition) -> Response:
    req = body.modifyRequest
    partition.modify(
        key_name(req.modifyKeyName),
        _policy_json(req.policy),
        req.keyPassword,
        approvals=ska.presented(req.signedApprovals),
    )
    return Response(status_code=200)


# ------------------------------------------------------------------------------ certificates


def _certificate(kind: str, partition: Partition, req: Any, raw: Any) -> SignRequestResponseDto:
    name, payload = certificate_routes.payload_of(kind, req, partition)
    request = ska.submit(
        partition, kind, Op.CERTIFICATE, name, payload, raw, req.keyPassword, ska.meta_of(req)
    )
    return SignRequestResponseDto(signRequestId=request.id)


@router.post(
    "/v1/certificate/request",
    operation_id="signCsrWithSkaKey",
    status_code=201,
    response_model=SignRequestResponseDto,
    tags=["Certificate"],
)
def certificate_request(
    body: SignedCertificateRequestRequestDto, partition: BoundPartition, raw: ska.RawBody
) -> Any:
    return _certificate("certificate_request", partition, body.csrSignRequest, raw)


@ska.executor("certificate_request")
def _run_certificate_request(partition: Partition, raw: dict[str, Any], approvals: Presented) -> str | None:
    req = SignedCertificateRequestRequestDto.model_validate(raw).csrSignRequest
    return certificate_routes.do_request(req, partition, approvals).certificateSigningRequest


@router.post(
    "/v1/certificate/selfsign",
    operation_id="selfSignCertificateWithSkaKey",
    status_code=201,
    response_model=SignRequestResponseDto,
    tags=["Certificate"],
)
def self_sign(body: SignedSelfSignCertificateRequestDto, partition: BoundPartition, raw: ska.RawBody) -> Any:
    return _certificate("self_sign", partition, body.selfSignCertificateRequest, raw)


@ska.executor("self_sign")
def _run_self_sign(partition: Partition, raw: dict[str, Any], approvals: Presented) -> str | None:
    req = SignedSelfSignCertificateRequestDto.model_validate(raw).selfSignCertificateRequest
    return certificate_routes.do_self_sign(req, partition, approvals).certificate


@router.post(
    "/v1/certificate/sign",
    operation_id="signCertificateWithSkaKey",
    status_code=201,
    response_model=SignRequestResponseDto,
    tags=["Certificate"],
)
def sign_certificate(
    body: SignedSignCertificateRequestDto, partition: BoundPartition, raw: ska.RawBody
) -> Any:
    return _certificate("sign_certificate", partition, body.signCertificateRequest, raw)


@ska.executor("sign_certificate")
def _run_sign_certificate(partition: Partition, raw: dict[str, Any], approvals: Presented) -> str | None:
    req = SignedSignCertificateRequestDto.model_validate(raw).signCertificateRequest
    return certificate_routes.do_sign_certificate(req, partition, approvals).certificate


# ------------------------------------------------------------------------------ status


def _current(partition: Partition, request_id: str) -> RequestStatusDto:
    """The request's status, brought up to the clock; one whose time has come runs now (the
    scheduler would run it on its next round)."""
    request = partition.requests.refresh(request_id)
    if partition.requests.runnable(request):
        request = ska.execute(partition, request)
    return ska.status_view(request)


@router.get("/v1/request/{id}", operation_id="getRequestStatus_1", response_model=RequestStatusDto)
def request_status(id: RequestIdPath, partition: BoundPartition) -> Any:
    return _current(partition, id)


@router.post("/v1/request/{id}", operation_id="getRequestStatus", response_model=RequestStatusDto)
def request_status_post(id: RequestIdPath, partition: BoundPartition) -> Any:
    return _current(partition, id)


@router.delete("/v1/request/{id}", operation_id="cancelRequest")
def cancel_request(id: RequestIdPath, partition: BoundPartition) -> Response:
    """CANCELLED; its approval tasks are gone with it."""
    partition.requests.cancel(id)
    return Response(status_code=200)


@router.post(
    "/v1/filteredRequests", operation_id="filteredRequests", response_model=FilteredRequestsResponseDto
)
def filtered_requests(body: FilteredRequestsDto, partition: BoundPartition) -> Any:
    wanted = body.status if isinstance(body.status, list) else [body.status] if body.status else None
    internal = None
    if wanted is not None:
        internal = {s.value for s in wanted} | (
            {"EXECUTING"} if any(s.value == "APPROVED" for s in wanted) else set()
        )
    found = [ska.status_view(r) for r in partition.requests.all(internal)]
    paging = body.paging
    if paging is not None:
        if paging.sortOrder.endswith("_DESC"):
            found.reverse()
        found = found[paging.pageNumber * paging.pageSize : (paging.pageNumber + 1) * paging.pageSize]
    return FilteredRequestsResponseDto(requests=found)


__all__ = ["router"]
