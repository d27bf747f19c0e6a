"""Two doors into one house: a key made through REST is used by pkcs11-tool (OpenSC) through the
PKCS#11 library, and a key made by pkcs11-tool is used through REST by its label, on the same
partition while the server runs. Signatures are checked outside both with pyca/cryptography."""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, utils

from .conftest import Server
from .test_keys_routes import create, delete

PKCS11_TOOL = shutil.which("pkcs11-tool")
pytestmark = pytest.mark.skipif(
    PKCS11_TOOL is None, reason="needs OpenSC's pkcs11-tool (scripts/setup-debian.sh)"
)

MESSAGE = b"one partition, two front ends"


def p11(server: Server, *args: str, data: bytes | None = None, login: bool = True) -> bytes:
    cmd = [
        PKCS11_TOOL or "pkcs11-tool",
        "--module",
        server.module_path(),
        "--token-label",
        server.label,
        *(("--login", "--pin", server.user_pin) if login else ()),
        *args,
    ]
    proc = subprocess.run(cmd, input=data, env=server.env, capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    return proc.stdout


def test_rest_key_used_by_pkcs11_tool(rest_server: Server, client: httpx.Client, tmp_path: Path) -> None:
    delete(client, "x-rest-ec")
    r = create(
        client,
        "x-rest-ec",
        "EC",
        curveOid="1.2.840.10045.3.1.7",
        attributes={"decrypt": False, "sign": True, "unwrap": False, "destroyable": True},
    )
    assert r.status_code == 201, r.text
    public = serialization.load_der_public_key(base64.b64decode(r.json()["json"]["publicKey"]))
    assert isinstance(public, ec.EllipticCurvePublicKey)
    message = tmp_path / "message"
    message.write_bytes(MESSAGE)
    signature = tmp_path / "sig"
    p11(
        rest_server,
        "--sign",
        "--label",
        "x-rest-ec",
        "-m",
        "ECDSA-SHA256",
        "--signature-format",
        "openssl",
        "-i",
        str(message),
        "-o",
        str(signature),
    )
    public.verify(signature.read_bytes(), MESSAGE, ec.ECDSA(hashes.SHA256()))
    listing = p11(rest_server, "--list-objects", "--type", "privkey").decode()
    assert "x-rest-ec" in listing
    delete(client, "x-rest-ec")
    assert "x-rest-ec" not in p11(rest_server, "--list-objects").decode()


@pytest.mark.parametrize(
    ("key_type", "label", "algorithm"),
    [("EC:prime256v1", "x-p11-ec", "SHA256_WITH_ECDSA"), ("rsa:2048", "x-p11-rsa", "SHA256_WITH_RSA_PSS")],
)
def test_pkcs11_tool_key_used_through_rest(
    rest_server: Server, client: httpx.Client, tmp_path: Path, key_type: str, label: str, algorithm: str
) -> None:
    key_id = hashlib.sha256(label.encode()).hexdigest()[:8]
    p11(rest_server, "--keypairgen", "--key-type", key_type, "--label", label, "--id", key_id)
    assert label in client.get("/v1/key").json()
    info = client.post("/v1/key/attributes", json={"label": label})
    assert info.status_code == 200, info.text
    # Without a login: pkcs11-tool 0.23 exports EC public keys from freed memory, which a login's
    # heap (pyca/cryptography loaded for the PIN scrypt) made visible (see hosts/test_pkcs11_tool_crypto).
    der = p11(rest_server, "--read-object", "--type", "pubkey", "--label", label, login=False)
    public = serialization.load_der_public_key(der)
    assert base64.b64decode(info.json()["json"]["publicKey"]) == public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    r = client.post(
        "/v1/synchronousSign",
        json={
            "signRequest": {
                "payload": base64.b64encode(MESSAGE).decode(),
                "signKeyName": label,
                "signatureAlgorithm": algorithm,
            }
        },
    )
    assert r.status_code == 200, r.text
    signature = base64.b64decode(r.json()["signature"])
    if isinstance(public, ec.EllipticCurvePublicKey):
        public.verify(signature, MESSAGE, ec.ECDSA(hashes.SHA256()))
    else:
        public.verify(signature, MESSAGE, padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256())  # type: ignore[union-attr]
    assert utils is not None
    p11(rest_server, "--delete-object", "--type", "privkey", "--label", label)
    p11(rest_server, "--delete-object", "--type", "pubkey", "--label", label)
    assert label not in client.get("/v1/key").json()
