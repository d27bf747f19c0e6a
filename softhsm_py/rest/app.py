"""The FastAPI application: routers per TSB tag, the one error handler, the partitions opened for
the worker's life. ``create_app()`` (no arguments) is the factory uvicorn's workers call; it reads
the settings ``softhsm-py serve`` left in the environment."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from softhsm_py.core.partition import Partition
from softhsm_py.rest import errors, ska
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
    return app
