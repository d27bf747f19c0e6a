"""Smart Key Attributes policies (TSB.md 6.1): the model, its parsing from the TSB's JSON shape
(plain dicts), its canonical encoding (the TLV of 6.4, which is also what a modify request's
approvers sign), its XML and JSON views, and the decision: given a rule, the approvers whose
approvals verified, the request's time and the clock, may the operation run?

``satisfied`` and ``status`` are pure and deterministic (ints and sets in, a bool or a word out):
``tests/unit/test_ska_model.py`` checks them and the core's verification against an independent
model.

Semantics:
* A rule is satisfied when one of its tokens is (tokens are alternatives). An empty rule (null,
  or no tokens) needs no approval.
* A token is satisfied when every one of its groups has reached its quorum, within the token's
  time window: from ``timelock`` seconds after the request was made until ``timeout`` seconds
  after it (0: no bound). A token without groups needs no approval, only its time window.
* A group's quorum counts distinct approvers the group names: one approver's approval counts once
  per group (twice if two groups name it), however often it is presented.
* Times are seconds since the epoch from the core's clock; the request's time is the one its
  timestamp (signed by the partition's timestamp key) states, never a caller's word.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from softhsm_py import errors
from softhsm_py.core.ska.tlv import Reader, T, container, element, parse_container, u32

PUBLIC_KEY, CERTIFICATE, ONBOARDED = "public_key", "certificate", "onboarded_approver_certificate"
APPROVAL_TYPES = (PUBLIC_KEY, CERTIFICATE, ONBOARDED)
RULES = ("use", "block", "unblock", "modify")
#: JSON field, XML element, TLV element of each rule
RULE_NAMES = {
    "use": ("ruleUse", "rule_use", T.RULE_USE),
    "block": ("ruleBlock", "rule_block", T.RULE_BLOCK),
    "unblock": ("ruleUnblock", "rule_unblock", T.RULE_UNBLOCK),
    "modify": ("ruleModify", "rule_modify", T.RULE_MODIFY),
}
_VALUE_TYPE = {PUBLIC_KEY: T.PUBLIC_KEY, CERTIFICATE: T.CERTIFICATE, ONBOARDED: T.ONBOARDED_CERTIFICATE}
_TYPE_OF_VALUE: dict[int, str] = {int(v): k for k, v in _VALUE_TYPE.items()}
#: bounds that keep a policy a policy (the TLV caps an element at 64 KiB anyway)
MAX_TOKENS, MAX_GROUPS, MAX_APPROVALS, MAX_NAME = 16, 16, 64, 255
MAX_SECONDS = 60 * 0xFFFFFFFF


@dataclass(frozen=True)
class Approver:
    """``value``: the SPKI (public_key) or the certificate (DER); ``spki``: the key that signs."""

    kind: str
    name: str | None
    value: bytes
    spki: bytes


@dataclass(frozen=True)
class Group:
    name: str | None
    quorum: int
    approvers: tuple[Approver, ...]


@dataclass(frozen=True)
class Token:
    name: str | None
    timelock: int  # seconds
    timeout: int  # seconds; 0: never
    groups: tuple[Group, ...]


@dataclass(frozen=True)
class Rule:
    tokens: tuple[Token, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.tokens

    def approvers(self) -> frozenset[bytes]:
        """Every key this rule names."""
        return frozenset(a.spki for t in self.tokens for g in t.groups for a in g.approvers)


@dataclass(frozen=True)
class Policy:
    use: Rule = Rule()
    block: Rule = Rule()
    unblock: Rule = Rule()
    modify: Rule = Rule()

    def rule(self, which: str) -> Rule:
        return {"use": self.use, "block": self.block, "unblock": self.unblock, "modify": self.modify}[which]


EMPTY = Policy()


# -- the decision ---------------------------------------------------------------------------------


def _quorum(token: Token, approvers: frozenset[bytes]) -> bool:
    return all(sum(1 for a in g.approvers if a.spki in approvers) >= g.quorum for g in token.groups)


def _timed(token: Token) -> bool:
    return token.timelock > 0 or token.timeout > 0


def _in_window(token: Token, created: int | None, now: int) -> bool:
    if not _timed(token):
        return True
    if created is None:
        return False  # a time bound needs the request's (signed) time
    if now < created + token.timelock:
        return False
    return not (token.timeout and now >= created + token.timeout)


def satisfied(rule: Rule, approvers: Iterable[bytes], created: int | None, now: int) -> bool:
    """May the operation run now? ``approvers``: keys whose approvals verified; ``created``: the
    request's time from its verified timestamp (None: no timestamp came with the call)."""
    if rule.empty:
        return True
    have = frozenset(approvers)
    return any(_quorum(t, have) and _in_window(t, created, now) for t in rule.tokens)


