"""An approver for the Smart Key Attributes tests, written from the TSB's documentation (TSB.md
6.3-6.6) with pyca/cryptography, not from softhsm_py: JDK-style signatures (SHA256withECDSA DER,
SHA256withRSA PKCS#1 v1.5, Ed25519), the timestamp proof for task routes, the approval of a task,
and the signed-approval blob of ``signedApprovals`` (u32 LE length, then little-endian TLVs
padded to 4 bytes: approval token, DER signature with its algorithm, public key)."""

from __future__ import annotations

import base64
import datetime
import struct
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import NameOID

# TLV types of a signed approval (softhsm-py's choices where the TSB publishes none: README)
APPROVAL_TOKEN, DER_SIGNATURE, PUBLIC_KEY, CERTIFICATE = 0x1055, 0x1056, 0x1052, 0x1053
_ALGORITHM_OIDS = {"ec": "1.2.840.10045.4.3.2", "rsa": "1.2.840.113549.1.1.11", "ed25519": "1.3.101.112"}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def _der(tag: int, body: bytes) -> bytes:
    n = len(body)
    if n < 0x80:
        return bytes([tag, n]) + body
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + body


def _oid(dotted: str) -> bytes:
    arcs = [int(a) for a in dotted.split(".")]
    out = bytearray([40 * arcs[0] + arcs[1]])
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out += bytes(reversed(chunk))
    return _der(0x06, bytes(out))


def tlv(kind: int, value: bytes) -> bytes:
    return struct.pack("<HH", kind, len(value)) + value + b"\0" * (-len(value) % 4)


def container(*elements: bytes) -> bytes:
    body = b"".join(elements)
    return struct.pack("<I", len(body)) + body


def now_timestamp() -> str:
    """What the docs' scripts sign: ``date -u "+%Y-%m-%dT%H:%M:%S+00:00"``."""
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


@dataclass
class Approver:
    kind: str  # ec, rsa, ed25519
    key: Any
    certificate: bytes | None = None  # DER, when the policy names the approver by certificate
    name: str = "approver"
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def new(cls, kind: str = "ec", *, with_certificate: bool = False, name: str = "approver") -> Approver:
        if kind == "ec":
            key: Any = ec.generate_private_key(ec.SECP256R1())
        elif kind == "rsa":
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        else:
            key = ed25519.Ed25519PrivateKey.generate()
        approver = cls(kind, key, name=name)
        if with_certificate:
            approver.certificate = self_signed(key, name)
        return approver

    @property
    def spki(self) -> bytes:
        return bytes(
            self.key.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )

    def policy_entry(self) -> dict[str, Any]:
        if self.certificate is not None:
            return {"type": "certificate", "name": self.name, "value": b64(self.certificate)}
        return {"type": "public_key", "name": self.name, "value": b64(self.spki)}

    def sign(self, data: bytes) -> bytes:
        if self.kind == "ec":
            return bytes(self.key.sign(data, ec.ECDSA(hashes.SHA256())))
        if self.kind == "rsa":
            return bytes(self.key.sign(data, padding.PKCS1v15(), hashes.SHA256()))
        return bytes(self.key.sign(data))

    @property
    def digest(self) -> str:
        return "EdDSA" if self.kind == "ed25519" else "SHA-256"

    def who(self) -> dict[str, str]:
        if self.certificate is not None:
            return {"approverCertificate": b64(self.certificate)}
        return {"approverPublicKey": b64(self.spki)}

    def proof(self, timestamp: str | None = None) -> dict[str, Any]:
        """The fields that authenticate a task route call."""
        timestamp = timestamp or now_timestamp()
        return {
            "timestamp": timestamp,
            "timestampSignature": b64(self.sign(timestamp.encode())),
            "timestampDigestAlgorithm": self.digest,
            **self.who(),
        }

    def approval(self, task_id: str, token_b64: str) -> dict[str, Any]:
        """``POST /v1/approval`` for a task: the signature over the whole decoded token."""
        return {
            "id": task_id,
            "approvalToBeSigned": token_b64,
            "signature": b64(self.sign(unb64(token_b64))),
            "approvalDigestAlgorithm": self.digest,
            **self.who(),
        }

    def signed_approval(self, token: bytes) -> str:
        """One entry of ``signedApprovals`` (TSB.md 6.6), base64."""
        algorithm = _der(
            0x30, _oid(_ALGORITHM_OIDS[self.kind]) + (b"" if self.kind == "ed25519" else b"\x05\x00")
        )
        signature = _der(0x30, algorithm + _der(0x03, b"\0" + self.sign(token)))
        who = (
            tlv(CERTIFICATE, self.certificate) if self.certificate is not None else tlv(PUBLIC_KEY, self.spki)
        )
        return b64(container(tlv(APPROVAL_TOKEN, token), tlv(DER_SIGNATURE, signature), who))


def self_signed(key: Any, name: str) -> bytes:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
    )
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return bytes(builder.sign(key, algorithm).public_bytes(serialization.Encoding.DER))


def rule(approvers: list[Approver], quorum: int, *, timelock: int = 0, timeout: int = 0) -> dict[str, Any]:
    return {
        "tokens": [
            {
                "name": "token",
                "timelock": timelock,
                "timeout": timeout,
                "groups": [
                    {"name": "group", "quorum": quorum, "approvals": [a.policy_entry() for a in approvers]}
                ],
            }
        ]
    }


def policy(use: dict[str, Any] | None = None, **rules: Any) -> dict[str, Any]:
    return {
        "ruleUse": use,
        "ruleBlock": rules.get("block"),
        "ruleUnblock": rules.get("unblock"),
        "ruleModify": rules.get("modify"),
        "keyStatus": {"blocked": bool(rules.get("blocked", False))},
    }
