"""Smart Key Attributes in the core, in-process, below both front ends: the key gate refuses a
policy key to every caller that brings no valid approvals (a PKCS#11 session, a REST layer
bypassed with forged request state), the policy attribute cannot be changed or the key extracted
or copied, blocking blocks, time locks count by the core's clock, and the timestamp key signs
nothing else."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from softhsm_py import errors
from softhsm_py.config import Config
from softhsm_py.constants import Attribute as A
from softhsm_py.constants import Mechanism, SessionFlag, UserType
from softhsm_py.constants import VendorAttribute as V
from softhsm_py.core import gate, operations, sessions, startup, tokens
from softhsm_py.core.mechanism import Mechanism as Mech
from softhsm_py.core.objects import lifecycle
from softhsm_py.core.partition import Partition, Presented, open_partition
from softhsm_py.core.runtime import Library
from softhsm_py.core.session import OpKind
from softhsm_py.core.ska import clock
from softhsm_py.core.ska.approvals import Approval
from softhsm_py.core.ska.requests import Request
from softhsm_py.core.ska.tlv import Op
from softhsm_py.core.tokens import session_of
from softhsm_py.store.base import Record
from support.ska import Approver, policy, rule

SO_PIN, USER_PIN = b"so-pin-1234", b"user-pin-1234"
P256 = bytes.fromhex("06082a8648ce3d030107")
ECDSA = Mech(Mechanism.ECDSA_SHA256)


@pytest.fixture
def part(tmp_path: Path) -> Iterator[Partition]:
    config = Config(token_dir=tmp_path / "tokens", kdf_cost=10, pin_lockout=3)
    lib = Library()
    startup.start(lib, config)
    tokens.init_token(lib, 0, SO_PIN, "ska")
    handle = sessions.open_session(lib, 0, SessionFlag.SERIAL_SESSION | SessionFlag.RW_SESSION)
    sessions.login(lib, handle, UserType.SO, SO_PIN)
    tokens.init_pin(lib, handle, USER_PIN)
    startup.stop(lib)
    part = open_partition(config, "ska", USER_PIN)
    yield part
    part.close()


@pytest.fixture
def approvers() -> list[Approver]:
    return [Approver.new("ec", name="a"), Approver.new("ed25519", name="b")]


def ska_key(
    part: Partition, name: str, key_policy: dict[str, Any], private: dict[int, Any] | None = None
) -> None:
    part.generate(
        name,
        Mech(Mechanism.EC_KEY_PAIR_GEN),
        public={A.EC_PARAMS: P256, A.VERIFY: True},
        private={A.SIGN: True, A.DERIVE: True, A.DESTROYABLE: True, **(private or {})},
        policy=key_policy,
    )


def approve_all(part: Partition, request: Request, who: list[Approver]) -> Request:
    for approver in who:
        task = next(t for t in request.tasks if t.approver == part_spki(approver))
        approval = Approval(
            approver.sign(request.token), None if approver.kind == "ed25519" else "SHA-256", approver.spki
        )
        request = part.requests.approve(task.id, request.token, approval)
    return request


def part_spki(approver: Approver) -> bytes:
    return approver.spki


def private_handle(part: Partition, name: str) -> int:
    return part._object_for(name, OpKind.SIGN)


def test_pkcs11_sessions_cannot_use_a_policy_key(part: Partition, approvers: list[Approver]) -> None:
    ska_key(part, "k", policy(rule(approvers, 1)))
    handle = private_handle(part, "k")
    with part.lib.lock:
        rt, session = session_of(part.lib, part.handle)
        with pytest.raises(errors.KeyFunctionNotPermitted) as refused:  # what C_SignInit answers
            operations.start(rt, session, OpKind.SIGN, ECDSA, handle)
        assert refused.value.rv.name == "KEY_FUNCTION_NOT_PERMITTED"
        with pytest.raises(errors.KeyFunctionNotPermitted):  # C_DeriveKey: no approval can cover it
            gate.usable_key(rt, session, handle, gate.DERIVE, Mechanism.ECDH1_DERIVE)
    with pytest.raises(errors.ApprovalRequired):
        part.sign("k", ECDSA, b"x")


def test_the_policy_cannot_be_changed_and_the_key_never_leaves(
    part: Partition, approvers: list[Approver]
) -> None:
    ska_key(part, "k", policy(rule(approvers, 1)))
    handle = private_handle(part, "k")
    stored = lifecycle.read(part.lib, part.handle, handle, [V.SKA_POLICY, V.SKA_BLOCKED, A.EXTRACTABLE])
    assert isinstance(stored[0], bytes) and stored[1] is False and stored[2] is False  # readable
    for change in ({V.SKA_POLICY: b""}, {V.SKA_BLOCKED: True}, {A.EXTRACTABLE: True}):
        with pytest.raises(errors.AttributeReadOnly):  # C_SetAttributeValue
            lifecycle.change(part.lib, part.handle, handle, change)
    with pytest.raises(errors.ActionProhibited):  # C_CopyObject
        lifecycle.copy(part.lib, part.handle, handle, {})
    with pytest.raises(errors.AttributeReadOnly):  # C_CreateObject cannot name it
        lifecycle.create(
            part.lib,
            part.handle,
            {A.CLASS: 3, A.KEY_TYPE: 3, A.EC_PARAMS: P256, A.VALUE: b"\x01" * 32, V.SKA_POLICY: stored[0]},
        )
    with pytest.raises(errors.AttributeSensitive):
        part.export("k")
    with pytest.raises(errors.TemplateInconsistent):  # never extractable
        ska_key(part, "x", policy(rule(approvers, 1)), {A.EXTRACTABLE: True})
    with pytest.raises(errors.PolicyInvalid):  # only asymmetric keys
        part.generate_secret("s", Mech(Mechanism.AES_KEY_GEN), {A.VALUE_LEN: 32}, policy=policy())


def test_forged_request_state_signs_nothing(part: Partition, approvers: list[Approver]) -> None:
    """The REST layer bypassed: a request marked APPROVED in the store, with forged approvals,
    or a call with the request's token and no approvals, still cannot sign."""
    ska_key(part, "k", policy(rule(approvers, 2)))
    request = part.requests.create("sign", Op.SIGN, "k", b"steal", {"body": {}}, None)
    store, key = part.lib.runtime.store, part.token_key()

    def forge(record: Record) -> Record:
        body = json.loads(record.body)
        for task in body["tasks"]:
            task["state"], task["signature"], task["digest"] = (
                "approved",
                base64.b64encode(b"x" * 64).decode(),
                None,
            )
        return Record(record.kind, record.id, b"", "APPROVED", record.created, json.dumps(body).encode())

    store.change_record(part.slot_id, key, "request", request.id, forge)
    forged = part.requests.get(request.id)
    assert forged.status == "APPROVED" and len(forged.approved_by()) == 2

    def run(r: Request) -> str:
        return base64.b64encode(part.sign("k", ECDSA, b"steal", approvals=r.presented())).decode()

    after = part.requests.execute(forged, run)
    assert after.status == "FAILED" and after.result is None and after.error == "ApprovalInvalid"
    with pytest.raises(errors.ApprovalRequired):  # the token alone
        part.sign("k", ECDSA, b"steal", approvals=Presented(forged.token, ()))
    other = part.requests.create("sign", Op.SIGN, "k", b"steal", {"body": {}}, None)
    one = approve_all(part, other, approvers[:1])
    with pytest.raises(errors.ApprovalRequired):  # 1 of 2, whatever the status says
        part.sign("k", ECDSA, b"steal", approvals=one.presented())
    with pytest.raises(errors.ApprovalInvalid):  # the approvals of one payload for another
        part.sign("k", ECDSA, b"other", approvals=approve_all(part, one, approvers[1:]).presented())


