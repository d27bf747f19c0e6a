"""A model of Smart Key Attributes (TSB.md 6.1) against the core's decision.

Hypothesis draws policies (alternative tokens of groups with quorums, time locks and time outs),
the approvals a caller presents, the clock, and tamperings: an approval by a key the rule does
not name, over another payload, another operation, another key, another request (replayed), with
a broken signature, a duplicate, a timestamp the partition did not sign, too early (time lock)
or too late (time out). The model below is written from the TSB's rules alone; the core
(``core.ska.approvals.check``: TLV parsing, signatures, binding, the decision) must agree with
it on every case, and above all never allow what the model refuses."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from softhsm_py import errors
from softhsm_py.constants import Attribute, VendorAttribute
from softhsm_py.core.ska import approvals, policy, tlv
from softhsm_py.engine import signatures

KEY_NAME = "model-key"
PAYLOAD = b"transfer 100 CHF"
CREATED = 1_700_000_000
N_APPROVERS = 5
APPROVERS = [
    signatures.load_approver_key(signatures.new_approver_key("ec" if i % 2 else "ed25519")[0])
    for i in range(N_APPROVERS)
]
STRANGER = signatures.load_approver_key(signatures.new_approver_key("ec")[0])
TIMESTAMP_KEY, TIMESTAMP_SPKI = signatures.load_approver_key(signatures.new_approver_key("ec")[0])
OTHER_TIMESTAMP_KEY, _ = signatures.load_approver_key(signatures.new_approver_key("ec")[0])


# -- the model ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MToken:
    timelock: int
    timeout: int
    groups: tuple[tuple[int, frozenset[int]], ...]  # (quorum, approver indices)


def model_allows(
    tokens: list[MToken], valid: frozenset[int], tampered: bool, now: int, created: int = CREATED
) -> bool:
    """The TSB's rules: any tampered approval refuses the call; else one token whose every group
    has its quorum of distinct approvers, inside [created + timelock, created + timeout) ("0/0:
    immediately active and never expiring")."""
    if not tokens:
        return True
    if tampered:
        return False
    for t in tokens:
        timed = t.timelock or t.timeout
        if timed and (now < created + t.timelock or (t.timeout and now >= created + t.timeout)):
            continue
        if all(len(members & valid) >= quorum for quorum, members in t.groups):
            return True
    return False


# -- drawing cases --------------------------------------------------------------------------------

minutes = st.sampled_from([0, 0, 60, 120, 600])
group = st.tuples(
    st.integers(1, 3), st.frozensets(st.integers(0, N_APPROVERS - 1), min_size=1, max_size=N_APPROVERS)
).filter(lambda g: g[0] <= len(g[1]) + 1)  # a quorum one above the group: never reachable
token = st.builds(MToken, minutes, minutes, st.lists(group, min_size=0, max_size=3).map(tuple))
TAMPERINGS = ("stranger", "payload", "operation", "key", "replay", "signature", "timestamp", "one_replayed")


@st.composite
def cases(draw: st.DrawFn) -> dict[str, Any]:
    tokens = draw(st.lists(token, min_size=0, max_size=3))
    presented = draw(st.lists(st.integers(0, N_APPROVERS - 1), max_size=6))  # duplicates allowed
    tampering = draw(st.none() | st.sampled_from(TAMPERINGS))
    now = CREATED + draw(st.sampled_from([-60, 0, 30, 59, 60, 61, 119, 120, 599, 600, 601, 10**6]))
    older = tampering is None and draw(st.booleans())  # run an earlier request: its own time counts
    return {"tokens": tokens, "presented": presented, "tampering": tampering, "now": now, "older": older}


def policy_json(tokens: list[MToken]) -> dict[str, Any]:
    def entry(i: int) -> dict[str, Any]:
        spki = APPROVERS[i][1]
        return {"type": "public_key", "name": f"a{i}", "value": base64.b64encode(spki).decode()}

    rule = {
        "tokens": [
            {
                "name": f"t{n}",
                "timelock": t.timelock,
                "timeout": t.timeout,
                "groups": [
                    {"name": "g", "quorum": q, "approvals": [entry(i) for i in sorted(m)]}
                    for q, m in t.groups
                ],
            }
            for n, t in enumerate(tokens)
        ]
    }
    return {"ruleUse": rule}


def make_token(
    op: int = tlv.Op.SIGN,
    key: str = KEY_NAME,
    payload: bytes = PAYLOAD,
    seconds: int = CREATED,
    stamp_key: Any = TIMESTAMP_KEY,
) -> bytes:
    raw = tlv.build_timestamp(tlv.T.USE_PAYLOAD, payload, seconds, approvals.TIMESTAMP_LABEL)
    signature = signatures.approver_sign(stamp_key, raw)
    return tlv.build_approval_token(
        op, key, raw, signatures.with_algorithm(TIMESTAMP_SPKI, "SHA-256", signature)
    )


TOKEN = make_token()
# tokens the call presents with approvals over them, though the call is SIGN of PAYLOAD on KEY_NAME
OTHER_TOKENS = {
    "payload": make_token(payload=b"transfer 999 CHF"),
    "operation": make_token(op=tlv.Op.DECRYPT),
    "key": make_token(key="other-key"),
    "timestamp": make_token(stamp_key=OTHER_TIMESTAMP_KEY),  # a timestamp this partition did not sign
}
EARLIER = make_token(seconds=CREATED - 3600)  # another request of the same call: replayed approvals


def approval(key: Any, spki: bytes, over: bytes) -> approvals.Approval:
    digest = None if signatures.family(spki).startswith("Ed") else "SHA-256"
    return approvals.Approval(signatures.approver_sign(key, over, digest or "SHA-256"), digest, spki)


def core_allows(case: dict[str, Any]) -> bool:
    key_policy, _ = policy.parse(policy_json(case["tokens"]), approvals.resolve_key)
    attrs = {
        int(VendorAttribute.SKA_POLICY): policy.encode(key_policy),
        int(Attribute.LABEL): KEY_NAME.encode(),
    }
    tampering = case["tampering"]
    token = EARLIER if case["older"] else TOKEN
    presented = [approval(*APPROVERS[i], token) for i in case["presented"]]
    if tampering == "stranger":
        presented.append(approval(*STRANGER, token))
    elif tampering == "signature" and presented:
        first = presented[0]
        presented[0] = approvals.Approval(
            first.signature[:-1] + bytes([first.signature[-1] ^ 1]), first.digest, first.public_key
        )
    elif tampering in OTHER_TOKENS:
        token = OTHER_TOKENS[tampering]  # the approvals sign the other token, the call is for PAYLOAD
        presented = [approval(*APPROVERS[i], token) for i in case["presented"]]
    elif tampering == "replay":  # approvals given for another request, presented with this one
        presented = [approval(*APPROVERS[i], EARLIER) for i in case["presented"]]
    elif tampering == "one_replayed" and presented:
        presented[-1] = approval(*APPROVERS[case["presented"][-1]], EARLIER)
    authorization = approvals.Authorization(tlv.Op.SIGN, PAYLOAD, token, tuple(presented))
    try:
        approvals.check(attrs, tlv.Op.SIGN, authorization, TIMESTAMP_SPKI, now=case["now"])
    except (errors.ApprovalRequired, errors.ApprovalInvalid):
        return False
    return True


def model_of(case: dict[str, Any]) -> bool:
    tampering = case["tampering"]
    named = frozenset(i for t in case["tokens"] for _, members in t.groups for i in members)
    tampered = tampering in ("stranger", *OTHER_TOKENS) or (
        tampering in ("signature", "replay", "one_replayed") and bool(case["presented"])
    )
    # an approval by an approver no group of the rule names is a stranger's: refused, not ignored
    tampered = tampered or (bool(case["tokens"]) and not set(case["presented"]) <= named)
    created = CREATED - 3600 if case["older"] else CREATED
    return model_allows(case["tokens"], frozenset(case["presented"]), tampered, case["now"], created)


def check(case: dict[str, Any]) -> None:
    core, model = core_allows(case), model_of(case)
    assert not (core and not model), f"the core allowed what the model refuses: {case}"
    assert core == model, f"the core refused what the model allows: {case}"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_core_agrees_with_the_model(case: dict[str, Any]) -> None:
    check(case)


@pytest.mark.slow
@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_core_agrees_with_the_model_long(case: dict[str, Any]) -> None:
    check(case)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(token, max_size=3),
    st.frozensets(st.integers(0, N_APPROVERS - 1)),
    st.frozensets(st.integers(0, N_APPROVERS - 1)),
    st.integers(-120, 1200),
)
def test_request_status_follows_the_model(
    tokens: list[MToken], approved: frozenset[int], rejected: frozenset[int], offset: int
) -> None:
    """``policy.status``: SATISFIED exactly when the model allows; EXPIRED when every window is
    over; REJECTED when the approvers left cannot reach any open token's quorum."""
    rejected = rejected - approved
    key_policy, _ = policy.parse(policy_json(tokens), approvals.resolve_key)
    spkis = [signatures.canonical_spki(APPROVERS[i][1]) for i in range(N_APPROVERS)]
    now = CREATED + offset
    state = policy.status(
        key_policy.use, [spkis[i] for i in approved], [spkis[i] for i in rejected], CREATED, now
    )
    allowed = model_allows(tokens, approved, False, now)
    assert (state == "SATISFIED") == allowed
    if not allowed and tokens:
        open_tokens = [t for t in tokens if not (t.timeout and now >= CREATED + t.timeout)]
        if not open_tokens:
            assert state == "EXPIRED"
        else:
            left = frozenset(range(N_APPROVERS)) - rejected
            reachable = any(all(len(m & left) >= q for q, m in t.groups) for t in open_tokens)
            assert state == ("PENDING" if reachable and state != "APPROVED" else state)
            if not reachable:
                assert state == "REJECTED"