def _closed(token: Token, created: int, now: int) -> bool:
    return bool(token.timeout) and now >= created + token.timeout


def status(rule: Rule, approved: Iterable[bytes], rejected: Iterable[bytes], created: int, now: int) -> str:
    """What a request waiting on ``rule`` is: "SATISFIED" (run it), "APPROVED" (a quorum is
    there, its time lock is not over), "PENDING", "EXPIRED" (no token's window is open or to
    come) or "REJECTED" (the approvers left cannot reach any quorum)."""
    if satisfied(rule, approved, created, now):
        return "SATISFIED"
    have = frozenset(approved)
    open_tokens = [t for t in rule.tokens if not _closed(t, created, now)]
    if not open_tokens:
        return "EXPIRED"
    if any(_quorum(t, have) for t in open_tokens):
        return "APPROVED"
    possible = rule.approvers() - frozenset(rejected)
    if not any(_quorum(t, possible) for t in open_tokens):
        return "REJECTED"
    return "PENDING"


def expiry(rule: Rule, created: int) -> int | None:
    """When a request on ``rule`` expires: the end of its last time window (None: never)."""
    if rule.empty or any(t.timeout == 0 for t in rule.tokens):
        return None
    return created + max(t.timeout for t in rule.tokens)


# -- parsing from the TSB's JSON (plain dicts) ---------------------------------------------------

#: (kind, name, value bytes or None) -> (spki, name, value): resolves certificates and onboarded
#: approvers (the core passes one that asks the engine and the partition's approvers)
Resolver = Callable[[str, str | None, bytes | None], tuple[bytes, str | None, bytes]]


def _fail(message: str) -> errors.PolicyInvalid:
    return errors.PolicyInvalid(message)


def _name(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value.encode("utf-8")) > MAX_NAME:
        raise _fail(f"{where}.name must be a string of at most {MAX_NAME} bytes")
    return value


