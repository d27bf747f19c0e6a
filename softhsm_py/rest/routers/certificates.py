"""Tag "Certificate", synchronous routes (TSB.md 3.5), over ``core.certificates``: requests,
self-signed and CA-signed certificates are signed by the key in the partition (key gate and
password in the core), and a key's certificate is kept as a certificate object under its name."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import Response

from softhsm_py.constants import KeyType
from softhsm_py.core import certificates
from softhsm_py.core.partition import Partition, Presented
from softhsm_py.engine import x509 as engine_x509
from softhsm_py.rest.binding import BoundPartition
from softhsm_py.rest.errors import BusinessReason, TsbError, invalid
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

#: KeytoolSignatureAlgorithm -> (the key type it needs, hash)
SIGNATURE_ALGORITHMS: dict[str, tuple[int, str]] = {
    "SHA224_WITH_RSA": (KeyType.RSA, "sha224"),
    "SHA256_WITH_RSA": (KeyType.RSA, "sha256"),
    "SHA384_WITH_RSA": (KeyType.RSA, "sha384"),
    "SHA512_WITH_RSA": (KeyType.RSA, "sha512"),
    "SHA256_WITH_ECDSA": (KeyType.EC, "sha256"),
    "SHA384_WITH_ECDSA": (KeyType.EC, "sha384"),
    "SHA512_WITH_ECDSA": (KeyType.EC, "sha512"),
}

#: CertificateAttributesDto field -> engine.x509 name attribute
SUBJECT_FIELDS = (
    ("country", "C"),
    ("stateOrProvinceName", "ST"),
    ("locality", "L"),
    ("organizationName", "O"),
    ("organizationUnitName", "OU"),
    ("title", "title"),
    ("surname", "SN"),
    ("givenName", "GN"),
    ("initials", "initials"),
    ("pseudonym", "pseudonym"),
    ("generationQualifier", "generationQualifier"),
    ("commonName", "CN"),
    ("email", "emailAddress"),
)

#: TSB ExtendedKeyUsage -> engine.x509 name
EXTENDED = {
    "ANY_EXTENDED_KEY_USAGE": "any",
    "SERVER_AUTH": "server_auth",
    "CLIENT_AUTH": "client_auth",
    "CODE_SIGNING": "code_signing",
    "EMAIL_PROTECTION": "email_protection",
    "TIME_STAMPING": "time_stamping",
    "OCSP_SIGNING": "ocsp_signing",
}


def _hash_for(partition: Partition, name: str, password: bytes | None, algorithm: str) -> str:
    """The hash of a KeytoolSignatureAlgorithm whose key type is the key's (607 otherwise)."""
    key_type, hash_name = SIGNATURE_ALGORITHMS[algorithm]
    info = partition.key(name, password)
    if info.spki is None:
        raise TsbError(BusinessReason.INVALID_KEY_TYPE, "Certificates are for asymmetric keys")
    if info.key_type != key_type:
        raise TsbError(BusinessReason.ALGORITHM_NOT_SUPPORTED_BY_KEY, f"{algorithm} does not fit this key")
    return hash_name


def _key_usage(values: list[Any] | None) -> list[str]:
    return [v.value.lower() for v in values or []]


def _extended(values: list[Any] | None) -> list[str]:
    return [EXTENDED[v.value] for v in values or []]


