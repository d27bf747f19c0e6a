"""Mutual TLS inside uvicorn: the client certificate reaches the app, and refused handshakes
reach the audit log.

uvicorn verifies client certificates (``ssl_cert_reqs`` / ``ssl_ca_certs``) but does not pass
them on. ``ClientCertProtocol`` (uvicorn's h11 protocol) puts the verified leaf into each
request's scope as the ASGI TLS extension (``scope["extensions"]["tls"]["client_cert_chain"]``,
PEM), where ``rest.auth.middleware`` reads it.

A certificate from another CA (or none, with ``client_auth = "need"``) fails the handshake, as on
the TSB (Spring's ``client-auth: need``): no request exists and asyncio drops the error silently.
``context_factory`` gives uvicorn's SSL context an ``SSLObject`` class that writes such a refusal
to the audit log and the service log first.
"""

from __future__ import annotations

import asyncio
import asyncio.sslproto
import logging
import ssl
import sys
from collections.abc import Callable
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol

from softhsm_py.rest.auth.audit import AuditRecord, open_process_log, process_log

log = logging.getLogger("softhsm_py.rest")

#: uvicorn's ``http`` setting: an import string, so that spawned workers find it
PROTOCOL = "softhsm_py.rest.tlsserver:ClientCertProtocol"


class _WithTls:
    """The app, with this connection's TLS facts added to every HTTP scope."""

    def __init__(self, app: Any, tls: dict[str, Any]) -> None:
        self.app, self.tls = app, tls

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope.get("type") == "http":
            scope = {**scope, "extensions": {**(scope.get("extensions") or {}), "tls": self.tls}}
        await self.app(scope, receive, send)


class ClientCertProtocol(H11Protocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is None:
            return
        der = ssl_object.getpeercert(binary_form=True)
        tls = {
            "server_cert": None,
            "client_cert_chain": [ssl.DER_cert_to_PEM_cert(der)] if der else [],
            "client_cert_name": None,
            "client_cert_error": None,
            "tls_version": None,
            "cipher_suite": None,
        }
        self.app = _WithTls(self.app, tls)


def _peer() -> str | None:
    """The address of the connection whose handshake is running, best effort.

    asyncio offers no hook between a failed handshake and the connection it belongs to, and an
    ``SSLObject`` knows no socket; the caller's frame is ``asyncio.sslproto.SSLProtocol``, whose
    transport does. Anything unexpected gives None (the line is written without an address).
    """
    try:
        frame = sys._getframe(2)
        for _ in range(4):
            if frame is None:
                return None
            owner = frame.f_locals.get("self")
            if isinstance(owner, asyncio.sslproto.SSLProtocol):
                peer = owner._get_extra_info("peername")
                if isinstance(peer, tuple) and len(peer) >= 2:
                    return f"{peer[0]}:{peer[1]}"
                return None
            frame = frame.f_back  # type: ignore[assignment]
    except Exception:
        return None
    return None


def _refused(reason: str) -> None:
    client = _peer()
    log.warning("TLS handshake refused (%s) from %s", reason, client or "-")
    record = AuditRecord(client, "TLS", "handshake", who={"method": "mtls"})
    process_log().write(record.entry("tls_refused", 0, None, f"mtls: {reason}"))


class AuditedSSLObject(ssl.SSLObject):
    def do_handshake(self) -> None:
        try:
            super().do_handshake()
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            raise  # more bytes to come: not a failure
        except ssl.SSLCertVerificationError as exc:
            _refused(f"certificate not verified: {exc.verify_message}")
            raise
        except ssl.SSLError as exc:
            if exc.reason == "PEER_DID_NOT_RETURN_A_CERTIFICATE":
                _refused("no client certificate")
            raise


def context_factory(config: Config, default: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
    """uvicorn's ``ssl_context_factory``: its context, TLS 1.2 at least, refusals audited."""
    from softhsm_py.rest.config import from_environment

    context = default()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.sslobject_class = AuditedSSLObject
    open_process_log(from_environment().audit_log)
    return context
