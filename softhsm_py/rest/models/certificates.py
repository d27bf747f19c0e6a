"""DTOs of the "Certificate" tag, synchronous routes (TSB.md 3.5)."""

from __future__ import annotations

from pydantic import Field

from softhsm_py.rest.models.common import (
    ExtendedKeyUsage,
    KeytoolSignatureAlgorithm,
    KeyUsage,
    Name,
    OptBase64,
    Password,
    TsbModel,
    TsbResponse,
)


class CertificateAttributesDto(TsbModel):
    commonName: Name
    country: str | None = None
    stateOrProvinceName: str | None = None
    locality: str | None = None
    organizationName: str | None = None
    organizationUnitName: str | None = None
    email: str | None = None
    title: str | None = None
    surname: str | None = None
    givenName: str | None = None
    initials: str | None = None
    pseudonym: str | None = None
    generationQualifier: str | None = None


class SynchronousCertificateRequestRequestDto(TsbModel):
    signKeyName: Name
    keyPassword: Password
    signatureAlgorithm: KeytoolSignatureAlgorithm
    validity: int = Field(ge=1, le=365_000)
    standardCertificateAttributes: CertificateAttributesDto
    keyUsage: list[KeyUsage] | None = None
    extendedKeyUsage: list[ExtendedKeyUsage] | None = None


class SynchronousSelfSignCertificateRequestDto(TsbModel):
    signKeyName: Name
    keyPassword: Password
    validity: int = Field(ge=1, le=365_000)
    signatureAlgorithm: KeytoolSignatureAlgorithm
    commonName: Name
    certificateAuthority: bool | None = False
    keyUsage: list[KeyUsage] | None = None
    extendedKeyUsage: list[ExtendedKeyUsage] | None = None


class SynchronousSignCertificateRequestDto(TsbModel):
    signKeyName: Name
    keyPassword: Password
    validity: int = Field(default=365, ge=1, le=365_000)
    signatureAlgorithm: KeytoolSignatureAlgorithm
    commonName: Name
    certificateAuthority: bool | None = False
    certificateSigningRequest: Name
    keyUsage: list[KeyUsage] | None = None
    extendedKeyUsage: list[ExtendedKeyUsage] | None = None


class CertificateImportDto(TsbModel):
    label: Name
    certificate: OptBase64


class CertificateRequestResponseDto(TsbResponse):
    label: str
    certificateSigningRequest: str


class CertificateResponseDto(TsbResponse):
    label: str
    certificate: str | None
