"""``softhsm-py approver``, the command-line approver, against a real ``softhsm-py serve`` over
TLS: the README's walk-through of a 2-of-3 signature (keys made by the command, a policy key, a
signature request, two approvals, EXECUTED, the signature verified), then a rejection and a
synchronous signature with ``approver sign``'s signedApprovals."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from support.ska import b64, unb64

from .conftest import Server, start_server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(tmp_path_factory.mktemp("ska-cli"), workers=1)
    try:
        yield server
    finally:
        server.stop()


def approver(server: Server, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    remote = ("--url", server.url, "--cacert", str(server.cert))
    action = args[0]
    argv = [sys.executable, "-m", "softhsm_py.cli", "approver", *args]
    if action in ("tasks", "approve", "reject"):
        argv += remote
    proc = subprocess.run(argv, env=server.env, capture_output=True, text=True, timeout=120)
    assert "Traceback" not in proc.stderr, proc.stderr
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def test_two_of_three_with_the_command_line_approver(server: Server, tmp_path: Path) -> None:
    entries: list[dict[str, Any]] = []
    keys = {}
    for name, kind in (("alice", "ec"), ("bob", "rsa"), ("carol", "ed25519")):
        keys[name] = str(tmp_path / f"{name}.pem")
        entries.append(json.loads(approver(server, "keygen", "--out", keys[name], "--type", kind).stdout))
    assert (tmp_path / "alice.pem").stat().st_mode & 0o777 == 0o600
    assert approver(server, "keygen", "--out", keys["alice"], check=False).returncode == 1  # no overwrite
    policy = {
        "ruleUse": {
            "tokens": [
                {
                    "name": "payments",
                    "timelock": 0,
                    "timeout": 3600,
                    "groups": [{"name": "officers", "quorum": 2, "approvals": entries}],
                }
            ]
        },
        "keyStatus": {"blocked": False},
    }
    attributes = {"decrypt": False, "sign": True, "unwrap": False, "verify": True, "destroyable": True}
    with server.client() as c:
        r = c.post(
            "/v1/key",
            json={
                "label": "payments",
                "algorithm": "EC",
                "curveOid": "1.2.840.10045.3.1.7",
                "attributes": attributes,
                "policy": policy,
            },
        )
        assert r.status_code == 201, r.text
        public = serialization.load_der_public_key(unb64(r.json()["json"]["publicKey"]))
        assert isinstance(public, ec.EllipticCurvePublicKey)
        sign = {
            "signRequest": {
                "payload": b64(b"pay 100 to bob"),
                "signKeyName": "payments",
                "signatureAlgorithm": "SHA256_WITH_ECDSA",
            }
        }
        request_id = c.post("/v1/sign", json=sign).json()["signRequestId"]

        listed = approver(server, "tasks", "--key", keys["alice"], "--request", request_id).stdout
        task = json.loads(listed)
        assert task["signedSignRequest"]["signRequest"]["signKeyName"] == "payments"
        approver(server, "approve", "--key", keys["alice"], "--all", "--request", request_id)
        assert c.get(f"/v1/request/{request_id}").json()["status"] == "PENDING"
        out = approver(server, "approve", "--key", keys["bob"], "--all", "--request", request_id).stdout
        assert out.startswith("approved task ")
        done = c.get(f"/v1/request/{request_id}").json()
        assert done["status"] == "EXECUTED"
        public.verify(unb64(done["result"]), b"pay 100 to bob", ec.ECDSA(hashes.SHA256()))
        failed = approver(
            server, "approve", "--key", keys["carol"], "--all", "--request", request_id, check=False
        )
        assert failed.returncode == 1 and "no open task" in failed.stderr

        # carol rejects a second request; alice and bob sign a third one synchronously
        second = c.post("/v1/sign", json=sign).json()["signRequestId"]
        (carols,) = [
            json.loads(line)
            for line in approver(
                server, "tasks", "--key", keys["carol"], "--request", second, "--level", "1"
            ).stdout.splitlines()
        ]
        approver(server, "reject", "--key", keys["carol"], carols["id"])
        assert c.get(f"/v1/request/{second}").json()["rejectedBy"] == [entries[2]["value"]]
        third = c.post("/v1/sign", json=sign).json()["signRequestId"]
        (alices,) = [
            json.loads(line)
            for line in approver(
                server, "tasks", "--key", keys["alice"], "--request", third, "--level", "1"
            ).stdout.splitlines()
        ]
        token = alices["approvalToBeSigned"]
        signed = [
            approver(server, "sign", "--key", keys[n], token).stdout.strip() for n in ("alice", "carol")
        ]
        sync = {"signRequest": {**sign["signRequest"], "signedApprovals": signed}}
        r = c.post("/v1/synchronousSign", json=sync)
        assert r.status_code == 200, r.text
        public.verify(unb64(r.json()["signature"]), b"pay 100 to bob", ec.ECDSA(hashes.SHA256()))
        assert c.get(f"/v1/request/{third}").json()["status"] == "EXECUTED"
