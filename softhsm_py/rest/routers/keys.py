"""Tag "Keys": create, read, list, delete, change password, export, import, attest (TSB.md 3.1).

Routes parse and map; the partition decides (usage, password, extractability, destroyability)."""

from __future__ import annotations

import io
import re
import zipfile
from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import Response

from softhsm_py.constants import Attribute
from softhsm_py.rest import keyspecs, keyview
from softhsm_py.rest.binding import BoundPartition
from softhsm_py.rest.coreapi import mechanism
from softhsm_py.rest.errors import invalid, not_implemented, unsupported
from softhsm_py.rest.models.common import b64encode
from softhsm_py.rest.models.keys import (
    ChangeKeyPasswordDto,
    CreateKeyDto,
    KeyExportDto,
    KeyImportDto,
    KeyLabelWithPasswordDto,
    SignedKeyAttributesDto,
)
from softhsm_py.rest.routers.common import ERRORS, key_name

router = APIRouter(tags=["Keys"], responses=ERRORS)

KeyNamePath = Annotated[str, Path(description="The name of the key (its PKCS#11 label)")]


def _key_id(value: str | None) -> bytes | None:
    """``id`` is CKA_ID for PKCS#11 users: hex when it is hex (as pkcs11-tool's --id), else UTF-8."""
    if not value:
        return None
    if re.fullmatch(r"(?:[0-9a-fA-F]{2})+", value):
        return bytes.fromhex(value)
    return value.encode("utf-8")


@router.post(
    "/v1/key",
    operation_id="createKey",
    status_code=201,
    response_model=SignedKeyAttributesDto,
    summary="Create a key",
)
def create_key(body: CreateKeyDto, partition: BoundPartition) -> Any:
    name = key_name(body.label)
    spec = keyspecs.spec_for(body.algorithm, body.algorithmOid)
    policy = body.policy.model_dump(mode="json") if body.policy is not None else None
    if body.addressFormat is not None:
        raise unsupported("addressFormat (blockchain addresses of SKA keys)")
    plan = keyspecs.generation(spec, body.attributes, body.keySize, body.curveOid)
    key_id = _key_id(body.id)
    if key_id is not None:
        plan.public[Attribute.ID] = key_id
        plan.private[Attribute.ID] = key_id
    mech = mechanism(spec.generate)
    if spec.pair:
        info = partition.generate(
            name, mech, public=plan.public, private=plan.private, password=body.password, policy=policy
        )
    else:
        info = partition.generate_secret(name, mech, plan.private, password=body.password, policy=policy)
    return keyview.signed_attributes(partition, info, body.password)


@router.post(
    "/v1/key/attributes",
    operation_id="getKeyAttributesWithKeyPassword",
    response_model=SignedKeyAttributesDto,
    summary="Attributes and attestation of a key",
)
def key_attributes(body: KeyLabelWithPasswordDto, partition: BoundPartition) -> Any:
    info = partition.key(key_name(body.label), body.password)
    return keyview.signed_attributes(partition, info, body.password)


@router.get(
    "/v1/key/{keyName}/attributes",
    operation_id="getKeyAttributes",
    response_model=SignedKeyAttributesDto,
    deprecated=True,
    summary="Attributes of a key without a password (deprecated: use POST /v1/key/attributes)",
)
def key_attributes_get(keyName: KeyNamePath, partition: BoundPartition) -> Any:
    info = partition.key(key_name(keyName))
    return keyview.signed_attributes(partition, info, None)


@router.get("/v1/key", operation_id="getKeyNames", response_model=list[str], summary="Names of all keys")
def key_names(partition: BoundPartition) -> Any:
    return partition.names()


@router.post("/v1/key/deleteKey", operation_id="deleteKeyWithKeyPassword", summary="Delete a key")
def delete_key(body: KeyLabelWithPasswordDto, partition: BoundPartition) -> Response:
    partition.destroy(key_name(body.label), body.password)
    return Response(status_code=200)


@router.delete("/v1/key/{keyName}", operation_id="deleteKey", summary="Delete a key without a password")
def delete_key_by_path(keyName: KeyNamePath, partition: BoundPartition) -> Response:
    partition.destroy(key_name(keyName), None)
    return Response(status_code=200)


@router.post("/v1/key/changePassword", operation_id="changeKeyPassword", summary="Change a key's password")
def change_password(body: ChangeKeyPasswordDto, partition: BoundPartition) -> Response:
    partition.change_password(key_name(body.label), body.password, body.newPassword)
    return Response(status_code=200)


