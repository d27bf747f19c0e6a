"""Shared pieces of the DTOs: the base model (unknown properties refused, as the TSB's Jackson
does), passwords (a string or an array of one-character strings, both bound to one value), base64
fields, and the TSB's enums (wire values are the Java enum names)."""

from __future__ import annotations

import base64
import binascii
from enum import Enum, StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema


class TsbModel(BaseModel):
    """Request DTOs: unknown JSON properties are an error (621), never ignored."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)


class TsbResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------------------------- passwords


def _password(value: Any) -> bytes | None:
    """Java ``char[]``: JSON null, a string, or an array of one-character strings (Jackson binds
    both). Empty means no password, as tsb-client-go omits the field for an empty one."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value
    elif isinstance(value, list):
        if not all(isinstance(c, str) and len(c) == 1 for c in value):
            raise ValueError("must be a string or an array of one-character strings")
        text = "".join(value)
    else:
        raise ValueError("must be a string or an array of one-character strings")
    return text.encode("utf-8") or None


_PASSWORD_SCHEMA = {
    "oneOf": [
        {"type": "array", "items": {"type": "string", "pattern": "^.{1}$"}},
        {"type": "string"},
    ],
    "nullable": True,
}

#: A key password; ``repr=False`` on every field that holds one keeps it out of reprs and logs.
Password = Annotated[
    bytes | None,
    BeforeValidator(_password),
    WithJsonSchema(_PASSWORD_SCHEMA),
    Field(default=None, repr=False),
]


# ---------------------------------------------------------------------------------- base64


def b64decode(value: Any) -> bytes:
    """Standard base64 with padding, as Java's ``Base64.getDecoder()`` wants it."""
    if not isinstance(value, str):
        raise ValueError("must be a base64 string")
    try:
        return base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise ValueError("is not valid base64") from None


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _b64_required(value: Any) -> bytes:
    data = b64decode(value)
    if not data:
        raise ValueError("must not be empty")
    return data


def _b64_optional(value: Any) -> bytes | None:
    if value is None or value == "":
        return None
    return b64decode(value)


_B64_SCHEMA = {"type": "string", "format": "byte"}

#: @NotEmpty @Base64Encoded
Base64 = Annotated[bytes, BeforeValidator(_b64_required), WithJsonSchema(_B64_SCHEMA), Field(repr=False)]
#: @Base64Encoded, may be null or absent
OptBase64 = Annotated[
    bytes | None,
    BeforeValidator(_b64_optional),
    WithJsonSchema({**_B64_SCHEMA, "nullable": True}),
    Field(default=None, repr=False),
]


def _not_empty(value: Any) -> Any:
    if isinstance(value, str) and value == "":
        raise ValueError("must not be empty")
    return value


#: @NotEmpty String
Name = Annotated[str, BeforeValidator(_not_empty)]


# ---------------------------------------------------------------------------------- enums


class PayloadType(StrEnum):
    UNSPECIFIED = "UNSPECIFIED"
    ISO_20022 = "ISO_20022"
    PDF = "PDF"
    BTC = "BTC"
    ETH = "ETH"


class SignatureType(StrEnum):
    DER = "DER"
    ETH = "ETH"
    RAW = "RAW"


def _names(*names: str) -> dict[str, str]:
    return {n: n for n in names}


#: DTO ``SignatureAlgorithm`` plus the names tsb-client-go 1.1.0 and TSB 2.2 add (TSB.md section 4)
SignatureAlgorithm = Enum(  # type: ignore[misc]
    "SignatureAlgorithm",
    _names(
        "SHA1_WITH_RSA",
        "SHA224_WITH_RSA",
        "SHA256_WITH_RSA",
        "SHA384_WITH_RSA",
        "SHA512_WITH_RSA",
        "SHA1_WITH_RSA_PSS",
        "SHA224_WITH_RSA_PSS",
        "SHA256_WITH_RSA_PSS",
        "SHA384_WITH_RSA_PSS",
        "SHA512_WITH_RSA_PSS",
        "NONE_WITH_RSA",
        "NONE_WITH_RSA_PSS",
        "NONESHA1_WITH_RSA",
        "NONESHA224_WITH_RSA",
        "NONESHA256_WITH_RSA",
        "NONESHA384_WITH_RSA",
        "NONESHA512_WITH_RSA",
        "NONESHA224_WITH_RSA_PSS",
        "NONESHA256_WITH_RSA_PSS",
        "NONESHA384_WITH_RSA_PSS",
        "NONESHA512_WITH_RSA_PSS",
        "NONE_WITH_ECDSA",
        "SHA1_WITH_ECDSA",
        "SHA224_WITH_ECDSA",
        "SHA256_WITH_ECDSA",
        "SHA384_WITH_ECDSA",
        "SHA512_WITH_ECDSA",
        "SHA3224_WITH_ECDSA",
        "SHA3256_WITH_ECDSA",
        "SHA3384_WITH_ECDSA",
        "SHA3512_WITH_ECDSA",
        "SHA256_WITH_ECDSA_DETERMINISTIC",
        "DOUBLE_SHA256_WITH_ECDSA",
        "KECCAK224_WITH_ECDSA",
        "KECCAK256_WITH_ECDSA",
        "KECCAK384_WITH_ECDSA",
        "KECCAK512_WITH_ECDSA",
        "NONE_WITH_EC_SCHNORR_BIP0340",
        "EDDSA",
        "NONE_WITH_DSA",
        "SHA1_WITH_DSA",
        "SHA224_WITH_DSA",
        "SHA256_WITH_DSA",
        "SHA384_WITH_DSA",
        "SHA512_WITH_DSA",
        "BLS",
        "ISS_KERL",
        "ML_DSA",
        "ML_DSA_M",
        "SLH_DSA",
        "LMS",
        "DILITHIUM",
        "SPHINCS_PLUS",
        "KYBER",
    ),
    type=str,
)

