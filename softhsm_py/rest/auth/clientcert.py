"""Mutual TLS: which partition and roles a client certificate opens.

The TLS layer has already verified the certificate against ``[rest.mtls] ca_bundle`` (a
certificate from another CA never completes the handshake: ``rest.tlsserver``). Here the verified
leaf maps to one ``[[rest.mtls.clients]]`` row, by its SHA-256 fingerprint (of the DER) or by its
subject (RFC 4514 text, as ``openssl x509 -noout -subject -nameopt RFC2253`` prints it). A
fingerprint row wins over a subject row. A certificate no row names opens nothing.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from softhsm_py.rest.auth.roles import Role

_HEX = re.compile(r"[0-9A-F]{64}")


def normalise_fingerprint(text: str) -> str:
    """``AB:CD:...`` or ``abcd...`` -> 64 upper-case hex digits; ValueError otherwise."""
    value = text.replace(":", "").strip().upper()
    if not _HEX.fullmatch(value):
        raise ValueError("a SHA-256 fingerprint is 64 hex digits (colons allowed)")
    return value


def show_fingerprint(hex_digits: str) -> str:
    return ":".join(hex_digits[i : i + 2] for i in range(0, len(hex_digits), 2))


def fingerprint(der: bytes) -> str:
    """The SHA-256 fingerprint of a DER certificate, as ``show_fingerprint`` writes it."""
    return show_fingerprint(hashlib.sha256(der).hexdigest().upper())


@dataclass(frozen=True)
class CertRule:
    """One ``[[rest.mtls.clients]]`` row: exactly one of ``fingerprint`` / ``subject``."""

    partition: str
    roles: frozenset[Role]
    fingerprint: str | None = None  # 64 upper-case hex digits
    subject: str | None = None


@dataclass(frozen=True)
class CertIdentity:
    fingerprint: str  # colon form
    rule: CertRule


class ClientCertificates:
    def __init__(self, rules: Sequence[CertRule]) -> None:
        self.by_fingerprint = {r.fingerprint: r for r in rules if r.fingerprint is not None}
        self.by_subject = {r.subject: r for r in rules if r.subject is not None}

    def identify(self, der: bytes) -> CertIdentity | None:
        digits = hashlib.sha256(der).hexdigest().upper()
        rule = self.by_fingerprint.get(digits)
        if rule is None and self.by_subject:
            from softhsm_py.engine.x509 import subject_text

            try:
                rule = self.by_subject.get(subject_text(der))
            except ValueError:
                rule = None
        if rule is None:
            return None
        return CertIdentity(show_fingerprint(digits), rule)
