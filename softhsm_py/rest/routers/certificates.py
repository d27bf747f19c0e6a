"""Tag "Certificate", synchronous routes (TSB.md 3.5)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from softhsm_py.rest.binding import BoundPartition
from softhsm_py.rest.errors import not_implemented
from softhsm_py.rest.models.certificates import (
    CertificateImportDto,
    CertificateRequestResponseDto,
    CertificateResponseDto,
    SynchronousCertificateRequestRequestDto,
    SynchronousSelfSignCertificateRequestDto,
    SynchronousSignCertificateRequestDto,
)
from softhsm_py.rest.routers.common import ERRORS

router = APIRouter(tags=["Certificate"], responses=ERRORS)
LabelPath = Annotated[str, Path(description="The name of the key the certificate belongs to")]


@router.post(
    "/v1/certificate/synchronous/request",
    operation_id="synchronousCreateCertificateRequest",
    response_model=CertificateRequestResponseDto,
)
def certificate_request(body: SynchronousCertificateRequestRequestDto, partition: BoundPartition) -> Any:
    raise not_implemented("Certificate requests")


@router.post(
    "/v1/certificate/synchronous/selfsign",
    operation_id="synchronousSelfSignCertificate",
    response_model=CertificateResponseDto,
)
def self_sign(body: SynchronousSelfSignCertificateRequestDto, partition: BoundPartition) -> Any:
    raise not_implemented("Self-signed certificates")


@router.post(
    "/v1/certificate/synchronous/sign",
    operation_id="synchronousSignCertificate",
    response_model=CertificateResponseDto,
)
def sign_certificate(body: SynchronousSignCertificateRequestDto, partition: BoundPartition) -> Any:
    raise not_implemented("Signing certificates")


@router.post(
    "/v1/certificate/import/plain",
    operation_id="importPlainCertificate",
    response_model=CertificateResponseDto,
)
def import_certificate(body: CertificateImportDto, partition: BoundPartition) -> Any:
    raise not_implemented("Certificate storage")


@router.get("/v1/certificate/{keyName}", operation_id="getCertificate", response_model=CertificateResponseDto)
def get_certificate(keyName: LabelPath, partition: BoundPartition) -> Any:
    raise not_implemented("Certificate storage")


@router.delete("/v1/certificate/{keyName}", operation_id="deleteCertificate")
def delete_certificate(keyName: LabelPath, partition: BoundPartition) -> Any:
    raise not_implemented("Certificate storage")
