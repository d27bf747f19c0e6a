"""A stored key as the TSB shows it: ``SignedKeyAttributesDto`` = the core's attestation XML, its
signature and the attestation key's name, plus the JSON view built here from the core's
``KeyInfo`` (TSB.md 3.1). The JSON's attestTime is read from the XML so both say the same."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from typing import TYPE_CHECKING, Any

from softhsm_py.constants import Attribute, KeyType
from softhsm_py.rest.models.common import b64encode
from softhsm_py.rest.models.keys import (
    KeyAttributesDto,
    KeyAttributesFlags,
    PolicyDto,
    SignedKeyAttributesDto,
)

if TYPE_CHECKING:
    from softhsm_py.core.partition import KeyInfo, Partition


def _flag(attrs: dict[int, Any], attr: int) -> bool | None:
    value = attrs.get(attr)
    return bool(value) if value is not None else None


def flags(info: KeyInfo) -> KeyAttributesFlags:
    a = info.attrs
    # a KEM's unwrap is its decapsulation (keyspecs.KEM_USAGE_ATTRS)
    unwrap = Attribute.DECAPSULATE if info.key_type == KeyType.ML_KEM else Attribute.UNWRAP
    return KeyAttributesFlags(
        decrypt=_flag(a, Attribute.DECRYPT),
        sign=_flag(a, Attribute.SIGN),
        ekaSign=None,
        unwrap=_flag(a, unwrap),
        derive=_flag(a, Attribute.DERIVE),
        sensitive=_flag(a, Attribute.SENSITIVE),
        alwaysSensitive=_flag(a, Attribute.ALWAYS_SENSITIVE),
        extractable=_flag(a, Attribute.EXTRACTABLE),
        neverExtractable=_flag(a, Attribute.NEVER_EXTRACTABLE),
        modifiable=_flag(a, Attribute.MODIFIABLE),
        copyable=_flag(a, Attribute.COPYABLE),
        destroyable=_flag(a, Attribute.DESTROYABLE),
    )


def attest_time(xml: bytes) -> str | None:
    try:
        node = ElementTree.fromstring(xml).find("attest_time")
    except ElementTree.ParseError:
        return None
    return node.text if node is not None else None


#: core names the TSB has its own word for: a generic secret is what its HMACSHA256 keys are here
#: (GENERIC_SECRET_KEY_GEN makes them; the engine has no CKM_SHA256_KEY_GEN)
TSB_NAMES = {"GENERIC_SECRET": "HMACSHA256"}


def policy_view(info: KeyInfo) -> PolicyDto | None:
    """The key's Smart Key Attributes as the TSB's ``PolicyDto`` (None: the key has none)."""
    ska = info.ska
    if ska is None:
        return None
    from softhsm_py.core.ska import policy

    return PolicyDto.model_validate(policy.to_json(*ska))


def json_view(info: KeyInfo, attested: str | None) -> KeyAttributesDto:
    """Names and OIDs are the core's (``KeyInfo.algorithm`` etc.), the same the XML states."""
    # the TSB reports no keySize for curve keys (the curve says it) nor for post-quantum keys
    # (the parameter set does), and bits otherwise
    curve_key = info.key_type in (
        KeyType.EC, KeyType.EC_EDWARDS, KeyType.EC_MONTGOMERY, KeyType.ML_DSA, KeyType.ML_KEM
    )  # fmt: skip
    return KeyAttributesDto(
        label=info.name,
        id=None,
        uuid=None,
        algorithm=TSB_NAMES.get(info.algorithm, info.algorithm),
        algorithmOid=info.algorithm_oid,
        curveOid=info.curve_oid,
        derivedAttributes=None,
        keySize=None if curve_key else info.key_size,
        keyUsageCount=None,
        createTime=info.created,
        attestTime=attested,
        publicKey=b64encode(info.spki) if info.spki else None,
        addressTruncated=None,
        attributes=flags(info),
        policy=policy_view(info),
    )


def signed_attributes(partition: Partition, info: KeyInfo, password: bytes | None) -> SignedKeyAttributesDto:
    attestation = partition.attest(info.name, password)
    return SignedKeyAttributesDto(
        xml=attestation.xml.decode("utf-8"),
        json=json_view(info, attest_time(attestation.xml)),
        xmlSignature=b64encode(attestation.signature),
        attestationKeyName=attestation.key_name,
    )
