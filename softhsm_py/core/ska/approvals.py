"""Verification of approvals, and the policy check every use of a key passes (``check``: the key
gate calls it, ``core.gate.usable_key``).

What the core checks itself, whatever a front end says (TSB.md 6.7): the approval token names
this operation, this key and this payload; its timestamp was signed by this partition's timestamp
key; each approval is a valid signature over the whole token by a key the rule names (a
certificate stands for its key); an approver counts once; the rule is satisfied at the core's
clock (``policy.satisfied``). A request's state in a database is never taken for any of this.
"""

from __future__ import annotations

import datetime
import functools
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from softhsm_py import errors
from softhsm_py.constants import Attribute as A
from softhsm_py.constants import ObjectClass
from softhsm_py.constants import VendorAttribute as V
from softhsm_py.core.objects import lifecycle
from softhsm_py.core.runtime import Runtime
from softhsm_py.core.session import Session
from softhsm_py.core.ska import clock, policy, tlv
from softhsm_py.core.ska.tlv import Op
from softhsm_py.engine import signatures

#: digest names an approver may give (the JDK's), and the names that mean "the key's own" (EdDSA)
DIGEST_NAMES = tuple(signatures.DIGESTS)
EDDSA_NAMES = signatures.EDDSA_NAMES

#: the partition's timestamp key (core.ska.timestamps makes it)
TIMESTAMP_LABEL = "timestamp-key"
_FIND_TIMESTAMP_KEY: dict[int, Any] = {
    A.CLASS: ObjectClass.PRIVATE_KEY,
    V.TIMESTAMP: True,
    A.LABEL: TIMESTAMP_LABEL.encode(),
}

_POLICY, _BLOCKED, _LABEL = int(V.SKA_POLICY), int(V.SKA_BLOCKED), int(A.LABEL)
#: the rule that governs each operation
RULE_OF = {
    Op.SIGN: "use",
    Op.DECRYPT: "use",
    Op.UNWRAP: "use",
    Op.CERTIFICATE: "use",
    Op.BLOCK: "block",
    Op.UNBLOCK: "unblock",
    Op.MODIFY: "modify",
}


@dataclass(frozen=True)
class Approval:
    """One approver's signature over a request's token, as presented (REST: a task's approval or
    one of ``signedApprovals``). ``digest``: the JDK digest name (None: the one the signature's
    algorithm identifier names, or the key's own for EdDSA)."""

    signature: bytes
    digest: str | None
    public_key: bytes | None = None
    certificate: bytes | None = None


@dataclass(frozen=True)
class Presented:
    """What a caller brings for a key with a policy: a request's token (None: none) and the
    approvals over it."""

    token: bytes | None
    approvals: tuple[Approval, ...] = ()


@dataclass(frozen=True)
class Authorization:
    """What a call presents for a key with a policy: the operation, the payload it will process,
    the request's token (None: no request, hence no time) and the approvals over that token."""

    op: int
    payload: bytes
    token: bytes | None = None
    approvals: tuple[Approval, ...] = ()


def resolve_key(kind: str, name: str | None, value: bytes | None) -> tuple[bytes, str | None, bytes]:
    """A ``policy.Resolver`` for approvers named by value: (SPKI, name, value)."""
    if value is None:
        raise errors.PublicKeyInvalid()
    if kind == policy.PUBLIC_KEY:
        return signatures.canonical_spki(value), name, value
    spki, common_name = signatures.certificate_key(value)
    return spki, name if name is not None else common_name, value


@functools.lru_cache(maxsize=256)
def stored_policy(raw: bytes) -> policy.Policy:
    """The policy of a key's CKA_VENDOR_SKA_POLICY (decoded once per distinct value)."""
    return policy.decode(raw, resolve_key)


def key_policy(attrs: Mapping[int, Any]) -> tuple[policy.Policy, bool] | None:
    raw = attrs.get(_POLICY)
    if raw is None:
        return None
    return stored_policy(bytes(raw)), attrs.get(_BLOCKED) is True


