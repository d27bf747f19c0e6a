"""The TSB documentation's recorded Smart Key Attributes values (``tests/vectors/data/ska``)
against softhsm-py's own TLV codec, policy encoding and verifier: what a real TSB and its approvers
produced must parse, re-encode byte for byte, and verify here; a flipped byte must not."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from softhsm_py import errors
from softhsm_py.core.ska import approvals, policy, tlv
from softhsm_py.engine import signatures

DATA = Path(__file__).resolve().parents[1] / "vectors" / "data" / "ska"
RECORDED: dict[str, Any] = json.loads((DATA / "recorded.json").read_text())
FOREVER = 10**10  # the recordings are from 2023 and 2024: no clock skew bound for them


def unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def test_the_sign_token_parses_and_re_encodes() -> None:
    raw = unb64(RECORDED["slip10_sign_approval"]["approvalToBeSigned"])
    token = tlv.parse_approval_token(raw)
    assert token.operation == tlv.Op.SIGN == 1
    assert token.key_name == "TESTKEY2024-08-14_20-02-48.72168016257020/44'/0'/0'/0'"
    assert token.payload == b"Halloasd" and token.payload_kind == tlv.T.USE_PAYLOAD
    assert token.timestamp.key_name == "test-timestamp-key" and token.timestamp.seconds == 1723658582
    assert signatures.split_algorithm(token.timestamp_signature)[:2] == ("EC", "SHA-256")
    again = tlv.build_approval_token(
        token.operation, token.key_name, token.timestamp.raw, token.timestamp_signature
    )
    assert again == raw


def test_our_policy_encoding_is_the_recorded_modify_payload() -> None:
    """The docs' modify request's policy JSON, encoded by softhsm-py, is exactly the payload the
    TSB put into the approval token of that request (852 bytes)."""
    raw = unb64(RECORDED["slip10_modify_approval"]["approvalToBeSigned"])
    token = tlv.parse_approval_token(raw)
    assert token.operation == tlv.Op.MODIFY == 4 and token.payload_kind == tlv.T.MODIFY_PAYLOAD
    parsed, blocked = policy.parse(RECORDED["slip10_modify_policy"], approvals.resolve_key)
    assert not blocked
    assert policy.encode(parsed) == token.payload
    assert policy.decode(token.payload, approvals.resolve_key) == parsed
    assert parsed.block.tokens[0].timelock == 180 and parsed.use.tokens[0].timeout == 600


@pytest.mark.parametrize("which", ["slip10_sign_approval", "slip10_modify_approval"])
def test_recorded_approvals_verify(which: str) -> None:
    rec = RECORDED[which]
    token = unb64(rec["approvalToBeSigned"])
    approval = approvals.Approval(
        unb64(rec["signature"]), rec["approvalDigestAlgorithm"], unb64(rec["approverPublicKey"])
    )
    assert approvals.verify_approval(token, approval) == signatures.canonical_spki(
        unb64(rec["approverPublicKey"])
    )
    flipped = bytearray(token)
    flipped[len(flipped) // 2] ^= 1
    with pytest.raises(errors.ApprovalInvalid):
        approvals.verify_approval(bytes(flipped), approval)


@pytest.mark.parametrize("which", ["slip10_sign_timestamp", "slip10_modify_timestamp"])
def test_recorded_timestamp_proofs_authenticate(which: str) -> None:
    rec = RECORDED[which]
    approver = approvals.Approval(b"", None, unb64(rec["approverPublicKey"]))
    spki = approvals.authenticate(
        rec["timestamp"],
        unb64(rec["timestampSignature"]),
        rec["timestampDigestAlgorithm"],
        approver,
        FOREVER,
        0,
    )
    assert spki == signatures.canonical_spki(unb64(rec["approverPublicKey"]))
    with pytest.raises(errors.TimestampOff):  # the real bound: 600 s
        approvals.authenticate(
            rec["timestamp"], unb64(rec["timestampSignature"]), "SHA-256", approver, 600, 0
        )
    with pytest.raises(errors.ApproverUnauthenticated):
        approvals.authenticate(
            rec["timestamp"].replace(":0", ":1", 1),
            unb64(rec["timestampSignature"]),
            "SHA-256",
            approver,
            FOREVER,
            0,
        )


def test_the_rsa_certificate_flow() -> None:
    """signature-request.md: an approver named by certificate (SHA256withRSA); the request's
    ``approvedBy`` is the certificate's public key."""
    stamp, rec = RECORDED["rsa_timestamp"], RECORDED["rsa_approval"]
    proof = approvals.Approval(b"", None, None, unb64(stamp["approverCertificate"]))
    approvals.authenticate(
        stamp["timestamp"], unb64(stamp["timestampSignature"]), "SHA-256", proof, FOREVER, 0
    )
    token = unb64(rec["approvalToBeSigned"])
    parsed = tlv.parse_approval_token(token)
    assert (parsed.operation, parsed.key_name, parsed.payload) == (
        1,
        "TSB_TUTORIAL_1-RSA",
        b"ApproveSignTaskPayload",
    )
    approval = approvals.Approval(unb64(rec["signature"]), "SHA-256", None, unb64(rec["approverCertificate"]))
    spki = approvals.verify_approval(token, approval)
    assert RECORDED["rsa_request_status"]["approvedBy"] == [base64.b64encode(spki).decode()]
    # the other certificate's key did not sign it
    with pytest.raises(errors.ApprovalInvalid):
        approvals.verify_approval(
            token,
            approvals.Approval(approval.signature, "SHA-256", None, unb64(stamp["approverCertificate"])),
        )


def test_a_recorded_token_is_not_ours() -> None:
    """The core checks a token's timestamp against this partition's timestamp key: a TSB's token,
    however well signed by its approver, opens nothing here."""
    rec = RECORDED["slip10_sign_approval"]
    token = unb64(rec["approvalToBeSigned"])
    parsed = tlv.parse_approval_token(token)
    approver = {"type": "public_key", "name": "a", "value": rec["approverPublicKey"]}
    rules = {
        "ruleUse": {
            "tokens": [{"timelock": 0, "timeout": 0, "groups": [{"quorum": 1, "approvals": [approver]}]}]
        }
    }
    key_policy, _ = policy.parse(rules, approvals.resolve_key)
    attrs = {0x80000000 | 0x53480005: policy.encode(key_policy), 3: parsed.key_name.encode()}
    approval = approvals.Approval(unb64(rec["signature"]), "SHA-256", unb64(rec["approverPublicKey"]))
    authorization = approvals.Authorization(tlv.Op.SIGN, b"Halloasd", token, (approval,))
    our_key = signatures.new_approver_key("ec")[1]  # some partition's timestamp key
    with pytest.raises(errors.ApprovalInvalid):
        approvals.check(attrs, tlv.Op.SIGN, authorization, our_key, now=parsed.timestamp.seconds)
    with pytest.raises(errors.ApprovalRequired):
        approvals.check(attrs, tlv.Op.SIGN, None, our_key)
