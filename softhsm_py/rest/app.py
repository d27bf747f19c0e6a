"""The FastAPI application: routers per TSB tag, the one error handler, the authentication
middleware, the partitions opened for the worker's life. ``create_app()`` (no arguments) is the
factory uvicorn's workers call; it reads the settings ``softhsm-py serve`` left in the
environment."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from softhsm_py.core.partition import Partition
from softhsm_py.rest import errors, ska
from softhsm_py.rest.auth.audit import open_process_log
from softhsm_py.rest.auth.gate import Gate
from softhsm_py.rest.auth.middleware import Authenticate
from softhsm_py.rest.auth.ratelimit import FailureLimiter
from softhsm_py.rest.auth.settings import AuthSettings
from softhsm_py.rest.binding import Partitions
from softhsm_py.rest.config import RestSettings, from_environment
from softhsm_py.rest.routers import approvals, approver_management, docs, keys, operations, requests, service
from softhsm_py.rest.scheduler import Scheduler

TITLE = "softhsm-py: TSB-compatible REST API"
DESCRIPTION = (
    "The Securosys Transaction Security Broker (TSB) REST API, served by softhsm-py over the same "
    "partitions (PKCS#11 tokens) its PKCS#11 library serves. A key's name is its PKCS#11 label."
)
TAGS = [
    {"name": "Keys", "description": "Create, read, delete, import, export and attest keys"},
    {
        "name": "Synchronous Key Operations",
        "description": "Sign, verify, encrypt, decrypt, wrap, unwrap, HMAC",
    },
    {"name": "Certificate", "description": "Certificate requests, self-signed and signed certificates"},
    {
        "name": "Requests",
        "description": "Multi-authorization (Smart Key Attributes) requests and their status",
    },
    {"name": "Approval Tasks", "description": "Approvers fetch, approve and reject their tasks"},
    {"name": "Approver Management", "description": "Onboarded approvers: keys made here, handed out once"},
    {"name": "Service Information", "description": "Version, licence, key store statistics, log"},
]


def create_app(settings: RestSettings | None = None) -> FastAPI:
    settings = settings or from_environment()
    partitions = Partitions(settings)
    # --dev serves without authentication whatever the file says
    gate = Gate(AuthSettings() if settings.dev else settings.auth, settings.labels)
    audit = open_process_log(settings.audit_log)
    limiter = FailureLimiter(settings.auth.max_failures, settings.auth.failure_window)

    def tick(partition: Partition) -> None:
        retention = settings.ska_retention_days * 86400
        partition.requests.tick(lambda request: ska.run_request(partition, request), retention)

    scheduler = Scheduler(lambda: list(partitions.by_label.values()), tick, settings.ska_scheduler_interval)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        partitions.open_all()
        scheduler.start()
        try:
            yield
        finally:
            scheduler.stop()
            partitions.close_all()

    from softhsm_py.rest.routers.service import TSB_API_VERSION

    app = FastAPI(
        title=TITLE,
        description=DESCRIPTION,
        version=TSB_API_VERSION,
        openapi_tags=TAGS,
        openapi_url=None,  # served at /v3/api-docs by routers.docs, as springdoc does
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.partitions = partitions
    app.state.settings = settings
    # authentication runs inside errors' outermost net (added last, so outermost), which turns
    # its refusals into TSB error bodies
    app.add_middleware(Authenticate, gate=gate, audit=audit, limiter=limiter)
    errors.install(app)
    app.include_router(keys.router)
    app.include_router(operations.router)
    app.include_router(service.random_router)
    from softhsm_py.rest.routers import certificates

    app.include_router(certificates.router)
    app.include_router(requests.router)
    app.include_router(approvals.router)
    app.include_router(approver_management.router)
    app.include_router(service.router)
    app.include_router(docs.router)
    if not settings.dev:
        _document_security(app, settings.auth.methods)
    return app


#: the OpenAPI security scheme of each method, so that Swagger UI's "Authorize" can send them
SECURITY_SCHEMES: dict[str, tuple[str, dict[str, Any]]] = {
    "api_keys": (
        "apiKey",
        {"type": "apiKey", "in": "header", "name": "X-API-KEY", "description": "The key of the route's role"},
    ),
    "jwt": ("bearerToken", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}),
    "mtls": ("clientCertificate", {"type": "mutualTLS"}),
}


def _document_security(app: FastAPI, methods: tuple[str, ...]) -> None:
    schemes = dict(SECURITY_SCHEMES[m] for m in methods)
    if not schemes:
        return
    build = app.openapi

    def openapi() -> dict[str, Any]:
        document = build()
        document.setdefault("components", {})["securitySchemes"] = schemes
        document["security"] = [{name: [] for name in schemes}]  # one requirement: all of them
        return document

    app.openapi = openapi  # type: ignore[method-assign]
