"""The REST side of multi-authorization (TSB.md 6): how a route's call becomes a request and is
run later, how requests and tasks look on the wire, and how approvers prove themselves.

A route that makes a request stores its own JSON body with it; running the request replays the
route's work through the executor registered for its kind (``@executor("sign")``), with the
request's token and approvals. Nothing here decides anything: the core verifies the approvals
when the replayed call reaches the key gate, and a request's status is the core's.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import json
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Request

from softhsm_py.core.partition import Partition, Presented
from softhsm_py.core.ska import approvals, tlv
from softhsm_py.core.ska.requests import Request as SkaRequest
from softhsm_py.core.ska.requests import Task
from softhsm_py.rest.errors import BusinessReason, TsbError, invalid
from softhsm_py.rest.models.common import b64encode
from softhsm_py.rest.models.ska import AuthenticatableRequestDto, RequestStatusDto

Executor = Callable[[Partition, dict[str, Any], Presented], str | None]
EXECUTORS: dict[str, Executor] = {}

#: request kind -> the L3 task field that carries its original request (TSB.md 3.4)
SIGNED_FIELDS = {
    "sign": "signedSignRequest",
    "modify": "signedModifyKeyRequest",
    "block": "signedBlockKeyRequest",
    "unblock": "signedUnblockKeyRequest",
    "decrypt": "signedDecryptRequest",
    "unwrap": "signedUnwrapKeyRequest",
    "certificate_request": "signedCertificateRequestRequest",
    "sign_certificate": "signedSignCertificateRequest",
    "self_sign": "signedSelfSignCertificateRequestDto",
}
#: the filtered*ApprovalTask routes -> the kinds of request they list (None: all)
TASK_FILTERS: dict[str, frozenset[str] | None] = {
    "Sign": frozenset({"sign", "certificate_request", "sign_certificate", "self_sign"}),
    "Decrypt": frozenset({"decrypt"}),
    "UnwrapKey": frozenset({"unwrap"}),
    "BlockKey": frozenset({"block"}),
    "UnblockKey": frozenset({"unblock"}),
    "ModifyKey": frozenset({"modify"}),
    "All": None,
}
LEVELS = ("level1", "level2", "level3", "level4", "level5", "level6")
#: fields that hold passwords: kept with the request (sealed) to run it, never shown to approvers
_SECRET_FIELDS = frozenset({"keyPassword", "unwrapKeyPassword", "password", "masterKeyPassword"})


def executor(kind: str) -> Callable[[Executor], Executor]:
    def register(fn: Executor) -> Executor:
        EXECUTORS[kind] = fn
        return fn

    return register


async def _raw_json(request: Request) -> Any:
    """The request's JSON body as the client sent it. FastAPI calls dependencies before it judges
    the body: one that is not JSON is None here, and FastAPI's own validation answers it (621)."""
    try:
        return json.loads(await request.body())
    except ValueError:  # JSONDecodeError, UnicodeDecodeError
        return None


#: the route parameter that holds the body as received: ``raw: RawBody``
RawBody = Annotated[Any, Depends(_raw_json)]


def run_request(partition: Partition, request: SkaRequest) -> str | None:
    run = EXECUTORS.get(request.kind)
    if run is None:
        raise TsbError(BusinessReason.UNSUPPORTED_OPERATION, "A request of an unknown kind", 500)
    return run(partition, request.call["body"], request.presented())


def execute(partition: Partition, request: SkaRequest) -> SkaRequest:
    return partition.requests.execute(request, lambda r: run_request(partition, r))


def submit(
    partition: Partition,
    kind: str,
    op: int,
    key: str,
    payload: bytes,
    raw: Any,
    password: bytes | None,
    meta: dict[str, Any],
) -> SkaRequest:
    """A new request for the route's call (``raw``: its body); run at once when the key's rule
    needs no approval now (an empty policy, or a key without one)."""
    call = {"body": raw, "meta": meta}
    request = partition.requests.create(kind, op, key, payload, call, password)
    if partition.requests.runnable(request):
        request = execute(partition, request)
    return request


def meta_of(dto: Any, payload_type: str | None = None) -> dict[str, Any]:
    def b64(value: bytes | None) -> str | None:
        return None if value is None else b64encode(value)

    return {
        "metaData": b64(getattr(dto, "metaData", None)),
        "metaDataSignature": b64(getattr(dto, "metaDataSignature", None)),
        "payloadType": payload_type,
    }


def presented(signed: list[str] | None) -> Presented | None:
    """``signedApprovals`` (base64 of TSB.md 6.6 blobs) as the core takes them; None for none."""
    if not signed:
        return None
    raw = []
    for i, item in enumerate(signed):
        try:
            raw.append(base64.b64decode(item.encode("ascii"), validate=True))
        except (binascii.Error, UnicodeEncodeError):
            raise invalid(f"Field 'signedApprovals[{i}]' is not valid base64") from None
    return approvals.from_signed(raw)


# ------------------------------------------------------------------------------ views


