"""Tag "Certificate", synchronous routes (TSB.md 3.5)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from softhsm_py.rest import x509
from softhsm_py.rest.binding import BoundPartition
from softhsm_py.rest.coreapi import mechanism
from softhsm_py.rest.errors import BusinessReason, TsbError, not_implemented
from softhsm_py.rest.models.certificates import (
    CertificateImportDto,
    CertificateRequestResponseDto,
    CertificateResponseDto,
    SynchronousCertificateRequestRequestDto,
    SynchronousSelfSignCertificateRequestDto,
    SynchronousSignCertificateRequestDto,
)
from softhsm_py.rest.models.common import b64encode
from softhsm_py.rest.routers.common import ERRORS, key_name

router = APIRouter(tags=["Certificate"], responses=ERRORS)
LabelPath = Annotated[str, Path(description="The name of the key the certificate belongs to")]


@router.post(
    "/v1/certificate/synchronous/request",
    operation_id="synchronousCreateCertificateRequest",
    response_model=CertificateRequestResponseDto,
)
def certificate_request(body: SynchronousCertificateRequestRequestDto, partition: BoundPartition) -> Any:
    """A PKCS#10 request signed by the key. (The TSB also attaches a self-signed certificate to
    the key; that needs certificate storage in the core: not yet.)"""
    name = key_name(body.signKeyName)
    algorithm = x509.ALGORITHMS[body.signatureAlgorithm.value]
    spki = _spki(partition, name, body.keyPassword)
    subject = x509.name_from(body.standardCertificateAttributes.model_dump())
    exts = x509.extensions(
        spki, False, _usages(body.keyUsage), _usages(body.extendedKeyUsage), self_signed=False
    )
    info = x509.certification_request_info(subject, spki, exts)
    signature = partition.sign(name, mechanism(algorithm.mech), info, password=body.keyPassword)
    der = x509.signed(info, algorithm, signature)
    return CertificateRequestResponseDto(
        label=name, certificateSigningRequest=x509.pem(der, "NEW CERTIFICATE REQUEST")
    )


def _usages(values: list[Any] | None) -> list[str]:
    return [v.value for v in values or []]


def _spki(partition: Any, name: str, password: bytes | None) -> bytes:
    info = partition.key(name, password)
    if info.spki is None:
        raise TsbError(BusinessReason.INVALID_KEY_TYPE, "Certificates are for asymmetric keys")
    return bytes(info.spki)


@router.post(
    "/v1/certificate/synchronous/selfsign",
    operation_id="synchronousSelfSignCertificate",
    response_model=CertificateResponseDto,
)
def self_sign(body: SynchronousSelfSignCertificateRequestDto, partition: BoundPartition) -> Any:
    name = key_name(body.signKeyName)
    algorithm = x509.ALGORITHMS[body.signatureAlgorithm.value]
    spki = _spki(partition, name, body.keyPassword)
    subject = x509.name([("2.5.4.3", body.commonName, x509.UTF8)])
    ca = bool(body.certificateAuthority)
    exts = x509.extensions(spki, ca, _usages(body.keyUsage), _usages(body.extendedKeyUsage), self_signed=True)
    serial = (int.from_bytes(partition.random(16), "big") >> 1) | 1  # positive, 127 random bits
    tbs = x509.tbs_certificate(serial, algorithm, subject, subject, spki, x509.now(), body.validity, exts)
    signature = partition.sign(name, mechanism(algorithm.mech), tbs, password=body.keyPassword)
    return CertificateResponseDto(label=name, certificate=b64encode(x509.signed(tbs, algorithm, signature)))


@router.post(
    "/v1/certificate/synchronous/sign",
    operation_id="synchronousSignCertificate",
    response_model=CertificateResponseDto,
)
def sign_certificate(body: SynchronousSignCertificateRequestDto, partition: BoundPartition) -> Any:
    # the issuer is the signing key's own certificate, which needs certificate storage in the core
    raise not_implemented("Signing certificates (needs the key's certificate stored)")


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
