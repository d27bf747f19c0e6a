"""Tag "Approver Management" (TSB.md 3.7; TSB >= 2.0.0): approver key pairs made in the partition,
handed out once against a one-time code, AES-GCM under the approver's transport password."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import Response

from softhsm_py.rest.binding import BoundPartition
from softhsm_py.rest.errors import BusinessReason, TsbError, invalid
from softhsm_py.rest.models.common import b64encode
from softhsm_py.rest.models.ska import (
    ApproverCreateDto,
    ApproverCreateResponseDto,
    ApproverNameDto,
    ApproverOnboardDto,
    ApproverOnboardingCertificateDto,
    ApproverOnboardingStatusResponseDto,
    ApproverOnboardResponseDto,
    ApproverRestoreWithPasswordUnknownDto,
)
from softhsm_py.rest.routers.common import ERRORS

router = APIRouter(tags=["Approver Management"], responses=ERRORS)
NamePath = Annotated[str, Path(description="The approver's name")]


@router.post("/v1/approverManagement/create", operation_id="create", response_model=ApproverCreateResponseDto)
def create(body: ApproverCreateDto, partition: BoundPartition) -> Any:
    """A new approver key (RSA) and its self-signed certificate; the one-time code to onboard it."""
    if body.algorithm != "RSA":
        raise TsbError(BusinessReason.UNSUPPORTED_APPROVER_KEY_TYPE, "Approver keys are RSA keys")
    if body.keySize not in (None, 2048, 3072, 4096):
        raise TsbError(BusinessReason.UNSUPPORTED_KEYSIZE, "keySize must be 2048, 3072 or 4096")
    if body.backupPassword is None:
        raise invalid("Field 'backupPassword' must not be empty")
    validity = body.validity if body.validity is not None else 3650
    if not 1 <= validity <= 36500:
        raise invalid("Field 'validity' must be between 1 and 36500 days")
    code = partition.approvers.create(body.approverName, body.keySize or 2048, body.backupPassword, validity)
    return ApproverCreateResponseDto(oneTimeCode=code)


@router.post("/v1/approver/onboard", operation_id="onboard", response_model=ApproverOnboardResponseDto)
def onboard(body: ApproverOnboardDto, partition: BoundPartition) -> Any:
    """The approver's PKCS#12 (under its backup password), AES-GCM under ``transportPassword``."""
    if body.oneTimeCode is None or body.transportPassword is None:
        raise invalid("Fields 'oneTimeCode' and 'transportPassword' must not be empty")
    if len(body.transportPassword) not in (16, 24, 32):
        raise invalid("Field 'transportPassword' must be 16, 24 or 32 bytes (an AES key)")
    iv, encrypted = partition.approvers.onboard(
        body.approverName, body.oneTimeCode.decode("utf-8"), body.transportPassword
    )
    return ApproverOnboardResponseDto(
        encryptedPayload=b64encode(encrypted), initializationVector=b64encode(iv)
    )


def _status(partition: Any) -> ApproverOnboardingStatusResponseDto:
    onboarded: list[ApproverOnboardingCertificateDto] = []
    pending: list[ApproverOnboardingCertificateDto] = []
    for name, status, certificate in partition.approvers.listing():
        entry = ApproverOnboardingCertificateDto(
            approverName=name, approverCertificate=b64encode(certificate)
        )
        (onboarded if status == "ONBOARDED" else pending).append(entry)
    return ApproverOnboardingStatusResponseDto(onboarded=onboarded, pending=pending)


@router.get(
    "/v1/approverManagement/onboarding/status",
    operation_id="onboardingStatus",
    response_model=ApproverOnboardingStatusResponseDto,
)
def onboarding_status(partition: BoundPartition) -> Any:
    return _status(partition)


@router.post(
    "/v1/approverManagement/onboarding/status",
    operation_id="onboardingStatus_1",
    response_model=ApproverOnboardingStatusResponseDto,
)
def onboarding_status_post(partition: BoundPartition) -> Any:
    return _status(partition)


@router.post(
    "/v1/approverManagement/renewOneTimeCode",
    operation_id="renewOTP",
    response_model=ApproverCreateResponseDto,
)
def renew(body: ApproverNameDto, partition: BoundPartition) -> Any:
    return ApproverCreateResponseDto(oneTimeCode=partition.approvers.renew_code(body.approverName))


@router.post(
    "/v1/approverManagement/restoreFromBackup",
    operation_id="restoreFromBackup",
    response_model=ApproverCreateResponseDto,
)
def restore(body: ApproverNameDto, partition: BoundPartition) -> Any:
    """Hand the approver's key out again (same backup password): a new one-time code."""
    return ApproverCreateResponseDto(oneTimeCode=partition.approvers.restore(body.approverName))


@router.post(
    "/v1/approverManagement/restoreFromBackup/forgotPassword",
    operation_id="restoreFromBackupForgotPkcs12Password",
    response_model=ApproverCreateResponseDto,
)
def restore_forgotten(body: ApproverRestoreWithPasswordUnknownDto, partition: BoundPartition) -> Any:
    """Hand the approver's key out again under a new backup password: a new one-time code."""
    if body.newBackupPassword is None:
        raise invalid("Field 'newBackupPassword' must not be empty")
    code = partition.approvers.restore(body.approverName, body.newBackupPassword)
    return ApproverCreateResponseDto(oneTimeCode=code)


@router.delete("/v1/approverManagement/delete/{approverName}", operation_id="delete")
def delete(approverName: NamePath, partition: BoundPartition) -> Response:
    partition.approvers.delete(approverName)
    return Response(status_code=200)


__all__ = ["router"]
