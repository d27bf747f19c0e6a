"""The "Keys" routes through a real ``softhsm-py serve`` (TLS, 2 workers) with httpx: success
shapes and codes as the TSB sends them, and every error path a caller can cause (never a 500)."""

from __future__ import annotations

import base64
import io
import zipfile
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

ALL = {"decrypt": True, "sign": True, "unwrap": True, "encrypt": True, "verify": True, "wrap": True}
SIGN_ONLY = {"decrypt": False, "sign": True, "unwrap": False, "verify": True}


def create(client: httpx.Client, label: str, algorithm: str, **extra: Any) -> httpx.Response:
    body: dict[str, Any] = {
        "label": label,
        "algorithm": algorithm,
        "attributes": extra.pop("attributes", ALL),
    }
    body.update(extra)
    return client.post("/v1/key", json=body)


def delete(client: httpx.Client, label: str, password: Any = None) -> None:
    body: dict[str, Any] = {"label": label}
    if password is not None:
        body["password"] = password
    client.post("/v1/key/deleteKey", json=body)


def error(r: httpx.Response, status: int, code: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"errorCode", "reason", "message"}, body
    assert body["errorCode"] == code, body
    assert body["reason"].startswith("res.error."), body
    return body


@pytest.mark.parametrize(
    ("algorithm", "extra", "expect"),
    [
        ("RSA", {"keySize": 2048}, ("1.2.840.113549.1.1.1", None, 2048)),
        ("EC", {"curveOid": "1.2.840.10045.3.1.7"}, ("1.2.840.10045.2.1", "1.2.840.10045.3.1.7", None)),
        ("EC", {"curveOid": "1.3.132.0.10"}, ("1.2.840.10045.2.1", "1.3.132.0.10", None)),
        ("EC", {"curveOid": "1.3.132.0.34"}, ("1.2.840.10045.2.1", "1.3.132.0.34", None)),
        ("ED", {"curveOid": "1.3.101.112"}, ("1.3.101.112", None, None)),
        ("AES", {"keySize": 256}, ("2.16.840.1.101.3.4.1", None, 256)),
        ("AES", {"keySize": 128}, ("2.16.840.1.101.3.4.1", None, 128)),
        ("ChaCha20", {"keySize": 256}, ("1.2.840.113549.1.9.16.3.18", None, 256)),
        ("HMACSHA256", {}, ("1.2.840.113549.2.9", None, 256)),
    ],
)
def test_create_read_list_delete(
    client: httpx.Client, algorithm: str, extra: dict[str, Any], expect: tuple
) -> None:
    label = f"t-create-{algorithm}-{extra.get('curveOid', extra.get('keySize', ''))}"
    delete(client, label)
    r = create(client, label, algorithm, **extra, attributes={**ALL, "destroyable": True})
    assert r.status_code == 201, r.text
    body = r.json()
    assert set(body) == {"xml", "json", "xmlSignature", "attestationKeyName"}
    j = body["json"]
    oid, curve, size = expect
    assert j["label"] == label and j["algorithm"] == algorithm and j["algorithmOid"] == oid
    assert j["curveOid"] == curve and j["keySize"] == size
    assert j["id"] is None  # tsb-client-go panics on a string here
    assert j["createTime"].endswith("Z") and j["attestTime"].endswith("Z")
    assert isinstance(j["attributes"], dict) and j["attributes"]["destroyable"] is True
    assert j["attributes"]["sensitive"] is True and j["attributes"]["extractable"] is False
    assert body["xml"].startswith('<?xml version="1.0" encoding="UTF-8"?>')
    assert f"<label>{label}</label>" in body["xml"]
    base64.b64decode(body["xmlSignature"], validate=True)
    if algorithm in ("RSA", "EC", "ED"):
        spki = base64.b64decode(j["publicKey"])
        public = serialization.load_der_public_key(spki)
        kind = {"RSA": rsa.RSAPublicKey, "EC": ec.EllipticCurvePublicKey, "ED": ed25519.Ed25519PublicKey}
        assert isinstance(public, kind[algorithm])
    else:
        assert j["publicKey"] is None
    again = client.post("/v1/key/attributes", json={"label": label})
    assert again.status_code == 200 and again.json()["json"]["label"] == label
    assert client.get(f"/v1/key/{label}/attributes").status_code == 200
    assert label in client.get("/v1/key").json()
    error(create(client, label, algorithm, **extra), 400, 608)
    assert client.post("/v1/key/deleteKey", json={"label": label}).status_code == 200
    assert label not in client.get("/v1/key").json()
    error(client.post("/v1/key/attributes", json={"label": label}), 404, 650)