@router.post(
    "/v1/key/export/plain",
    operation_id="exportPlainKey",
    response_model=KeyExportDto,
    summary="Export a key in plain (extractable, not sensitive keys only)",
)
def export_plain(body: KeyLabelWithPasswordDto, partition: BoundPartition) -> Any:
    exported = partition.export(key_name(body.label), body.password)

    def b64(data: bytes | None) -> str | None:
        return b64encode(data) if data is not None else None

    return KeyExportDto(
        privateKey=b64(exported.private_pkcs8), publicKey=b64(exported.spki), secretKey=b64(exported.secret)
    )


@router.post(
    "/v1/key/import/plain",
    operation_id="importPlainKey",
    status_code=201,
    response_model=SignedKeyAttributesDto,
    summary="Import a key given in plain",
)
def import_plain(body: KeyImportDto, partition: BoundPartition) -> Any:
    name = key_name(body.label)
    spec = keyspecs.spec_for(body.algorithm, None)
    policy = body.policy.model_dump(mode="json") if body.policy is not None else None
    if body.addressFormat is not None:
        raise unsupported("addressFormat (blockchain addresses of SKA keys)")
    if body.certificate is not None:
        raise not_implemented("Importing a certificate with a key")
    public, private = keyspecs.usage_templates(spec, body.attributes)
    template = {**private, **keyspecs.protection(body.attributes)}
    if body.secretKey is not None:
        if body.privateKey is not None or body.publicKey is not None:
            raise invalid("A secret key comes without privateKey and publicKey")
        if spec.pair:
            raise invalid(f"secretKey given for the asymmetric algorithm {spec.algorithm}")
        info = partition.import_key(
            name, secret=body.secretKey, key_type=spec.key_type, template=template, policy=policy
        )
    elif body.privateKey is not None or body.publicKey is not None:
        if not spec.pair:
            raise invalid(f"privateKey/publicKey given for the symmetric algorithm {spec.algorithm}")
        info = partition.import_key(
            name,
            private_pkcs8=body.privateKey,
            spki=body.publicKey,
            key_type=spec.key_type,
            template=template,
            public_template=public,
            policy=policy,
        )
    else:
        raise invalid("One of privateKey, publicKey or secretKey is required")
    return keyview.signed_attributes(partition, info, None)


_SAFE = re.compile(r"[^A-Za-z0-9._-]")

ZIP_README = """# Key attestation (softhsm-py)

Files:
- {key}.xml: the key's attributes as the HSM states them (TSB attestation format)
- {key}.sig: RSA PKCS#1 v1.5 SHA-256 signature over exactly the bytes of {key}.xml
- {key}.pem and PrimusHSM_Attestation_PublicKey.pem: the attestation public key
- PrimusHSM_Attestation.crt: the attestation key's certificate chain (leaf first)
- softhsm-py_attestation_root.crt: this installation's attestation root CA (not Securosys')

Verify, as the TSB documentation does:

    openssl verify -CAfile softhsm-py_attestation_root.crt -untrusted PrimusHSM_Attestation.crt \\
        PrimusHSM_Attestation.crt
    openssl dgst -sha256 -verify {key}.pem -signature {key}.sig {key}.xml

Attestation key: {attestation_key}
"""


def _pem_blocks(pem: bytes) -> list[bytes]:
    end = b"-----END CERTIFICATE-----"
    blocks = []
    for part in pem.split(end):
        start = part.find(b"-----BEGIN CERTIFICATE-----")
        if start >= 0:
            blocks.append(part[start:] + end + b"\n")
    return blocks


@router.post(
    "/v1/key/keyAttestation",
    operation_id="getKeyAttestationAsFileDownload",
    summary="The key's attestation as a zip file",
    response_class=Response,
    responses={200: {"content": {"application/zip": {}}, "description": "zip file"}},
)
def key_attestation(body: KeyLabelWithPasswordDto, partition: BoundPartition) -> Response:
    name = key_name(body.label)
    attestation = partition.attest(name, body.password)
    stem = _SAFE.sub("_", name) or "key"
    chain = _pem_blocks(attestation.chain_pem)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{stem}.xml", attestation.xml)
        archive.writestr(f"{stem}.sig", attestation.signature)
        archive.writestr(f"{stem}.pem", attestation.public_key_pem)
        archive.writestr("PrimusHSM_Attestation_PublicKey.pem", attestation.public_key_pem)
        archive.writestr("PrimusHSM_Attestation.crt", attestation.chain_pem)
        if chain:
            archive.writestr("softhsm-py_attestation_root.crt", chain[-1])
        archive.writestr(
            "README_PrimusHSM_AuditAndAttestation_AN-E01.md",
            ZIP_README.format(key=stem, attestation_key=attestation.key_name),
        )
    return Response(
        buffer.getvalue(),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{stem}_attestation.zip"'},
    )
