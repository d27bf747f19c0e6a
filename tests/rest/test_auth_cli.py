"""The credential commands (``api-key``, ``token``, ``client-cert``), ``show-config``'s [rest]
table with its secrets redacted, and ``serve`` refusing configurations that would open a
partition to anyone. The commands run in-process; what they make is checked independently
(hashlib, PyJWT, pyca/cryptography)."""

from __future__ import annotations

import hashlib
import io
import re
import stat
import time
from pathlib import Path

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from softhsm_py.cli.main import main
from support.credentials import CertAuthority, Signer, api_key

from .conftest import PIN_ENV, cli, partitions_table, prepare_token


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def conf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "softhsm-py.toml"
    path.write_text('token_dir = "tokens"\n')
    monkeypatch.setenv("SOFTHSM_PY_CONF", str(path))
    return path


def test_api_key_prints_a_key_and_its_hash(capsys: pytest.CaptureFixture[str], conf: Path) -> None:
    code, out, _ = run(capsys, "api-key", "--role", "keyOperationToken", "--partition", "demo", "--id", "ci")
    assert code == 0
    key = re.search(r'^key = "([^"]+)"', out, re.M).group(1)  # type: ignore[union-attr]
    digest = "sha256:" + hashlib.sha256(key.encode()).hexdigest()
    assert f'hash = "{digest}"' in out
    assert f'keyOperationToken = [{{ hash = "{digest}", id = "ci", partition = "demo" }}]' in out
    second = run(capsys, "api-key")[1]
    assert key not in second


