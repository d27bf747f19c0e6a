"""The TSB documentation's own openssl approver scripts (``tests/vectors/data/ska``, verbatim from
securosys-com/dev-securosys-docs: ``create_rsa.sh``, ``sign_timestamp_rsa.sh``, ``sign_rsa.sh``)
drive a whole multi-authorization flow against a real ``softhsm-py serve``: three approvers make
their keys and certificates; the key the first script prints a request for is created with its
policy adapted to a 2-of-3 group with a time lock; the docs' signature request follows; two
approvers fetch their task and approve with the scripts; the request is polled until EXECUTED
(the scheduler runs it once the time lock is over) and its signature verified. What the scripts
print is sent as it is: only the URL is ours, and the policy's keys are the three approvers'."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from support.ska import unb64

from .conftest import LABEL, PIN_ENV, Server, prepare_token, start_server

pytestmark = [pytest.mark.slow, pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl missing")]
SCRIPTS = Path(__file__).resolve().parents[1] / "vectors" / "data" / "ska"
#: the signature request of the docs' step-by-step tutorial (signature-request.md), as printed there
DOCS_SIGN_REQUEST = {
    "signRequest": {
        "payload": "QXBwcm92ZVNpZ25UYXNrUGF5bG9hZA==",
        "payloadType": "UNSPECIFIED",
        "signKeyName": "TSB_TUTORIAL_1-RSA",
        "signatureAlgorithm": "SHA256_WITH_RSA",
    }
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("ska-docs")
    partitions = f'[[rest.partitions]]\nlabel = "{LABEL}"\npin_env = "{PIN_ENV}"\n'
    env = prepare_token(root, LABEL, f"\n[rest]\nska_scheduler_interval = 2\n{partitions}")
    server = start_server(root, workers=2, env=env)
    try:
        yield server
    finally:
        server.stop()


def script(work: Path, name: str, *args: str) -> str:
    """Run one of the docs' scripts (copied into ``work``, where it writes its key files)."""
    target = work / name
    if not target.exists():
        shutil.copy(SCRIPTS / name, target)
    proc = subprocess.run(["bash", str(target), *args], cwd=work, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def printed_json(output: str, after: str) -> dict[str, Any]:
    """The JSON object a script prints after the line ``after``."""
    text = output[output.index(after) + len(after) :]
    start = text.index("{")
    depth = 0
    for end, char in enumerate(text[start:], start):
        depth += {"{": 1, "}": -1}.get(char, 0)
        if depth == 0:
            return dict(json.loads(text[start : end + 1]))
    raise AssertionError(f"no JSON object after {after!r}:\n{output}")


def test_two_of_three_with_a_time_lock_through_the_docs_scripts(server: Server, tmp_path: Path) -> None:
    approvers = ["approverx", "approvery", "approverz"]
    created = {name: script(tmp_path, "create_rsa.sh", name) for name in approvers}
    certificates = {
        name: out.split("Formatted (Certificate):\n", 1)[1].splitlines()[0].strip()
        for name, out in created.items()
    }
    key_request = printed_json(created["approverx"], "Simple sample request to create RSA-Key")
    # adapted in keys: the printed policy names approverx alone; ours names all three, quorum 2,
    # and a one-minute time lock (time locks are whole minutes)
    group = key_request["policy"]["ruleUse"]["tokens"][0]["groups"][0]
    assert group["approvals"] == [{"type": "certificate", "value": certificates["approverx"]}]
    group["approvals"] = [{"type": "certificate", "value": certificates[name]} for name in approvers]
    group["quorum"] = 2
    key_request["policy"]["ruleUse"]["tokens"][0]["timelock"] = 60
    key_request["label"] = "TSB_TUTORIAL_1-RSA"

    with server.client() as c:
        r = c.post("/v1/key", json=key_request)
        assert r.status_code == 201, r.text
        public = serialization.load_der_public_key(unb64(r.json()["json"]["publicKey"]))
        assert isinstance(public, rsa.RSAPublicKey)
        r = c.post("/v1/sign", json=DOCS_SIGN_REQUEST)
        assert r.status_code == 201, r.text
        request_id = r.json()["signRequestId"]

        for name in approvers[:2]:
            fetch = printed_json(
                script(tmp_path, "sign_timestamp_rsa.sh", name), "Creating TSB request payload"
            )
            r = c.post("/v1/filteredSignApprovalTask", json=fetch)
            assert r.status_code == 200, r.text
            (task,) = r.json()["tasks"]
            assert task["detailLevel"] == "level1"
            signed = script(tmp_path, "sign_rsa.sh", name, task["id"], task["approvalToBeSigned"])
            approval = printed_json(signed, "signing challenge with payload <approvalTobeSigned>")
            r = c.post("/v1/approval", json=approval)
            assert r.status_code == 200, r.text

        deadline = time.monotonic() + 300
        while True:
            r = c.get(f"/v1/request/{request_id}")
            assert r.status_code == 200, r.text
            state = r.json()
            if state["status"] == "EXECUTED":
                break
            assert state["status"] in ("PENDING", "APPROVED"), state
            assert time.monotonic() < deadline, state
            time.sleep(2)
    assert len(state["approvedBy"]) == 2 and len(state["notYetApprovedBy"]) == 0
    payload = unb64(DOCS_SIGN_REQUEST["signRequest"]["payload"])
    public.verify(unb64(state["result"]), payload, padding.PKCS1v15(), hashes.SHA256())
    assert "Traceback" not in server.output()
