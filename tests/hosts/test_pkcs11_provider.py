"""OpenSSL 3 through pkcs11-provider (bookworm-backports): ``storeutl`` lists the token's keys and
certificates, ``pkeyutl`` signs with RSA and EC keys, ``req -x509`` makes a self-signed certificate.
The config is softhsm_py.cli.hostconfig.openssl_provider's, with no provider quirks. pkcs11-provider
calls C_CloseSession/C_Finalize from OpenSSL's atexit handler: every process must exit 0 without a
crash (SoftHSMv2 segfaults there). Results are checked with pyca/cryptography."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, utils

from softhsm_py.cli import hostconfig
from support.hosts import PROVIDER_PATH, Token, assert_no_traceback, make_token, require

DATA = b"signed through pkcs11-provider\n"


@pytest.fixture
def token(tmp_path: Path) -> Token:
    require("openssl", "pkcs11-tool")
    if not Path(PROVIDER_PATH).exists():
        pytest.skip("pkcs11-provider not installed")
    token = make_token(tmp_path / "hsm", label="provider")
    pin_file = tmp_path / "pin.txt"
    pin_file.write_text(token.pin + "\n")
    conf = tmp_path / "openssl-provider.cnf"
    conf.write_text(hostconfig.openssl_provider(token.module, provider_path=PROVIDER_PATH, pin_file=pin_file))
    token.extra["OPENSSL_CONF"] = str(conf)
    token.tool("--keypairgen", "--key-type", "rsa:2048", "--id", "01", "--label", "rsa")
    token.tool("--keypairgen", "--key-type", "EC:prime256v1", "--id", "02", "--label", "ec")
    return token


def openssl(token: Token, *args: str, **kwargs):
    """openssl under the provider config; check=True makes any non-zero exit (a crash at exit
    included) a failure."""
    return token.run(["openssl", *args], env={"OPENSSL_CONF": token.extra["OPENSSL_CONF"]}, **kwargs)


def key_uri(token: Token, label: str, kind: str = "private") -> str:
    return f"pkcs11:token={token.label};object={label};type={kind}"


def public_key(token: Token, label: str, tmp_path: Path):
    out = tmp_path / f"{label}.pub.pem"
    openssl(token, "pkey", "-pubin", "-in", key_uri(token, label, "public"), "-pubout", "-out", str(out))
    return serialization.load_pem_public_key(out.read_bytes())


def test_provider_storeutl_lists_keys_and_certificates(token: Token, tmp_path: Path) -> None:
    proc = openssl(token, "storeutl", "-keys", "-text", f"pkcs11:token={token.label}")
    out = proc.stdout.decode()
    assert "PKCS11 RSA Private Key (2048 bits)" in out and "PKCS11 EC Private Key (256 bits)" in out, out
    assert "object=rsa;type=private" in out and "object=ec;type=private" in out, out
    assert "Total found: 2" in out, out
    pub = openssl(token, "storeutl", key_uri(token, "ec", "public")).stdout.decode()
    assert "BEGIN PUBLIC KEY" in pub, pub

    # a certificate written to the token is found and read back intact
    cert_path = tmp_path / "cert.pem"
    openssl(
        token,
        "req",
        "-new",
        "-x509",
        "-sha256",
        "-days",
        "2",
        "-subj",
        "/CN=stored",
        "-key",
        key_uri(token, "ec"),
        "-out",
        str(cert_path),
    )
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    (tmp_path / "cert.der").write_bytes(cert.public_bytes(serialization.Encoding.DER))
    token.tool("--write-object", str(tmp_path / "cert.der"), "--type", "cert", "--id", "02", "--label", "ec")
    out = openssl(token, "storeutl", "-certs", f"pkcs11:token={token.label}").stdout.decode()
    assert "Total found: 1" in out, out
    pem = out[out.index("-----BEGIN CERTIFICATE-----") : out.index("-----END CERTIFICATE-----") + 25]
    assert x509.load_pem_x509_certificate(pem.encode()) == cert
    assert_no_traceback(token)


def test_provider_pkeyutl_sign_rsa_and_ec(token: Token, tmp_path: Path) -> None:
    digest = hashlib.sha256(DATA).digest()
    (tmp_path / "digest.bin").write_bytes(digest)
    for label in ("rsa", "ec"):
        sig = tmp_path / f"{label}.sig"
        openssl(
            token,
            "pkeyutl",
            "-sign",
            "-inkey",
            key_uri(token, label),
            "-pkeyopt",
            "digest:sha256",
            "-in",
            str(tmp_path / "digest.bin"),
            "-out",
            str(sig),
        )
        pub = public_key(token, label, tmp_path)
        if label == "rsa":
            pub.verify(sig.read_bytes(), digest, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))
        else:
            pub.verify(sig.read_bytes(), digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
    # RSA-PSS through the provider (SHA256-RSA-PKCS-PSS or RSA-PKCS-PSS on the token)
    sig = tmp_path / "pss.sig"
    openssl(
        token,
        "pkeyutl",
        "-sign",
        "-inkey",
        key_uri(token, "rsa"),
        "-pkeyopt",
        "digest:sha256",
        "-pkeyopt",
        "rsa_padding_mode:pss",
        "-pkeyopt",
        "rsa_pss_saltlen:digest",
        "-in",
        str(tmp_path / "digest.bin"),
        "-out",
        str(sig),
    )
    public_key(token, "rsa", tmp_path).verify(
        sig.read_bytes(),
        digest,
        padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
        utils.Prehashed(hashes.SHA256()),
    )
    assert_no_traceback(token)


def test_provider_dgst_sign_whole_message(token: Token, tmp_path: Path) -> None:
    """``dgst -sign`` hands the whole message to the provider (multi-part SHA256-RSA-PKCS)."""
    (tmp_path / "data.txt").write_bytes(DATA * 100)
    sig = tmp_path / "data.sig"
    openssl(
        token, "dgst", "-sha256", "-sign", key_uri(token, "rsa"), "-out", str(sig), str(tmp_path / "data.txt")
    )
    public_key(token, "rsa", tmp_path).verify(
        sig.read_bytes(), DATA * 100, padding.PKCS1v15(), hashes.SHA256()
    )
    assert_no_traceback(token)


@pytest.mark.parametrize("label", ["rsa", "ec"])
def test_provider_req_x509_self_signed(token: Token, tmp_path: Path, label: str) -> None:
    cert_path = tmp_path / "cert.pem"
    openssl(
        token,
        "req",
        "-new",
        "-x509",
        "-sha256",
        "-days",
        "2",
        "-subj",
        f"/CN=softhsm-py provider {label}",
        "-key",
        key_uri(token, label),
        "-out",
        str(cert_path),
    )
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    assert cert.public_key() == public_key(token, label, tmp_path)
    cert.verify_directly_issued_by(cert)
    assert_no_traceback(token)


def test_provider_clones_a_digest_through_operation_state(token: Token, tmp_path: Path) -> None:
    """pkcs11-provider's EVP_MD_CTX_copy_ex of a digest on the token: C_GetOperationState, a new
    session, C_SetOperationState (its digests.c dupctx). Without a saved state the original context
    loses its session and its update fails; here both copies finish, each with its own data."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc is missing")
    exe = tmp_path / "provider_digest_host"
    source = Path(__file__).resolve().parent / "c" / "provider_digest_host.c"
    build = subprocess.run(
        ["gcc", "-Wall", "-Wextra", "-Werror", "-O1", "-o", str(exe), str(source), "-lcrypto"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert build.returncode == 0, f"building against OpenSSL 3 (libssl-dev): {build.stderr[-2000:]}"
    spy_log = tmp_path / "spy.log"
    module, spy_env = token.spy(spy_log)
    conf = tmp_path / "openssl-provider-spy.cnf"
    pin_file = tmp_path / "pin.txt"
    conf.write_text(hostconfig.openssl_provider(module, provider_path=PROVIDER_PATH, pin_file=pin_file))
    proc = token.run([str(exe), key_uri(token, "rsa", "public")], env={"OPENSSL_CONF": str(conf), **spy_env})
    lines = proc.stdout.decode().split()
    assert len(lines) == 4, proc.stdout + proc.stderr
    clone_a, clone_b, soft_a, soft_b = lines
    assert (
        clone_a == soft_a == hashlib.sha256(b"common prefix, hashed on the token; then one way").hexdigest()
    )
    assert clone_b == soft_b != clone_a
    calls = spy_log.read_text()
    # (OpenSC 0.23's spy logs the second one as "SetOperationState", without its "C_")
    assert "C_GetOperationState" in calls and "SetOperationState" in calls, calls[-2000:]
    assert_no_traceback(token)
