"""Certificates of named keys: requests (PKCS#10), self-signed and CA-signed certificates, and
certificate objects kept under the key's name. Signing with a key passes the key gate (CKA_SIGN,
CKA_ALLOWED_MECHANISMS for the mechanism the signature amounts to) and its password check."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from softhsm_py import errors
from softhsm_py.constants import Attribute as A
from softhsm_py.constants import KeyType, Mechanism, ObjectClass
from softhsm_py.core import gate
from softhsm_py.core.objects import lifecycle as objects
from softhsm_py.core.ska.approvals import Authorization, Presented
from softhsm_py.core.ska.tlv import Op
from softhsm_py.core.tokens import session_of
from softhsm_py.engine import x509

if TYPE_CHECKING:
    from softhsm_py.core.partition import Partition

Name = Sequence[tuple[str, str]]  # (attribute, value); attributes: engine.x509.NAME_ATTRIBUTES
_CKC_X_509 = 0
# (key type, hash) -> the PKCS#11 mechanism a certificate signature amounts to, for the gate.
_SIGNING: dict[tuple[int | None, str | None], Mechanism] = {
    (KeyType.RSA, "sha224"): Mechanism.SHA224_RSA_PKCS,
    (KeyType.RSA, "sha256"): Mechanism.SHA256_RSA_PKCS,
    (KeyType.RSA, "sha384"): Mechanism.SHA384_RSA_PKCS,
    (KeyType.RSA, "sha512"): Mechanism.SHA512_RSA_PKCS,
    (KeyType.EC, "sha224"): Mechanism.ECDSA_SHA224,
    (KeyType.EC, "sha256"): Mechanism.ECDSA_SHA256,
    (KeyType.EC, "sha384"): Mechanism.ECDSA_SHA384,
    (KeyType.EC, "sha512"): Mechanism.ECDSA_SHA512,
    (KeyType.EC_EDWARDS, None): Mechanism.EDDSA,
}


T = TypeVar("T")


def payload(kind: str, **params: Any) -> bytes:
    """What the approvers of a certificate made by a key with a policy sign (Smart Key
    Attributes): the call's parameters as canonical JSON (bytes as base64). ``kind``: "request",
    "self_sign" or "sign"; ``params``: the keyword arguments of that function but password."""

    def plain(value: Any) -> Any:
        if isinstance(value, bytes):
            return base64.b64encode(value).decode()
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        return value

    body = {"certificate": kind, **{k: plain(v) for k, v in sorted(params.items())}}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def _authorized(
    part: Partition,
    name: str,
    kind: str,
    params: dict[str, Any],
    approvals: Presented | None,
    run: Callable[[Authorization | None], T],
) -> T:
    return part.requests.authorized(Op.CERTIFICATE, name, payload(kind, **params), approvals, run)


def _signing_key(
    part: Partition,
    name: str,
    password: bytes | None,
    hash_name: str | None,
    authorization: Authorization | None = None,
) -> tuple[Any, int]:
    """(the loaded private key, its handle), after the gate and the password check."""
    from softhsm_py.mechanisms import ec, eddsa, rsa  # loaders of the engine's key objects

    handle, attrs = part.check_password(name, password)
    if attrs.get(A.CLASS) != ObjectClass.PRIVATE_KEY:
        raise errors.KeyFunctionNotPermitted()
    key_type = attrs.get(A.KEY_TYPE)
    mechanism = _SIGNING.get((key_type, None if key_type == KeyType.EC_EDWARDS else hash_name or "sha256"))
    if mechanism is None:
        raise errors.MechanismInvalid()
    with part.lib.lock:
        rt, session = session_of(part.lib, part.handle)
        ref = gate.usable_key(rt, session, handle, int(A.SIGN), int(mechanism), frozenset(), authorization)
        if key_type == KeyType.RSA:
            return rsa.load_private(ref), handle
        if key_type == KeyType.EC:
            return ec.load_private(ref), handle
        return eddsa.load_private(ref)[0], handle


def request(
    part: Partition,
    name: str,
    *,
    password: bytes | None,
    subject: Name,
    hash_name: str | None = None,
    key_usage: Iterable[str] = (),
    extended_key_usage: Iterable[str] = (),
    approvals: Presented | None = None,
) -> bytes:
    """A DER certificate signing request for the key ``name``."""
    usage, extended = list(key_usage), list(extended_key_usage)
    params: dict[str, Any] = {
        "subject": [list(p) for p in subject],
        "hash_name": hash_name,
        "key_usage": usage,
        "extended_key_usage": extended,
    }

    def run(authorization: Authorization | None) -> bytes:
        key, _ = _signing_key(part, name, password, hash_name, authorization)
        return x509.request(
            subject=subject,
            key=key,
            hash_name=hash_name,
            key_usage=usage,
            extended_key_usage=extended,
        )

    return _authorized(part, name, "request", params, approvals, run)


def _public_der(part: Partition, name: str) -> bytes:
    info = part.key_info(name)
    if info.spki is None:
        raise errors.KeyTypeInconsistent()
    return info.spki


def self_sign(
    part: Partition,
    name: str,
    *,
    password: bytes | None,
    subject: Name,
    days: int,
    hash_name: str | None = None,
    is_ca: bool = False,
    key_usage: Iterable[str] = (),
    extended_key_usage: Iterable[str] = (),
    approvals: Presented | None = None,
) -> bytes:
    """A self-signed certificate of the key ``name``, stored under its name; DER."""
    usage, extended = list(key_usage), list(extended_key_usage)
    params: dict[str, Any] = {
        "subject": [list(p) for p in subject],
        "days": days,
        "hash_name": hash_name,
        "is_ca": is_ca,
        "key_usage": usage,
        "extended_key_usage": extended,
    }

    def run(authorization: Authorization | None) -> bytes:
        key, _ = _signing_key(part, name, password, hash_name, authorization)
        public = _public_der(part, name)
        cert = x509.certificate(
            subject=subject,
            public_key_der=public,
            issuer_key=key,
            days=days,
            hash_name=hash_name,
            is_ca=is_ca,
            key_usage=usage,
            extended_key_usage=extended,
            issuer_public_der=public,
        )
        store(part, name, cert)
        return cert

    return _authorized(part, name, "self_sign", params, approvals, run)


def sign(
    part: Partition,
    name: str,
    *,
    password: bytes | None,
    csr: bytes,
    days: int,
    hash_name: str | None = None,
    is_ca: bool = False,
    key_usage: Iterable[str] = (),
    extended_key_usage: Iterable[str] = (),
    approvals: Presented | None = None,
) -> bytes:
    """A certificate for ``csr`` issued by the key ``name`` (the issuer is its certificate's
    subject, or CN=name when it has none); DER."""
    usage, extended = list(key_usage), list(extended_key_usage)
    params: dict[str, Any] = {
        "csr": csr,
        "days": days,
        "hash_name": hash_name,
        "is_ca": is_ca,
        "key_usage": usage,
        "extended_key_usage": extended,
    }

    def run(authorization: Authorization | None) -> bytes:
        key, _ = _signing_key(part, name, password, hash_name, authorization)
        return x509.sign_request(
            csr_der=csr,
            issuer_cert_der=get(part, name, missing_ok=True),
            issuer_key=key,
            issuer_public_der=_public_der(part, name),
            days=days,
            hash_name=hash_name,
            is_ca=is_ca,
            key_usage=usage,
            extended_key_usage=extended,
            issuer_subject=[("CN", name)],
        )

    return _authorized(part, name, "sign", params, approvals, run)


def _certificates(part: Partition, name: str) -> list[int]:
    return objects.find(part.lib, part.handle, {A.CLASS: ObjectClass.CERTIFICATE, A.LABEL: name.encode()})


def store(part: Partition, name: str, der: bytes) -> None:
    """Keep ``der`` as the certificate of ``name`` (replacing one it had). If a key of that name
    exists, the certificate must be for it."""
    spki, _ = x509.check_certificate(der)
    try:
        info = part.key_info(name)
    except errors.KeyNotFound:
        info = None
    if info is not None and info.spki is not None and info.spki != spki:
        raise errors.KeyTypeInconsistent()  # another key's certificate
    ident = info.attrs.get(A.ID, b"") if info is not None else b""
    for old in _certificates(part, name):
        objects.destroy(part.lib, part.handle, old)
    subject, issuer, serial = x509.subject_der(der)
    objects.create(
        part.lib,
        part.handle,
        {
            A.CLASS: ObjectClass.CERTIFICATE,
            A.CERTIFICATE_TYPE: _CKC_X_509,
            A.TOKEN: True,
            A.PRIVATE: False,
            A.LABEL: name.encode(),
            A.ID: ident,
            A.SUBJECT: subject,
            A.ISSUER: issuer,
            A.SERIAL_NUMBER: serial,
            A.VALUE: der,
        },
    )


def get(part: Partition, name: str, *, missing_ok: bool = False) -> bytes | None:
    found = _certificates(part, name)
    if not found:
        if missing_ok:
            return None
        raise errors.KeyNotFound(name)
    return bytes(objects.read(part.lib, part.handle, found[0], [A.VALUE])[0])


def delete(part: Partition, name: str) -> None:
    found = _certificates(part, name)
    if not found:
        raise errors.KeyNotFound(name)
    for handle in found:
        objects.destroy(part.lib, part.handle, handle)