def test_delete_by_path_and_not_destroyable(client: httpx.Client) -> None:
    delete(client, "t-del-path")
    assert (
        create(client, "t-del-path", "AES", keySize=128, attributes={**ALL, "destroyable": True}).status_code
        == 201
    )
    assert client.delete("/v1/key/t-del-path").status_code == 200
    error(client.delete("/v1/key/t-del-path"), 404, 650)
    delete(client, "t-keep")
    assert create(client, "t-keep", "AES", keySize=128).status_code == 201  # destroyable defaults to false
    r = client.post("/v1/key/deleteKey", json={"label": "t-keep"})
    assert 400 <= r.status_code < 500, r.text
    assert "t-keep" in client.get("/v1/key").json()


@pytest.mark.parametrize("form", ["string", "chars"])
def test_key_password_forms_and_mismatch(client: httpx.Client, form: str) -> None:
    secret = "s3cret-pw"
    password: Any = secret if form == "string" else list(secret)
    other: Any = list(secret) if form == "string" else secret  # the other form, same password
    label = f"t-pw-{form}"
    delete(client, label, secret)
    r = create(
        client,
        label,
        "EC",
        curveOid="1.2.840.10045.3.1.7",
        password=password,
        attributes={**SIGN_ONLY, "destroyable": True},
    )
    assert r.status_code == 201, r.text
    sign = {"payload": "aGVsbG8=", "signKeyName": label, "signatureAlgorithm": "SHA256_WITH_ECDSA"}
    ok = client.post("/v1/synchronousSign", json={"signRequest": {**sign, "keyPassword": other}})
    assert ok.status_code == 200, ok.text
    error(
        client.post("/v1/synchronousSign", json={"signRequest": {**sign, "keyPassword": "wrong"}}), 400, 620
    )
    error(client.post("/v1/synchronousSign", json={"signRequest": sign}), 400, 620)
    error(
        client.post("/v1/key/attributes", json={"label": label, "password": ["w", "r", "o", "n", "g"]}),
        400,
        620,
    )
    assert client.post("/v1/key/attributes", json={"label": label, "password": password}).status_code == 200
    # change the password, then only the new one works
    r = client.post(
        "/v1/key/changePassword", json={"label": label, "password": password, "newPassword": "n3w"}
    )
    assert r.status_code == 200, r.text
    error(
        client.post("/v1/synchronousSign", json={"signRequest": {**sign, "keyPassword": password}}), 400, 620
    )
    assert (
        client.post(
            "/v1/synchronousSign", json={"signRequest": {**sign, "keyPassword": list("n3w")}}
        ).status_code
        == 200
    )
    assert client.post("/v1/key/deleteKey", json={"label": label, "password": "n3w"}).status_code == 200


def test_password_element_longer_than_one_char(client: httpx.Client) -> None:
    body = {"label": "t-x", "algorithm": "AES", "keySize": 128, "password": ["ab", "c"], "attributes": ALL}
    error(client.post("/v1/key", json=body), 400, 600)


def test_export_and_import_plain(client: httpx.Client) -> None:
    for label in ("t-exp", "t-imp-ec", "t-imp-aes", "t-exp-sensitive"):
        delete(client, label)
    attrs = {**ALL, "extractable": True, "sensitive": False, "destroyable": True}
    assert create(client, "t-exp", "EC", curveOid="1.2.840.10045.3.1.7", attributes=attrs).status_code == 201
    exported = client.post("/v1/key/export/plain", json={"label": "t-exp"})
    assert exported.status_code == 200, exported.text
    e = exported.json()
    private = serialization.load_der_private_key(base64.b64decode(e["privateKey"]), None)
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    assert base64.b64decode(e["publicKey"]) == private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert e["secretKey"] is None
    # import it again under another name: same public key
    r = client.post(
        "/v1/key/import/plain",
        json={
            "label": "t-imp-ec",
            "algorithm": "EC",
            "privateKey": e["privateKey"],
            "publicKey": e["publicKey"],
            "attributes": {**SIGN_ONLY, "destroyable": True},
        },
    )
    assert r.status_code == 201, r.text
    assert r.json()["json"]["publicKey"] == e["publicKey"]
    r = client.post(
        "/v1/key/import/plain",
        json={
            "label": "t-imp-aes",
            "algorithm": "AES",
            "secretKey": base64.b64encode(bytes(range(32))).decode(),
            "attributes": {**ALL, "destroyable": True},
        },
    )
    assert r.status_code == 201, r.text
    assert r.json()["json"]["keySize"] == 256
    # a sensitive key is refused (4xx, never 500)
    assert (
        create(
            client, "t-exp-sensitive", "AES", keySize=128, attributes={**ALL, "destroyable": True}
        ).status_code
        == 201
    )
    error(client.post("/v1/key/export/plain", json={"label": "t-exp-sensitive"}), 400, 614)
    error(
        client.post(
            "/v1/key/import/plain", json={"label": "t-imp-bad", "algorithm": "EC", "attributes": ALL}
        ),
        400,
        600,
    )
    bad = {"label": "t-imp-bad", "algorithm": "EC", "privateKey": "AAAA", "attributes": ALL}
    assert 400 <= client.post("/v1/key/import/plain", json=bad).status_code < 500


