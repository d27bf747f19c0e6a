"""Onboarded approvers (TSB.md 3.7): approver key pairs made inside the partition and handed to
their approvers once, so that a policy can name an approver by name
(``{"type": "onboarded_approver_certificate", "name": ...}``).

``create`` makes an RSA key and a self-signed certificate (CN = the approver's name), keeps them
as a PKCS#12 under the approver's backup password, and answers a one-time code. ``onboard``
trades the code for the PKCS#12, encrypted with AES-GCM under the approver's transport password
(16, 24 or 32 bytes, used as the key, as the TSB does); the approver is then ONBOARDED and policies
may name it. ``restore`` (backup password known) and ``restore_forgotten`` (a new backup password:
the key itself is kept, sealed) make it pending again with a new code.

Each approver is one record (kind "approver") found by a MAC of its name; everything else, the
private key included, is sealed under the token key (``store/sealed.py``). A one-time code is kept
as a hash only, and works once, for ``CODE_LIFETIME`` seconds.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from softhsm_py import errors
from softhsm_py.core.ska import clock
from softhsm_py.engine import signatures
from softhsm_py.log import get_logger
from softhsm_py.store.base import Record, RecordExists

if TYPE_CHECKING:
    from softhsm_py.core.partition import Partition

log = get_logger("ska")

KIND = "approver"
CODE_LIFETIME = 72 * 3600
_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: codes are read and typed
MAX_NAME = 255


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _digest(code: str) -> str:
    return hashlib.sha256(code.encode("utf-8")).hexdigest()


def new_code() -> str:
    return "".join(secrets.choice(_CODE_ALPHABET) for _ in range(20))  # 100 bits


@dataclass
class Approver:
    id: str
    name: str
    status: str  # PENDING (a code is out) or ONBOARDED
    created: int
    certificate: bytes
    pkcs8: bytes  # the private key, sealed with the record
    pkcs12: bytes  # under the backup password
    code_digest: str | None
    code_expires: int

    def record(self) -> Record:
        body = json.dumps(
            {
                "name": self.name,
                "certificate": _b64(self.certificate),
                "pkcs8": _b64(self.pkcs8),
                "pkcs12": _b64(self.pkcs12),
                "code": self.code_digest,
                "code_expires": self.code_expires,
            }
        ).encode()
        return Record(KIND, self.id, self.name.encode("utf-8"), self.status, self.created, body)

    @classmethod
    def of(cls, record: Record) -> Approver:
        d = json.loads(record.body)
        return cls(
            record.id,
            d["name"],
            record.status,
            record.created,
            base64.b64decode(d["certificate"]),
            base64.b64decode(d["pkcs8"]),
            base64.b64decode(d["pkcs12"]),
            d.get("code"),
            int(d.get("code_expires", 0)),
        )


def _check_name(name: str) -> None:
    if not name or len(name.encode("utf-8")) > MAX_NAME:
        raise errors.ArgumentsBad()


class Approvers:
    """The onboarded approvers of one partition (``Partition.approvers``)."""

    def __init__(self, part: Partition) -> None:
        self.part = part

    def _store(self) -> Any:
        return self.part.lib.runtime.store

    def _find(self, name: str) -> Approver:
        _check_name(name)
        record = self._store().record(
            self.part.slot_id, self.part.token_key(), KIND, lookup=name.encode("utf-8")
        )
        if record is None:
            raise errors.ApproverNotFound()
        return Approver.of(record)

    def _save(self, approver: Approver) -> None:
        def replace(_: Record) -> Record:
            return approver.record()

        self._store().change_record(self.part.slot_id, self.part.token_key(), KIND, approver.id, replace)

    def _new_code(self, approver: Approver) -> str:
        code = new_code()
        approver.status, approver.code_digest = "PENDING", _digest(code)
        approver.code_expires = clock.now() + CODE_LIFETIME
        return code

    def create(self, name: str, key_size: int, backup_password: bytes, days: int) -> str:
        """A new approver key pair; the one-time code for its onboarding."""
        _check_name(name)
        if not backup_password or not 1 <= days <= 36500:
            raise errors.ArgumentsBad()
        pkcs8, certificate = signatures.new_onboarded_approver(name, key_size, days)
        pkcs12 = signatures.pkcs12_of(name, pkcs8, certificate, backup_password)
        approver = Approver(
            str(uuid.uuid4()), name, "PENDING", clock.now(), certificate, pkcs8, pkcs12, None, 0
        )
        code = self._new_code(approver)
        try:
            self._store().add_record(self.part.slot_id, self.part.token_key(), approver.record())
        except RecordExists:
            raise errors.ApproverExists() from None
        log.info("approver created (pending onboarding)")
        return code

    def onboard(self, name: str, code: str, transport_password: bytes) -> tuple[bytes, bytes]:
        """(IV, AES-GCM ciphertext || tag) of the approver's PKCS#12, for its one-time code."""
        if len(transport_password) not in (16, 24, 32):
            raise errors.ArgumentsBad()
        approver = self._find(name)
        good = approver.status == "PENDING" and approver.code_digest is not None
        if not good or not hmac.compare_digest(_digest(code), approver.code_digest or ""):
            raise errors.OneTimeCodeInvalid()
        if approver.code_expires < clock.now():
            raise errors.OneTimeCodeInvalid()
        approver.status, approver.code_digest = "ONBOARDED", None
        self._save(approver)
        log.info("approver onboarded")
        return signatures.gcm_transport(transport_password, approver.pkcs12)

    def renew_code(self, name: str) -> str:
        approver = self._find(name)
        if approver.status != "PENDING":
            raise errors.ApproverExists()  # onboarded already: restore it to hand it out again
        code = self._new_code(approver)
        self._save(approver)
        return code

    def restore(self, name: str, new_backup_password: bytes | None = None) -> str:
        """Hand the approver's key out again: a new one-time code, and with
        ``new_backup_password`` a PKCS#12 under that password."""
        approver = self._find(name)
        if new_backup_password is not None:
            if not new_backup_password:
                raise errors.ArgumentsBad()
            approver.pkcs12 = signatures.pkcs12_of(
                name, approver.pkcs8, approver.certificate, new_backup_password
            )
        code = self._new_code(approver)
        self._save(approver)
        return code

    def delete(self, name: str) -> None:
        approver = self._find(name)
        self._store().delete_record(self.part.slot_id, self.part.token_key(), KIND, approver.id)

    def listing(self) -> list[tuple[str, str, bytes]]:
        """(name, status, certificate) of every approver."""
        records = self._store().records(self.part.slot_id, self.part.token_key(), KIND)
        out = [Approver.of(r) for r in records]
        return [(a.name, a.status, a.certificate) for a in out]

    def certificate(self, name: str) -> bytes:
        """The certificate of an onboarded approver (what a policy naming it holds)."""
        approver = self._find(name)
        if approver.status != "ONBOARDED":
            raise errors.ApproverNotFound()
        return approver.certificate


__all__ = ["CODE_LIFETIME", "KIND", "Approver", "Approvers", "new_code"]
