"""OpenSC's pkcs11-tool (a C host, no PYTHONPATH in its environment) against the built library:
token and PIN management, info listings, random numbers. Objects are not wired yet."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from support.pkcs11 import default_module_path, write_config

TOOL = shutil.which("pkcs11-tool")
SO_PIN, USER_PIN, NEW_PIN = "12345678", "87654321", "11223344"
LABEL = "pkcs11-tool"

pytestmark = pytest.mark.skipif(TOOL is None, reason="pkcs11-tool is missing")


class Tool:
    def __init__(self, module: str, env: dict[str, str], cwd: Path) -> None:
        self.module, self.env, self.cwd = module, env, cwd

    def __call__(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            [TOOL, "--module", self.module, *args],
            env=self.env, cwd=self.cwd, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        details = f"pkcs11-tool {' '.join(args)}: status {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        assert "Traceback" not in proc.stderr, details
        if ok:
            assert proc.returncode == 0, details
        return proc


@pytest.fixture
def tool(request: pytest.FixtureRequest, tmp_path: Path) -> Tool:
    module = request.config.getoption("module", default=None) or default_module_path()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.pop("SOFTHSM2_CONF", None)
    env.update(write_config(tmp_path, module, log_file=str(tmp_path / "softhsm-py.log")))
    return Tool(module, env, tmp_path)


@pytest.fixture
def token(tool: Tool) -> Tool:
    tool("--init-token", "--slot-index", "0", "--label", LABEL, "--so-pin", SO_PIN)
    tool("--init-pin", "--login", "--token-label", LABEL, "--so-pin", SO_PIN, "--new-pin", USER_PIN)
    return tool


def test_info(tool: Tool) -> None:
    out = tool("-I").stdout
    assert "Cryptoki version" in out and "softhsm-py" in out


def test_list_slots_empty(tool: Tool) -> None:
    out = tool("-L").stdout
    assert "token state:   uninitialized" in out or "uninitialized" in out


def test_init_token_and_pin(token: Tool) -> None:
    out = token("-L").stdout
    assert f"token label        : {LABEL}" in out
    assert "PIN initialized" in out
    # Always one uninitialised slot left.
    assert out.count("uninitialized") == 1, out


def test_list_token_slots(token: Tool) -> None:
    out = token("-T").stdout
    assert f"token label        : {LABEL}" in out


def test_login_and_random(token: Tool) -> None:
    target = token.cwd / "random.bin"
    token("--login", "--pin", USER_PIN, "--generate-random", "32", "--output-file", str(target))
    assert len(target.read_bytes()) == 32


def test_wrong_pin(token: Tool) -> None:
    proc = token(
        "--login", "--pin", "00000000", "--generate-random", "8", "--output-file", "/dev/null", ok=False
    )
    assert proc.returncode != 0
    assert "CKR_PIN_INCORRECT" in proc.stdout + proc.stderr


def test_change_pin(token: Tool) -> None:
    token("--change-pin", "--token-label", LABEL, "--pin", USER_PIN, "--new-pin", NEW_PIN)
    token("--login", "--pin", NEW_PIN, "--generate-random", "8", "--output-file", "/dev/null")
    proc = token(
        "--login", "--pin", USER_PIN, "--generate-random", "8", "--output-file", "/dev/null", ok=False
    )
    assert "CKR_PIN_INCORRECT" in proc.stdout + proc.stderr


def test_change_so_pin(token: Tool) -> None:
    token(
        "--change-pin",
        "--login",
        "--login-type",
        "so",
        "--so-pin",
        SO_PIN,
        "--new-pin",
        NEW_PIN,
        "--token-label",
        LABEL,
    )
    token("--init-pin", "--login", "--token-label", LABEL, "--so-pin", NEW_PIN, "--new-pin", USER_PIN)


def test_list_objects(token: Tool, tmp_path: Path) -> None:
    data = tmp_path / "blob.txt"
    data.write_bytes(b"listed by pkcs11-tool")
    token("--login", "--pin", USER_PIN, "--write-object", str(data), "--type", "data", "--label", "blob")
    listing = token("--login", "--pin", USER_PIN, "-O")
    assert "blob" in listing.stdout