def test_key_attestation_zip(client: httpx.Client) -> None:
    delete(client, "t-att")
    assert (
        create(
            client, "t-att", "ED", curveOid="1.3.101.112", attributes={**SIGN_ONLY, "destroyable": True}
        ).status_code
        == 201
    )
    r = client.post("/v1/key/keyAttestation", json={"label": "t-att"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/zip"
    names = set(zipfile.ZipFile(io.BytesIO(r.content)).namelist())
    assert {"t-att.xml", "t-att.sig", "t-att.pem", "PrimusHSM_Attestation.crt"} <= names
    error(client.post("/v1/key/keyAttestation", json={"label": "nope"}), 404, 650)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"label": "t-bad", "algorithm": "BLS", "attributes": ALL}, 400, 611),
        (
            {"label": "t-bad", "algorithm": "ML-KEM-512", "attributes": ALL},
            400,
            611,
        ),  # not in pyca/cryptography
        ({"label": "t-bad", "algorithm": "NOPE", "attributes": ALL}, 400, 613),
        ({"label": "t-bad", "algorithm": "RSA", "keySize": 1000, "attributes": ALL}, 400, 603),
        ({"label": "t-bad", "algorithm": "RSA", "attributes": ALL}, 400, 603),
        ({"label": "t-bad", "algorithm": "EC", "curveOid": "1.2.3.4", "attributes": ALL}, 400, 611),
        ({"label": "t-bad", "algorithm": "EC", "curveOid": "1.3.132.0.32", "attributes": ALL}, 400, 611),
        ({"label": "t-bad", "algorithm": "EC", "curveOid": "1.3.101.112", "attributes": ALL}, 400, 600),
        (
            {"label": "t-bad", "algorithm": "EC", "curveOid": "1.2.250.1.223.101.256.1", "attributes": ALL},
            400,
            611,
        ),
        ({"label": "t-bad", "algorithm": "AES", "keySize": 100, "attributes": ALL}, 400, 603),
        (
            {
                "label": "t-bad",
                "algorithm": "AES",
                "attributes": {"decrypt": False, "sign": False, "unwrap": False},
            },
            400,
            606,
        ),
        ({"label": "t-bad", "algorithm": "AES", "attributes": {"sign": True, "unwrap": True}}, 400, 600),
        ({"label": "", "algorithm": "AES", "attributes": ALL}, 400, 600),
        ({"algorithm": "AES", "attributes": ALL}, 400, 600),
        ({"label": "t-bad", "algorithm": "AES", "attributes": ALL, "colour": "red"}, 400, 621),
        ({"label": "t-bad", "algorithm": "AES", "attributes": {**ALL, "colour": True}}, 400, 621),
        ({"label": "t-bad", "algorithm": "AES", "keySize": "big", "attributes": ALL}, 400, 621),
        ({"label": "t-bad", "algorithm": "AES", "attributes": ALL, "policy": {"ruleUse": None}}, 400, 600),
        ({"label": "a/b", "algorithm": "AES", "attributes": ALL}, 400, 611),
    ],
)
def test_create_errors(client: httpx.Client, body: dict[str, Any], status: int, code: int) -> None:
    error(client.post("/v1/key", json=body), status, code)


def test_invalid_json_and_unknown_route(client: httpx.Client) -> None:
    error(
        client.post("/v1/key", content=b'{"label": "x",}', headers={"Content-Type": "application/json"}),
        400,
        621,
    )
    error(client.post("/v1/key", content=b"", headers={"Content-Type": "application/json"}), 400, 621)
    error(client.get("/v1/nothing-here"), 404, 102)
    error(client.put("/v1/key"), 405, 102)