def approver_key(approval: Approval) -> bytes:
    """The SPKI of the approver (a certificate stands for its key); PublicKeyInvalid."""
    if approval.public_key is not None:
        return signatures.canonical_spki(approval.public_key)
    if approval.certificate is not None:
        return signatures.certificate_key(approval.certificate)[0]
    raise errors.PublicKeyInvalid()


def verify_approval(token: bytes, approval: Approval) -> bytes:
    """The approver's key if ``approval`` is its signature over ``token``; ApprovalInvalid."""
    try:
        spki = approver_key(approval)
        signatures.verify(spki, token, approval.signature, approval.digest)
    except (errors.SignatureInvalid, errors.PublicKeyInvalid):
        raise errors.ApprovalInvalid() from None
    return spki


def approvers_of(token: bytes, approvals: Iterable[Approval], rule: policy.Rule) -> frozenset[bytes]:
    """The keys whose approvals verify; ApprovalInvalid for one that does not, or whose key the
    rule does not name (a stranger's approval is refused, not ignored)."""
    named = rule.approvers()
    found = set()
    for approval in approvals:
        spki = verify_approval(token, approval)
        if spki not in named:
            raise errors.ApprovalInvalid()
        found.add(spki)
    return frozenset(found)


def timestamp_key(rt: Runtime, session: Session) -> bytes | None:
    """The SPKI of the partition's timestamp key (None before its first request). Caller holds
    the library lock (the key gate)."""
    for handle in lifecycle.find_in(rt, session, _FIND_TIMESTAMP_KEY):
        spki = lifecycle.attrs_of(rt, session, rt.handles.get(handle)).get(A.PUBLIC_KEY_INFO)
        if spki:
            return bytes(spki)
    return None


def verify_timestamp(spki: bytes | None, timestamp: tlv.Timestamp, signature_der: bytes) -> None:
    """ApprovalInvalid unless the timestamp key ``spki`` signed ``timestamp``."""
    if spki is None or timestamp.key_name != TIMESTAMP_LABEL:
        raise errors.ApprovalInvalid()
    try:
        kind, digest, signature = signatures.split_algorithm(signature_der)
        if kind != "EC":
            raise errors.SignatureInvalid()
        signatures.verify(spki, timestamp.raw, signature, digest)
    except (errors.SignatureInvalid, errors.PublicKeyInvalid):
        raise errors.ApprovalInvalid() from None


def timestamp_signature(token: tlv.ApprovalToken) -> tuple[str, bytes]:
    """(the TSB's name of the algorithm, the bare signature) of a token's timestamp signature."""
    _, digest, signature = signatures.split_algorithm(token.timestamp_signature)
    return f"{digest.replace('-', '')}_WITH_ECDSA", signature


def payload_kind(op: int) -> int:
    return tlv.T.MODIFY_PAYLOAD if op == Op.MODIFY else tlv.T.USE_PAYLOAD


def bound_token(token: bytes, op: int, key_name: str, payload: bytes) -> tlv.ApprovalToken:
    """The parsed ``token``, if it is for ``op`` on ``key_name`` over ``payload``; ApprovalInvalid."""
    try:
        parsed = tlv.parse_approval_token(token)
    except ValueError:
        raise errors.ApprovalInvalid() from None
    if (
        parsed.operation != op
        or parsed.key_name != key_name
        or parsed.payload_kind != payload_kind(op)
        or parsed.payload != payload
    ):
        raise errors.ApprovalInvalid()
    return parsed