def test_api_key_hashes_a_given_key(
    capsys: pytest.CaptureFixture[str], conf: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key, digest = api_key()
    monkeypatch.setattr("sys.stdin", io.StringIO(key + "\n"))
    assert run(capsys, "api-key", "--stdin")[1].strip() == f'hash = "{digest}"'
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    code, out, err = run(capsys, "api-key", "--stdin")
    assert code == 1 and "at least 20 characters" in err and "short" not in err + out


@pytest.mark.parametrize("kind", ["ed25519", "p256", "rsa"])
def test_token_is_a_jwt_for_the_partition(
    capsys: pytest.CaptureFixture[str], conf: Path, tmp_path: Path, kind: str
) -> None:
    signer = Signer.new(kind)
    key_file = tmp_path / "issuer.key"
    key_file.write_bytes(signer.private_pem)
    code, out, err = run(
        capsys, "token", "--key", str(key_file), "--partition", "demo", "--issuer", "https://i.test",
        "--audience", "svc", "--role", "serviceToken", "--role", "keyOperationToken", "--lifetime", "120",
    )  # fmt: skip
    assert code == 0, err
    token = out.strip()
    got = jwt.decode(
        token, signer.public_pem, algorithms=[signer.algorithm], audience="svc", issuer="https://i.test"
    )
    assert got["partition"] == "demo" and got["roles"] == ["serviceToken", "keyOperationToken"]
    assert got["exp"] - got["iat"] == 120 and abs(got["iat"] - time.time()) < 60 and got["sub"] and got["jti"]


def test_token_takes_issuer_and_audience_from_the_configuration(
    capsys: pytest.CaptureFixture[str], conf: Path, tmp_path: Path
) -> None:
    signer = Signer.new("ed25519")
    (tmp_path / "issuer.key").write_bytes(signer.private_pem)
    (tmp_path / "issuer.pub").write_bytes(signer.public_pem)
    conf.write_text(
        conf.read_text() + '[rest.jwt]\nissuer = "https://conf.test"\naudience = "conf-aud"\n'
        'keys = ["issuer.pub"]\npartition_claim = "tenant"\n'
    )
    code, out, err = run(capsys, "token", "--key", str(tmp_path / "issuer.key"), "--partition", "p1")
    assert code == 0, err
    got = jwt.decode(out.strip(), signer.public_pem, algorithms=["EdDSA"], audience="conf-aud")
    assert got["iss"] == "https://conf.test" and got["tenant"] == "p1" and "roles" not in got
    # a public key cannot sign; a P-384 key is not one of the algorithms
    code, _, err = run(capsys, "token", "--key", str(tmp_path / "issuer.pub"), "--partition", "p1")
    assert code == 1 and "public key" in err
    (tmp_path / "p384.key").write_bytes(Signer.new("p384").private_pem)
    code, _, err = run(capsys, "token", "--key", str(tmp_path / "p384.key"), "--partition", "p1")
    assert code == 1 and "not an unencrypted PEM private key" in err


def test_client_cert_makes_a_ca_and_a_certificate(
    capsys: pytest.CaptureFixture[str], conf: Path, tmp_path: Path
) -> None:
    ca_dir = tmp_path / "ca"
    code, out, err = run(capsys, "client-cert", "--ca-dir", str(ca_dir), "--name", "billing")
    assert code == 0, err
    ca = x509.load_pem_x509_certificate((ca_dir / "ca.crt").read_bytes())
    cert = x509.load_pem_x509_certificate((ca_dir / "billing.crt").read_bytes())
    cert.verify_directly_issued_by(ca)
    assert cert.subject.rfc4514_string() == "CN=billing"
    for key in ("ca.key", "billing.key"):
        assert stat.S_IMODE((ca_dir / key).stat().st_mode) == 0o600
    der = cert.public_bytes(serialization.Encoding.DER)
    digest = hashlib.sha256(der).hexdigest().upper()
    assert ":".join(digest[i : i + 2] for i in range(0, 64, 2)) in out
    # a second certificate from the same CA
    code, out, _ = run(capsys, "client-cert", "--ca-dir", str(ca_dir), "--name", "ops", "--days", "7")
    assert code == 0 and "made a client CA" not in out
    ops = x509.load_pem_x509_certificate((ca_dir / "ops.crt").read_bytes())
    ops.verify_directly_issued_by(ca)
    assert run(capsys, "client-cert", "--ca-dir", str(ca_dir), "--name", "../x")[0] == 1


def test_show_config_redacts_key_hashes(
    capsys: pytest.CaptureFixture[str], conf: Path, tmp_path: Path
) -> None:
    _, digest = api_key()
    ca = CertAuthority.new("CA")
    (tmp_path / "ca.pem").write_bytes(ca.pem)
    conf.write_text(
        conf.read_text()
        + '[rest]\nlisten = "0.0.0.0:9443"\n'
        + f'[rest.api_keys]\nserviceToken = [{{ hash = "{digest}", id = "mon" }}]\n'
        + '[rest.mtls]\nca_bundle = "ca.pem"\n[[rest.mtls.clients]]\nsubject = "CN=a"\npartition = "demo"\n'
        + partitions_table("demo")
    )
    code, out, err = run(capsys, "show-config")
    assert code == 0, err
    assert digest not in out and digest[7:] not in out
    assert 'serviceToken = [{ id = "mon", hash = "sha256:<redacted>" }]' in out
    assert 'listen = "0.0.0.0:9443"' in out and 'subject = "CN=a"' in out and f'pin_env = "{PIN_ENV}"' in out
    import tomllib

    tomllib.loads(out)  # still TOML


@pytest.mark.parametrize(
    ("table", "args", "message"),
    [
        (partitions_table("rest"), ["--listen", "0.0.0.0:18999"], "needs authentication"),
        (partitions_table("rest", "two"), [], "several partitions need authentication"),
        (
            '[rest.mtls]\nca_bundle = "ca.pem"\n[[rest.mtls.clients]]\nsubject = "CN=a"\npartition = "rest"\n'
            + partitions_table("rest"),
            ["--plain-http"],
            "[rest.mtls] needs TLS",
        ),
        (
            '[rest.jwt]\nissuer = "i"\naudience = "a"\nkeys = ["missing.pem"]\n' + partitions_table("rest"),
            [],
            "cannot read it",
        ),
        (
            '[rest.api_keys]\nserviceToken = ["plain-text-key-0123456789"]\n' + partitions_table("rest"),
            [],
            "must be a hash",
        ),
    ],
)
def test_serve_refuses_open_or_broken_authentication(
    tmp_path: Path, table: str, args: list[str], message: str
) -> None:
    env = prepare_token(tmp_path, extra_config="\n[rest]\n" + table)
    (tmp_path / "ca.pem").write_bytes(CertAuthority.new("CA").pem)
    proc = cli("serve", *args, env=env, check=False)
    assert proc.returncode == 1 and message in proc.stderr, proc.stderr
    assert "plain-text-key" not in proc.stderr and "Traceback" not in proc.stderr