CipherAlgorithm = Enum(  # type: ignore[misc]
    "CipherAlgorithm",
    _names(
        "RSA",
        "RSA_PADDING_OAEP",
        "RSA_PADDING_OAEP_WITH_SHA1",
        "RSA_PADDING_OAEP_WITH_SHA224",
        "RSA_PADDING_OAEP_WITH_SHA256",
        "RSA_PADDING_OAEP_WITH_SHA384",
        "RSA_PADDING_OAEP_WITH_SHA512",
        "RSA_PADDING_PKCS",
        "RSA_NO_PADDING",
        "AES",
        "AES_GCM",
        "AES_CTR",
        "AES_ECB",
        "AES_CBC_NO_PADDING",
        "CHACHA20",
        "CHACHA20_AEAD",
        "CAMELLIA",
        "CAMELLIA_CBC_NO_PADDING",
        "CAMELLIA_ECB",
        "TDEA_CBC",
        "TDEA_ECB",
        "TDEA_CBC_NO_PADDING",
    ),
    type=str,
)

WrapMethod = Enum(  # type: ignore[misc]
    "WrapMethod",
    _names(
        "AES_WRAP",
        "AES_WRAP_DSA",
        "AES_WRAP_EC",
        "AES_WRAP_ED",
        "AES_WRAP_RSA",
        "AES_WRAP_BLS",
        "AES_WRAP_PAD",
        "AES_WRAP_PAD_DSA",
        "AES_WRAP_PAD_EC",
        "AES_WRAP_PAD_ED",
        "AES_WRAP_PAD_RSA",
        "AES_WRAP_PAD_BLS",
        "RSA_WRAP_PAD",
        "RSA_WRAP_OAEP",
        "ML-KEM-512",
        "ML-KEM-768",
        "ML-KEM-1024",
    ),
    type=str,
)

KeytoolSignatureAlgorithm = Enum(  # type: ignore[misc]
    "KeytoolSignatureAlgorithm",
    _names(
        "SHA224_WITH_RSA",
        "SHA256_WITH_RSA",
        "SHA384_WITH_RSA",
        "SHA512_WITH_RSA",
        "SHA256_WITH_ECDSA",
        "SHA384_WITH_ECDSA",
        "SHA512_WITH_ECDSA",
    ),
    type=str,
)


class KeyUsage(StrEnum):
    DIGITAL_SIGNATURE = "DIGITAL_SIGNATURE"
    CONTENT_COMMITMENT = "CONTENT_COMMITMENT"
    KEY_ENCIPHERMENT = "KEY_ENCIPHERMENT"
    DATA_ENCIPHERMENT = "DATA_ENCIPHERMENT"
    KEY_AGREEMENT = "KEY_AGREEMENT"
    KEY_CERT_SIGN = "KEY_CERT_SIGN"
    CRL_SIGN = "CRL_SIGN"
    ENCIPHER_ONLY = "ENCIPHER_ONLY"
    DECIPHER_ONLY = "DECIPHER_ONLY"


class ExtendedKeyUsage(StrEnum):
    ANY_EXTENDED_KEY_USAGE = "ANY_EXTENDED_KEY_USAGE"
    SERVER_AUTH = "SERVER_AUTH"
    CLIENT_AUTH = "CLIENT_AUTH"
    CODE_SIGNING = "CODE_SIGNING"
    EMAIL_PROTECTION = "EMAIL_PROTECTION"
    TIME_STAMPING = "TIME_STAMPING"
    OCSP_SIGNING = "OCSP_SIGNING"


class SignatureDto(TsbModel):
    """``requestSignature``: accepted for wire compatibility; checking it against whitelisted
    request-signing certificates comes with authentication (README)."""

    signature: Base64
    digestAlgorithm: Name
    publicKey: Base64
