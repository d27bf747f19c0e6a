"""The built library under small C hosts (tests/hosts/c/*.c, compiled here with gcc): exit-time
teardown, fork, threads, RTLD_LOCAL without PYTHONPATH, and a broken configuration."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from support.pkcs11 import ROOT, SOFTHSM2_PATH, TESTS, default_module_path, write_config

SOURCES = Path(__file__).resolve().parent / "c"
HOSTS = ("atexit", "fork", "thread", "info")

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc is missing")


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("c-hosts")
    built = {}
    for name in HOSTS:
        exe = out / f"{name}_host"
        subprocess.run(
            ["gcc", "-Wall", "-Wextra", "-Werror", "-O1", f"-I{ROOT / 'native'}", f"-I{SOURCES}",
             "-o", str(exe), str(SOURCES / f"{name}_host.c"), "-ldl", "-lpthread"],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        built[name] = exe
    return built


@pytest.fixture(scope="module")
def ours(request: pytest.FixtureRequest) -> str:
    return request.config.getoption("module", default=None) or default_module_path()


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    """The host's environment: no PYTHON* variables (a C host knows nothing of Python)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.pop("SOFTHSM_PY_CONF", None)
    env.pop("SOFTHSM2_CONF", None)
    env.update(extra)
    return env


PREPARE = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {tests!r})
    from support.pkcs11 import Module
    m = Module(sys.argv[1])
    m.initialize()
    m.ready_token("host")
    m.finalize()
    """
).format(tests=str(TESTS))


def token_dir(tmp_path: Path, module_path: str) -> dict[str, str]:
    """A fresh token directory with one token (user PIN set); the env that names it."""
    env = clean_env(write_config(tmp_path, module_path, log_file=str(tmp_path / "softhsm-py.log")))
    subprocess.run([sys.executable, "-c", PREPARE, module_path], env=env, check=True, timeout=60)
    return env


def run(
    exe: Path, *args: str, env: dict[str, str], cwd: Path, timeout: int = 60
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(exe), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


def assert_clean(proc: subprocess.CompletedProcess, log: Path | None = None) -> None:
    details = f"status {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert proc.returncode == 0, details
    assert "Traceback" not in proc.stderr, details
    if log is not None and log.exists():
        assert "Traceback" not in log.read_text(), log.read_text()


# ------------------------------------------------------------------------------- (a) atexit


@pytest.mark.parametrize("order", ["early", "late"])
def test_atexit_teardown(hosts: dict[str, Path], ours: str, tmp_path: Path, order: str) -> None:
    env = token_dir(tmp_path, ours)
    proc = run(hosts["atexit"], ours, order, env=env, cwd=tmp_path)
    assert_clean(proc, tmp_path / "softhsm-py.log")
    assert "C_CloseSession=0x0 C_Finalize=0x0" in proc.stderr


@pytest.mark.parametrize("order", ["early", "late"])
def test_atexit_teardown_softhsm2(hosts: dict[str, Path], tmp_path: Path, order: str) -> None:
    """CLIENTS.md: SoftHSMv2 crashes here. Recorded as an expected departure, not a failure."""
    if not Path(SOFTHSM2_PATH).exists():
        pytest.skip("SoftHSMv2 is missing")
    env = token_dir(tmp_path, SOFTHSM2_PATH)
    proc = run(hosts["atexit"], SOFTHSM2_PATH, order, env=env, cwd=tmp_path)
    if proc.returncode < 0:
        pytest.xfail(f"SoftHSMv2 dies of {signal.Signals(-proc.returncode).name} in the atexit teardown")
    assert proc.returncode == 0, proc.stderr


# ------------------------------------------------------------------------------- (b) fork


def test_fork(hosts: dict[str, Path], ours: str, tmp_path: Path) -> None:
    env = token_dir(tmp_path, ours)
    proc = run(hosts["fork"], ours, env=env, cwd=tmp_path)
    assert_clean(proc, tmp_path / "softhsm-py.log")
    assert "child: ok" in proc.stderr and "parent: ok" in proc.stderr


# ------------------------------------------------------------------------------- (c) threads


@pytest.mark.parametrize("init", ["os-locking", "null"])
def test_threads(hosts: dict[str, Path], ours: str, tmp_path: Path, init: str) -> None:
    env = token_dir(tmp_path, ours)
    proc = run(hosts["thread"], ours, init, env=env, cwd=tmp_path, timeout=120)
    assert_clean(proc, tmp_path / "softhsm-py.log")
    assert "host: ok" in proc.stderr


# ------------------------------------------------------------------------------- (d) RTLD_LOCAL, no PYTHON*


def test_rtld_local_without_pythonpath(hosts: dict[str, Path], ours: str, tmp_path: Path) -> None:
    """The "undefined symbol: PyExc_..." pitfall: the library dlopen()ed RTLD_LOCAL must still
    import extension modules (_cffi_backend, _sqlite3, cryptography) when C_Initialize runs."""
    env = token_dir(tmp_path, ours)
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    proc = run(hosts["info"], ours, env=env, cwd=elsewhere)
    assert_clean(proc, tmp_path / "softhsm-py.log")
    assert "init=0x0 info_rv=0x0" in proc.stdout, proc.stdout + proc.stderr
    assert "undefined symbol" not in proc.stderr


# ------------------------------------------------------------------------------- (e) broken config


@pytest.mark.parametrize("broken", ["not-toml", "bad-key", "missing"])
def test_broken_config(hosts: dict[str, Path], ours: str, tmp_path: Path, broken: str) -> None:
    """Discovery never starts Python, so it works whatever the config; C_Initialize then fails
    with CKR_GENERAL_ERROR (not CKR_OK) and says why on stderr."""
    conf = tmp_path / "softhsm-py.toml"
    if broken == "not-toml":
        conf.write_text("token_dir = [unterminated\n")
    elif broken == "bad-key":
        conf.write_text('token_dir = "tokens"\nkdf_cost = "cheap"\n')
    env = clean_env({"SOFTHSM_PY_CONF": str(conf)})
    proc = run(hosts["info"], ours, "interface", env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "interface=0x0 version=3.0" in proc.stdout, proc.stdout
    assert "init=0x5 " in proc.stdout, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert str(conf) in proc.stderr or "configuration" in proc.stderr, proc.stderr
