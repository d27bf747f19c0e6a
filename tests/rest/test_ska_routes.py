"""Smart Key Attributes through a real ``softhsm-py serve`` (2 workers, one store): policy keys,
asynchronous requests, approval tasks at every detail level, approvals, rejections, cancels,
synchronous ``signedApprovals``, block/unblock/modify, onboarded approvers. Signatures are checked
with pyca/cryptography from the key's public key; approvers are ``support.ska.Approver``."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import pkcs12

from support.ska import Approver, b64, policy, rule, unb64

from .conftest import LABEL, PIN_ENV, Server, prepare_token, start_server
from .test_keys_routes import error

pytestmark = pytest.mark.slow
P256 = "1.2.840.10045.3.1.7"
SIGN_ATTRS = {"decrypt": False, "sign": True, "unwrap": False, "verify": True, "destroyable": True}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("ska")
    partitions = f'[[rest.partitions]]\nlabel = "{LABEL}"\npin_env = "{PIN_ENV}"\n'
    rest = f"\n[rest]\nska_scheduler_interval = 1\n{partitions}"
    env = prepare_token(root, LABEL, rest)
    server = start_server(root, workers=2, env=env)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def c(server: Server) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


def make_key(c: httpx.Client, label: str, key_policy: dict[str, Any] | None, **extra: Any) -> dict[str, Any]:
    c.post("/v1/key/deleteKey", json={"label": label})
    body = {
        "label": label,
        "algorithm": "EC",
        "curveOid": P256,
        "attributes": SIGN_ATTRS,
        "policy": key_policy,
    }
    r = c.post("/v1/key", json={**body, **extra})
    assert r.status_code == 201, r.text
    return dict(r.json())


def public_key(created: dict[str, Any]) -> ec.EllipticCurvePublicKey:
    key = serialization.load_der_public_key(unb64(created["json"]["publicKey"]))
    assert isinstance(key, ec.EllipticCurvePublicKey)
    return key


def sign_request(c: httpx.Client, label: str, payload: bytes) -> str:
    req = {"payload": b64(payload), "signKeyName": label, "signatureAlgorithm": "SHA256_WITH_ECDSA"}
    r = c.post("/v1/sign", json={"signRequest": req})
    assert r.status_code == 201, r.text
    return str(r.json()["signRequestId"])


def tasks(c: httpx.Client, approver: Approver, kind: str = "Sign", **extra: Any) -> list[dict[str, Any]]:
    r = c.post(f"/v1/filtered{kind}ApprovalTask", json={**approver.proof(), **extra})
    assert r.status_code == 200, r.text
    return list(r.json()["tasks"])


def approve(c: httpx.Client, approver: Approver, request_id: str, kind: str = "Sign") -> None:
    found = tasks(c, approver, kind, requestId=request_id)
    assert len(found) == 1, found
    r = c.post("/v1/approval", json=approver.approval(found[0]["id"], found[0]["approvalToBeSigned"]))
    assert r.status_code == 200, r.text


def status(c: httpx.Client, request_id: str) -> dict[str, Any]:
    r = c.get(f"/v1/request/{request_id}")
    assert r.status_code == 200, r.text
    return dict(r.json())


def sync_sign(
    c: httpx.Client, label: str, payload: bytes, approvals: list[str] | None = None
) -> httpx.Response:
    req: dict[str, Any] = {
        "payload": b64(payload),
        "signKeyName": label,
        "signatureAlgorithm": "SHA256_WITH_ECDSA",
    }
    if approvals is not None:
        req["signedApprovals"] = approvals
    return c.post("/v1/synchronousSign", json={"signRequest": req})


def token_of(c: httpx.Client, approver: Approver, request_id: str) -> bytes:
    return unb64(tasks(c, approver, requestId=request_id)[0]["approvalToBeSigned"])


@pytest.fixture(scope="module")
def trio() -> list[Approver]:
    """One approver of each key type: EC by public key, RSA by certificate, Ed25519 by public key."""
    return [
        Approver.new("ec", name="alice"),
        Approver.new("rsa", with_certificate=True, name="bob"),
        Approver.new("ed25519", name="carol"),
    ]


def test_two_of_three_signature(c: httpx.Client, trio: list[Approver]) -> None:
    created = make_key(c, "ska-2of3", policy(rule(trio, 2, timeout=600)))
    assert created["json"]["policy"]["ruleUse"]["tokens"][0]["groups"][0]["quorum"] == 2
    assert created["json"]["policy"]["keyStatus"] == {"blocked": False}
    assert "<rule_use>" in created["xml"] and 'type="certificate" name="bob"' in created["xml"]
    assert created["json"]["attributes"]["extractable"] is False
    error(sync_sign(c, "ska-2of3", b"pay me"), 403, 401)  # no approvals: missing approval

    request_id = sign_request(c, "ska-2of3", b"pay me")
    first = status(c, request_id)
    assert first["status"] == "PENDING" and first["approvedBy"] == []
    assert sorted(first["notYetApprovedBy"]) == sorted(b64(a.spki) for a in trio)
    approve(c, trio[0], request_id)
    assert status(c, request_id)["status"] == "PENDING"
    approve(c, trio[1], request_id)
    done = status(c, request_id)
    assert done["status"] == "EXECUTED" and done["executionTime"].endswith("Z")
    assert sorted(done["approvedBy"]) == sorted(b64(a.spki) for a in trio[:2])
    assert done["notYetApprovedBy"] == []
    public_key(created).verify(unb64(done["result"]), b"pay me", ec.ECDSA(hashes.SHA256()))
    assert tasks(c, trio[2], requestId=request_id) == []  # the third approver's task is gone


def test_task_detail_levels(c: httpx.Client, trio: list[Approver]) -> None:
    make_key(c, "ska-levels", policy(rule(trio[:1], 1)))
    meta = b64(b'{"purpose": "test"}')
    req = {
        "payload": b64(b"levels"),
        "signKeyName": "ska-levels",
        "signatureAlgorithm": "SHA256_WITH_ECDSA",
        "metaData": meta,
        "keyPassword": None,
    }
    request_id = c.post("/v1/sign", json={"signRequest": req}).json()["signRequestId"]
    seen: set[str] = set()
    for n in range(1, 7):
        (task,) = tasks(c, trio[0], requestId=request_id, detailLevel=f"level{n}")
        assert task["detailLevel"] == f"level{n}" and set(task) > seen
        seen = set(task)
    assert task["approverPublicKey"] == b64(trio[0].spki)
    assert (
        task["metaData"] == meta
        and task["payload"] == b64(b"levels")
        and task["payloadType"] == "UNSPECIFIED"
    )
    assert task["signedSignRequest"]["signRequest"]["signKeyName"] == "ska-levels"
    assert task["signedModifyKeyRequest"] is None
    assert task["timestampSignatureAlgorithm"] == "SHA256_WITH_ECDSA"
    assert "<rule_use>" in task["keyAttributes"] and task["keyAttributesSignature"]
    assert task["requestStatus"]["status"] == "PENDING"
    token = unb64(task["approvalToBeSigned"])
    assert (
        token[4:8] == bytes.fromhex("3b000400")
        and b"ska-levels" in token
        and unb64(task["timestamp"]) in token
    )
    error(c.post("/v1/filteredSignApprovalTask", json={**trio[0].proof(), "detailLevel": "level9"}), 400, 600)
    # the task lists of other kinds do not hold it; All does
    assert tasks(c, trio[0], "Decrypt", requestId=request_id) == []
    assert len(tasks(c, trio[0], "All", requestId=request_id)) == 1
    c.delete(f"/v1/request/{request_id}")


def test_approver_authentication(c: httpx.Client, trio: list[Approver]) -> None:
    alice = trio[0]
    old = "2020-01-01T00:00:00+00:00"
    error(c.post("/v1/filteredSignApprovalTask", json=alice.proof(old)), 401, 404)  # timestamp off
    forged = {**alice.proof(), "timestampSignature": b64(trio[2].sign(b"x"))}
    error(c.post("/v1/filteredSignApprovalTask", json=forged), 401, 403)
    stranger = {**alice.proof(), "approverPublicKey": b64(trio[2].spki)}  # alice's signature, carol's key
    error(c.post("/v1/filteredSignApprovalTask", json=stranger), 401, 403)
    no_key = alice.proof()
    del no_key["approverPublicKey"]
    error(c.post("/v1/filteredSignApprovalTask", json=no_key), 400, 600)
    signer = {**alice.proof(), "timestampSigningCertificate": b64(b"cert")}
    error(c.post("/v1/filteredSignApprovalTask", json=signer), 403, 405)


def test_approvals_that_do_not_verify_are_refused(c: httpx.Client, trio: list[Approver]) -> None:
    make_key(c, "ska-tamper", policy(rule(trio[:2], 2)))
    request_id = sign_request(c, "ska-tamper", b"tamper")
    (task,) = tasks(c, trio[0], requestId=request_id)
    token = unb64(task["approvalToBeSigned"])
    bad_sig = trio[0].approval(task["id"], task["approvalToBeSigned"])
    bad_sig["signature"] = b64(trio[0].sign(token + b"x"))
    error(c.post("/v1/approval", json=bad_sig), 403, 403)
    other_token = bytearray(token)
    other_token[-1] ^= 1
    error(c.post("/v1/approval", json=trio[0].approval(task["id"], b64(bytes(other_token)))), 403, 403)
    someone_else = trio[2].approval(task["id"], task["approvalToBeSigned"])  # carol, not in the policy
    error(c.post("/v1/approval", json=someone_else), 403, 403)
    error(c.post("/v1/approval", json=trio[0].approval("no-such-task", task["approvalToBeSigned"])), 404, 652)
    assert status(c, request_id)["approvedBy"] == []
    error(c.get("/v1/request/no-such-request"), 404, 651)
    c.delete(f"/v1/request/{request_id}")


def test_reject_and_cancel(c: httpx.Client, trio: list[Approver]) -> None:
    make_key(c, "ska-reject", policy(rule(trio[:2], 2)))
    request_id = sign_request(c, "ska-reject", b"no")
    (task,) = tasks(c, trio[1], requestId=request_id)
    r = c.request("DELETE", "/v1/task", json={**trio[1].proof(), "id": task["id"]})
    assert r.status_code == 200, r.text
    rejected = status(c, request_id)
    assert rejected["status"] == "REJECTED" and rejected["rejectedBy"] == [b64(trio[1].spki)]
    assert tasks(c, trio[0], requestId=request_id) == []
    other = sign_request(c, "ska-reject", b"later")
    assert c.delete(f"/v1/request/{other}").status_code == 200
    assert status(c, other)["status"] == "CANCELLED"
    error(c.delete(f"/v1/request/{request_id}"), 400, 614)  # finished already
    third = sign_request(c, "ska-reject", b"key goes")
    assert c.post("/v1/key/deleteKey", json={"label": "ska-reject"}).status_code == 200
    assert status(c, third)["status"] == "CANCELLED"  # deleting a key cancels its requests


def test_signed_approvals_run_once(c: httpx.Client, trio: list[Approver]) -> None:
    created = make_key(c, "ska-sync", policy(rule(trio, 2)))
    request_id = sign_request(c, "ska-sync", b"synchronous")
    token = token_of(c, trio[0], request_id)
    one = [trio[0].signed_approval(token)]
    error(sync_sign(c, "ska-sync", b"synchronous", one), 403, 401)  # 1 of 2
    two = [trio[0].signed_approval(token), trio[2].signed_approval(token)]
    error(sync_sign(c, "ska-sync", b"another payload", two), 403, 403)  # bound to the payload
    doubled = [trio[0].signed_approval(token), trio[0].signed_approval(token)]
    error(sync_sign(c, "ska-sync", b"synchronous", doubled), 403, 401)  # one approver counts once
    r = sync_sign(c, "ska-sync", b"synchronous", two)
    assert r.status_code == 200, r.text
    public_key(created).verify(unb64(r.json()["signature"]), b"synchronous", ec.ECDSA(hashes.SHA256()))
    assert status(c, request_id)["status"] == "EXECUTED"
    error(sync_sign(c, "ska-sync", b"synchronous", two), 400, 614)  # a request runs once


def test_empty_and_absent_policies_run_at_once(c: httpx.Client) -> None:
    created = make_key(c, "ska-empty", policy())
    assert created["json"]["policy"]["ruleUse"] is None
    r = sync_sign(c, "ska-empty", b"free")
    assert r.status_code == 200, r.text
    request_id = sign_request(c, "ska-empty", b"free")
    done = status(c, request_id)
    assert done["status"] == "EXECUTED"
    public_key(created).verify(unb64(done["result"]), b"free", ec.ECDSA(hashes.SHA256()))
    plain = make_key(c, "no-ska", None)
    assert plain["json"]["policy"] is None
    done = status(c, sign_request(c, "no-ska", b"plain"))
    assert done["status"] == "EXECUTED" and done["approvedBy"] == []
    error(c.post("/v1/block", json={"blockRequest": {"blockKeyName": "no-ska"}}), 400, 614)  # never gets SKA


def test_block_unblock_modify(c: httpx.Client, trio: list[Approver]) -> None:
    alice, bob, carol = trio
    key_policy = policy(None, block=rule([alice], 1), unblock=rule([bob], 1), modify=rule([carol], 1))
    make_key(c, "ska-admin", key_policy)
    assert sync_sign(c, "ska-admin", b"before").status_code == 200  # ruleUse empty
    block_id = c.post("/v1/block", json={"blockRequest": {"blockKeyName": "ska-admin"}}).json()[
        "blockKeyRequestId"
    ]
    assert status(c, block_id)["status"] == "PENDING"
    approve(c, alice, block_id, "BlockKey")
    assert status(c, block_id)["status"] == "EXECUTED"
    blocked = c.post("/v1/key/attributes", json={"label": "ska-admin"}).json()
    assert (
        blocked["json"]["policy"]["keyStatus"]["blocked"] is True
        and "<blocked>true</blocked>" in blocked["xml"]
    )
    error(sync_sign(c, "ska-admin", b"blocked"), 400, 614)
    error(
        c.post(
            "/v1/sign",
            json={
                "signRequest": {
                    "payload": b64(b"x"),
                    "signKeyName": "ska-admin",
                    "signatureAlgorithm": "SHA256_WITH_ECDSA",
                }
            },
        ),
        400,
        614,
    )
    unblock = c.post("/v1/unblock", json={"unblockRequest": {"unblockKeyName": "ska-admin"}})
    unblock_id = unblock.json()["unblockKeyRequestId"]
    approve(c, bob, unblock_id, "UnblockKey")
    assert status(c, unblock_id)["status"] == "EXECUTED"
    assert sync_sign(c, "ska-admin", b"after").status_code == 200
    # modify: the new policy puts ruleUse on alice; carol approves the change
    new_rules = {
        "ruleUse": rule([alice], 1),
        "ruleBlock": None,
        "ruleUnblock": None,
        "ruleModify": rule([carol], 1),
    }
    body = {"modifyRequest": {"modifyKeyName": "ska-admin", "policy": new_rules}}
    modify_id = c.post("/v1/modify", json=body).json()["modifyKeyRequestId"]
    (task,) = tasks(c, carol, "ModifyKey", requestId=modify_id, detailLevel="level2")
    assert unb64(task["payload"])[4:6] == bytes.fromhex("4e10")  # the new policy's encoding
    approve(c, carol, modify_id, "ModifyKey")
    assert status(c, modify_id)["status"] == "EXECUTED"
    error(sync_sign(c, "ska-admin", b"now needs alice"), 403, 401)
    after = c.post("/v1/key/attributes", json={"label": "ska-admin"}).json()["json"]["policy"]
    assert after["ruleUse"]["tokens"][0]["groups"][0]["approvals"][0]["value"] == b64(alice.spki)
    assert after["ruleBlock"] is None
    # synchronous modify with signed approvals: the token of a modify request for the same policy
    emptied = {"ruleModify": rule([carol], 1)}
    body = {"modifyRequest": {"modifyKeyName": "ska-admin", "policy": emptied}}
    modify_id = c.post("/v1/modify", json=body).json()["modifyKeyRequestId"]
    token = unb64(tasks(c, carol, "ModifyKey", requestId=modify_id)[0]["approvalToBeSigned"])
    other = {
        "modifyRequest": {
            "modifyKeyName": "ska-admin",
            "policy": {"ruleModify": rule([alice], 1)},
            "signedApprovals": [carol.signed_approval(token)],
        }
    }
    error(c.post("/v1/synchronousModify", json=other), 403, 403)  # approvals are for another policy
    body["modifyRequest"]["signedApprovals"] = [carol.signed_approval(token)]
    r = c.post("/v1/synchronousModify", json=body)
    assert r.status_code == 200, r.text
    assert status(c, modify_id)["status"] == "EXECUTED"
    assert sync_sign(c, "ska-admin", b"free again").status_code == 200


def test_policies_that_are_refused(c: httpx.Client, trio: list[Approver]) -> None:
    good = policy(rule(trio[:1], 1))
    bad_timelock = policy(rule(trio[:1], 1, timelock=30))
    r = c.post(
        "/v1/key",
        json={
            "label": "bad",
            "algorithm": "EC",
            "curveOid": P256,
            "attributes": SIGN_ATTRS,
            "policy": bad_timelock,
        },
    )
    body = error(r, 400, 600)
    assert "timelock" in body["message"]
    aes = {"label": "bad", "algorithm": "AES", "keySize": 256, "attributes": SIGN_ATTRS, "policy": good}
    error(c.post("/v1/key", json=aes), 400, 600)
    extractable = {**SIGN_ATTRS, "extractable": True, "sensitive": False}
    r = c.post(
        "/v1/key",
        json={"label": "bad", "algorithm": "EC", "curveOid": P256, "attributes": extractable, "policy": good},
    )
    error(r, 400, 606)
    zero = policy(rule(trio[:1], 0))
    error(
        c.post(
            "/v1/key",
            json={
                "label": "bad",
                "algorithm": "EC",
                "curveOid": P256,
                "attributes": SIGN_ATTRS,
                "policy": zero,
            },
        ),
        400,
        600,
    )
    strange = good | {
        "ruleUse": {
            "tokens": [
                {
                    "timelock": 0,
                    "timeout": 0,
                    "groups": [
                        {"quorum": 1, "approvals": [{"type": "public_key", "value": b64(b"not a key")}]}
                    ],
                }
            ]
        }
    }
    error(
        c.post(
            "/v1/key",
            json={
                "label": "bad",
                "algorithm": "EC",
                "curveOid": P256,
                "attributes": SIGN_ATTRS,
                "policy": strange,
            },
        ),
        400,
        600,
    )
    unknown = {
        "label": "bad",
        "algorithm": "EC",
        "curveOid": P256,
        "attributes": SIGN_ATTRS,
        "policy": good | {"ruleUse": {"tokens": [], "extra": 1}},
    }
    error(c.post("/v1/key", json=unknown), 400, 621)
    error(c.post("/v1/key/export/plain", json={"label": "ska-2of3"}), 400, 614)


def test_onboarded_approver(c: httpx.Client, tmp_path: Path) -> None:
    c.delete("/v1/approverManagement/delete/dana@example.com")
    r = c.post(
        "/v1/approverManagement/create",
        json={
            "approverName": "dana@example.com",
            "algorithm": "RSA",
            "keySize": 2048,
            "backupPassword": "backup-pw",
            "validity": 30,
        },
    )
    assert r.status_code == 200, r.text
    code = r.json()["oneTimeCode"]
    pending = c.get("/v1/approverManagement/onboarding/status").json()
    assert "dana@example.com" in [p["approverName"] for p in pending["pending"]]
    error(
        c.post(
            "/v1/key",
            json={
                "label": "ska-dana",
                "algorithm": "EC",
                "curveOid": P256,
                "attributes": SIGN_ATTRS,
                "policy": policy(
                    {
                        "tokens": [
                            {
                                "timelock": 0,
                                "timeout": 0,
                                "groups": [
                                    {
                                        "quorum": 1,
                                        "approvals": [
                                            {
                                                "type": "onboarded_approver_certificate",
                                                "name": "dana@example.com",
                                            }
                                        ],
                                    }
                                ],
                            }
                        ]
                    }
                ),
            },
        ),
        404,
        654,
    )
    transport = b"0123456789abcdef"
    wrong = {
        "approverName": "dana@example.com",
        "oneTimeCode": "WRONGCODE",
        "transportPassword": transport.decode(),
    }
    error(c.post("/v1/approver/onboard", json=wrong), 401, 412)
    r = c.post("/v1/approver/onboard", json={**wrong, "oneTimeCode": list(code)})
    assert r.status_code == 200, r.text
    sealed = r.json()
    p12 = AESGCM(transport).decrypt(
        unb64(sealed["initializationVector"]), unb64(sealed["encryptedPayload"]), None
    )
    key, cert, _ = pkcs12.load_key_and_certificates(p12, b"backup-pw")
    assert key is not None and cert is not None
    error(c.post("/v1/approver/onboard", json={**wrong, "oneTimeCode": code}), 401, 412)  # used once
    dana = Approver("rsa", key, cert.public_bytes(serialization.Encoding.DER), name="dana@example.com")
    onboarded_policy = policy(
        {
            "tokens": [
                {
                    "timelock": 0,
                    "timeout": 0,
                    "groups": [
                        {
                            "quorum": 1,
                            "approvals": [
                                {"type": "onboarded_approver_certificate", "name": "dana@example.com"}
                            ],
                        }
                    ],
                }
            ]
        }
    )
    created = make_key(c, "ska-dana", onboarded_policy)
    entry = created["json"]["policy"]["ruleUse"]["tokens"][0]["groups"][0]["approvals"][0]
    assert entry["type"] == "onboarded_approver_certificate" and unb64(entry["value"]) == dana.certificate
    request_id = sign_request(c, "ska-dana", b"onboarded")
    approve(c, dana, request_id)
    done = status(c, request_id)
    assert done["status"] == "EXECUTED"
    public_key(created).verify(unb64(done["result"]), b"onboarded", ec.ECDSA(hashes.SHA256()))
    status_after = c.get("/v1/approverManagement/onboarding/status").json()
    assert "dana@example.com" in [p["approverName"] for p in status_after["onboarded"]]
    code2 = c.post(
        "/v1/approverManagement/restoreFromBackup/forgotPassword",
        json={"approverName": "dana@example.com", "newBackupPassword": "new-pw"},
    ).json()["oneTimeCode"]
    r = c.post("/v1/approver/onboard", json={**wrong, "oneTimeCode": code2})
    p12 = AESGCM(transport).decrypt(
        unb64(r.json()["initializationVector"]), unb64(r.json()["encryptedPayload"]), None
    )
    assert pkcs12.load_key_and_certificates(p12, b"new-pw")[0] is not None
    error(
        c.post(
            "/v1/approverManagement/create",
            json={"approverName": "dana@example.com", "algorithm": "RSA", "backupPassword": "x"},
        ),
        400,
        632,
    )
    assert c.delete("/v1/approverManagement/delete/dana@example.com").status_code == 200
    error(c.delete("/v1/approverManagement/delete/dana@example.com"), 404, 654)


def test_filtered_requests(c: httpx.Client, trio: list[Approver]) -> None:
    make_key(c, "ska-list", policy(rule(trio[:1], 1)))
    request_id = sign_request(c, "ska-list", b"listed")
    r = c.post("/v1/filteredRequests", json={"status": "PENDING"})
    assert r.status_code == 200, r.text
    assert request_id in [x["id"] for x in r.json()["requests"]]
    r = c.post("/v1/filteredRequests", json={"status": ["EXECUTED"]})
    assert request_id not in [x["id"] for x in r.json()["requests"]]
    c.delete(f"/v1/request/{request_id}")


def test_decrypt_request(c: httpx.Client, trio: list[Approver]) -> None:
    c.post("/v1/key/deleteKey", json={"label": "ska-rsa"})
    attrs = {"decrypt": True, "sign": False, "unwrap": False, "encrypt": True, "destroyable": True}
    r = c.post(
        "/v1/key",
        json={
            "label": "ska-rsa",
            "algorithm": "RSA",
            "keySize": 2048,
            "attributes": attrs,
            "policy": policy(rule(trio[:1], 1)),
        },
    )
    assert r.status_code == 201, r.text
    enc = c.post(
        "/v1/encrypt",
        json={
            "encryptRequest": {
                "payload": b64(b"secret"),
                "encryptKeyName": "ska-rsa",
                "cipherAlgorithm": "RSA_PADDING_OAEP_WITH_SHA256",
            }
        },
    )
    ciphertext = enc.json()["encryptedPayload"]
    dec = {
        "encryptedPayload": ciphertext,
        "decryptKeyName": "ska-rsa",
        "cipherAlgorithm": "RSA_PADDING_OAEP_WITH_SHA256",
    }
    error(c.post("/v1/synchronousDecrypt", json={"decryptRequest": dec}), 403, 401)
    request_id = c.post("/v1/decrypt", json={"decryptRequest": dec}).json()["decryptRequestId"]
    # a sign approval cannot open a decrypt request: the tasks list by kind, the token names its use
    assert tasks(c, trio[0], "Sign", requestId=request_id) == []
    approve(c, trio[0], request_id, "Decrypt")
    done = status(c, request_id)
    assert done["status"] == "EXECUTED" and unb64(done["result"]) == b"secret"


def test_time_lock_runs_on_the_scheduler(c: httpx.Client, trio: list[Approver]) -> None:
    """A quorum before the time lock is over waits as APPROVED; the scheduler runs it once the
    lock is over (60 s: time locks are whole minutes). Polled through /v1/filteredRequests, which
    runs nothing itself (GET /v1/request would). No timing is asserted."""
    created = make_key(c, "ska-timelock", policy(rule(trio[:1], 1, timelock=60, timeout=600)))
    request_id = sign_request(c, "ska-timelock", b"later")
    token = token_of(c, trio[0], request_id)
    approve(c, trio[0], request_id)

    def listed() -> dict[str, Any]:
        found = c.post("/v1/filteredRequests", json={}).json()["requests"]
        return next(r for r in found if r["id"] == request_id)

    if listed()["status"] == "APPROVED":  # (a very slow machine may be past the lock already)
        error(sync_sign(c, "ska-timelock", b"later", [trio[0].signed_approval(token)]), 403, 401)
    deadline = time.monotonic() + 300
    while (state := listed())["status"] != "EXECUTED":
        assert state["status"] == "APPROVED", state
        assert time.monotonic() < deadline, state
        time.sleep(2)
    public_key(created).verify(unb64(state["result"]), b"later", ec.ECDSA(hashes.SHA256()))


def test_no_traceback_in_the_log(server: Server) -> None:
    assert "Traceback" not in server.output()
    assert base64  # the module uses base64 through support.ska


def test_certificates_with_a_policy_key(c: httpx.Client, trio: list[Approver]) -> None:
    created = make_key(c, "ska-ca", policy(rule(trio[:1], 1)))
    body = {
        "signKeyName": "ska-ca",
        "validity": 30,
        "signatureAlgorithm": "SHA256_WITH_ECDSA",
        "commonName": "SKA CA",
        "certificateAuthority": True,
    }
    error(c.post("/v1/certificate/synchronous/selfsign", json=body), 403, 401)
    r = c.post("/v1/certificate/selfsign", json={"selfSignCertificateRequest": body})
    assert r.status_code == 201, r.text
    request_id = r.json()["signRequestId"]
    (task,) = tasks(c, trio[0], requestId=request_id, detailLevel="level3")
    assert task["signedSelfSignCertificateRequestDto"]["selfSignCertificateRequest"]["commonName"] == "SKA CA"
    assert b'"certificate":"self_sign"' in unb64(task["payload"])  # approvers see what they sign
    approve(c, trio[0], request_id)
    done = status(c, request_id)
    assert done["status"] == "EXECUTED", done
    from cryptography import x509

    cert = x509.load_der_x509_certificate(unb64(done["result"]))
    public_key(created).verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(hashes.SHA256()))
    assert cert.subject.rfc4514_string() == "CN=SKA CA"
    csr_body = {
        "signKeyName": "ska-ca",
        "validity": 30,
        "signatureAlgorithm": "SHA256_WITH_ECDSA",
        "standardCertificateAttributes": {"commonName": "SKA CSR"},
    }
    request_id = c.post("/v1/certificate/request", json={"csrSignRequest": csr_body}).json()["signRequestId"]
    approve(c, trio[0], request_id)
    done = status(c, request_id)
    assert done["status"] == "EXECUTED" and done["result"].startswith(
        "-----BEGIN NEW CERTIFICATE REQUEST-----"
    )
    csr = x509.load_pem_x509_csr(done["result"].encode())
    assert csr.is_signature_valid and csr.subject.rfc4514_string() == "CN=SKA CSR"


PROOF_FIELDS = {
    "timestamp": "2024-01-01T00:00:00Z",
    "timestampSignature": "AAAA",
    "timestampDigestAlgorithm": "SHA-256",
}
MALFORMED: list[tuple[str, str, Any]] = [
    ("POST", "/v1/filteredSignApprovalTask", {**PROOF_FIELDS, "approverPublicKey": "AAAA"}),
    (
        "POST",
        "/v1/filteredSignApprovalTask",
        {**PROOF_FIELDS, "timestamp": "not a time", "approverPublicKey": "AAAA"},
    ),
    ("POST", "/v1/filteredSignApprovalTask", {**PROOF_FIELDS, "approverCertificate": "AAAA"}),
    (
        "POST",
        "/v1/filteredSignApprovalTask",
        {**PROOF_FIELDS, "approverPublicKey": "AAAA", "paging": {"pageNumber": -1}},
    ),
    (
        "POST",
        "/v1/filteredAllApprovalTask",
        {**PROOF_FIELDS, "approverPublicKey": "AAAA", "timestampDigestAlgorithm": "MD5"},
    ),
    (
        "POST",
        "/v1/approval",
        {"id": "x", "approvalToBeSigned": "AAAA", "signature": "AAAA", "approvalDigestAlgorithm": "SHA-256"},
    ),
    (
        "POST",
        "/v1/approval",
        {"id": "x", "approvalToBeSigned": "!!", "signature": "AAAA", "approvalDigestAlgorithm": "x"},
    ),
    ("DELETE", "/v1/task", {**PROOF_FIELDS, "approverPublicKey": "AAAA", "id": "x"}),
    ("PATCH", "/v1/task", {"id": "x"}),
    ("GET", "/v1/request/%00", None),
    ("DELETE", "/v1/request/nope", None),
    ("POST", "/v1/filteredRequests", {"status": "NOPE"}),
    (
        "POST",
        "/v1/sign",
        {"signRequest": {"payload": "AAAA", "signKeyName": "nope", "signatureAlgorithm": "EDDSA"}},
    ),
    ("POST", "/v1/block", {"blockRequest": {"blockKeyName": "nope"}}),
    (
        "POST",
        "/v1/modify",
        {"modifyRequest": {"modifyKeyName": "nope", "policy": {"ruleUse": {"tokens": "x"}}}},
    ),
    (
        "POST",
        "/v1/modify",
        {
            "modifyRequest": {
                "modifyKeyName": "ska-2of3",
                "policy": {"ruleUse": {"tokens": [{"timelock": -60, "timeout": 0, "groups": []}]}},
            }
        },
    ),
    (
        "POST",
        "/v1/synchronousSign",
        {
            "signRequest": {
                "payload": "AAAA",
                "signKeyName": "ska-2of3",
                "signatureAlgorithm": "SHA256_WITH_ECDSA",
                "signedApprovals": ["!!", "AAAA"],
            }
        },
    ),
    (
        "POST",
        "/v1/synchronousBlock",
        {"blockRequest": {"blockKeyName": "ska-2of3", "signedApprovals": ["AAAAAAAA"]}},
    ),
    ("POST", "/v1/synchronousModify", {"modifyRequest": {"modifyKeyName": "no-ska", "policy": {}}}),
    (
        "POST",
        "/v1/approverManagement/create",
        {"approverName": "x" * 300, "algorithm": "RSA", "backupPassword": "p"},
    ),
    (
        "POST",
        "/v1/approverManagement/create",
        {"approverName": "e", "algorithm": "EC", "backupPassword": "p"},
    ),
    (
        "POST",
        "/v1/approverManagement/create",
        {"approverName": "e", "algorithm": "RSA", "keySize": 1024, "backupPassword": "p"},
    ),
    (
        "POST",
        "/v1/approver/onboard",
        {"approverName": "nobody", "oneTimeCode": "X", "transportPassword": "short"},
    ),
    (
        "POST",
        "/v1/approver/onboard",
        {"approverName": "nobody", "oneTimeCode": "X", "transportPassword": "0123456789abcdef"},
    ),
    ("POST", "/v1/approverManagement/renewOneTimeCode", {"approverName": ""}),
    ("DELETE", "/v1/approverManagement/delete/nobody", None),
]


@pytest.mark.parametrize(("method", "path", "body"), MALFORMED)
def test_malformed_input_is_a_clean_4xx(c: httpx.Client, method: str, path: str, body: Any) -> None:
    r = c.request(method, path, json=body)
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    assert set(r.json()) == {"errorCode", "reason", "message"}, r.text


@pytest.mark.parametrize(
    "path", ["/v1/sign", "/v1/decrypt", "/v1/unwrap", "/v1/block", "/v1/modify", "/v1/certificate/selfsign"]
)
def test_a_body_that_is_not_json(c: httpx.Client, path: str) -> None:
    """The routes that keep their body read it before FastAPI judges it: still a 621."""
    for content in (b"not json", b"{", b"[1, 2"):
        error(c.post(path, content=content, headers={"Content-Type": "application/json"}), 400, 621)
    error(c.post(path), 400, 621)  # no body at all
    r = c.post(path, content=b"\xff", headers={"Content-Type": "application/json"})
    assert (
        r.status_code == 400
        and r.json()["errorCode"]
        == c.post(
            "/v1/synchronousSign", content=b"\xff", headers={"Content-Type": "application/json"}
        ).json()["errorCode"]
    )  # as every route answers it
