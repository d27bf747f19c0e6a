"""DTOs of the multi-authorization (Smart Key Attributes) routes: the asynchronous "Requests" tag,
"Approval Tasks", "Approver Management", and the synchronous block/unblock/modify routes (TSB.md
3.2-3.4, 3.7; DTO copy ``dto/tsb``)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import Field

from softhsm_py.rest.models.certificates import (
    SynchronousCertificateRequestRequestDto,
    SynchronousSelfSignCertificateRequestDto,
    SynchronousSignCertificateRequestDto,
)
from softhsm_py.rest.models.common import (
    Base64,
    CipherAlgorithm,
    Name,
    OptBase64,
    Password,
    PayloadType,
    SignatureAlgorithm,
    SignatureDto,
    SignatureType,
    TsbModel,
    TsbResponse,
    WrapMethod,
)
from softhsm_py.rest.models.keys import AttributesDto, Rule


class ModifyPolicyDto(TsbModel):
    """The new rules of a policy change (no keyStatus: a modify leaves it)."""

    ruleUse: Rule | None = None
    ruleBlock: Rule | None = None
    ruleUnblock: Rule | None = None
    ruleModify: Rule | None = None


# ------------------------------------------------------------------------------ async requests


class SignRequestDto(TsbModel):
    payload: Base64
    payloadType: PayloadType | None = PayloadType.UNSPECIFIED
    signKeyName: Name
    keyPassword: Password
    metaData: OptBase64
    metaDataSignature: OptBase64
    signatureAlgorithm: SignatureAlgorithm
    signatureType: SignatureType | None = None
    context: OptBase64
    auxiliaryRandomData: OptBase64
    taprootTweakData: OptBase64
    merkleRootData: OptBase64


class SignedSignRequestDto(TsbModel):
    signRequest: SignRequestDto
    requestSignature: SignatureDto | None = None


class DecryptRequestDto(TsbModel):
    encryptedPayload: Base64
    decryptKeyName: Name
    keyPassword: Password
    cipherAlgorithm: CipherAlgorithm
    initializationVector: OptBase64
    additionalAuthenticationData: OptBase64
    tagLength: int | None = 0
    metaData: OptBase64
    metaDataSignature: OptBase64


class SignedDecryptRequestDto(TsbModel):
    decryptRequest: DecryptRequestDto
    requestSignature: SignatureDto | None = None


class UnwrapKeyRequestDto(TsbModel):
    wrappedKey: Base64
    label: Name
    attributes: AttributesDto
    unwrapKeyName: Name
    unwrapKeyPassword: Password
    wrapMethod: WrapMethod
    metaData: OptBase64
    metaDataSignature: OptBase64


class SignedUnwrapKeyRequestDto(TsbModel):
    unwrapKeyRequest: UnwrapKeyRequestDto
    requestSignature: SignatureDto | None = None


class BlockKeyRequestDto(TsbModel):
    blockKeyName: Name
    keyPassword: Password
    metaData: OptBase64
    metaDataSignature: OptBase64


class SignedBlockKeyRequestDto(TsbModel):
    blockRequest: BlockKeyRequestDto
    requestSignature: SignatureDto | None = None


class UnblockKeyRequestDto(TsbModel):
    unblockKeyName: Name
    keyPassword: Password
    metaData: OptBase64
    metaDataSignature: OptBase64


class SignedUnblockKeyRequestDto(TsbModel):
    unblockRequest: UnblockKeyRequestDto
    requestSignature: SignatureDto | None = None


class ModifyKeyRequestDto(TsbModel):
    modifyKeyName: Name
    keyPassword: Password
    metaData: OptBase64
    metaDataSignature: OptBase64
    policy: ModifyPolicyDto


class SignedModifyKeyRequestDto(TsbModel):
    modifyRequest: ModifyKeyRequestDto
    requestSignature: SignatureDto | None = None


class CsrSignRequestDto(SynchronousCertificateRequestRequestDto):
    metaData: OptBase64
    metaDataSignature: OptBase64


class SignedCertificateRequestRequestDto(TsbModel):
    csrSignRequest: CsrSignRequestDto
    requestSignature: SignatureDto | None = None


class SelfSignCertificateRequestDto(SynchronousSelfSignCertificateRequestDto):
    metaData: OptBase64
    metaDataSignature: OptBase64


class SignedSelfSignCertificateRequestDto(TsbModel):
    selfSignCertificateRequest: SelfSignCertificateRequestDto
    requestSignature: SignatureDto | None = None


class SignCertificateRequestDto(SynchronousSignCertificateRequestDto):
    metaData: OptBase64
    metaDataSignature: OptBase64


class SignedSignCertificateRequestDto(TsbModel):
    signCertificateRequest: SignCertificateRequestDto
    requestSignature: SignatureDto | None = None


# ------------------------------------------------------------------------------ synchronous SKA


class SynchronousBlockKeyRequestDto(TsbModel):
    blockKeyName: Name
    keyPassword: Password
    metaData: OptBase64
    metaDataSignature: OptBase64
    signedApprovals: list[str] | None = None


class SignedSynchronousBlockKeyRequestDto(TsbModel):
    blockRequest: SynchronousBlockKeyRequestDto
    requestSignature: SignatureDto | None = None


class SynchronousUnblockKeyRequestDto(TsbModel):
    unblockKeyName: Name
    keyPassword: Password
    metaData: OptBase64
    metaDataSignature: OptBase64
    signedApprovals: list[str] | None = None


class SignedSynchronousUnblockKeyRequestDto(TsbModel):
    unblockRequest: SynchronousUnblockKeyRequestDto
    requestSignature: SignatureDto | None = None


class SynchronousModifyKeyRequestDto(TsbModel):
    modifyKeyName: Name
    keyPassword: Password
    metaData: OptBase64
    metaDataSignature: OptBase64
    policy: ModifyPolicyDto
    signedApprovals: list[str] | None = None


class SignedSynchronousModifyKeyRequestDto(TsbModel):
    modifyRequest: SynchronousModifyKeyRequestDto
    requestSignature: SignatureDto | None = None


# ------------------------------------------------------------------------------ responses


class SignRequestResponseDto(TsbResponse):
    signRequestId: str


class DecryptRequestResponseDto(TsbResponse):
    decryptRequestId: str


class UnwrapKeyRequestResponseDto(TsbResponse):
    unwrapRequestId: str


class BlockKeyRequestResponseDto(TsbResponse):
    blockKeyRequestId: str


class UnblockKeyRequestResponseDto(TsbResponse):
    unblockKeyRequestId: str


class ModifyKeyRequestResponseDto(TsbResponse):
    modifyKeyRequestId: str


class RequestStatus(StrEnum):
    PENDING = "PENDING"
    APPROVED = "APPROVED"
    EXECUTED = "EXECUTED"
    FAILED = "FAILED"
    EXPIRED = "EXPIRED"
    REJECTED = "REJECTED"
    CANCELLED = "CANCELLED"


class RequestStatusDto(TsbResponse):
    id: str
    status: RequestStatus
    executionTime: str | None = None
    approvedBy: list[str]
    notYetApprovedBy: list[str]
    rejectedBy: list[str]
    result: str | None = None


class PagingDto(TsbModel):
    pageNumber: int = Field(default=0, ge=0)
    pageSize: int = Field(default=100, ge=1, le=1000)
    sortOrder: str = "CREATION_DATE_ASC"


class FilteredRequestsDto(TsbModel):
    """``POST /v1/filteredRequests`` (its body is not published: softhsm-py takes the statuses to
    list and paging)."""

    status: RequestStatus | list[RequestStatus] | None = None
    paging: PagingDto | None = None


class FilteredRequestsResponseDto(TsbResponse):
    requests: list[RequestStatusDto]


# ------------------------------------------------------------------------------ approval tasks


class AuthenticatableRequestDto(TsbModel):
    """An approver proves itself: its signature over ``timestamp`` (TSB.md 6.3)."""

    timestamp: Name
    timestampSignature: Base64
    timestampSigningCertificate: OptBase64
    approverPublicKey: OptBase64
    approverCertificate: OptBase64
    timestampDigestAlgorithm: Name


class FilteredTasksRequestDto(AuthenticatableRequestDto):
    id: str | None = None
    requestId: str | None = None
    detailLevel: str | None = "level1"
    paging: PagingDto | None = None


class DeleteTaskRequestDto(AuthenticatableRequestDto):
    id: Name


class SendApprovalDto(TsbModel):
    id: Name
    approvalToBeSigned: Base64
    signature: Base64
    approvalDigestAlgorithm: Name
    approverPublicKey: OptBase64
    approverCertificate: OptBase64


class GetTasksResponseDto(TsbResponse):
    """Tasks at the detail level asked for; each level adds fields to the one before (TSB.md 3.4)."""

    tasks: list[dict[str, Any]]


# ------------------------------------------------------------------------------ approvers


class ApproverCreateDto(TsbModel):
    approverName: Name
    algorithm: Name = "RSA"
    keySize: int | None = 2048
    backupPassword: Password
    validity: int | None = 3650


class ApproverCreateResponseDto(TsbResponse):
    oneTimeCode: str


class ApproverOnboardDto(TsbModel):
    approverName: Name
    oneTimeCode: Password
    transportPassword: Password


class ApproverOnboardResponseDto(TsbResponse):
    encryptedPayload: str
    initializationVector: str


class ApproverNameDto(TsbModel):
    approverName: Name


class ApproverRestoreWithPasswordUnknownDto(TsbModel):
    approverName: Name
    newBackupPassword: Password


class ApproverOnboardingCertificateDto(TsbResponse):
    approverName: str
    approverCertificate: str


class ApproverOnboardingStatusResponseDto(TsbResponse):
    onboarded: list[ApproverOnboardingCertificateDto]
    pending: list[ApproverOnboardingCertificateDto]
