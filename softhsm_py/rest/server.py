"""Run the service: check the settings, open each partition once (a wrong PIN or a missing token
stops here, before any worker starts), settle TLS, then hand over to uvicorn with N workers on
one socket. The workers rebuild the app from ``SETTINGS_ENV``."""

from __future__ import annotations

import os
import sys
from ssl import CERT_OPTIONAL, CERT_REQUIRED
from typing import Any

from softhsm_py.config import ConfigError
from softhsm_py.rest.config import SETTINGS_ENV, RestSettings, check

AUTH_NAMES = {"api_keys": "API keys", "jwt": "JWT bearer tokens", "mtls": "mutual TLS"}


def probe_partitions(settings: RestSettings) -> None:
    from softhsm_py import errors
    from softhsm_py.rest.binding import Partitions

    partitions = Partitions(settings)
    try:
        partitions.open_all()
    except errors.PKCS11Error as exc:
        raise ConfigError(f"cannot open the partitions to serve: CKR_{exc.rv.name}") from None
    finally:
        partitions.close_all()


def serve(settings: RestSettings, *, log_level: str = "warning", access_log: bool = False) -> None:
    import uvicorn

    from softhsm_py.rest import tls

    check(settings)
    probe_partitions(settings)
    ssl: dict[str, str] = {}
    if not settings.plain_http:
        cert, key, made = tls.ensure(
            settings.tls_certificate, settings.tls_key, settings.tls_dir, settings.host
        )
        if made:
            print(f"softhsm-py serve: made a self-signed TLS certificate: {cert}", flush=True)
        print(f"softhsm-py serve: TLS certificate SHA-256 fingerprint {tls.fingerprint(cert.read_bytes())}",
              flush=True)  # fmt: skip
        ssl = {"ssl_certfile": str(cert), "ssl_keyfile": str(key)}
    options: dict[str, Any] = {}
    mtls = settings.auth.mtls
    if mtls is not None and not settings.dev:
        from softhsm_py.rest import tlsserver

        options = {
            "ssl_cert_reqs": CERT_REQUIRED if mtls.client_auth == "need" else CERT_OPTIONAL,
            "ssl_ca_certs": mtls.ca_bundle,
            "ssl_context_factory": tlsserver.context_factory,
            "http": tlsserver.PROTOCOL,
            "loop": "asyncio",  # tlsserver hooks asyncio's TLS, not uvloop's
        }
    if settings.dev:
        print("softhsm-py serve: DEVELOPMENT MODE: plain HTTP, no authentication, loopback only", flush=True)
    elif settings.auth.methods:
        methods = ", ".join(AUTH_NAMES[m] for m in settings.auth.methods)
        print(f"softhsm-py serve: authentication: {methods}; audit log {settings.audit_log}", flush=True)
    else:
        print(
            f"softhsm-py serve: NO AUTHENTICATION: every local caller acts on partition "
            f"{settings.labels[0]} (loopback only; configure [rest.api_keys], [rest.jwt] or [rest.mtls])",
            flush=True,
        )
    labels = ", ".join(p.label for p in settings.partitions)
    print(f"softhsm-py serve: {settings.url} (partition {labels}; {settings.workers} worker(s))", flush=True)
    os.environ[SETTINGS_ENV] = settings.to_json()
    uvicorn.run(
        "softhsm_py.rest.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=log_level,
        access_log=access_log,
        server_header=False,
        proxy_headers=False,
        **ssl,  # type: ignore[arg-type]
        **options,
    )
    sys.stdout.flush()