def _der(text: str, what: str, reason: BusinessReason) -> bytes:
    """PEM (any label) or bare base64 -> DER."""
    body = "".join(line for line in text.strip().splitlines() if not line.startswith("-----"))
    try:
        der = base64.b64decode(body.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise TsbError(reason, f"The {what} is neither PEM nor base64") from None
    if not der:
        raise TsbError(reason, f"The {what} is empty")
    return der


@router.post(
    "/v1/certificate/synchronous/request",
    operation_id="synchronousCreateCertificateRequest",
    response_model=CertificateRequestResponseDto,
)
def certificate_request(body: SynchronousCertificateRequestRequestDto, partition: BoundPartition) -> Any:
    """A PKCS#10 request signed by the key, and (as the TSB does) a self-signed certificate of the
    same subject attached to the key."""
    return do_request(body, partition, None)


def request_args(body: Any, partition: Partition) -> tuple[str, dict[str, Any]]:
    """(key name, the arguments of ``core.certificates.request`` but password and approvals)."""
    name = key_name(body.signKeyName)
    fields = body.standardCertificateAttributes.model_dump()
    return name, {
        "subject": [(attr, fields[field]) for field, attr in SUBJECT_FIELDS if fields.get(field)],
        "hash_name": _hash_for(partition, name, body.keyPassword, body.signatureAlgorithm.value),
        "key_usage": _key_usage(body.keyUsage),
        "extended_key_usage": _extended(body.extendedKeyUsage),
    }


def self_sign_args(body: Any, partition: Partition) -> tuple[str, dict[str, Any]]:
    name = key_name(body.signKeyName)
    return name, {
        "subject": [("CN", body.commonName)],
        "days": body.validity,
        "hash_name": _hash_for(partition, name, body.keyPassword, body.signatureAlgorithm.value),
        "is_ca": bool(body.certificateAuthority),
        "key_usage": _key_usage(body.keyUsage),
        "extended_key_usage": _extended(body.extendedKeyUsage),
    }


def sign_args(body: Any, partition: Partition) -> tuple[str, dict[str, Any]]:
    name = key_name(body.signKeyName)
    return name, {
        "csr": _der(
            body.certificateSigningRequest, "certificateSigningRequest", BusinessReason.INVALID_CSR_FORMAT
        ),
        "days": body.validity,
        "hash_name": _hash_for(partition, name, body.keyPassword, body.signatureAlgorithm.value),
        "is_ca": bool(body.certificateAuthority),
        "key_usage": _key_usage(body.keyUsage),
        "extended_key_usage": _extended(body.extendedKeyUsage),
    }


#: request kind -> (core.certificates function name, its arguments from a DTO)
KINDS: dict[str, tuple[str, Any]] = {
    "certificate_request": ("request", request_args),
    "self_sign": ("self_sign", self_sign_args),
    "sign_certificate": ("sign", sign_args),
}


def payload_of(kind: str, body: Any, partition: Partition) -> tuple[str, bytes]:
    """(key name, what approvers sign) for a certificate request of ``kind`` (Smart Key Attributes)."""
    function, args = KINDS[kind]
    name, kwargs = args(body, partition)
    return name, certificates.payload(function, **kwargs)


def do_request(body: Any, partition: Partition, approvals: Presented | None) -> CertificateRequestResponseDto:
    """The certificate request of either route (``CsrSignRequestDto`` or its synchronous twin)."""
    name, kwargs = request_args(body, partition)
    csr = certificates.request(partition, name, password=body.keyPassword, approvals=approvals, **kwargs)
    if approvals is None:  # one approved request makes one signature: the CSR
        certificates.self_sign(
            partition, name, password=body.keyPassword, days=body.validity, is_ca=False, **kwargs
        )
    pem = engine_x509.pem(csr, "NEW CERTIFICATE REQUEST").decode("ascii")
    return CertificateRequestResponseDto(label=name, certificateSigningRequest=pem)


@router.post(
    "/v1/certificate/synchronous/selfsign",
    operation_id="synchronousSelfSignCertificate",
    response_model=CertificateResponseDto,
)
def self_sign(body: SynchronousSelfSignCertificateRequestDto, partition: BoundPartition) -> Any:
    return do_self_sign(body, partition, None)


def do_self_sign(body: Any, partition: Partition, approvals: Presented | None) -> CertificateResponseDto:
    name, kwargs = self_sign_args(body, partition)
    der = certificates.self_sign(partition, name, password=body.keyPassword, approvals=approvals, **kwargs)
    return CertificateResponseDto(label=name, certificate=b64encode(der))


@router.post(
    "/v1/certificate/synchronous/sign",
    operation_id="synchronousSignCertificate",
    response_model=CertificateResponseDto,
)
def sign_certificate(body: SynchronousSignCertificateRequestDto, partition: BoundPartition) -> Any:
    """A certificate for the request, issued by the key (the issuer is the key's certificate)."""
    return do_sign_certificate(body, partition, None)


def do_sign_certificate(
    body: Any, partition: Partition, approvals: Presented | None
) -> CertificateResponseDto:
    name, kwargs = sign_args(body, partition)
    der = certificates.sign(partition, name, password=body.keyPassword, approvals=approvals, **kwargs)
    return CertificateResponseDto(label=name, certificate=b64encode(der))


@router.post(
    "/v1/certificate/import/plain",
    operation_id="importPlainCertificate",
    response_model=CertificateResponseDto,
)
def import_certificate(body: CertificateImportDto, partition: BoundPartition) -> Any:
    name = key_name(body.label)
    if body.certificate is None:
        raise invalid("Field 'certificate' must not be null")
    certificates.store(partition, name, body.certificate)
    return CertificateResponseDto(label=name, certificate=b64encode(body.certificate))


@router.get("/v1/certificate/{keyName}", operation_id="getCertificate", response_model=CertificateResponseDto)
def get_certificate(keyName: LabelPath, partition: BoundPartition) -> Any:
    name = key_name(keyName)
    der = certificates.get(partition, name)
    return CertificateResponseDto(label=name, certificate=b64encode(der or b""))


@router.delete("/v1/certificate/{keyName}", operation_id="deleteCertificate")
def delete_certificate(keyName: LabelPath, partition: BoundPartition) -> Response:
    certificates.delete(partition, key_name(keyName))
    return Response(status_code=200)
