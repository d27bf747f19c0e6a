"""tsb-client-go's live tests with each authentication mode the client has, against a
``softhsm-py serve`` that enforces it:

- ``api_keys``: one partition, a key per role; the client's service-token list starts with a
  revoked key, so its own rollover on 401/631 is exercised; without keys the client is refused;
- ``bearer``: two partitions, a JWT (Ed25519) for one of them *and* API keys (the TSB's
  multi-tenant set-up); the client's TOKEN mode;
- ``cert``: two partitions, mutual TLS (``client_auth = "need"``) with a certificate mapped to
  one of them; the client's CERT mode, from files and from PEM variables.

Every live test that runs without authentication (``test_tsb_client_go.LIVE``) runs in each mode,
and the audit log shows the requests came in as that mode's caller, on that caller's partition.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.credentials import CertAuthority, Signer, api_key, claims

from .conftest import Server, partitions_table, prepare_token, start_server
from .test_tsb_client_go import LIVE, client_dir, go, go_env, run_pattern

pytestmark = pytest.mark.slow  # servers and Go runs

__all__ = ["client_dir"]  # the module's fixture, used here

AUTH_LIVE = {test: levels for test, levels in LIVE.items() if test != "TestNoAuthWithTSB"}
ISSUER, AUDIENCE = "https://issuer.test", "softhsm-py-go"


class Mode:
    def __init__(self, name: str, server: Server, env: dict[str, str], partition: str, who: str) -> None:
        self.name, self.server, self.env, self.partition, self.who = name, server, env, partition, who


def _role_keys() -> tuple[dict[str, str], str]:
    """(environment with one key per role, the [rest.api_keys] table)."""
    keys = {role: api_key() for role in ("keyManagementToken", "keyOperationToken", "serviceToken")}
    revoked, _ = api_key()  # listed first for the client, configured nowhere
    env = {
        "TSB_KEY_MANAGEMENT_TOKEN": keys["keyManagementToken"][0],
        "TSB_KEY_OPERATION_TOKEN": keys["keyOperationToken"][0],
        "TSB_SERVICE_TOKEN": f"{revoked},{keys['serviceToken'][0]}",
    }
    table = "\n[rest.api_keys]\n" + "".join(f'{role} = ["{h}"]\n' for role, (_k, h) in keys.items())
    return env, table


def _api_keys_mode(root: Path) -> tuple[Server, dict[str, str], str]:
    env, table = _role_keys()
    server_env = prepare_token(root, "rest", "\n[rest]" + table + partitions_table("rest"))
    return start_server(root, env=server_env), env, "rest"


def _bearer_mode(root: Path) -> tuple[Server, dict[str, str], str]:
    env, table = _role_keys()
    signer = Signer.new("ed25519")
    root.mkdir(parents=True, exist_ok=True)
    (root / "issuer.pub.pem").write_bytes(signer.public_pem)
    rest = (
        f'\n[rest]\n[rest.jwt]\nissuer = "{ISSUER}"\naudience = "{AUDIENCE}"\nkeys = ["issuer.pub.pem"]\n'
        + table
        + partitions_table("tenant-a", "tenant-b")
    )
    server_env = prepare_token(root, "tenant-a", rest, more_labels=("tenant-b",))
    token = signer.token(
        claims("tenant-b", issuer=ISSUER, audience=AUDIENCE, subject="go-client", lifetime=3600)
    )
    env["TSB_BEARER_TOKEN"] = token
    return start_server(root, env=server_env), env, "tenant-b"


def _cert_mode(root: Path) -> tuple[Server, dict[str, str], str]:
    ca = CertAuthority.new("go client CA")
    root.mkdir(parents=True, exist_ok=True)
    (root / "clients-ca.pem").write_bytes(ca.pem)
    cert, key, fp = ca.write_client(root / "client", "go-client")
    rest = (
        '\n[rest]\n[rest.mtls]\nca_bundle = "clients-ca.pem"\nclient_auth = "need"\n'
        f'[[rest.mtls.clients]]\nfingerprint = "{fp}"\npartition = "tenant-a"\n'
        + partitions_table("tenant-a", "tenant-b")
    )
    server_env = prepare_token(root, "tenant-a", rest, more_labels=("tenant-b",))
    server = start_server(root, env=server_env, client_cert=(cert, key))
    return server, {"TSB_CERT_PATH": str(cert), "TSB_KEY_PATH": str(key)}, "tenant-a"


MODES = {
    "api_keys": (_api_keys_mode, "api_key"),
    "bearer": (_bearer_mode, "token_subject"),
    "cert": (_cert_mode, "certificate_sha256"),
}


@pytest.fixture(scope="module", params=sorted(MODES))
def mode(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mode]:
    make, who = MODES[request.param]
    server, env, partition = make(tmp_path_factory.mktemp(f"go-{request.param}"))
    try:
        yield Mode(request.param, server, env, partition, who)
    finally:
        server.stop()


def run_go(client_dir: Path, mode: Mode, pattern: str, **extra: str) -> str:
    env = go_env(client_dir)
    env.update(TSB_URL=mode.server.url, SSL_CERT_FILE=str(mode.server.cert))
    env.update({**mode.env, **extra})
    proc = go(client_dir, env, "test", "-count=1", "-v", "-run", pattern, ".")
    return proc.stdout + proc.stderr + f"\n(exit {proc.returncode})"


@pytest.mark.parametrize("test", sorted(AUTH_LIVE))
def test_live_with_authentication(client_dir: Path, mode: Mode, test: str) -> None:
    before = len(mode.server.audit())
    out = run_go(client_dir, mode, run_pattern(test, AUTH_LIVE[test]))
    assert "(exit 0)" in out, out
    assert f"--- PASS: {test} " in out, out
    assert "--- FAIL" not in out and "--- SKIP" not in out, out
    levels = AUTH_LIVE[test]
    if levels:
        passed = {p.rsplit("/", 1)[-1] for p in re.findall(r"--- PASS: (\S+)", out)}
        assert not [n for n in levels[-1] if n not in passed], out
    lines = mode.server.audit()[before:]
    served = [line for line in lines if line["event"] == "request"]
    assert served, lines
    assert {line["partition"] for line in served} == {mode.partition}
    assert all(mode.who in line["who"] for line in served), served  # type: ignore[operator]


def test_the_mode_own_test(client_dir: Path, mode: Mode) -> None:
    """The client's test of its mode: TestTSBClientFromEnvWithTSB for API keys, with a revoked
    service key first (it rolls over on 401/631); TestBearerTokenWithTSB; the two certificate tests."""
    if mode.name == "api_keys":
        before = len(mode.server.audit())
        out = run_go(client_dir, mode, "^TestTSBClientFromEnvWithTSB$")
        assert "--- PASS: TestTSBClientFromEnvWithTSB" in out, out
        lines = mode.server.audit()[before:]
        assert [line["errorCode"] for line in lines] == [631, None], lines  # revoked, then the next key
        assert lines[0]["reason"] == "api key: unknown" and lines[1]["status"] == 200, lines
    elif mode.name == "bearer":
        out = run_go(client_dir, mode, "^TestBearerTokenWithTSB$")
        assert "--- PASS: TestBearerTokenWithTSB" in out, out
    else:
        out = run_go(client_dir, mode, "^TestCertificateFilesWithTSB$")
        assert "--- PASS: TestCertificateFilesWithTSB" in out, out
        cert, key = Path(mode.env["TSB_CERT_PATH"]), Path(mode.env["TSB_KEY_PATH"])
        out = run_go(client_dir, mode, "^TestCertificateVariablesWithTSB$", TSB_CERT_PEM=cert.read_text(),
                     TSB_KEY_PEM=key.read_text())  # fmt: skip
        assert "--- PASS: TestCertificateVariablesWithTSB" in out, out


def test_the_client_without_credentials_is_refused(client_dir: Path, mode: Mode) -> None:
    """The same client without its mode's credentials gets nothing."""
    strip = {k: "" for k in mode.env}
    if mode.name == "cert":
        pattern = "^TestNoAuthWithTSB$"  # the handshake fails without a certificate
    elif mode.name == "bearer":
        strip["TSB_BEARER_TOKEN"] = "not-a-token"
        pattern = "^TestBearerTokenWithTSB$"
    else:
        pattern = "^TestNoAuthWithTSB$"  # no keys sent: 401/631
    out = run_go(client_dir, mode, pattern, **strip)
    assert "--- FAIL" in out and "(exit 1)" in out, out
    if mode.name != "cert":
        assert "status: 401" in out, out
