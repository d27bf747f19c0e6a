"""Tag "Synchronous Key Operations": sign, verify, HMAC, encrypt, decrypt, wrap, unwrap (TSB.md 3.2).

Each route: envelope -> plan (``signing``/``ciphers``/``wrapping`` tables) -> one partition call ->
wire format. The plan is a plain value (mechanism, parameter, bytes), so the asynchronous
multi-authorization routes can store it as a pending request and run the same call later.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from softhsm_py.constants import Attribute, Mechanism
from softhsm_py.core.partition import Partition, Presented
from softhsm_py.rest import ciphers, formats, keyspecs, keyview, signing, ska, wrapping
from softhsm_py.rest.binding import BoundPartition
from softhsm_py.rest.coreapi import mechanism
from softhsm_py.rest.errors import BusinessReason, TsbError, invalid, unsupported
from softhsm_py.rest.models.common import b64encode
from softhsm_py.rest.models.keys import SignedKeyAttributesDto
from softhsm_py.rest.models.operations import (
    DecryptResponse,
    EncryptRequestResponseDto,
    HmacResponse,
    SignatureResponse,
    SignedEncryptRequestDto,
    SignedHmacRequestDto,
    SignedSynchronousDecryptRequestDto,
    SignedSynchronousSignRequestDto,
    SignedSynchronousUnwrapKeyRequestDto,
    SignedVerifyHmacRequestDto,
    SignedVerifySignatureRequestDto,
    SignedWrapKeyRequestDto,
    VerifyHmacRequestDto,
    VerifySignatureRequestDto,
    VerifySignatureResponse,
    WrapKeyResponse,
)
from softhsm_py.rest.routers.common import ERRORS, key_name

router = APIRouter(tags=["Synchronous Key Operations"], responses=ERRORS)

#: the MAC the TSB's HMAC routes compute (its only HMAC key algorithm is HMACSHA256)
HMAC = Mechanism.SHA256_HMAC


def sign_plan(req: Any) -> tuple[signing.SignPlan, str]:
    """The plan of a sign request (synchronous or not) and its signature type."""
    signature_type = req.signatureType.value if req.signatureType else "DER"
    if signature_type == "ETH":
        raise unsupported("signatureType ETH")
    return signing.plan(req.signatureAlgorithm.value, req.payload), signature_type


def do_sign(req: Any, partition: Partition, approvals: Presented | None) -> str:
    """Sign as ``req`` (a ``SignRequestDto`` of either route) asks; the signature in base64."""
    plan, signature_type = sign_plan(req)
    raw = partition.sign(
        key_name(req.signKeyName),
        mechanism(plan.mech, plan.param),
        plan.data,
        password=req.keyPassword,
        approvals=approvals,
    )
    return b64encode(signing.encode(plan, raw, signature_type))


@router.post(
    "/v1/synchronousSign",
    operation_id="synchronousSign",
    response_model=SignatureResponse,
    summary="Sign a payload (with signedApprovals for a key whose policy asks for them)",
)
def synchronous_sign(body: SignedSynchronousSignRequestDto, partition: BoundPartition) -> Any:
    req = body.signRequest
    if req.signKeyObject is not None:
        raise unsupported("An external key object (signKeyObject)")
    return SignatureResponse(signature=do_sign(req, partition, ska.presented(req.signedApprovals)))


def _order_bytes(partition: Partition, name: str, password: bytes | None) -> int:
    """Half the length of r || s for the key: its group order in bytes (EC: by curve; DSA: the
    length of its subprime q)."""
    info = partition.key(name, password)
    if info.curve_oid in keyspecs.ORDER_BYTES:
        return keyspecs.ORDER_BYTES[info.curve_oid]
    subprime = (info.public_attrs or {}).get(Attribute.SUBPRIME) or info.attrs.get(Attribute.SUBPRIME)
    if subprime:
        return len(bytes(subprime).lstrip(b"\x00"))
    raise TsbError(
        BusinessReason.ALGORITHM_NOT_SUPPORTED_BY_KEY, "The signature algorithm does not fit this key"
    )


def _verify_signature(req: VerifySignatureRequestDto, partition: Partition) -> bool:
    if req.signKeyObject is not None:
        raise unsupported("An external key object (signKeyObject)")
    name = key_name(req.signKeyName)
    plan = signing.plan(req.signatureAlgorithm.value, req.payload)
    signature = req.signature
    if plan.rs:
        # the route has no signatureType: DER or r || s, both accepted
        raw = formats.signature_to_raw(signature, _order_bytes(partition, name, req.masterKeyPassword))
        if raw is None:
            return False
        signature = raw
    return partition.verify(name, mechanism(plan.mech, plan.param), plan.data, signature)


def _verify_hmac(req: VerifyHmacRequestDto, partition: Partition) -> bool:
    return partition.verify(key_name(req.keyName), mechanism(HMAC), req.payload, req.signature)


@router.post(
    "/v1/verify",
    operation_id="verifySignature",
    response_model=VerifySignatureResponse,
    summary="Verify a signature (or, with verifyHmacRequest, an HMAC)",
)
def verify(body: SignedVerifySignatureRequestDto, partition: BoundPartition) -> Any:
    if (body.verifySignatureRequest is None) == (body.verifyHmacRequest is None):
        raise invalid("Exactly one of verifySignatureRequest and verifyHmacRequest is required")
    if body.verifySignatureRequest is not None:
        valid = _verify_signature(body.verifySignatureRequest, partition)
    else:
        assert body.verifyHmacRequest is not None
        valid = _verify_hmac(body.verifyHmacRequest, partition)
    return VerifySignatureResponse(signatureValid=valid)


@router.post(
    "/v1/synchronousHmac",
    operation_id="hmac",
    response_model=HmacResponse,
    summary="HMAC-SHA256 of a payload",
)
def hmac(body: SignedHmacRequestDto, partition: BoundPartition) -> Any:
    req = body.hmacRequest
    mac = partition.sign(key_name(req.keyName), mechanism(HMAC), req.payload, password=req.keyPassword)
    return HmacResponse(keyedHash=b64encode(mac))


@router.post(
    "/v1/verifyHmac",
    operation_id="verifyHmac",
    response_model=VerifySignatureResponse,
    summary="Verify an HMAC-SHA256",
)
def verify_hmac(body: SignedVerifyHmacRequestDto, partition: BoundPartition) -> Any:
    return VerifySignatureResponse(signatureValid=_verify_hmac(body.verifyHmacRequest, partition))


@router.post(
    "/v1/encrypt",
    operation_id="encrypt",
    response_model=EncryptRequestResponseDto,
    summary="Encrypt a payload",
)
def encrypt(body: SignedEncryptRequestDto, partition: BoundPartition) -> Any:
    req = body.encryptRequest
    name = key_name(req.encryptKeyName)
    plan = ciphers.encrypt_plan(req.cipherAlgorithm.value, req.additionalAuthenticationData, req.tagLength,
                                partition.random)  # fmt: skip
    out = partition.encrypt(name, mechanism(plan.mech, plan.param), req.payload, password=req.keyPassword)
    return ciphers.encrypt_response(plan, out)


@router.post(
    "/v1/synchronousDecrypt",
    operation_id="synchronousDecrypt",
    response_model=DecryptResponse,
    summary="Decrypt a payload",
)
def synchronous_decrypt(body: SignedSynchronousDecryptRequestDto, partition: BoundPartition) -> Any:
    req = body.decryptRequest
    return DecryptResponse(payload=do_decrypt(req, partition, ska.presented(req.signedApprovals)))


def decrypt_plan(req: Any) -> ciphers.CipherPlan:
    return ciphers.decrypt_plan(
        req.cipherAlgorithm.value, req.initializationVector, req.additionalAuthenticationData, req.tagLength
    )


def do_decrypt(req: Any, partition: Partition, approvals: Presented | None) -> str:
    """Decrypt as ``req`` (a ``DecryptRequestDto`` of either route) asks; the payload in base64."""
    plan = decrypt_plan(req)
    out = partition.decrypt(
        key_name(req.decryptKeyName),
        mechanism(plan.mech, plan.param),
        req.encryptedPayload,
        password=req.keyPassword,
        approvals=approvals,
    )
    return b64encode(ciphers.decrypt_output(plan, req.encryptedPayload, out))


@router.post("/v1/wrap", operation_id="wrap", response_model=WrapKeyResponse, summary="Wrap a key")
def wrap(body: SignedWrapKeyRequestDto, partition: BoundPartition) -> Any:
    req = body.wrapKeyRequest
    mech, param = wrapping.mechanism(req.wrapMethod.value)
    wrapped = partition.wrap(
        key_name(req.wrapKeyName),
        key_name(req.keyToBeWrapped),
        mechanism(mech, param),
        wrapping_password=req.wrapKeyPassword,
        key_password=req.keyToBeWrappedPassword,
    )
    return WrapKeyResponse(wrappedKey=b64encode(wrapped))


@router.post(
    "/v1/synchronousUnwrap",
    operation_id="synchronousUnwrap",
    status_code=201,
    response_model=SignedKeyAttributesDto,
    summary="Unwrap a key into a new key",
)
def synchronous_unwrap(body: SignedSynchronousUnwrapKeyRequestDto, partition: BoundPartition) -> Any:
    req = body.unwrapKeyRequest
    policy = req.policy.model_dump(mode="json") if req.policy is not None else None
    info = do_unwrap(req, partition, ska.presented(req.signedApprovals), policy)
    return keyview.signed_attributes(partition, info, None)


def do_unwrap(
    req: Any, partition: Partition, approvals: Presented | None, policy: dict[str, Any] | None
) -> Any:
    """Unwrap as ``req`` (an ``UnwrapKeyRequestDto`` of either route) asks; the new key's info."""
    new_name, unwrapping = key_name(req.label), key_name(req.unwrapKeyName)
    if new_name == unwrapping:
        raise invalid("The new key's label must differ from the unwrap key's name")
    mech, param = wrapping.mechanism(req.wrapMethod.value)
    template = wrapping.unwrap_template(req.wrapMethod.value, req.attributes)
    return partition.unwrap(
        unwrapping,
        mechanism(mech, param),
        req.wrappedKey,
        new_name,
        template,
        password=req.unwrapKeyPassword,
        policy=policy,
        approvals=approvals,
    )


__all__ = ["router"]
