"""Attestation checked the way the TSB's documentation tells a verifier to (SD
tsb/Tutorials/Attestation/KeyAttestation.md section 4): ``openssl verify`` of the chain against
the root, ``openssl dgst -sha256 -verify`` of the XML, and the XML's public key equal to the key's."""

from __future__ import annotations

import base64
import io
import subprocess
import xml.etree.ElementTree as ElementTree
import zipfile
from pathlib import Path

import httpx

from .conftest import Server
from .test_keys_routes import create, delete


def openssl(*args: str, cwd: Path) -> str:
    proc = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


def test_attestation_zip_verifies_with_openssl(
    rest_server: Server, client: httpx.Client, tmp_path: Path
) -> None:
    delete(client, "att-ec")
    r = create(
        client,
        "att-ec",
        "EC",
        curveOid="1.3.132.0.10",
        attributes={"decrypt": False, "sign": True, "unwrap": False, "destroyable": True},
    )
    assert r.status_code == 201, r.text
    created = r.json()
    z = client.post("/v1/key/keyAttestation", json={"label": "att-ec"})
    assert z.status_code == 200, z.text
    zipfile.ZipFile(io.BytesIO(z.content)).extractall(tmp_path)
    # (1) the chain up to this installation's root
    out = openssl(
        "verify",
        "-CAfile",
        "softhsm-py_attestation_root.crt",
        "-untrusted",
        "PrimusHSM_Attestation.crt",
        "PrimusHSM_Attestation.crt",
        cwd=tmp_path,
    )
    assert "OK" in out
    # (2) the XML's signature by the attestation key
    out = openssl(
        "dgst", "-sha256", "-verify", "att-ec.pem", "-signature", "att-ec.sig", "att-ec.xml", cwd=tmp_path
    )
    assert "Verified OK" in out
    # the attestation key in the zip is the leaf certificate's key
    leaf_key = openssl("x509", "-in", "PrimusHSM_Attestation.crt", "-noout", "-pubkey", cwd=tmp_path)
    assert leaf_key.strip() == (tmp_path / "att-ec.pem").read_text().strip()
    # (3) the attested public key is the key's
    root = ElementTree.fromstring((tmp_path / "att-ec.xml").read_bytes())
    assert root.tag == "private_key" and root.get("creation") == "generated"
    assert root.findtext("label") == "att-ec"
    assert root.findtext("public_key") == created["json"]["publicKey"]
    # (4) the flags a verifier reads
    assert root.findtext("attributes/extractable") == "false"
    assert root.findtext("attributes/never_extractable") == "true"
    assert root.findtext("attributes/sensitive") == "true"


def test_every_key_response_is_signed(rest_server: Server, client: httpx.Client, tmp_path: Path) -> None:
    """``xml``/``xmlSignature`` of a create response verify with the attestation key too."""
    delete(client, "att-aes")
    r = create(
        client,
        "att-aes",
        "AES",
        keySize=256,
        attributes={"decrypt": True, "sign": False, "unwrap": True, "destroyable": True},
    )
    assert r.status_code == 201, r.text
    body = r.json()
    (tmp_path / "k.xml").write_bytes(body["xml"].encode("utf-8"))
    (tmp_path / "k.sig").write_bytes(base64.b64decode(body["xmlSignature"]))
    z = client.post("/v1/key/keyAttestation", json={"label": "att-aes"})
    zipfile.ZipFile(io.BytesIO(z.content)).extractall(tmp_path)
    out = openssl(
        "dgst",
        "-sha256",
        "-verify",
        "PrimusHSM_Attestation_PublicKey.pem",
        "-signature",
        "k.sig",
        "k.xml",
        cwd=tmp_path,
    )
    assert "Verified OK" in out
    assert body["attestationKeyName"]
    attest_time = ElementTree.fromstring(body["xml"].encode()).findtext("attest_time")
    assert body["json"]["attestTime"] == attest_time
    delete(client, "att-aes")
