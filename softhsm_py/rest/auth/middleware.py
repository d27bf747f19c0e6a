"""The ASGI middleware that runs the gate on every request before routing, body parsing or any
route code: path -> roles (``roles.ROUTE_ROLES``), credentials -> caller (``gate.Gate``), roles
-> allowed or refused. The caller goes into the request's state, where ``binding.bound_partition``
finds it; the route code never sees credentials.

It also keeps the two records authentication owes: refused attempts count against the client
address (``ratelimit``) and are logged (reason, address, route: no credential), and the audit
log gets one line per refusal and per request that reached a partition.
"""

from __future__ import annotations

import json
import logging
import ssl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from softhsm_py.rest.auth.audit import CURRENT, AuditLog, AuditRecord
from softhsm_py.rest.auth.gate import AuthRefused, Caller, Credentials, Gate
from softhsm_py.rest.auth.ratelimit import FailureLimiter
from softhsm_py.rest.auth.roles import Role, route_roles
from softhsm_py.rest.errors import BusinessReason, TsbError

log = logging.getLogger("softhsm_py.rest")

#: where the caller is kept in the request's state (``request.state``)
CALLER_STATE = "softhsm_py_caller"
_ERROR_BODY_LIMIT = 4096


def caller_of(scope: Scope) -> Caller | None:
    caller = scope.get("state", {}).get(CALLER_STATE)
    return caller if isinstance(caller, Caller) else None


def credentials(scope: Scope) -> Credentials:
    api_keys: list[str] = []
    authorizations: list[str] = []
    for name, value in scope.get("headers", ()):
        lowered = name.lower()
        if lowered == b"x-api-key":
            api_keys.append(value.decode("latin-1"))
        elif lowered == b"authorization":
            authorizations.append(value.decode("latin-1"))
    cert = None
    chain = scope.get("extensions", {}).get("tls", {}).get("client_cert_chain") or []
    if chain:
        cert = ssl.PEM_cert_to_DER_cert(chain[0])
    return Credentials(
        api_key=api_keys[0] if api_keys else None,
        authorization=authorizations[0] if authorizations else None,
        client_cert=cert,
        duplicate_headers=len(api_keys) > 1 or len(authorizations) > 1,
    )


class Authenticate:
    def __init__(self, app: ASGIApp, *, gate: Gate, audit: AuditLog, limiter: FailureLimiter) -> None:
        self.app, self.gate, self.audit, self.limiter = app, gate, audit, limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        row = route_roles(path)
        if row is not None and not row[1]:  # public: the API description
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        address = str(client[0]) if client else "-"
        record = AuditRecord(f"{client[0]}:{client[1]}" if client else None, scope["method"], path)
        try:
            caller = self._admit(scope, row, address, record)
        except AuthRefused as exc:
            record.who.update(exc.who)
            self._refused(record, address, exc)
            raise
        scope.setdefault("state", {})[CALLER_STATE] = caller
        await self._run(scope, receive, send, record)

    def _admit(
        self, scope: Scope, row: tuple[str, frozenset[Role]] | None, address: str, record: AuditRecord
    ) -> Caller:
        if not self.gate.anonymous:
            wait = self.limiter.retry_after(address)
            if wait is not None:
                raise AuthRefused(
                    BusinessReason.SECURITY_NOT_ALLOWED,
                    "Too many failed authentications from this address; try again later",
                    429,
                    "rate limited",
                    headers={"Retry-After": str(wait)},
                )
        caller = self.gate.authenticate(credentials(scope))
        record.who.update(caller.who)
        record.partition = caller.partition
        if row is None:  # no role opens it: no such route, or one the table misses (fail closed)
            raise TsbError(BusinessReason.OPERATION_UNREACHABLE, "No such route", 404)
        pattern, allowed = row
        self.gate.authorize(caller, pattern, allowed)
        return caller

    def _refused(self, record: AuditRecord, address: str, exc: AuthRefused) -> None:
        if exc.status == 401:
            self.limiter.failed(address)
        route = f"{record.method} {record.path[:200]}"
        log.warning("authentication refused (%s): %s from %s", exc.detail, route, address)
        self.audit.write(record.entry("refused", exc.status, exc.reason.code, exc.detail))

    async def _run(self, scope: Scope, receive: Receive, send: Send, record: AuditRecord) -> None:
        status = 500
        error_body = bytearray()
        written = False

        def write() -> None:
            nonlocal written
            if not written and (record.reached or record.keys):
                self.audit.write(record.entry("request", status, _error_code(status, error_body)))
            written = True

        async def watched_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body":
                if status >= 400:
                    room = _ERROR_BODY_LIMIT - len(error_body)
                    if room > 0:
                        error_body.extend(message.get("body", b"")[:room])
                if not message.get("more_body", False):
                    write()  # before the caller sees the end of the answer
            await send(message)

        token = CURRENT.set(record)
        try:
            await self.app(scope, receive, watched_send)
        finally:
            CURRENT.reset(token)
            write()  # no answer was sent: the outer net answers 500


def _error_code(status: int, body: bytes | bytearray) -> int | None:
    if status < 400:
        return None
    try:
        code = json.loads(body).get("errorCode")
    except (ValueError, AttributeError):
        return None
    return code if isinstance(code, int) else None
