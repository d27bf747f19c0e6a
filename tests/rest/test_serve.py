"""``softhsm-py serve`` as a user meets it: the self-signed certificate and its printed fingerprint,
dev mode's loopback-only rule, plain HTTP only on loopback and only when asked, the [rest] table's
checks, and a wrong PIN stopping the start with one line (no traceback)."""

from __future__ import annotations

import hashlib
import re
import ssl
from pathlib import Path

import httpx
import pytest

from .conftest import PIN_ENV, Server, cli, prepare_token, start_server, tls_context


def test_self_signed_certificate_and_fingerprint(rest_server: Server) -> None:
    assert rest_server.cert is not None and rest_server.cert.exists()
    key = rest_server.cert.with_name("server.key")
    assert key.stat().st_mode & 0o077 == 0
    printed = re.search(r"SHA-256 fingerprint ([0-9A-F:]+)", rest_server.output())
    assert printed, rest_server.output()
    der = ssl.PEM_cert_to_DER_cert(rest_server.cert.read_text())
    assert printed.group(1) == ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())
    # the server presents that certificate, and plain HTTP is not served on the TLS port
    with httpx.Client(verify=tls_context(rest_server.cert)) as c:
        assert c.get(f"{rest_server.url}/v1/versionInfo").status_code == 200
    with pytest.raises(httpx.HTTPError):
        httpx.get(rest_server.url.replace("https:", "http:") + "/v1/versionInfo", timeout=10)


def test_dev_mode_serves_plain_http_on_loopback(tmp_path: Path) -> None:
    server = start_server(tmp_path, dev=True)
    try:
        assert server.url.startswith("http://127.0.0.1:")
        assert "DEVELOPMENT MODE" in server.output()
        with server.client() as c:
            assert c.get("/v1/keystore/statistics").status_code == 200
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dev", "--listen", "0.0.0.0:18999", "--partition", "rest"], "only on loopback"),
        (["--dev", "--listen", "192.0.2.1:18999", "--partition", "rest"], "only on loopback"),
        (["--dev", "--listen", "127.0.0.1:18999"], "--dev needs"),
        (["--plain-http", "--listen", "0.0.0.0:18999"], "plain HTTP is only served on a loopback address"),
        (["--partition", "rest"], "--partition is for --dev"),
        ([], "no partition to serve"),
    ],
)
def test_refusals(tmp_path: Path, args: list[str], message: str) -> None:
    env = prepare_token(tmp_path)
    env["SOFTHSM_PY_PIN"] = "87654321"
    proc = cli("serve", *args, env=env, check=False)
    assert proc.returncode == 1
    assert message in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_dev_mode_needs_the_pin_variable(tmp_path: Path) -> None:
    env = prepare_token(tmp_path)
    env.pop("SOFTHSM_PY_PIN", None)
    proc = cli("serve", "--dev", "--listen", "127.0.0.1:18998", "--partition", "rest", env=env, check=False)
    assert proc.returncode == 1 and "SOFTHSM_PY_PIN" in proc.stderr


def test_wrong_pin_stops_the_start(tmp_path: Path) -> None:
    rest = f'\n[rest]\n[[rest.partitions]]\nlabel = "rest"\npin_env = "{PIN_ENV}"\n'
    env = prepare_token(tmp_path, extra_config=rest)
    env[PIN_ENV] = "00000000"
    proc = cli("serve", "--listen", "127.0.0.1:18997", env=env, check=False)
    assert proc.returncode == 1
    assert "CKR_PIN_INCORRECT" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('[rest]\nlisten = "nohost"\n', "HOST:PORT"),
        ('[rest]\nworkers = "two"\n', "'workers' must be an integer"),
        ("[rest]\ncolour = 1\n", "unknown key(s): colour"),
        ('[rest]\n[[rest.partitions]]\nlabel = "rest"\n', "exactly one of pin_env and pin_file"),
        ('[rest]\n[[rest.partitions]]\nlabel = "rest"\npin_env = "A"\npin_file = "b"\n', "exactly one"),
        (
            '[rest]\ntls_certificate = "x.crt"\n[[rest.partitions]]\nlabel = "rest"\npin_env = "A"\n',
            "go together",
        ),
    ],
)
def test_rest_table_checks(tmp_path: Path, table: str, message: str) -> None:
    env = prepare_token(tmp_path, extra_config="\n" + table)
    proc = cli("serve", env=env, check=False)
    assert proc.returncode == 1 and message in proc.stderr, proc.stderr


def test_pin_from_a_file_and_configured_certificate(tmp_path: Path) -> None:
    from softhsm_py.rest import tls

    cert, key = tls.make_self_signed(tmp_path / "mine", "127.0.0.1")
    (tmp_path / "user.pin").write_text("87654321\n")
    rest = (
        f'\n[rest]\ntls_certificate = "{cert}"\ntls_key = "{key}"\n'
        '[[rest.partitions]]\nlabel = "rest"\npin_file = "user.pin"\n'
    )
    env = prepare_token(tmp_path / "t", extra_config=rest)
    (tmp_path / "t" / "user.pin").write_text("87654321\n")
    server = start_server(tmp_path / "t", env=env, cert=cert)
    try:
        with server.client() as c:
            assert c.get("/v1/keystore/statistics").status_code == 200
        assert not (tmp_path / "t" / "tokens" / "rest-tls").exists()
    finally:
        server.stop()
