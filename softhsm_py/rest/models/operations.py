"""DTOs of the "Synchronous Key Operations" tag (TSB.md 3.2). Each request travels in a named
envelope (``{"signRequest": {...}, "requestSignature": ...}``), as on the TSB."""

from __future__ import annotations

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
from softhsm_py.rest.models.keys import AttributesDto, PolicyDto


class SynchronousSignRequestDto(TsbModel):
    payload: Base64
    payloadType: PayloadType | None = PayloadType.UNSPECIFIED
    signKeyName: Name
    signKeyObject: OptBase64
    keyPassword: Password
    metaData: OptBase64
    metaDataSignature: OptBase64
    signatureAlgorithm: SignatureAlgorithm
    signatureType: SignatureType | None = None
    signedApprovals: list[str] | None = None


class SignedSynchronousSignRequestDto(TsbModel):
    signRequest: SynchronousSignRequestDto
    requestSignature: SignatureDto | None = None


class SignatureResponse(TsbResponse):
    signature: str


class VerifySignatureRequestDto(TsbModel):
    signKeyName: Name
    signKeyObject: OptBase64
    masterKeyPassword: Password
    signatureAlgorithm: SignatureAlgorithm
    payload: Base64
    signature: Base64


class VerifyHmacRequestDto(TsbModel):
    keyName: Name
    keyPassword: Password
    payload: Base64
    signature: Base64


class SignedVerifySignatureRequestDto(TsbModel):
    """``/v1/verify`` carries a signature verification, or (TSB docs' HMAC tutorial) an HMAC one."""

    verifySignatureRequest: VerifySignatureRequestDto | None = None
    verifyHmacRequest: VerifyHmacRequestDto | None = None
    requestSignature: SignatureDto | None = None


class SignedVerifyHmacRequestDto(TsbModel):
    verifyHmacRequest: VerifyHmacRequestDto
    requestSignature: SignatureDto | None = None


class VerifySignatureResponse(TsbResponse):
    signatureValid: bool


class HmacRequestDto(TsbModel):
    keyName: Name
    keyPassword: Password
    payload: Base64


class SignedHmacRequestDto(TsbModel):
    hmacRequest: HmacRequestDto
    requestSignature: SignatureDto | None = None


class HmacResponse(TsbResponse):
    keyedHash: str


class EncryptRequestDto(TsbModel):
    payload: Base64
    encryptKeyName: Name
    keyPassword: Password
    cipherAlgorithm: CipherAlgorithm
    additionalAuthenticationData: OptBase64
    tagLength: int | None = 0


class SignedEncryptRequestDto(TsbModel):
    encryptRequest: EncryptRequestDto
    requestSignature: SignatureDto | None = None


class EncryptRequestResponseDto(TsbResponse):
    encryptedPayload: str
    encryptedPayloadWithoutMessageAuthenticationCode: str | None = None
    initializationVector: str | None = None
    messageAuthenticationCode: str | None = None


class SynchronousDecryptRequestDto(TsbModel):
    encryptedPayload: Base64
    decryptKeyName: Name
    keyPassword: Password
    cipherAlgorithm: CipherAlgorithm
    initializationVector: OptBase64
    additionalAuthenticationData: OptBase64
    signedApprovals: list[str] | None = None
    tagLength: int | None = 0


class SignedSynchronousDecryptRequestDto(TsbModel):
    decryptRequest: SynchronousDecryptRequestDto
    requestSignature: SignatureDto | None = None


class DecryptResponse(TsbResponse):
    payload: str


class WrapKeyRequestDto(TsbModel):
    keyToBeWrapped: Name
    keyToBeWrappedPassword: Password
    wrapKeyName: Name
    wrapKeyPassword: Password
    wrapMethod: WrapMethod


class SignedWrapKeyRequestDto(TsbModel):
    wrapKeyRequest: WrapKeyRequestDto
    requestSignature: SignatureDto | None = None


class WrapKeyResponse(TsbResponse):
    wrappedKey: str


class SynchronousUnwrapKeyRequestDto(TsbModel):
    wrappedKey: Base64
    label: Name
    attributes: AttributesDto
    unwrapKeyName: Name
    unwrapKeyPassword: Password
    wrapMethod: WrapMethod
    signedApprovals: list[str] | None = None
    policy: PolicyDto | None = None


class SignedSynchronousUnwrapKeyRequestDto(TsbModel):
    unwrapKeyRequest: SynchronousUnwrapKeyRequestDto
    requestSignature: SignatureDto | None = None
