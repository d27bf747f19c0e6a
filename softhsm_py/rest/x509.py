"""X.509 certificate and PKCS#10 request assembly around a signature made in the partition.

The REST layer builds the to-be-signed DER (names, validity, extensions, the key's own SPKI as the
core returns it), the partition signs it with the key (the key gate applies), and the signature
is wrapped as X.509 wants it. Plain DER, no cryptography library: the private key never leaves
the partition and nothing here needs one.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from softhsm_py.constants import Mechanism
from softhsm_py.rest.formats import der_integer, oid_to_der, raw_to_der, tlv

SEQUENCE, SET, BIT_STRING, NULL, BOOLEAN, OCTET_STRING = 0x30, 0x31, 0x03, 0x05, 0x01, 0x04
UTF8, PRINTABLE, IA5, UTCTIME, GENTIME = 0x0C, 0x13, 0x16, 0x17, 0x18


@dataclass(frozen=True)
class SigningAlgorithm:
    """A KeytoolSignatureAlgorithm: the PKCS#11 mechanism and the AlgorithmIdentifier it makes."""

    mech: int
    oid: str
    rsa: bool  # RSA identifiers carry a NULL parameter; ECDSA ones carry none

    def identifier(self) -> bytes:
        return tlv(SEQUENCE, oid_to_der(self.oid) + (tlv(NULL, b"") if self.rsa else b""))


ALGORITHMS: dict[str, SigningAlgorithm] = {
    "SHA224_WITH_RSA": SigningAlgorithm(Mechanism.SHA224_RSA_PKCS, "1.2.840.113549.1.1.14", True),
    "SHA256_WITH_RSA": SigningAlgorithm(Mechanism.SHA256_RSA_PKCS, "1.2.840.113549.1.1.11", True),
    "SHA384_WITH_RSA": SigningAlgorithm(Mechanism.SHA384_RSA_PKCS, "1.2.840.113549.1.1.12", True),
    "SHA512_WITH_RSA": SigningAlgorithm(Mechanism.SHA512_RSA_PKCS, "1.2.840.113549.1.1.13", True),
    "SHA256_WITH_ECDSA": SigningAlgorithm(Mechanism.ECDSA_SHA256, "1.2.840.10045.4.3.2", False),
    "SHA384_WITH_ECDSA": SigningAlgorithm(Mechanism.ECDSA_SHA384, "1.2.840.10045.4.3.3", False),
    "SHA512_WITH_ECDSA": SigningAlgorithm(Mechanism.ECDSA_SHA512, "1.2.840.10045.4.3.4", False),
}

#: CertificateAttributesDto field -> (attribute type OID, string tag), in the order printed
NAME_ATTRIBUTES: tuple[tuple[str, str, int], ...] = (
    ("country", "2.5.4.6", PRINTABLE),
    ("stateOrProvinceName", "2.5.4.8", UTF8),
    ("locality", "2.5.4.7", UTF8),
    ("organizationName", "2.5.4.10", UTF8),
    ("organizationUnitName", "2.5.4.11", UTF8),
    ("title", "2.5.4.12", UTF8),
    ("surname", "2.5.4.4", UTF8),
    ("givenName", "2.5.4.42", UTF8),
    ("initials", "2.5.4.43", UTF8),
    ("pseudonym", "2.5.4.65", UTF8),
    ("generationQualifier", "2.5.4.44", UTF8),
    ("commonName", "2.5.4.3", UTF8),
    ("email", "1.2.840.113549.1.9.1", IA5),
)

#: KeyUsage names -> bit number (RFC 5280 4.2.1.3)
KEY_USAGE_BITS = {
    "DIGITAL_SIGNATURE": 0, "CONTENT_COMMITMENT": 1, "KEY_ENCIPHERMENT": 2, "DATA_ENCIPHERMENT": 3,
    "KEY_AGREEMENT": 4, "KEY_CERT_SIGN": 5, "CRL_SIGN": 6, "ENCIPHER_ONLY": 7, "DECIPHER_ONLY": 8,
}  # fmt: skip

EXTENDED_KEY_USAGE_OIDS = {
    "ANY_EXTENDED_KEY_USAGE": "2.5.29.37.0", "SERVER_AUTH": "1.3.6.1.5.5.7.3.1",
    "CLIENT_AUTH": "1.3.6.1.5.5.7.3.2", "CODE_SIGNING": "1.3.6.1.5.5.7.3.3",
    "EMAIL_PROTECTION": "1.3.6.1.5.5.7.3.4", "TIME_STAMPING": "1.3.6.1.5.5.7.3.8",
    "OCSP_SIGNING": "1.3.6.1.5.5.7.3.9",
}  # fmt: skip


def name(pairs: Iterable[tuple[str, str, int]]) -> bytes:
    """RDNSequence, one attribute per RDN: (oid, value, string tag)."""
    rdns = b"".join(
        tlv(SET, tlv(SEQUENCE, oid_to_der(oid) + tlv(tag, value.encode("utf-8"))))
        for oid, value, tag in pairs
    )
    return tlv(SEQUENCE, rdns)


