"""core.partition in-process: named keys, the gate, key passwords, attestation, certificates.

The REST service's own tests drive the same code through a real server; these pin the core's
decisions where a failure is easiest to read."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

from softhsm_py import errors
from softhsm_py.config import Config
from softhsm_py.constants import Attribute as A
from softhsm_py.constants import KeyType, Mechanism, ObjectClass, SessionFlag, UserType
from softhsm_py.core import certificates, sessions, startup, tokens
from softhsm_py.core.mechanism import Mechanism as Mech
from softhsm_py.core.partition import Partition, open_partition
from softhsm_py.core.runtime import Library
from softhsm_py.mechanisms.params import GcmParams

SO_PIN, USER_PIN = b"so-pin-1234", b"user-pin-1234"
P256 = bytes.fromhex("06082a8648ce3d030107")
RW = SessionFlag.SERIAL_SESSION | SessionFlag.RW_SESSION


@pytest.fixture
def config(tmp_path: Path) -> Config:
    config = Config(token_dir=tmp_path / "tokens", kdf_cost=10, pin_lockout=3)
    lib = Library()
    startup.start(lib, config)
    tokens.init_token(lib, 0, SO_PIN, "rest")
    handle = sessions.open_session(lib, 0, RW)
    sessions.login(lib, handle, UserType.SO, SO_PIN)
    tokens.init_pin(lib, handle, USER_PIN)
    startup.stop(lib)
    return config


@pytest.fixture
def part(config: Config) -> Iterator[Partition]:
    part = open_partition(config, "rest", USER_PIN)
    yield part
    part.close()


def ec_key(part: Partition, name: str, password: bytes | None = None, private: dict | None = None):
    return part.generate(
        name,
        Mech(Mechanism.EC_KEY_PAIR_GEN),
        public={A.EC_PARAMS: P256, A.VERIFY: True},
        private={A.SIGN: True, A.DESTROYABLE: True, **(private or {})},
        password=password,
    )


def test_open_refuses_a_wrong_pin_and_an_unknown_token(config: Config) -> None:
    with pytest.raises(errors.PinIncorrect):
        open_partition(config, "rest", b"wrong-pin")
    with pytest.raises(errors.TokenNotPresent):
        open_partition(config, "nope", USER_PIN)


def test_a_generated_pair_signs_and_its_public_key_verifies_outside(part: Partition) -> None:
    info = ec_key(part, "signer")
    assert info.algorithm == "EC" and info.curve_oid == "1.2.840.10045.3.1.7" and info.generated
    assert A.VALUE not in info.attrs  # the private value never reaches a front end
    sig = part.sign("signer", Mech(Mechanism.ECDSA_SHA256), b"payload")
    public = serialization.load_der_public_key(info.spki)
    assert isinstance(public, ec.EllipticCurvePublicKey)
    r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
    public.verify(utils.encode_dss_signature(r, s), b"payload", ec.ECDSA(hashes.SHA256()))
    assert part.verify("signer", Mech(Mechanism.ECDSA_SHA256), b"payload", sig)
    assert not part.verify("signer", Mech(Mechanism.ECDSA_SHA256), b"other", sig)
    assert part.names() == ["signer"]


def test_names_are_unique_and_checked(part: Partition) -> None:
    ec_key(part, "k")
    with pytest.raises(errors.KeyExists):
        ec_key(part, "k")
    for bad in ("", "attestation-key", "a/b"):
        with pytest.raises(errors.KeyNameInvalid):
            ec_key(part, bad)
    with pytest.raises(errors.KeyNotFound):
        part.key("missing")


def test_the_gate_refuses_what_the_attributes_forbid(part: Partition) -> None:
    ec_key(part, "verify-only", private={A.SIGN: False})
    with pytest.raises(errors.KeyFunctionNotPermitted):
        part.sign("verify-only", Mech(Mechanism.ECDSA_SHA256), b"x")
    ec_key(part, "only-ecdsa", private={A.ALLOWED_MECHANISMS: (int(Mechanism.ECDSA),)})
    with pytest.raises(errors.MechanismInvalid):
        part.sign("only-ecdsa", Mech(Mechanism.ECDSA_SHA256), b"x")


def test_key_password_is_needed_counted_and_locks(part: Partition) -> None:
    ec_key(part, "guarded", password=b"open sesame")
    with pytest.raises(errors.KeyPasswordIncorrect):
        part.sign("guarded", Mech(Mechanism.ECDSA_SHA256), b"x")
    assert part.sign("guarded", Mech(Mechanism.ECDSA_SHA256), b"x", password=b"open sesame")
    for _ in range(2):
        with pytest.raises(errors.KeyPasswordIncorrect):
            part.sign("guarded", Mech(Mechanism.ECDSA_SHA256), b"x", password=b"guess")
    with pytest.raises(errors.KeyPasswordLocked):
        part.sign("guarded", Mech(Mechanism.ECDSA_SHA256), b"x", password=b"guess")
    with pytest.raises(errors.KeyPasswordLocked):  # even the right one, once locked
        part.sign("guarded", Mech(Mechanism.ECDSA_SHA256), b"x", password=b"open sesame")


def test_the_password_hash_is_never_readable(part: Partition) -> None:
    info = ec_key(part, "hidden", password=b"pw")
    assert info.has_password
    from softhsm_py.constants import VendorAttribute as V

    assert V.PASSWORD not in info.attrs and V.PASSWORD_FAILURES not in info.attrs


def test_change_password(part: Partition) -> None:
    ec_key(part, "rotating", password=b"old")
    part.change_password("rotating", b"old", b"new")
    with pytest.raises(errors.KeyPasswordIncorrect):
        part.sign("rotating", Mech(Mechanism.ECDSA_SHA256), b"x", password=b"old")
    part.sign("rotating", Mech(Mechanism.ECDSA_SHA256), b"x", password=b"new")
    part.change_password("rotating", b"new", None)
    part.sign("rotating", Mech(Mechanism.ECDSA_SHA256), b"x")


def test_export_only_what_the_attributes_allow(part: Partition) -> None:
    ec_key(part, "sealed")
    with pytest.raises(errors.AttributeSensitive):
        part.export("sealed")
    ec_key(part, "open", private={A.SENSITIVE: False, A.EXTRACTABLE: True})
    out = part.export("open")
    key = serialization.load_der_private_key(out.private_pkcs8, None)
    assert (
        key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        == out.spki
    )


def test_import_a_private_key_and_use_it(part: Partition) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    der = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    info = part.import_key(
        "imported",
        private_pkcs8=der,
        key_type=KeyType.RSA,
        template={A.SIGN: True},
        public_template={A.VERIFY: True},
    )
    assert not info.generated and info.algorithm == "RSA" and info.key_size == 2048
    sig = part.sign("imported", Mech(Mechanism.SHA256_RSA_PKCS), b"msg")
    key.public_key().verify(sig, b"msg", padding.PKCS1v15(), hashes.SHA256())


def test_secret_keys_encrypt_and_wrap(part: Partition) -> None:
    part.generate_secret(
        "aes", Mech(Mechanism.AES_KEY_GEN), {A.VALUE_LEN: 32, A.ENCRYPT: True, A.DECRYPT: True}
    )
    gcm = Mech(Mechanism.AES_GCM, GcmParams(iv=b"\x01" * 12, aad=b"", tag_bits=128))
    ct = part.encrypt("aes", gcm, b"secret")
    assert part.decrypt("aes", gcm, ct) == b"secret"
    part.generate_secret("kek", Mech(Mechanism.AES_KEY_GEN), {A.VALUE_LEN: 32, A.WRAP: True, A.UNWRAP: True})
    part.generate_secret(
        "payload", Mech(Mechanism.AES_KEY_GEN), {A.VALUE_LEN: 16, A.EXTRACTABLE: True, A.ENCRYPT: True}
    )
    wrapped = part.wrap("kek", "payload", Mech(Mechanism.AES_KEY_WRAP))
    info = part.unwrap(
        "kek",
        Mech(Mechanism.AES_KEY_WRAP),
        wrapped,
        "unwrapped",
        {A.CLASS: ObjectClass.SECRET_KEY, A.KEY_TYPE: KeyType.AES, A.ENCRYPT: True, A.DECRYPT: True},
    )
    assert info.key_size == 128 and not info.generated


def test_destroy_obeys_destroyable(part: Partition) -> None:
    ec_key(part, "keep", private={A.DESTROYABLE: False})
    with pytest.raises(errors.ActionProhibited):
        part.destroy("keep")
    assert "keep" in part.names()
    ec_key(part, "drop")
    part.destroy("drop")
    assert "drop" not in part.names()


def test_attestation_verifies_with_the_chain(part: Partition) -> None:
    ec_key(part, "attested")
    att = part.attest("attested")
    assert att.xml.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<private_key creation="generated">')
    assert b"<never_extractable>true</never_extractable>" in att.xml and att.xml.endswith(b"\n\n")
    public = serialization.load_pem_public_key(att.public_key_pem)
    public.verify(att.signature, att.xml, padding.PKCS1v15(), hashes.SHA256())
    leaf, root = x509.load_pem_x509_certificates(att.chain_pem)
    leaf.verify_directly_issued_by(root)
    assert leaf.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) == public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert part.attest("attested").chain_pem == att.chain_pem  # one attestation key per partition
    assert "attestation-key" not in part.names()


def test_the_attestation_key_signs_nothing_else(part: Partition) -> None:
    ec_key(part, "any")
    part.attest("any")
    lib, handle = part.lib, part.handle
    from softhsm_py.core import operations
    from softhsm_py.core.objects import lifecycle
    from softhsm_py.core.session import OpKind

    found = lifecycle.find(lib, handle, {A.CLASS: ObjectClass.PRIVATE_KEY, A.LABEL: b"attestation-key"})
    assert len(found) == 1
    with pytest.raises(errors.KeyFunctionNotPermitted):
        operations.run_once(lib, handle, OpKind.SIGN, Mech(Mechanism.SHA256_RSA_PKCS), found[0], None)
    with pytest.raises(errors.ActionProhibited):
        lifecycle.destroy(lib, handle, found[0])


def test_certificates_self_signed_and_issued(part: Partition) -> None:
    ec_key(part, "ca")
    ca_der = certificates.self_sign(
        part,
        "ca",
        password=None,
        subject=[("CN", "Test CA")],
        days=30,
        is_ca=True,
        key_usage=["key_cert_sign"],
    )
    ca = x509.load_der_x509_certificate(ca_der)
    ca.verify_directly_issued_by(ca)
    assert certificates.get(part, "ca") == ca_der
    ec_key(part, "leaf")
    csr = certificates.request(part, "leaf", password=None, subject=[("CN", "leaf"), ("O", "Org")])
    leaf = x509.load_der_x509_certificate(certificates.sign(part, "ca", password=None, csr=csr, days=10))
    leaf.verify_directly_issued_by(ca)
    assert leaf.subject.rfc4514_string() == "O=Org,CN=leaf"


class _Out:
    """A big enough output buffer (pkcs11.crypto.Output)."""

    def __init__(self) -> None:
        self.data = b""

    def wants_length(self) -> bool:
        return False

    def room(self) -> int:
        return 1 << 20

    def tell(self, length: int) -> None:
        raise AssertionError("no size query here")

    def deliver(self, data: bytes) -> bool:
        self.data = data
        return True


def test_a_pkcs11_host_gives_the_key_password_as_a_context_login(part: Partition) -> None:
    from softhsm_py.core.objects import lifecycle
    from softhsm_py.core.session import OpKind
    from softhsm_py.pkcs11 import crypto

    ec_key(part, "pw-key", password=b"key password")
    lib = part.lib
    handle = sessions.open_session(lib, part.slot_id, RW)  # the user is logged in: same application
    (key,) = lifecycle.find(lib, handle, {A.CLASS: ObjectClass.PRIVATE_KEY, A.LABEL: b"pw-key"})
    crypto.operation_init(lib, handle, OpKind.SIGN, Mech(Mechanism.ECDSA_SHA256), key)
    with pytest.raises(errors.UserNotLoggedIn):  # no context login: the operation ends
        crypto.single(lib, handle, OpKind.SIGN, lambda: b"data", _Out())
    crypto.operation_init(lib, handle, OpKind.SIGN, Mech(Mechanism.ECDSA_SHA256), key)
    with pytest.raises(errors.PinIncorrect):
        sessions.login(lib, handle, UserType.CONTEXT_SPECIFIC, USER_PIN)  # the user PIN is not it
    sessions.login(lib, handle, UserType.CONTEXT_SPECIFIC, b"key password")
    out = _Out()
    crypto.single(lib, handle, OpKind.SIGN, lambda: b"data", out)
    assert len(out.data) == 64