def _iso(seconds: int | None) -> str | None:
    if seconds is None:
        return None
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def status_view(request: SkaRequest) -> RequestStatusDto:
    ran = request.status in ("EXECUTED", "FAILED")
    return RequestStatusDto(
        id=request.id,
        status=request.public_status,  # type: ignore[arg-type]
        executionTime=_iso(request.executed) if ran else None,
        approvedBy=[b64encode(k) for k in request.approved_by()],
        notYetApprovedBy=[b64encode(k) for k in request.not_yet_approved_by()],
        rejectedBy=[b64encode(k) for k in request.rejected_by()],
        result=request.result,
    )


def _shown(value: Any) -> Any:
    """The stored body with passwords blanked (approvers see the call, not its secrets)."""
    if isinstance(value, dict):
        return {k: (None if k in _SECRET_FIELDS else _shown(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_shown(v) for v in value]
    return value


def task_view(partition: Partition, request: SkaRequest, task: Task, level: str) -> dict[str, Any]:
    """A task at ``level``: each level adds its fields to the one before (TSB.md 3.4)."""
    n = LEVELS.index(level) + 1
    out: dict[str, Any] = {
        "detailLevel": level,
        "id": task.id,
        "approvalToBeSigned": b64encode(request.token),
        "approverPublicKey": b64encode(task.approver),
    }
    if n >= 2:
        meta = request.call.get("meta", {})
        out.update(
            metaData=meta.get("metaData"),
            metaDataSignature=meta.get("metaDataSignature"),
            payload=b64encode(request.payload),
            payloadType=meta.get("payloadType"),
        )
    if n >= 3:
        shown = _shown(request.call.get("body"))
        out["requestBase64"] = b64encode(json.dumps(shown, separators=(",", ":")).encode())
        for kind, field in SIGNED_FIELDS.items():
            out[field] = shown if kind == request.kind else None
    if n >= 4:
        token = tlv.parse_approval_token(request.token)
        algorithm, signature = approvals.timestamp_signature(token)
        out.update(
            timestamp=b64encode(token.timestamp.raw),
            timestampSignature=b64encode(signature),
            timestampSignatureAlgorithm=algorithm,
            timestampSignatureWithAlgorithm=b64encode(token.timestamp_signature),
        )
    if n >= 5:
        from softhsm_py.core import attestation

        try:
            statement = attestation.attest(partition, partition.key_info(request.key))
            out.update(
                keyAttributes=statement.xml.decode(), keyAttributesSignature=b64encode(statement.signature)
            )
        except Exception:  # the key is gone: its request cannot run either
            out.update(keyAttributes=None, keyAttributesSignature=None)
    if n >= 6:
        out["requestStatus"] = status_view(request).model_dump()
    return out


def _created(task: Task) -> int:
    return task.created


def _fetched(task: Task) -> int:
    return task.fetched


_SORTS: dict[str, tuple[Callable[[Task], int], bool]] = {
    "CREATION_DATE_ASC": (_created, False),
    "CREATION_DATE_DESC": (_created, True),
    "LAST_FETCHED_DATE_ASC": (_fetched, False),
    "LAST_FETCHED_DATE_DESC": (_fetched, True),
}


def page(
    items: list[tuple[SkaRequest, Task]], number: int, size: int, order: str
) -> list[tuple[SkaRequest, Task]]:
    sort = _SORTS.get(order)
    if sort is None:
        raise invalid(f"Field 'paging.sortOrder' must be one of {', '.join(_SORTS)}")
    key, reverse = sort
    ordered = sorted(items, key=lambda pair: (key(pair[1]), pair[1].id), reverse=reverse)
    return ordered[number * size : (number + 1) * size]


# ------------------------------------------------------------------------------ approvers


def approver_of(
    dto: AuthenticatableRequestDto | Any, digest: str | None, signature: bytes
) -> approvals.Approval:
    public_key, certificate = dto.approverPublicKey, dto.approverCertificate
    if public_key is None and certificate is None:
        raise invalid("One of approverPublicKey and approverCertificate is required")
    return approvals.Approval(signature, digest, public_key, certificate)


def digest_of(name: str) -> str | None:
    """A JDK digest name (SHA-256...), or None for EdDSA keys (the docs' Python sample: "EdDSA")."""
    if name in approvals.EDDSA_NAMES:
        return None
    if name not in approvals.DIGEST_NAMES:
        raise invalid(f"Unknown digest algorithm; one of {', '.join(approvals.DIGEST_NAMES)} or EdDSA")
    return name


def authenticate(dto: AuthenticatableRequestDto, max_age: int, max_future: int) -> bytes:
    """The approver's key, once its timestamp signature verifies within the clock skew."""
    if dto.timestampSigningCertificate is not None:
        raise TsbError(BusinessReason.TIMESTAMP_SIGNER_NOT_ALLOWED, "No timestamp signer is configured", 403)
    digest = digest_of(dto.timestampDigestAlgorithm)
    approver = approver_of(dto, digest, dto.timestampSignature)
    return approvals.authenticate(
        dto.timestamp, dto.timestampSignature, digest, approver, max_age, max_future
    )