def _seconds(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SECONDS:
        raise _fail(f"{where} must be a number of seconds")
    if value % 60:
        raise _fail(f"{where} must be a multiple of 60 (whole minutes)")
    return value


def _list(value: Any, where: str, most: int, *, nullable: bool = False) -> list[Any]:
    if value is None and nullable:
        return []
    if not isinstance(value, list):
        raise _fail(f"{where} must be a list")
    if len(value) > most:
        raise _fail(f"{where} may hold at most {most} entries")
    return value


def _approver(data: Any, where: str, resolve: Resolver) -> Approver:
    if not isinstance(data, Mapping):
        raise _fail(f"{where} must be an object")
    kind = data.get("type")
    if kind not in APPROVAL_TYPES:
        raise _fail(f"{where}.type must be one of {', '.join(APPROVAL_TYPES)}")
    name = _name(data.get("name"), where)
    raw = data.get("value")
    value: bytes | None = None
    if kind != ONBOARDED or raw is not None:
        if not isinstance(raw, str) or not raw:
            raise _fail(f"{where}.value must be a base64 public key or certificate")
        try:
            value = base64.b64decode(raw.encode("ascii"), validate=True)
        except (ValueError, UnicodeEncodeError):
            raise _fail(f"{where}.value is not valid base64") from None
    if kind == ONBOARDED and name is None:
        raise _fail(f"{where}.name must name the onboarded approver")
    try:
        spki, name, value = resolve(kind, name, value)
    except errors.PublicKeyInvalid:
        raise _fail(f"{where}.value is not a usable public key or certificate") from None
    return Approver(kind, name, value, spki)


def _group(data: Any, where: str, resolve: Resolver) -> Group:
    if not isinstance(data, Mapping):
        raise _fail(f"{where} must be an object")
    quorum = data.get("quorum")
    if isinstance(quorum, bool) or not isinstance(quorum, int) or not 1 <= quorum <= MAX_APPROVALS:
        raise _fail(f"{where}.quorum must be a number from 1 to {MAX_APPROVALS}")
    items = _list(data.get("approvals"), f"{where}.approvals", MAX_APPROVALS)
    approvers = tuple(_approver(a, f"{where}.approvals[{i}]", resolve) for i, a in enumerate(items))
    if len({a.spki for a in approvers}) != len(approvers):
        raise _fail(f"{where} names one approver twice")
    return Group(_name(data.get("name"), where), quorum, approvers)


def _token(data: Any, where: str, resolve: Resolver) -> Token:
    if not isinstance(data, Mapping):
        raise _fail(f"{where} must be an object")
    groups = _list(data.get("groups"), f"{where}.groups", MAX_GROUPS, nullable=True)
    return Token(
        _name(data.get("name"), where),
        _seconds(data.get("timelock"), f"{where}.timelock"),
        _seconds(data.get("timeout"), f"{where}.timeout"),
        tuple(_group(g, f"{where}.groups[{i}]", resolve) for i, g in enumerate(groups)),
    )


def _rule(data: Any, where: str, resolve: Resolver) -> Rule:
    if data is None:
        return Rule()
    if not isinstance(data, Mapping):
        raise _fail(f"{where} must be an object")
    tokens = _list(data.get("tokens"), f"{where}.tokens", MAX_TOKENS, nullable=True)
    return Rule(tuple(_token(t, f"{where}.tokens[{i}]", resolve) for i, t in enumerate(tokens)))


def parse(data: Mapping[str, Any], resolve: Resolver) -> tuple[Policy, bool]:
    """(policy, keyStatus.blocked) of a ``PolicyDto`` / ``ModifyPolicyDto`` as plain JSON values;
    PolicyInvalid (``detail`` names the field) when it breaks a rule."""
    rules = {which: _rule(data.get(RULE_NAMES[which][0]), RULE_NAMES[which][0], resolve) for which in RULES}
    status = data.get("keyStatus")
    blocked = False
    if status is not None:
        if not isinstance(status, Mapping) or not isinstance(status.get("blocked", False), bool):
            raise _fail("keyStatus.blocked must be true or false")
        blocked = bool(status.get("blocked", False))
    policy = Policy(**rules)
    encode(policy)  # refuse what cannot be stored (an element over 64 KiB)
    return policy, blocked


# -- the canonical encoding (TLV, TSB.md 6.4) -----------------------------------------------------


def _encode_rule(rule: Rule) -> bytes:
    parts = [u32(T.TOKEN_COUNT, len(rule.tokens))]
    for token in rule.tokens:
        parts += [
            element(T.LABEL, (token.name or "").encode()),
            u32(T.TIME_MINUTES, token.timelock // 60),
            u32(T.TIME_MINUTES, token.timeout // 60),
            u32(T.GROUP_COUNT, len(token.groups)),
        ]
        for group in token.groups:
            parts += [
                element(T.LABEL, (group.name or "").encode()),
                u32(T.QUORUM, group.quorum),
                u32(T.APPROVAL_COUNT, len(group.approvers)),
            ]
            for a in group.approvers:
                parts += [element(T.LABEL, (a.name or "").encode()), element(_VALUE_TYPE[a.kind], a.value)]
    return container(*parts)


def encode(policy: Policy) -> bytes:
    """The policy's one byte form: the stored attribute, and the payload approvers of a modify
    request sign. PolicyInvalid if it does not fit the TLV."""
    try:
        return container(*(element(RULE_NAMES[w][2], _encode_rule(policy.rule(w))) for w in RULES))
    except errors.DataLenRange:
        raise _fail("the policy is too large") from None


def _decode_rule(raw: bytes, resolve: Resolver) -> Rule:
    reader = Reader(parse_container(raw))
    tokens = []
    for _ in range(reader.take_u32(T.TOKEN_COUNT)):
        name = reader.take_text() or None
        timelock, timeout = reader.take_u32(T.TIME_MINUTES) * 60, reader.take_u32(T.TIME_MINUTES) * 60
        groups = []
        for _ in range(reader.take_u32(T.GROUP_COUNT)):
            group_name = reader.take_text() or None
            quorum = reader.take_u32(T.QUORUM)
            approvers = []
            for _ in range(reader.take_u32(T.APPROVAL_COUNT)):
                approver_name = reader.take_text() or None
                kind_code = reader.peek()
                if kind_code not in _TYPE_OF_VALUE:
                    raise ValueError("unknown approval type")
                value = reader.take(kind_code)
                kind = _TYPE_OF_VALUE[kind_code]
                spki, _, _ = resolve(kind if kind != ONBOARDED else CERTIFICATE, approver_name, value)
                approvers.append(Approver(kind, approver_name, value, spki))
            groups.append(Group(group_name, quorum, tuple(approvers)))
        tokens.append(Token(name, timelock, timeout, tuple(groups)))
    reader.done()
    return Rule(tuple(tokens))


def decode(raw: bytes, resolve: Resolver) -> Policy:
    """Inverse of ``encode``; PolicyInvalid if ``raw`` is not a policy's encoding. ``resolve``
    is asked for the keys of certificates (stored policies resolved onboarded approvers already)."""
    try:
        reader = Reader(parse_container(raw))
        rules = {w: _decode_rule(reader.take(RULE_NAMES[w][2]), resolve) for w in RULES}
        reader.done()
    except (ValueError, errors.PublicKeyInvalid):
        raise _fail("not a policy encoding") from None
    return Policy(**rules)


# -- views ------------------------------------------------------------------------------------------


def _approver_json(a: Approver) -> dict[str, Any]:
    return {"type": a.kind, "name": a.name, "value": base64.b64encode(a.value).decode()}


def rule_json(rule: Rule) -> dict[str, Any] | None:
    if rule.empty:
        return None
    return {
        "tokens": [
            {
                "name": t.name,
                "timelock": t.timelock,
                "timeout": t.timeout,
                "groups": [
                    {
                        "name": g.name,
                        "quorum": g.quorum,
                        "approvals": [_approver_json(a) for a in g.approvers],
                    }
                    for g in t.groups
                ],
            }
            for t in rule.tokens
        ]
    }


def to_json(policy: Policy, blocked: bool | None) -> dict[str, Any]:
    """The ``PolicyDto`` JSON (``blocked`` None: a ``ModifyPolicyDto``, without keyStatus)."""
    out: dict[str, Any] = {RULE_NAMES[w][0]: rule_json(policy.rule(w)) for w in RULES}
    if blocked is not None:
        out["keyStatus"] = {"blocked": blocked}
    return out


def _attr(name: str | None) -> str:
    return f" name={quoteattr(name)}" if name is not None else ""


def xml_lines(policy: Policy, blocked: bool, indent: str = "\t") -> list[str]:
    """The attestation statement's ``<policy>`` element (TSB.md 5), one line per element."""
    i1, i2, i3, i4, i5 = (indent * n for n in range(1, 6))
    lines = [
        f"{i1}<policy>",
        f"{i2}<key_status>",
        f"{i3}<blocked>{'true' if blocked else 'false'}</blocked>",
        f"{i2}</key_status>",
    ]
    for which in RULES:
        tag = RULE_NAMES[which][1]
        rule = policy.rule(which)
        if rule.empty:
            continue
        lines.append(f"{i2}<{tag}>")
        for t in rule.tokens:
            lines += [
                f"{i3}<token{_attr(t.name)}>",
                f"{i4}<timelock>{t.timelock}</timelock>",
                f"{i4}<timeout>{t.timeout}</timeout>",
            ]
            for g in t.groups:
                lines += [f"{i4}<group{_attr(g.name)}>", f"{i5}<quorum>{g.quorum}</quorum>"]
                for a in g.approvers:
                    value = escape(base64.b64encode(a.value).decode())
                    lines.append(f"{i5}<approval type={quoteattr(a.kind)}{_attr(a.name)}>{value}</approval>")
                lines.append(f"{i4}</group>")
            lines.append(f"{i3}</token>")
        lines.append(f"{i2}</{tag}>")
    lines.append(f"{i1}</policy>")
    return lines


__all__ = [
    "CERTIFICATE",
    "EMPTY",
    "ONBOARDED",
    "PUBLIC_KEY",
    "RULES",
    "Approver",
    "Group",
    "Policy",
    "Resolver",
    "Rule",
    "Token",
    "decode",
    "encode",
    "expiry",
    "parse",
    "rule_json",
    "satisfied",
    "status",
    "to_json",
    "xml_lines",
]
