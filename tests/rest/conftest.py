"""A real ``softhsm-py serve`` process for the REST tests.

``start_server(...)`` lays out a temporary token directory and configuration file, initialises a
token with the CLI, starts the service on a free loopback port (TLS with its self-signed
certificate by default, or ``--dev`` plain HTTP), waits until it answers, and stops it (SIGTERM,
then SIGKILL) when the test is done. ``rest_server`` is one such server shared by a module.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

httpx = pytest.importorskip("httpx")

SO_PIN = "12345678"
USER_PIN = "87654321"
PIN_ENV = "SOFTHSM_PY_TEST_REST_PIN"
LABEL = "rest"
READY_TIMEOUT = 90.0


def tls_context(cert: Path | None) -> ssl.SSLContext | bool:
    """Trust exactly the server's (self-signed) certificate; False for plain HTTP."""
    return ssl.create_default_context(cafile=str(cert)) if cert else False


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli(*args: str, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "softhsm_py.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"softhsm-py {args[0]} failed: {proc.stderr}")
    return proc


def mtls_context(server_cert: Path | None, client_cert: Path, client_key: Path) -> ssl.SSLContext:
    """Trust the server's certificate and present a client certificate."""
    context = ssl.create_default_context(cafile=str(server_cert) if server_cert else None)
    context.load_cert_chain(str(client_cert), str(client_key))
    return context


@dataclass
class Server:
    url: str
    root: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    log_path: Path
    cert: Path | None = None
    label: str = LABEL
    user_pin: str = USER_PIN
    clients: list[httpx.Client] = field(default_factory=list)

    def client(self, verify: ssl.SSLContext | bool | None = None, **kwargs: object) -> httpx.Client:
        context = tls_context(self.cert) if verify is None else verify
        c = httpx.Client(base_url=self.url, verify=context, timeout=120, **kwargs)  # type: ignore[arg-type]
        self.clients.append(c)
        return c

    def audit(self) -> list[dict[str, object]]:
        """The audit log's lines so far (the default place: <token_dir>/rest-audit.jsonl)."""
        path = self.root / "tokens" / "rest-audit.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines()]

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def module_path(self) -> str:
        return cli("module-path", env=self.env).stdout.strip()

    def stop(self) -> None:
        for c in self.clients:
            c.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def prepare_token(
    root: Path, label: str = LABEL, extra_config: str = "", more_labels: tuple[str, ...] = ()
) -> dict[str, str]:
    """A token directory with initialised tokens (``label``, then ``more_labels``, all with the
    same PINs); the environment that selects it."""
    root.mkdir(parents=True, exist_ok=True)
    conf = root / "softhsm-py.toml"
    conf.write_text(f'token_dir = "tokens"\nlog_file = "softhsm-py.log"\n{extra_config}')
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOFTHSM_PY")}
    env["SOFTHSM_PY_CONF"] = str(conf)
    env[PIN_ENV] = USER_PIN
    for each in (label, *more_labels):
        cli("init-token", "--label", each, "--so-pin", SO_PIN, "--pin", USER_PIN, env=env)
    return env


def partitions_table(*labels: str) -> str:
    """``[[rest.partitions]]`` rows for ``labels``, PINs from ``PIN_ENV``."""
    return "".join(f'\n[[rest.partitions]]\nlabel = "{label}"\npin_env = "{PIN_ENV}"\n' for label in labels)


def start_server(
    root: Path,
    *,
    dev: bool = False,
    workers: int = 1,
    label: str = LABEL,
    env: dict[str, str] | None = None,
    extra_args: tuple[str, ...] = (),
    cert: Path | None = None,
    client_cert: tuple[Path, Path] | None = None,
) -> Server:
    """Start ``softhsm-py serve``; ready when ``GET /v1/versionInfo`` gets an answer (200, or 401
    when authentication is on), presenting ``client_cert`` (certificate, key) for mutual TLS."""
    port = free_port()
    if env is None:
        rest = "" if dev else f'\n[rest]\n[[rest.partitions]]\nlabel = "{label}"\npin_env = "{PIN_ENV}"\n'
        env = prepare_token(root, label, rest)
    args = ["serve", "--listen", f"127.0.0.1:{port}", "--workers", str(workers), *extra_args]
    if dev:
        env = {**env, "SOFTHSM_PY_PIN": USER_PIN}
        args += ["--dev", "--partition", label]
    log_path = root / f"serve-{port}.out"
    with open(log_path, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "softhsm_py.cli", *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    scheme = "http" if dev else "https"
    if cert is None and not dev:
        cert = root / "tokens" / "rest-tls" / "server.crt"
    server = Server(f"{scheme}://127.0.0.1:{port}", root, env, process, log_path, cert, label)
    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        if process.poll() is not None:
            raise AssertionError(f"softhsm-py serve exited ({process.returncode}):\n{server.output()}")
        if time.monotonic() > deadline:
            server.stop()
            raise AssertionError(f"softhsm-py serve did not answer in time:\n{server.output()}")
        if cert is None or cert.exists():
            try:
                verify = mtls_context(cert, *client_cert) if client_cert else tls_context(cert)
                r = httpx.get(f"{server.url}/v1/versionInfo", verify=verify, timeout=5)
                if r.status_code in (200, 401):
                    return server
            except httpx.HTTPError:
                pass
        time.sleep(0.2)


@pytest.fixture(scope="module")
def rest_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(tmp_path_factory.mktemp("rest"), workers=2)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def client(rest_server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=rest_server.url, verify=tls_context(rest_server.cert), timeout=120) as c:
        yield c
