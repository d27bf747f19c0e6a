"""DTOs of the "Keys" tag (TSB.md 3.1; DTO copy ``dto/tsb/request``, ``dto/tsb/response``)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from softhsm_py.rest.models.common import Base64, Name, OptBase64, Password, TsbModel, TsbResponse


class AttributesDto(TsbModel):
    """``CreateKeyAttributes``: at least one of decrypt, sign, unwrap must be true. Java's primitive
    booleans take JSON null as their default, so every field here accepts null."""

    encrypt: bool | None = None
    decrypt: bool
    verify: bool | None = None
    sign: bool
    wrap: bool | None = None
    unwrap: bool
    derive: bool | None = None
    bip32: bool | None = None
    slip10: bool | None = None
    extractable: bool | None = None
    modifiable: bool | None = None
    destroyable: bool | None = None
    sensitive: bool | None = None
    copyable: bool | None = None


class AddressFormatDto(TsbModel):
    format: Name


class ApprovalType(StrEnum):
    public_key = "public_key"
    certificate = "certificate"
    onboarded_approver_certificate = "onboarded_approver_certificate"


class Approval(TsbModel):
    type: ApprovalType
    name: str | None = None
    value: str | None = None


class Group(TsbModel):
    name: str | None = None
    quorum: int
    approvals: list[Approval]


class Token(TsbModel):
    name: str | None = None
    timelock: int
    timeout: int
    groups: list[Group] | None = None


class Rule(TsbModel):
    tokens: list[Token] | None = None


class KeyStatus(TsbModel):
    blocked: bool | None = None


class PolicyDto(TsbModel):
    """Smart Key Attributes (TSB.md 6.1): the rules of use, block, unblock and modify, and the
    key's status. The core (``core.ska.policy``) checks it; here it is only the wire shape."""

    ruleUse: Rule | None = None
    ruleBlock: Rule | None = None
    ruleUnblock: Rule | None = None
    ruleModify: Rule | None = None
    keyStatus: KeyStatus | None = None


class CreateKeyDto(TsbModel):
    label: Name
    password: Password
    id: str | None = None
    algorithm: str | None = None
    algorithmOid: str | None = None
    curveOid: str | None = None
    keySize: int | None = None
    addressFormat: AddressFormatDto | None = None
    attributes: AttributesDto
    policy: PolicyDto | None = None


class KeyLabelWithPasswordDto(TsbModel):
    label: Name
    password: Password


class ChangeKeyPasswordDto(TsbModel):
    label: Name
    password: Password
    newPassword: Password


class KeyImportDto(TsbModel):
    label: Name
    algorithm: Name
    addressFormat: AddressFormatDto | None = None
    privateKey: OptBase64
    publicKey: OptBase64
    secretKey: OptBase64
    certificate: OptBase64
    attributes: AttributesDto
    policy: PolicyDto | None = None


# ---------------------------------------------------------------------------------- responses


class KeyAttributesFlags(TsbResponse):
    """``KeyAttributesDto.Attributes`` (schema name ``Attributes`` on the TSB)."""

    decrypt: bool | None
    sign: bool | None
    ekaSign: bool | None = None
    unwrap: bool | None
    derive: bool | None
    sensitive: bool | None
    alwaysSensitive: bool | None
    extractable: bool | None
    neverExtractable: bool | None
    modifiable: bool | None
    copyable: bool | None
    destroyable: bool | None


class DerivedKeyAttributesDto(TsbResponse):
    derivationType: str | None = None
    derivationValue: str | None = None


class AddressTruncatedDto(TsbResponse):
    address: str | None = None
    format: str | None = None


class KeyAttributesDto(TsbResponse):
    """Field order as the TSB sends it (SD wrap-unwrap.md). ``id`` is always null: tsb-client-go
    1.1.0 type-asserts it as ``*string`` and panics on any JSON string (TSB.md section 9)."""

    label: str
    id: str | None = None
    uuid: str | None = None
    algorithm: str
    algorithmOid: str
    curveOid: str | None = None
    derivedAttributes: DerivedKeyAttributesDto | None = None
    keySize: int | None = None
    keyUsageCount: int | None = None
    createTime: str | None = None
    attestTime: str | None = None
    publicKey: str | None = None
    addressTruncated: AddressTruncatedDto | None = None
    attributes: KeyAttributesFlags
    policy: PolicyDto | None = None


class SignedKeyAttributesDto(TsbResponse):
    xml: str
    json_: KeyAttributesDto = Field(alias="json", serialization_alias="json")
    xmlSignature: str
    attestationKeyName: str


class KeyExportDto(TsbResponse):
    privateKey: str | None = None
    publicKey: str | None = None
    secretKey: str | None = None


__all__ = [
    "AttributesDto",
    "Base64",
    "ChangeKeyPasswordDto",
    "CreateKeyDto",
    "KeyAttributesDto",
    "KeyAttributesFlags",
    "KeyExportDto",
    "KeyImportDto",
    "KeyLabelWithPasswordDto",
    "PolicyDto",
    "SignedKeyAttributesDto",
]
