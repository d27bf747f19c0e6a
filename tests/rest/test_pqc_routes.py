"""ML-DSA and ML-KEM keys through the REST front end (TSB.md 4: the key algorithms ML-DSA-44|65|87
and ML-KEM-768|1024, the ML_DSA signature algorithm), checked with pyca/cryptography."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import mldsa, mlkem

from .test_keys_routes import create, delete, error

SIGN = {"decrypt": False, "sign": True, "unwrap": False, "verify": True, "destroyable": True}
KEM = {"decrypt": False, "sign": False, "unwrap": True, "wrap": True, "destroyable": True}
PAYLOAD = b"signed with ML-DSA through the TSB API"
DSA = {
    "ML-DSA-44": ("2.16.840.1.101.3.4.3.17", mldsa.MLDSA44PublicKey),
    "ML-DSA-65": ("2.16.840.1.101.3.4.3.18", mldsa.MLDSA65PublicKey),
    "ML-DSA-87": ("2.16.840.1.101.3.4.3.19", mldsa.MLDSA87PublicKey),
}
KEMS = {
    "ML-KEM-768": ("2.16.840.1.101.3.4.4.2", mlkem.MLKEM768PublicKey),
    "ML-KEM-1024": ("2.16.840.1.101.3.4.4.3", mlkem.MLKEM1024PublicKey),
}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def made(client: httpx.Client, label: str, algorithm: str, attributes: dict[str, Any]) -> dict[str, Any]:
    delete(client, label)
    r = create(client, label, algorithm, attributes=attributes)
    assert r.status_code == 201, r.text
    return r.json()["json"]


@pytest.mark.parametrize("algorithm", list(DSA))
def test_mldsa_keys_sign_and_verify(client: httpx.Client, algorithm: str) -> None:
    oid, public_class = DSA[algorithm]
    label = f"t-pqc-{algorithm}"
    j = made(client, label, algorithm, SIGN)
    assert (j["algorithm"], j["algorithmOid"], j["keySize"], j["curveOid"]) == (algorithm, oid, None, None)
    public = serialization.load_der_public_key(base64.b64decode(j["publicKey"]))
    assert isinstance(public, public_class)
    request = {"signKeyName": label, "payload": b64(PAYLOAD), "signatureAlgorithm": "ML_DSA"}
    r = client.post("/v1/synchronousSign", json={"signRequest": request})
    assert r.status_code == 200, r.text
    signature = base64.b64decode(r.json()["signature"])
    public.verify(signature, PAYLOAD)  # raises InvalidSignature otherwise
    for payload, valid in ((PAYLOAD, True), (PAYLOAD + b"!", False)):
        check = {"signKeyName": label, "payload": b64(payload), "signatureAlgorithm": "ML_DSA"}
        body = {"verifySignatureRequest": {**check, "signature": b64(signature)}}
        r = client.post("/v1/verify", json=body)
        assert r.status_code == 200 and r.json()["signatureValid"] is valid, r.text
    delete(client, label)


@pytest.mark.parametrize("algorithm", list(KEMS))
def test_mlkem_keys(client: httpx.Client, algorithm: str) -> None:
    oid, public_class = KEMS[algorithm]
    label = f"t-pqc-{algorithm}"
    j = made(client, label, algorithm, KEM)
    assert (j["algorithm"], j["algorithmOid"]) == (algorithm, oid)
    public = serialization.load_der_public_key(base64.b64decode(j["publicKey"]))
    assert isinstance(public, public_class)
    assert j["attributes"]["unwrap"] is True  # a KEM's unwrap flag is its CKA_DECAPSULATE
    delete(client, label)


def test_pqc_refusals(client: httpx.Client) -> None:
    delete(client, "t-pqc-512")
    error(create(client, "t-pqc-512", "ML-KEM-512", attributes=KEM), 400, 611)
    error(create(client, "t-pqc-slh", "SLH-DSA-SHA2-128s", attributes=SIGN), 400, 611)
    made(client, "t-pqc-wrong", "ML-DSA-44", SIGN)
    request = {
        "signKeyName": "t-pqc-wrong",
        "payload": b64(PAYLOAD),
        "signatureAlgorithm": "SHA256_WITH_ECDSA",
    }
    error(client.post("/v1/synchronousSign", json={"signRequest": request}), 400, 607)
    request["signatureAlgorithm"] = "ML_DSA_M"
    error(client.post("/v1/synchronousSign", json={"signRequest": request}), 400, 611)
    delete(client, "t-pqc-wrong")


def test_mlkem_unwrap_flag_is_decapsulate(client: httpx.Client) -> None:
    j = made(client, "t-pqc-nodecap", "ML-KEM-768", {**KEM, "unwrap": False, "sign": True})
    assert j["attributes"]["unwrap"] is False
    delete(client, "t-pqc-nodecap")