def check(
    attrs: Mapping[int, Any],
    op: int | None,
    authorization: Authorization | None,
    timestamp_key: bytes | None,
    now: int | None = None,
) -> None:
    """May the key ``attrs`` be used for ``op`` (None: an operation no approval can cover, such
    as C_DeriveKey or C_SignRecover) with ``authorization``? ``timestamp_key``: the partition's
    timestamp key's SPKI. Raises KeyBlocked, ApprovalRequired or ApprovalInvalid."""
    found = key_policy(attrs)
    if found is None:
        return  # no Smart Key Attributes
    key_policy_, blocked = found
    if blocked and op != Op.UNBLOCK:
        raise errors.KeyBlocked()
    if op is None:
        if not key_policy_.use.empty:
            raise errors.ApprovalRequired()
        return
    if authorization is not None and authorization.op != op:
        raise errors.ApprovalInvalid()
    rule = key_policy_.rule(RULE_OF[Op(op)])
    when = clock.now() if now is None else now
    if rule.empty:
        return
    if authorization is None or authorization.token is None:
        if authorization is not None and authorization.approvals:
            raise errors.ApprovalInvalid()  # approvals without the token they sign
        if not policy.satisfied(rule, (), None, when):
            raise errors.ApprovalRequired()
        return
    name = bytes(attrs.get(_LABEL, b"")).decode("utf-8", "replace")
    parsed = bound_token(authorization.token, op, name, authorization.payload)
    verify_timestamp(timestamp_key, parsed.timestamp, parsed.timestamp_signature)
    approvers = approvers_of(authorization.token, authorization.approvals, rule)
    if not policy.satisfied(rule, approvers, parsed.timestamp.seconds, when):
        raise errors.ApprovalRequired()


def authenticate(
    timestamp: str, signature: bytes, digest: str | None, approver: Approval, max_age: int, max_future: int
) -> bytes:
    """An approver's proof of possession (TSB.md 6.3): its signature over the UTF-8 bytes of an
    ISO-8601 ``timestamp`` with a time zone, no older than ``max_age`` seconds and no more than
    ``max_future`` ahead of the core's clock. Its key (SPKI); TimestampOff or
    ApproverUnauthenticated."""
    try:
        when = datetime.datetime.fromisoformat(timestamp)
    except ValueError:
        raise errors.TimestampOff() from None
    if when.tzinfo is None:
        raise errors.TimestampOff()  # a time without its zone says no time
    skew = when.timestamp() - time.time()
    if skew > max_future or -skew > max_age:
        raise errors.TimestampOff()
    try:
        spki = approver_key(approver)
        signatures.verify(spki, timestamp.encode("utf-8"), signature, digest)
    except (errors.SignatureInvalid, errors.PublicKeyInvalid):
        raise errors.ApproverUnauthenticated() from None
    return spki


def from_signed(signed: Sequence[bytes]) -> Presented:
    """The token and approvals of ``signedApprovals`` (TSB.md 6.6): every approval must sign the
    same token; ApprovalInvalid for one that does not parse."""
    token: bytes | None = None
    approvals = []
    for raw in signed:
        try:
            parsed = tlv.parse_signed_approval(raw)
            kind, digest, signature = signatures.split_algorithm(parsed.signature_der)
        except (ValueError, errors.SignatureInvalid):
            raise errors.ApprovalInvalid() from None
        if token is None:
            token = parsed.token
        elif parsed.token != token:
            raise errors.ApprovalInvalid()  # approvals of different requests
        approvals.append(
            Approval(
                signature, None if kind.startswith("Ed") else digest, parsed.public_key, parsed.certificate
            )
        )
    return Presented(token, tuple(approvals))


__all__ = [
    "DIGEST_NAMES",
    "EDDSA_NAMES",
    "RULE_OF",
    "TIMESTAMP_LABEL",
    "Approval",
    "Authorization",
    "Presented",
    "approver_key",
    "approvers_of",
    "authenticate",
    "bound_token",
    "check",
    "from_signed",
    "key_policy",
    "resolve_key",
    "stored_policy",
    "timestamp_key",
    "timestamp_signature",
    "verify_approval",
    "verify_timestamp",
]
