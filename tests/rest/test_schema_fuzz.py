"""Property-based fuzzing of every route from the service's own OpenAPI schema (schemathesis):
whatever a caller sends, the answer is never a 5xx but the TSB's "not implemented". The partition
holds keys of every family the generated requests name (schema_fuzz_hooks.py), so requests reach
the routes' work: signing, ciphers, wrapping, certificates, attestation."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import Server, start_server

pytestmark = pytest.mark.slow
HERE = Path(__file__).resolve().parent
ATTRIBUTES = {
    "decrypt": True, "sign": True, "unwrap": True, "encrypt": True, "verify": True, "wrap": True,
    "destroyable": False, "extractable": True, "sensitive": False,
}  # fmt: skip
KEYS = {
    "fz-ec": {"algorithm": "EC", "curveOid": "1.2.840.10045.3.1.7"},
    "fz-rsa": {"algorithm": "RSA", "keySize": 2048},
    "fz-aes": {"algorithm": "AES", "keySize": 256},
    "fz-ed": {"algorithm": "ED", "curveOid": "1.3.101.112"},
    "fz-hmac": {"algorithm": "HMACSHA256", "keySize": 256},
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    s = start_server(tmp_path_factory.mktemp("fuzz"), dev=True)
    try:
        client = s.client()
        for label, spec in KEYS.items():
            r = client.post("/v1/key", json={"label": label, **spec, "attributes": ATTRIBUTES})
            assert r.status_code == 201, r.text
        yield s
    finally:
        s.stop()


def schemathesis_command() -> list[str]:
    """The schemathesis of this test's environment (a test dependency: ``pip install .[test]``)."""
    found = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    assert found is not None, "schemathesis is missing: pip install .[test]"
    return [found]


def test_no_input_makes_a_server_error(server: Server, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "schema_fuzz_hooks",
        "PYTHONPATH": str(HERE),
        "FUZZ_KEY_NAMES": ",".join([*KEYS, "fz-missing"]),
        "FUZZ_SEED": "20261206",
    }
    args = ["--checks", "no_server_errors", "--max-examples", "60", "--seed", "20261206", "--workers", "1"]
    proc = subprocess.run(
        [*schemathesis_command(), "run", f"{server.url}/v3/api-docs", *args, "--no-color"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,
    )
    report = proc.stdout[-6000:] + proc.stderr[-2000:]
    assert proc.returncode == 0, report
    assert "passed" in report and "Traceback" not in server.output(), report
