"""Key attestation: a statement of a key's attributes, signed inside the partition by a key that
does nothing else, under a certificate chain to the installation's own root.

* The installation root: an RSA-3072 CA made on first use, kept beside the store in the token
  directory (``attestation-root.der`` + ``attestation-root.key``, mode 0600). ``softhsm-py
  attestation-root`` prints its certificate. A real HSM's root lives in its firmware; here the
  token directory is the trust boundary, which is why it is 0700.
* Each partition's attestation key: RSA-2048, private, sensitive, never extractable, neither
  destroyable nor modifiable, marked CKA_VENDOR_ATTESTATION so that the key gate refuses it for
  every operation; it signs only here, and only statements this module writes. Its certificate
  (issued by the root) is a public certificate object of the same label. Made on the first
  attestation, by whichever process gets there first (a second one made at the same moment is
  taken back: the oldest stays).
* The statement is the TSB's XML (TSB.md section 5); the signature is RSA PKCS#1 v1.5 with SHA-256
  over exactly its bytes, which ``openssl dgst -sha256 -verify`` checks.
"""

from __future__ import annotations

import base64
import datetime
import os
import secrets
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape, quoteattr

from softhsm_py import errors
from softhsm_py.constants import Attribute as A
from softhsm_py.constants import Mechanism, ObjectClass
from softhsm_py.constants import VendorAttribute as V
from softhsm_py.core import keys
from softhsm_py.core.keyinfo import KeyInfo
from softhsm_py.core.mechanism import Mechanism as Mech
from softhsm_py.core.objects import lifecycle as objects
from softhsm_py.core.session import OpKind
from softhsm_py.core.tokens import session_of
from softhsm_py.engine import x509
from softhsm_py.mechanisms import registry

if TYPE_CHECKING:
    from softhsm_py.core.partition import Partition

LABEL = "attestation-key"
ROOT_KEY, ROOT_CERT = "attestation-root.key", "attestation-root.der"
_ATTRIBUTES = (
    ("decrypt", A.DECRYPT), ("sign", A.SIGN), ("unwrap", A.UNWRAP), ("derive", A.DERIVE),
    ("sensitive", A.SENSITIVE), ("always_sensitive", A.ALWAYS_SENSITIVE),
    ("extractable", A.EXTRACTABLE), ("never_extractable", A.NEVER_EXTRACTABLE),
    ("modifiable", A.MODIFIABLE), ("copyable", A.COPYABLE), ("destroyable", A.DESTROYABLE),
)  # fmt: skip
_root_lock = threading.Lock()


class Attestation:
    __slots__ = ("chain_pem", "key_name", "public_key_pem", "signature", "xml")

    def __init__(
        self, xml: bytes, signature: bytes, key_name: str, public_key_pem: bytes, chain_pem: bytes
    ) -> None:
        self.xml, self.signature, self.key_name = xml, signature, key_name
        self.public_key_pem, self.chain_pem = public_key_pem, chain_pem