def test_approved_requests_run_once(part: Partition, approvers: list[Approver]) -> None:
    ska_key(part, "k", policy(rule(approvers, 2)))
    public = part.key_info("k").spki
    request = approve_all(
        part, part.requests.create("sign", Op.SIGN, "k", b"once", {"body": {}}, None), approvers
    )
    signature = part.sign("k", ECDSA, b"once", approvals=request.presented())
    assert part.requests.get(request.id).status == "EXECUTED"
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    key = load_der_public_key(public or b"")
    assert isinstance(key, ec.EllipticCurvePublicKey)
    half = len(signature) // 2
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    der = encode_dss_signature(
        int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big")
    )
    key.verify(der, b"once", ec.ECDSA(hashes.SHA256()))
    with pytest.raises(errors.RequestFinished):
        part.sign("k", ECDSA, b"once", approvals=request.presented())


def test_time_lock_and_time_out_count_by_the_cores_clock(
    part: Partition, approvers: list[Approver], monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [clock.now()]
    monkeypatch.setattr(clock, "now", lambda: now[0])
    ska_key(part, "k", policy(rule(approvers[:1], 1, timelock=120, timeout=600)))
    request = approve_all(
        part, part.requests.create("sign", Op.SIGN, "k", b"t", {"body": {}}, None), approvers[:1]
    )
    assert request.status == "APPROVED" and not part.requests.runnable(request)
    with pytest.raises(errors.ApprovalRequired):  # before the time lock
        part.sign("k", ECDSA, b"t", approvals=request.presented())
    now[0] += 120
    assert part.requests.runnable(part.requests.get(request.id))
    late = part.requests.create("sign", Op.SIGN, "k", b"late", {"body": {}}, None)
    late = approve_all(part, late, approvers[:1])
    part.sign("k", ECDSA, b"t", approvals=request.presented())
    now[0] += 600
    assert part.requests.refresh(late.id).status == "EXPIRED"
    with pytest.raises(errors.ApprovalRequired):  # after the time out
        part.sign("k", ECDSA, b"late", approvals=late.presented())


def test_block_and_unblock(part: Partition, approvers: list[Approver]) -> None:
    ska_key(part, "k", policy(None, block=rule(approvers[:1], 1), unblock=rule(approvers[1:], 1)))
    part.sign("k", ECDSA, b"free")  # ruleUse empty
    with pytest.raises(errors.ApprovalRequired):
        part.block("k")
    block = approve_all(part, part.requests.create("block", Op.BLOCK, "k", b"", {}, None), approvers[:1])
    part.block("k", approvals=block.presented())
    with pytest.raises(errors.KeyBlocked):
        part.sign("k", ECDSA, b"blocked")
    with part.lib.lock:  # and through PKCS#11
        rt, session = session_of(part.lib, part.handle)
        with pytest.raises(errors.KeyFunctionNotPermitted):
            operations.start(rt, session, OpKind.SIGN, ECDSA, private_handle(part, "k"))
    with pytest.raises(errors.KeyBlocked):  # nothing but unblock
        part.requests.create("block", Op.BLOCK, "k", b"", {}, None)
    unblock = approve_all(
        part, part.requests.create("unblock", Op.UNBLOCK, "k", b"", {}, None), approvers[1:]
    )
    part.unblock("k", approvals=unblock.presented())
    part.sign("k", ECDSA, b"free again")
    assert "<blocked>false</blocked>" in part.attest("k").xml.decode()


def test_the_timestamp_key_signs_only_timestamps(part: Partition, approvers: list[Approver]) -> None:
    ska_key(part, "k", policy(rule(approvers, 1)))
    part.requests.create("sign", Op.SIGN, "k", b"x", {}, None)  # makes the timestamp key
    found = lifecycle.find(part.lib, part.handle, {A.LABEL: b"timestamp-key", A.CLASS: 3})
    assert len(found) == 1
    with part.lib.lock:
        rt, session = session_of(part.lib, part.handle)
        with pytest.raises(errors.KeyFunctionNotPermitted):
            operations.start(rt, session, OpKind.SIGN, ECDSA, found[0])
    assert "timestamp-key" not in part.names()
    with pytest.raises(errors.KeyNameInvalid):
        ska_key(part, "timestamp-key", policy())


def test_a_token_cannot_be_used_up_on_another_key(part: Partition, approvers: list[Approver]) -> None:
    """A free key (empty rule) does not let a caller spend another key's pending request."""
    ska_key(part, "guarded", policy(rule(approvers, 2)))
    ska_key(part, "free", policy())
    pending = part.requests.create("sign", Op.SIGN, "guarded", b"x", {}, None)
    with pytest.raises(errors.ApprovalInvalid):
        part.sign("free", ECDSA, b"x", approvals=Presented(pending.token, ()))
    assert part.requests.get(pending.id).status == "PENDING"
    part.sign("free", ECDSA, b"x")  # the free key itself needs nothing