def name_from(fields: dict[str, str | None]) -> bytes:
    return name((oid, fields[key] or "", tag) for key, oid, tag in NAME_ATTRIBUTES if fields.get(key))


def _time(moment: datetime) -> bytes:
    moment = moment.astimezone(UTC)
    if 1950 <= moment.year < 2050:
        return tlv(UTCTIME, moment.strftime("%y%m%d%H%M%SZ").encode())
    return tlv(GENTIME, moment.strftime("%Y%m%d%H%M%SZ").encode())


def _extension(oid: str, value: bytes, critical: bool) -> bytes:
    flag = tlv(BOOLEAN, b"\xff") if critical else b""
    return tlv(SEQUENCE, oid_to_der(oid) + flag + tlv(OCTET_STRING, value))


def _key_usage(names: Sequence[str]) -> bytes:
    if {"ENCIPHER_ONLY", "DECIPHER_ONLY"} & set(names) and "KEY_AGREEMENT" not in names:
        from softhsm_py.rest.errors import invalid

        raise invalid("ENCIPHER_ONLY and DECIPHER_ONLY need KEY_AGREEMENT (RFC 5280 4.2.1.3)")
    bits = 0
    for n in names:
        bits |= 1 << KEY_USAGE_BITS[n]
    highest = max(KEY_USAGE_BITS[n] for n in names)
    nbytes = highest // 8 + 1
    value = 0
    for bit in range(highest + 1):  # bit 0 is the most significant bit of the first byte
        if bits & (1 << bit):
            value |= 1 << (8 * nbytes - 1 - bit)
    unused = 8 * nbytes - 1 - highest
    return tlv(BIT_STRING, bytes([unused]) + value.to_bytes(nbytes, "big"))


def spki_key_bits(spki: bytes) -> bytes:
    """The subjectPublicKey BIT STRING content of a SubjectPublicKeyInfo (for key identifiers)."""
    from softhsm_py.rest.formats import _read

    _tag, body, _end = _read(spki, 0)
    _tag, _alg, pos = _read(body, 0)
    tag, bits, _ = _read(body, pos)
    if tag != BIT_STRING or not bits:
        raise ValueError("not a SubjectPublicKeyInfo")
    return bits[1:]


def extensions(
    spki: bytes, ca: bool, key_usage: Sequence[str], extended: Sequence[str], *, self_signed: bool
) -> list[bytes]:
    out = [_extension("2.5.29.19", tlv(SEQUENCE, tlv(BOOLEAN, b"\xff") if ca else b""), True)]
    if key_usage:
        out.append(_extension("2.5.29.15", _key_usage(key_usage), True))  # critical, as the TSB marks it
    if extended:
        ekus = b"".join(oid_to_der(EXTENDED_KEY_USAGE_OIDS[e]) for e in extended)
        out.append(_extension("2.5.29.37", tlv(SEQUENCE, ekus), False))
    key_id = hashlib.sha1(spki_key_bits(spki)).digest()  # RFC 5280 4.2.1.2 method (1)
    out.append(_extension("2.5.29.14", tlv(OCTET_STRING, key_id), False))
    if self_signed:
        out.append(_extension("2.5.29.35", tlv(SEQUENCE, tlv(0x80, key_id)), False))
    return out


def tbs_certificate(
    serial: int, algorithm: SigningAlgorithm, issuer: bytes, subject: bytes, spki: bytes,
    not_before: datetime, days: int, exts: list[bytes],
) -> bytes:  # fmt: skip
    validity = tlv(SEQUENCE, _time(not_before) + _time(not_before + timedelta(days=days)))
    return tlv(
        SEQUENCE,
        tlv(0xA0, der_integer(2))
        + der_integer(serial)
        + algorithm.identifier()
        + issuer
        + validity
        + subject
        + spki
        + tlv(0xA3, tlv(SEQUENCE, b"".join(exts))),
    )


def certification_request_info(subject: bytes, spki: bytes, exts: list[bytes]) -> bytes:
    extension_request = tlv(
        SEQUENCE, oid_to_der("1.2.840.113549.1.9.14") + tlv(SET, tlv(SEQUENCE, b"".join(exts)))
    )
    return tlv(SEQUENCE, der_integer(0) + subject + spki + tlv(0xA0, extension_request))


def signed(tbs: bytes, algorithm: SigningAlgorithm, signature: bytes) -> bytes:
    """Certificate / CertificationRequest: tbs, AlgorithmIdentifier, BIT STRING signature. ECDSA
    signatures come from PKCS#11 as r || s and go into X.509 as DER."""
    if not algorithm.rsa:
        signature = raw_to_der(signature)
    return tlv(SEQUENCE, tbs + algorithm.identifier() + tlv(BIT_STRING, b"\x00" + signature))


def pem(der: bytes, label: str) -> str:
    body = base64.b64encode(der).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----\n"


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)
