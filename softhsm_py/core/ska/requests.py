"""Multi-authorization requests and their approval tasks, kept in the store with the partition
(TSB.md 6.2): shared by every worker and instance, and surviving restarts.

A request is one record (``store.Record``, kind "request"): its token (the ``approvalToBeSigned``
the timestamp key made for it), the operation, key and payload it is for, the front end's own
description of the call (to run it later and to show approvers), and one task per approver the
key's rule names. Its status column is what cleanups select on; the sealed body holds everything
else. Nothing here decides whether a key may be used: running a request goes through the key
gate like any call, which verifies the token and the approvals again (``approvals.check``); a
request's status, in the store or anywhere, authorises nothing.

States: PENDING -> APPROVED (a quorum is in, its time lock is not over) -> EXECUTING (claimed by
one caller; shown as APPROVED) -> EXECUTED | FAILED; and EXPIRED, REJECTED, CANCELLED. A token
runs once: ``claim`` moves its request to EXECUTING in one transaction, whoever presents it (the
scheduler, an approval that completed the quorum, or a synchronous call with ``signedApprovals``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from softhsm_py import errors
from softhsm_py.core.ska import approvals, clock, policy, timestamps
from softhsm_py.core.ska.approvals import Approval, Authorization, Presented
from softhsm_py.core.ska.tlv import Op
from softhsm_py.log import get_logger
from softhsm_py.store.base import Record, RecordExists

if TYPE_CHECKING:
    from softhsm_py.core.partition import Partition

log = get_logger("ska")
T = TypeVar("T")

KIND = "request"
OPEN = ("PENDING", "APPROVED")
FINISHED = ("EXECUTED", "FAILED", "EXPIRED", "REJECTED", "CANCELLED")
#: a claim older than this died with its process: the request FAILED
STALE_CLAIM_SECONDS = 600


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"))


@dataclass
class Task:
    id: str
    approver: bytes  # the approver's key (SPKI): what tasks are found by
    kind: str  # the policy's approval type
    value: bytes  # the policy's value: SPKI or certificate
    name: str | None
    created: int
    fetched: int
    state: str = "open"  # open, approved, rejected
    signature: bytes | None = None
    digest: str | None = None

    def approval(self) -> Approval:
        key = self.value if self.kind == policy.PUBLIC_KEY else None
        cert = self.value if self.kind != policy.PUBLIC_KEY else None
        return Approval(self.signature or b"", self.digest, key, cert)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "approver": _b64(self.approver),
            "kind": self.kind,
            "value": _b64(self.value),
            "name": self.name,
            "created": self.created,
            "fetched": self.fetched,
            "state": self.state,
            "signature": None if self.signature is None else _b64(self.signature),
            "digest": self.digest,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Task:
        sig = d.get("signature")
        return cls(
            d["id"],
            _unb64(d["approver"]),
            d["kind"],
            _unb64(d["value"]),
            d.get("name"),
            d["created"],
            d["fetched"],
            d["state"],
            None if sig is None else _unb64(sig),
            d.get("digest"),
        )


@dataclass
class Request:
    """A request as the core keeps it (the record's body, parsed, and its status)."""

    id: str
    status: str
    created: int
    kind: str  # the front end's name of the call: sign, decrypt, unwrap, block, unblock, modify...
    op: int
    key: str
    token: bytes
    payload: bytes
    call: dict[str, Any]  # the front end's description of the call (JSON values)
    tasks: list[Task] = field(default_factory=list)
    executed: int | None = None
    result: str | None = None
    error: str | None = None

    def body(self) -> bytes:
        return json.dumps(
            {
                "v": 1,
                "kind": self.kind,
                "op": self.op,
                "key": self.key,
                "token": _b64(self.token),
                "payload": _b64(self.payload),
                "call": self.call,
                "tasks": [t.to_json() for t in self.tasks],
                "executed": self.executed,
                "result": self.result,
                "error": self.error,
            },
            separators=(",", ":"),
        ).encode()

    def record(self) -> Record:
        return Record(KIND, self.id, b"", self.status, self.created, self.body())

    @classmethod
    def of(cls, record: Record) -> Request:
        d = json.loads(record.body)
        return cls(
            record.id,
            record.status,
            record.created,
            d["kind"],
            d["op"],
            d["key"],
            _unb64(d["token"]),
            _unb64(d["payload"]),
            d["call"],
            [Task.from_json(t) for t in d["tasks"]],
            d.get("executed"),
            d.get("result"),
            d.get("error"),
        )

    @property
    def public_status(self) -> str:
        return "APPROVED" if self.status == "EXECUTING" else self.status

    def presented(self) -> Presented:
        return Presented(self.token, tuple(t.approval() for t in self.tasks if t.state == "approved"))

    def approved_by(self) -> list[bytes]:
        return [t.approver for t in self.tasks if t.state == "approved"]

    def not_yet_approved_by(self) -> list[bytes]:
        return [t.approver for t in self.tasks if t.state == "open"] if self.status in OPEN else []

    def rejected_by(self) -> list[bytes]:
        return [t.approver for t in self.tasks if t.state == "rejected"]


def lookup_of(token: bytes) -> bytes:
    return hashlib.sha256(token).digest()


class Requests:
    """The requests of one partition (``Partition.requests``)."""

    def __init__(self, part: Partition) -> None:
        self.part = part

    # -- store access -------------------------------------------------------------------------
    def _key(self) -> bytes:
        return self.part.token_key()

    def _store(self) -> Any:
        return self.part.lib.runtime.store

    def get(self, request_id: str) -> Request:
        record = self._store().record(self.part.slot_id, self._key(), KIND, id=request_id)
        if record is None:
            raise errors.RequestNotFound()
        return Request.of(record)

    def all(self, statuses: Iterable[str] | None = None) -> list[Request]:
        wanted = None if statuses is None else list(statuses)
        return [Request.of(r) for r in self._store().records(self.part.slot_id, self._key(), KIND, wanted)]

    def _change(self, request_id: str, change: Callable[[Request], Request | None]) -> Request:
        def apply(record: Record) -> Record | None:
            new = change(Request.of(record))
            return None if new is None else new.record()

        after = self._store().change_record(self.part.slot_id, self._key(), KIND, request_id, apply)
        if after is None:
            raise errors.RequestNotFound()
        return Request.of(after)

    # -- making a request -----------------------------------------------------------------------
    def create(
        self, kind: str, op: int, key_name: str, payload: bytes, call: dict[str, Any], password: bytes | None
    ) -> Request:
        """A new request for ``op`` on the key ``key_name`` over ``payload``, after the checks
        that can be made now (the key exists, its password, a policy where one is needed, not
        blocked). Its tasks name every approver of the rule that governs ``op``."""
        attrs = self.part.key_attrs(key_name, password, op)
        found = approvals.key_policy(attrs)
        if found is None:
            if op in (Op.BLOCK, Op.UNBLOCK, Op.MODIFY):
                raise errors.NoPolicy()
            rule = policy.Rule()
        else:
            key_policy, blocked = found
            if blocked and op != Op.UNBLOCK:
                raise errors.KeyBlocked()
            rule = key_policy.rule(approvals.RULE_OF[Op(op)])
        now = clock.now()
        tasks, seen = [], set()
        for alternative in rule.tokens:
            for group in alternative.groups:
                for a in group.approvers:
                    if a.spki not in seen:
                        seen.add(a.spki)
                        tasks.append(Task(str(uuid.uuid4()), a.spki, a.kind, a.value, a.name, now, now))
        kind_code = approvals.payload_kind(op)
        for offset in range(16):  # one token per request: two alike in one second get the next
            token = timestamps.stamp(self.part, op, key_name, kind_code, payload, now + offset)
            request = Request(
                str(uuid.uuid4()), "PENDING", now, kind, op, key_name, token, payload, call, tasks
            )
            try:
                self._store().add_record(self.part.slot_id, self._key(), _with_lookup(request))
            except RecordExists:
                continue
            log.info("SKA request %s (%s) on a key: %d approval tasks", request.id, kind, len(tasks))
            return request
        raise errors.DeviceError()

    # -- approvers' side -------------------------------------------------------------------------
    def _find_task(self, task_id: str) -> tuple[Request, Task]:
        for request in self.all(OPEN):
            for task in request.tasks:
                if task.id == task_id and task.state == "open":
                    return request, task
        raise errors.TaskNotFound()

    def tasks(
        self,
        approver: bytes | None,
        kinds: frozenset[str] | None = None,
        *,
        task_id: str | None = None,
        request_id: str | None = None,
    ) -> list[tuple[Request, Task]]:
        """The open tasks of ``approver`` (None: every approver's) on open requests."""
        out = []
        for request in self.all(OPEN):
            if kinds is not None and request.kind not in kinds:
                continue
            if request_id is not None and task_id is None and request.id != request_id:
                continue
            for task in request.tasks:
                if task.state != "open" or (approver is not None and task.approver != approver):
                    continue
                if task_id is not None and task.id != task_id:
                    continue
                out.append((request, task))
        return out

    def fetched(self, pairs: Iterable[tuple[Request, Task]]) -> None:
        """Note when tasks were last handed out (sort order LAST_FETCHED_DATE)."""
        now = clock.now()
        by_request: dict[str, set[str]] = {}
        for request, task in pairs:
            by_request.setdefault(request.id, set()).add(task.id)
        for request_id, ids in by_request.items():

            def touch(r: Request, ids: set[str] = ids) -> Request:
                for t in r.tasks:
                    if t.id in ids:
                        t.fetched = now
                return r

            self._change(request_id, touch)

    def approve(self, task_id: str, token: bytes, approval: Approval) -> Request:
        """Record ``approval`` for the task; ApprovalInvalid unless it is the task's approver's
        valid signature over the request's token. The request's new status (never run here)."""
        request, task = self._find_task(task_id)
        if token != request.token:
            raise errors.ApprovalInvalid()  # an approval of another request, or a changed token
        if approval.public_key is None and approval.certificate is None:
            approval = Approval(
                approval.signature,
                approval.digest,
                task.value if task.kind == policy.PUBLIC_KEY else None,
                task.value if task.kind != policy.PUBLIC_KEY else None,
            )
        if approvals.verify_approval(token, approval) != task.approver:
            raise errors.ApprovalInvalid()  # signed by someone else than the task's approver
        rule = self._rule(request)  # outside the store's transaction: it reads the key

        def record(r: Request) -> Request:
            if r.status not in OPEN:
                raise errors.RequestFinished()
            for t in r.tasks:
                if t.id == task_id:
                    if t.state != "open":
                        raise errors.TaskNotFound()
                    t.state, t.signature, t.digest = "approved", approval.signature, approval.digest
            r.status = _status(rule, r, clock.now())
            return r

        return self._change(request.id, record)

    def reject(self, task_id: str, approver: bytes | None) -> Request:
        """The approver declines (deletes its task): ``rejectedBy``; REJECTED once no quorum can
        be reached without it."""
        request, task = self._find_task(task_id)
        if approver is not None and task.approver != approver:
            raise errors.TaskNotFound()
        rule = self._rule(request)

        def record(r: Request) -> Request:
            for t in r.tasks:
                if t.id == task_id and t.state == "open":
                    t.state = "rejected"
            if r.status in OPEN:
                r.status = _status(rule, r, clock.now())
            return r

        return self._change(request.id, record)

    # -- state --------------------------------------------------------------------------------------
    def _rule(self, request: Request) -> policy.Rule | None:
        try:
            attrs = self.part.key_attrs(request.key, None, request.op, check_password=False)
        except errors.KeyNotFound:
            return None
        found = approvals.key_policy(attrs)
        if found is None:
            return policy.Rule()
        return found[0].rule(approvals.RULE_OF[Op(request.op)])

    def runnable(self, request: Request, now: int | None = None) -> bool:
        rule = self._rule(request)
        if rule is None or request.status not in OPEN:
            return False
        when = clock.now() if now is None else now
        return policy.satisfied(rule, request.approved_by(), request.created, when)

    def claim(self, token: bytes, op: int, key_name: str, payload: bytes) -> str:
        """Move the request of ``token`` to EXECUTING (one caller wins); its id. ApprovalInvalid if
        no request of this partition has that token, or it is for another operation, key or
        payload; RequestFinished if it ran or ended."""
        record = self._store().record(self.part.slot_id, self._key(), KIND, lookup=lookup_of(token))
        if record is None:
            raise errors.ApprovalInvalid()

        def take(r: Request) -> Request:
            if r.token != token or (r.op, r.key, r.payload) != (op, key_name, payload):
                raise errors.ApprovalInvalid()
            if r.status not in OPEN:
                raise errors.RequestFinished()
            r.status, r.executed = "EXECUTING", clock.now()
            return r

        return self._change(record.id, take).id

    def finish(self, request_id: str, error: BaseException | None) -> None:
        def done(r: Request) -> Request | None:
            if r.status != "EXECUTING":
                return None
            r.status = "EXECUTED" if error is None else "FAILED"
            r.executed = clock.now()
            r.error = None if error is None else type(error).__name__
            return r

        self._change(request_id, done)

    def set_result(self, request_id: str, result: str | None) -> Request:
        def keep(r: Request) -> Request | None:
            if r.status != "EXECUTED" or r.result is not None:
                return None
            r.result = result
            return r

        return self._change(request_id, keep)

    def fail(self, request_id: str, error: BaseException) -> Request:
        """An open request that cannot run any more (its key is gone, its approvals no longer
        verify): FAILED."""

        def end(r: Request) -> Request | None:
            if r.status not in (*OPEN, "EXECUTING"):
                return None
            r.status, r.error, r.executed = "FAILED", type(error).__name__, clock.now()
            return r

        return self._change(request_id, end)

    def cancel(self, request_id: str) -> Request:
        def end(r: Request) -> Request | None:
            if r.status == "CANCELLED":
                return None
            if r.status not in OPEN:
                raise errors.RequestFinished()
            r.status = "CANCELLED"
            return r

        return self._change(request_id, end)

    def cancel_for_key(self, key_name: str) -> None:
        """A deleted key's open requests are CANCELLED (TSB release notes 1.12.0)."""
        for request in self.all(OPEN):
            if request.key == key_name:
                try:
                    self.cancel(request.id)
                except errors.RequestFinished:
                    continue

    def refresh(self, request_id: str) -> Request:
        """The request with its status brought up to the clock (EXPIRED, APPROVED...)."""
        request = self.get(request_id)
        if request.status not in OPEN:
            return request
        rule = self._rule(request)

        def update(r: Request) -> Request | None:
            if r.status not in OPEN:
                return None
            new = _status(rule, r, clock.now())
            if new == r.status:
                return None
            r.status = new
            return r

        return self._change(request_id, update)

    # -- running ------------------------------------------------------------------------------------
    def authorized(
        self,
        op: int,
        key_name: str,
        payload: bytes,
        presented: Presented | None,
        run: Callable[[Authorization | None], T],
    ) -> T:
        """Run an operation on a key with what the caller presented: the key gate (inside
        ``run``) decides; a token's request is claimed first (it runs once) and marked EXECUTED
        or FAILED after. Approvals that do not verify leave the request as it was."""
        if presented is None:
            return run(None)
        authorization = Authorization(op, payload, presented.token, presented.approvals)
        if presented.token is None:
            return run(authorization)
        approvals.bound_token(presented.token, op, key_name, payload)  # even where no rule asks for it
        self.part.check_policy(key_name, authorization)  # the gate's own check, before the claim
        request_id = self.claim(presented.token, op, key_name, payload)
        try:
            result = run(authorization)
        except BaseException as exc:
            self.finish(request_id, exc)
            raise
        self.finish(request_id, None)
        return result

    def execute(self, request: Request, run: Callable[[Request], str | None]) -> Request:
        """Run ``request`` through ``run`` (the front end replays its call with
        ``request.presented()``); keep its result. A request that cannot run any more FAILS; one
        whose time has not come (or has gone) stays, or expires."""
        try:
            result = run(request)
        except errors.ApprovalRequired:
            return self.refresh(request.id)
        except errors.RequestFinished:
            return self.get(request.id)
        except errors.PKCS11Error as exc:
            log.info("SKA request %s failed: %s", request.id, type(exc).__name__)
            return self.fail(request.id, exc)
        return self.set_result(request.id, result)

    # -- the scheduler's round ----------------------------------------------------------------------
    def tick(self, run: Callable[[Request], str | None], retention: int) -> None:
        """Run what is due (``run`` executes one request through the front end that made it),
        expire and reject what can no longer run, fail claims whose process died, and purge
        requests finished more than ``retention`` seconds ago."""
        now = clock.now()
        for request in self.all((*OPEN, "EXECUTING")):
            try:
                if request.status == "EXECUTING":
                    if (request.executed or 0) + STALE_CLAIM_SECONDS < now:
                        self.fail(request.id, errors.DeviceError())
                    continue
                if self.runnable(request, now):
                    self.execute(request, run)
                else:
                    self.refresh(request.id)
            except errors.PKCS11Error as exc:
                log.warning("SKA request %s: %s", request.id, type(exc).__name__)
        self._store().purge_records(self.part.slot_id, KIND, list(FINISHED), now - retention)


def _status(rule: policy.Rule | None, request: Request, now: int) -> str:
    """PENDING, APPROVED, EXPIRED, REJECTED, or FAILED when the key is gone ("SATISFIED" counts as
    APPROVED: running it is the gate's business). Approvals count as verified when they came in.
    Runs inside the store's transaction: it must not read the store."""
    if rule is None:
        return "FAILED"
    approved = [t.approver for t in request.tasks if t.state == "approved"]
    rejected = [t.approver for t in request.tasks if t.state == "rejected"]
    state = policy.status(rule, approved, rejected, request.created, now)
    return "APPROVED" if state == "SATISFIED" else state


def _with_lookup(request: Request) -> Record:
    record = request.record()
    record.lookup = lookup_of(request.token)
    return record


__all__ = ["FINISHED", "KIND", "OPEN", "Request", "Requests", "Task", "lookup_of"]
