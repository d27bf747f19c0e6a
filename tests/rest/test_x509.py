"""X.509 / PKCS#10 assembly (softhsm_py/rest/x509.py), parsed and verified by pyca/cryptography.
A software key stands in for the partition's signature here; the server tests sign in the token."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from cryptography import x509 as cx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from softhsm_py.rest import formats, x509
from softhsm_py.rest.errors import TsbError


def signer(kind: str) -> tuple[bytes, Callable[[bytes], bytes], str]:
    if kind == "ec":
        key = ec.generate_private_key(ec.SECP384R1())

        def sign(data: bytes) -> bytes:  # PKCS#11 gives r || s
            return formats.der_to_raw(key.sign(data, ec.ECDSA(hashes.SHA384())), 48)

        algorithm = "SHA384_WITH_ECDSA"
    else:
        rkey = rsa.generate_private_key(65537, 2048)

        def sign(data: bytes) -> bytes:
            return rkey.sign(data, padding.PKCS1v15(), hashes.SHA256())

        key, algorithm = rkey, "SHA256_WITH_RSA"  # type: ignore[assignment]
    spki = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return spki, sign, algorithm


@pytest.mark.parametrize("kind", ["ec", "rsa"])
def test_self_signed_certificate(kind: str) -> None:
    spki, sign, name = signer(kind)
    algorithm = x509.ALGORITHMS[name]
    subject = x509.name([("2.5.4.3", "Zürich CA", x509.UTF8)])
    exts = x509.extensions(spki, True, ["KEY_CERT_SIGN", "CRL_SIGN"], ["CLIENT_AUTH"], self_signed=True)
    tbs = x509.tbs_certificate(2**126 + 5, algorithm, subject, subject, spki, x509.now(), 365, exts)
    cert = cx.load_der_x509_certificate(x509.signed(tbs, algorithm, sign(tbs)))
    cert.verify_directly_issued_by(cert)
    assert cert.serial_number == 2**126 + 5
    assert cert.subject.rfc4514_string() == "CN=Zürich CA"
    assert cert.extensions.get_extension_for_class(cx.BasicConstraints).value.ca is True
    usage = cert.extensions.get_extension_for_class(cx.KeyUsage)
    assert (
        usage.critical
        and usage.value.key_cert_sign
        and usage.value.crl_sign
        and not usage.value.digital_signature
    )
    assert list(cert.extensions.get_extension_for_class(cx.ExtendedKeyUsage).value) == [cx.OID_CLIENT_AUTH]
    ski = cert.extensions.get_extension_for_class(cx.SubjectKeyIdentifier).value
    assert ski == cx.SubjectKeyIdentifier.from_public_key(cert.public_key())  # type: ignore[arg-type]
    assert (cert.not_valid_after_utc - cert.not_valid_before_utc).days == 365


@pytest.mark.parametrize("kind", ["ec", "rsa"])
def test_certificate_request(kind: str) -> None:
    spki, sign, name = signer(kind)
    algorithm = x509.ALGORITHMS[name]
    subject = x509.name_from(
        {"commonName": "svc", "country": "CH", "organizationName": "ACME", "email": "a@b.ch"}
    )
    info = x509.certification_request_info(subject, spki, x509.extensions(spki, False, ["DIGITAL_SIGNATURE"], [],
                                                                          self_signed=False))  # fmt: skip
    text = x509.pem(x509.signed(info, algorithm, sign(info)), "NEW CERTIFICATE REQUEST")
    assert text.startswith("-----BEGIN NEW CERTIFICATE REQUEST-----\n")
    der = x509.base64.b64decode("".join(text.splitlines()[1:-1]))
    csr = cx.load_der_x509_csr(der)
    assert csr.is_signature_valid
    assert csr.subject.rfc4514_string() == "1.2.840.113549.1.9.1=a@b.ch,CN=svc,O=ACME,C=CH"
    assert csr.extensions.get_extension_for_class(cx.KeyUsage).value.digital_signature


def test_encipher_only_needs_key_agreement() -> None:
    spki, _, _ = signer("ec")
    with pytest.raises(TsbError):
        x509.extensions(spki, False, ["DECIPHER_ONLY"], [], self_signed=False)
