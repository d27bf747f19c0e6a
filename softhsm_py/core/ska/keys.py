"""The Smart Key Attributes side of a partition (``core.partition.Partition`` inherits it): its
requests and onboarded approvers, policies given as the TSB's JSON, and the block, unblock and
modify paths, which change a key's status and policy only under the key gate's own check
(``approvals.check``) with ``ruleBlock``/``ruleUnblock``/``ruleModify``'s approvals."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any, cast

from softhsm_py import errors
from softhsm_py.constants import VendorAttribute as V
from softhsm_py.core.objects import lifecycle as objects
from softhsm_py.core.runtime import Library
from softhsm_py.core.session import OpKind
from softhsm_py.core.ska import approvals as ska
from softhsm_py.core.ska import policy as ska_policy
from softhsm_py.core.ska.approvals import Authorization, Presented
from softhsm_py.core.ska.approvers import Approvers
from softhsm_py.core.ska.requests import Requests
from softhsm_py.core.ska.tlv import Op
from softhsm_py.core.tokens import session_of
from softhsm_py.engine import signatures

if TYPE_CHECKING:
    from softhsm_py.core.partition import Partition

Attrs = dict[int, Any]


class SmartKeys:
    """What ``Partition`` adds for Smart Key Attributes; it provides the rest."""

    lib: Library
    handle: int
    slot_id: int

    def _object_for(self, name: str, kind: OpKind) -> int:
        raise NotImplementedError

    def _check_password(self, handle: int, attrs: Attrs, password: bytes | None) -> None:
        raise NotImplementedError

    @cached_property
    def requests(self) -> Requests:
        return Requests(cast("Partition", self))

    @cached_property
    def approvers(self) -> Approvers:
        return Approvers(cast("Partition", self))

    def token_key(self) -> bytes:
        """The token key of this partition's login (what seals its records)."""
        with self.lib.lock:
            _, session = session_of(self.lib, self.handle)
            key = session.token.token_key
        if key is None:
            raise errors.UserNotLoggedIn()
        return key

    def _resolve(self, kind: str, name: str | None, value: bytes | None) -> tuple[bytes, str | None, bytes]:
        if kind == ska_policy.ONBOARDED:
            certificate = self.approvers.certificate(name or "")
            if value is not None and value != certificate:
                raise errors.PolicyInvalid("an onboarded approver's value must be its certificate or absent")
            return signatures.certificate_key(certificate)[0], name, certificate
        return ska.resolve_key(kind, name, value)

    def parse_policy(self, data: Mapping[str, Any]) -> tuple[ska_policy.Policy, bool]:
        """(policy, blocked) of a ``PolicyDto`` given as plain JSON values; onboarded approvers
        are looked up now and their certificates kept in the policy."""
        return ska_policy.parse(data, self._resolve)

    def _policy_attrs(self, data: Mapping[str, Any] | None) -> Attrs:
        if data is None:
            return {}
        parsed, blocked = self.parse_policy(data)
        return {V.SKA_POLICY: ska_policy.encode(parsed), V.SKA_BLOCKED: blocked}

    def key_attrs(self, name: str, password: bytes | None, op: int, *, check_password: bool = True) -> Attrs:
        """The attributes of the object ``op`` uses (the private or secret key)."""
        handle = self._object_for(name, OpKind.SIGN)
        with self.lib.lock:
            rt, session = session_of(self.lib, self.handle)
            attrs = dict(objects.attrs_of(rt, session, rt.handles.get(handle)))
        if check_password:
            self._check_password(handle, attrs, password)
        return attrs

    def check_policy(self, name: str, authorization: Authorization) -> None:
        """The key gate's policy check of ``authorization`` on the key ``name``, alone."""
        handle = self._object_for(name, OpKind.SIGN)
        with self.lib.lock:
            rt, session = session_of(self.lib, self.handle)
            attrs = objects.attrs_of(rt, session, rt.handles.get(handle))
            ska.check(attrs, authorization.op, authorization, ska.timestamp_key(rt, session))

    def _manage(
        self,
        name: str,
        password: bytes | None,
        op: Op,
        payload: bytes,
        approvals: Presented | None,
        changes: Callable[[Attrs], Attrs],
    ) -> None:
        handle = self._object_for(name, OpKind.SIGN)
        attrs = self.key_attrs(name, password, op)
        if V.SKA_POLICY not in attrs:
            raise errors.NoPolicy()

        def run(authorization: Authorization | None) -> None:
            with self.lib.lock:
                rt, session = session_of(self.lib, self.handle)
                ref = rt.handles.get(handle)
                current = objects.attrs_of(rt, session, ref)
                ska.check(current, op, authorization, ska.timestamp_key(rt, session))
                objects.rewrite(rt, session, ref, changes(current))

        self.requests.authorized(op, name, payload, approvals, run)

    def block(self, name: str, password: bytes | None = None, *, approvals: Presented | None = None) -> None:
        """keyStatus.blocked: every use but unblocking refused (needs ``ruleBlock``'s approvals)."""
        self._manage(name, password, Op.BLOCK, b"", approvals, lambda attrs: {V.SKA_BLOCKED: True})

    def unblock(
        self, name: str, password: bytes | None = None, *, approvals: Presented | None = None
    ) -> None:
        self._manage(name, password, Op.UNBLOCK, b"", approvals, lambda attrs: {V.SKA_BLOCKED: False})

    def modify_payload(self, data: Mapping[str, Any]) -> bytes:
        """What approvers of a policy change sign: the new policy's canonical encoding."""
        return ska_policy.encode(self.parse_policy(data)[0])

    def modify(
        self,
        name: str,
        new_policy: Mapping[str, Any],
        password: bytes | None = None,
        *,
        approvals: Presented | None = None,
    ) -> None:
        """A new policy (``ModifyPolicyDto``: the rules; the key's status stays) under
        ``ruleModify``'s approvals."""
        encoded = self.modify_payload(new_policy)
        self._manage(name, password, Op.MODIFY, encoded, approvals, lambda attrs: {V.SKA_POLICY: encoded})
