"""Python hosts that unload the library and then exit (issue 16, item 2): every PyKCS11 script that
drops its library object, and python-pkcs11 after a failed C_Initialize (it unloads the library
then). The process must exit 0: the library leaves nothing behind in the host's interpreter that
points into it (it once registered one of its C functions with ``atexit``: SIGSEGV, status 139)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from support.pkcs11 import SOFTHSM2_PATH, TESTS, default_module_path, write_config

PYKCS11_DROP = "import PyKCS11,sys; l=PyKCS11.PyKCS11Lib(); l.load(sys.argv[1]); del l"

PREPARE = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {tests!r})
    from support.pkcs11 import Module
    prep = Module(sys.argv[1]); prep.initialize(); prep.ready_token("unload"); prep.finalize()
    """
).format(tests=str(TESTS))

PYKCS11_AGAIN = textwrap.dedent(
    """
    import sys
    import PyKCS11
    for round in (1, 2):
        lib = PyKCS11.PyKCS11Lib()
        lib.load(sys.argv[1])  # C_Initialize; unload: C_Finalize, dlclose
        slot = lib.getSlotList(tokenPresent=True)[0]  # the token; the empty slot comes last
        session = lib.openSession(slot)
        session.login("87654321")
        assert len(session.generateRandom(16)) == 16
        session.logout()
        session.closeSession()
        del session, lib
        print("round", round, "done", flush=True)
    """
)

PYTHON_PKCS11_FAILED_INIT = textwrap.dedent(
    """
    import sys
    import pkcs11
    try:
        pkcs11.lib(sys.argv[1])
    except Exception as e:
        print(type(e).__name__)
    """
)


def host_env(tmp_path: Path, module: str, **settings: object) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SOFTHSM2_CONF", "SOFTHSM_PY_CONF")}
    env.update(write_config(tmp_path, module, log_file=str(tmp_path / "softhsm-py.log"), **settings))
    return env


def run(script: str, module: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", script, module], env=env, capture_output=True, text=True, timeout=120
    )


def ours(request: pytest.FixtureRequest) -> str:
    return request.config.getoption("module", default=None) or default_module_path()


@pytest.mark.parametrize("impl", ["softhsm-py", "SoftHSMv2"])
def test_pykcs11_drops_its_library(request: pytest.FixtureRequest, tmp_path: Path, impl: str) -> None:
    """The issue's one-liner: SoftHSMv2 exits 0, and so must we."""
    pytest.importorskip("PyKCS11")
    module = SOFTHSM2_PATH if impl == "SoftHSMv2" else ours(request)
    if not Path(module).exists():
        pytest.skip(f"{module} is missing")
    proc = run(PYKCS11_DROP, module, host_env(tmp_path, module))
    assert proc.returncode == 0, f"status {proc.returncode}\n{proc.stderr}"
    assert "Traceback" not in proc.stderr


def test_pykcs11_loads_again(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """Unloaded (C_Finalize, dlclose) and loaded again in one process: the second load works too."""
    pytest.importorskip("PyKCS11")
    module = ours(request)
    env = host_env(tmp_path, module)
    # The token is made in another process: a loader of our own would keep the library loaded.
    assert run(PREPARE, module, env).returncode == 0
    proc = run(PYKCS11_AGAIN, module, env)
    assert proc.returncode == 0, f"status {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert proc.stdout.split("\n")[:2] == ["round 1 done", "round 2 done"], proc.stdout


def test_python_pkcs11_after_failed_initialize(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """A configuration that does not parse: C_Initialize fails, python-pkcs11 unloads the
    library and raises; the host then exits normally."""
    pytest.importorskip("pkcs11")
    module = ours(request)
    conf = tmp_path / "bad.toml"
    conf.write_text('token_dir = "x\n')
    env = host_env(tmp_path, module)
    env["SOFTHSM_PY_CONF"] = str(conf)
    proc = run(PYTHON_PKCS11_FAILED_INIT, module, env)
    assert proc.returncode == 0, f"status {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert proc.stdout.strip() == "GeneralError", proc.stdout
    assert "invalid TOML" in proc.stderr  # the reason, on stderr (no log file was configured)