# -- the installation's root ------------------------------------------------------------------
def _write_new(path: Path, data: bytes) -> bool:
    """Create ``path`` with ``data`` (0600) unless it exists: False if another process won."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    finally:
        os.unlink(tmp)


def root(token_dir: Path) -> tuple[bytes, bytes]:
    """(PKCS#8 key, DER certificate) of the installation root, made on first use."""
    key_path, cert_path = token_dir / ROOT_KEY, token_dir / ROOT_CERT
    with _root_lock:
        if not cert_path.exists():
            key, cert = x509.new_root(f"softhsm-py attestation root {secrets.token_hex(4)}")
            # The certificate is linked last: whoever sees it may trust that its key is there.
            if _write_new(key_path, key) and not _write_new(cert_path, cert):
                raise errors.DeviceError()  # a half-made root of another process: refuse
        try:
            return key_path.read_bytes(), cert_path.read_bytes()
        except OSError:
            raise errors.DeviceError() from None


def root_certificate(token_dir: Path) -> bytes:
    return root(token_dir)[1]


# -- the partition's attestation key ----------------------------------------------------------
def _attestation_keys(part: Partition) -> list[int]:
    return objects.find(
        part.lib,
        part.handle,
        {A.CLASS: ObjectClass.PRIVATE_KEY, V.ATTESTATION: True, A.LABEL: LABEL.encode()},
    )


def _certificate(part: Partition) -> bytes | None:
    found = objects.find(part.lib, part.handle, {A.CLASS: ObjectClass.CERTIFICATE, A.LABEL: LABEL.encode()})
    if not found:
        return None
    return bytes(objects.read(part.lib, part.handle, found[0], [A.VALUE])[0])


def _make_key(part: Partition) -> None:
    ident = b"attestation"
    mechanism = Mech(Mechanism.RSA_PKCS_KEY_PAIR_GEN)
    public: dict[int, Any] = {
        A.TOKEN: True,
        A.LABEL: LABEL.encode(),
        A.ID: ident,
        A.MODULUS_BITS: 2048,
        A.VERIFY: True,
    }
    public.update({A.ENCRYPT: False, A.WRAP: False, A.VERIFY_RECOVER: False, A.MODIFIABLE: False})
    private: dict[int, Any] = {
        A.TOKEN: True,
        A.PRIVATE: True,
        A.LABEL: LABEL.encode(),
        A.ID: ident,
        A.SENSITIVE: True,
        A.EXTRACTABLE: False,
        A.DESTROYABLE: False,
        A.MODIFIABLE: False,
        A.COPYABLE: False,
        A.SIGN: True,
        A.DECRYPT: False,
        A.UNWRAP: False,
        A.DERIVE: False,
        A.SIGN_RECOVER: False,
    }
    public_handle, private_handle = keys.generate_key_pair(
        part.lib, part.handle, mechanism, public, private, core_attrs={V.ATTESTATION: True}
    )
    mine = [public_handle, private_handle]
    found = _attestation_keys(part)
    if found and found[0] != private_handle:  # another process made one at the same moment
        with part.lib.lock:
            rt, session = session_of(part.lib, part.handle)
            for handle in mine:
                objects.remove(rt, session, handle)
        return
    spki = bytes(objects.read(part.lib, part.handle, public_handle, [A.PUBLIC_KEY_INFO])[0])
    root_key, root_cert = root(part.lib.runtime.config.token_dir)
    cert = x509.certificate(
        subject=[("CN", f"softhsm-py attestation key of {part.label}"), ("O", "softhsm-py")],
        public_key_der=spki,
        issuer_key=x509.load_private_der(root_key),
        issuer=x509.certificate_subject(root_cert),
        issuer_public_der=None,
        days=36500,
        key_usage=("digital_signature",),
    )
    subject, issuer, serial = x509.subject_der(cert)
    objects.create(
        part.lib,
        part.handle,
        {
            A.CLASS: ObjectClass.CERTIFICATE,
            A.CERTIFICATE_TYPE: 0,
            A.TOKEN: True,
            A.PRIVATE: False,
            A.LABEL: LABEL.encode(),
            A.ID: ident,
            A.SUBJECT: subject,
            A.ISSUER: issuer,
            A.SERIAL_NUMBER: serial,
            A.VALUE: cert,
            A.MODIFIABLE: False,
        },
    )


def _key_and_certificate(part: Partition) -> tuple[int, bytes]:
    found = _attestation_keys(part)
    if not found:
        _make_key(part)
        found = _attestation_keys(part)
    cert = _certificate(part)
    if not found or cert is None:
        raise errors.DeviceError()  # made by a process that died before storing its certificate
    return found[0], cert


# -- the statement --------------------------------------------------------------------------------
def _bool(value: Any) -> str:
    return "true" if value is True else "false"


def statement(info: KeyInfo, now: datetime.datetime) -> bytes:
    """The TSB's attestation XML for ``info`` (TSB.md 5): UTF-8, tab-indented, ``\\n\\n`` at the end."""
    root_tag = "secret_key" if info.object_class == ObjectClass.SECRET_KEY else "private_key"
    creation = "generated" if info.generated else "imported"
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', f"<{root_tag} creation={quoteattr(creation)}>"]
    add = lines.append
    label = bytes(info.attrs.get(A.LABEL, b"")).decode("utf-8", "replace")
    add(f"\t<label>{escape(label)}</label>")
    ident = info.attrs.get(A.ID)
    if ident:
        add(f"\t<id>{escape(bytes(ident).hex())}</id>")
    if info.created:
        add(f"\t<create_time>{escape(info.created)}</create_time>")
    add(f"\t<attest_time>{now.strftime('%Y-%m-%dT%H:%M:%SZ')}</attest_time>")
    add(f"\t<algorithm>{escape(info.algorithm)}</algorithm>")
    add(f"\t<algorithm_oid>{escape(info.algorithm_oid)}</algorithm_oid>")
    if info.curve_oid:
        add(f"\t<curve_oid>{escape(info.curve_oid)}</curve_oid>")
    if info.key_size:
        add(f"\t<key_size>{info.key_size}</key_size>")
    if info.spki:
        add(f"\t<public_key>{base64.b64encode(info.spki).decode()}</public_key>")
    add("\t<attributes>")
    for tag, attr in _ATTRIBUTES:
        add(f"\t\t<{tag}>{_bool(info.attrs.get(attr))}</{tag}>")
    add("\t</attributes>")
    ska = info.ska
    if ska is not None:
        from softhsm_py.core.ska import policy

        lines.extend(policy.xml_lines(*ska))
    add(f"</{root_tag}>")
    return ("\n".join(lines) + "\n\n").encode()


def attest(part: Partition, info: KeyInfo) -> Attestation:
    """Sign ``info``'s statement with ``part``'s attestation key (made on first use)."""
    key_handle, cert = _key_and_certificate(part)
    xml = statement(info, datetime.datetime.now(datetime.UTC))
    lib = part.lib
    mech = int(Mechanism.SHA256_RSA_PKCS)
    with lib.lock:  # past the gate, which refuses this key to everyone else
        rt, session = session_of(lib, part.handle)
        ref = rt.handles.get(key_handle)
        objects.attrs_of(rt, session, ref)
        context = registry.lookup(mech).start(OpKind.SIGN, mech, None, ref)
    signature = bytes(context.run(xml))
    public = objects.find(lib, part.handle, {A.CLASS: ObjectClass.PUBLIC_KEY, A.LABEL: LABEL.encode()})
    spki = bytes(objects.read(lib, part.handle, public[0], [A.PUBLIC_KEY_INFO])[0])
    root_cert = root_certificate(lib.runtime.config.token_dir)
    chain = x509.pem(cert) + x509.pem(root_cert)
    return Attestation(xml, signature, LABEL, x509.pem(spki, "PUBLIC KEY"), chain)


__all__ = ["LABEL", "Attestation", "attest", "root", "root_certificate", "statement"]
