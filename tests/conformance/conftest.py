"""Fixtures for the conformance tests: load a PKCS#11 module (softhsm-py by default, SoftHSMv2
with --softhsm2, any other with --module PATH or $SOFTHSM_PY_TEST_MODULE) and give each test a
fresh token directory (configured for softhsm-py and SoftHSMv2; another module is used with the
tokens it has, the tests initialising one on its empty slot). The PINs come from
$PKCS11_TEST_SO_PIN and $PKCS11_TEST_USER_PIN (defaults 12345678 and 87654321). The options are
declared in tests/conftest.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from support.pkcs11 import SOFTHSM2_PATH, Module, default_module_path, is_softhsm2, write_config


def selected_module_path(config: pytest.Config) -> str:
    if config.getoption("softhsm2", default=False):
        return SOFTHSM2_PATH
    return config.getoption("module", default=None) or default_module_path()


def module_name(path: str) -> str:
    return "SoftHSMv2" if is_softhsm2(path) else "softhsm-py"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    name = module_name(selected_module_path(config))
    for item in items:
        for mark in item.iter_markers("spec_departure"):
            if mark.args and mark.args[0] == name:
                clause = mark.kwargs.get("clause", "?")
                item.add_marker(
                    pytest.mark.xfail(
                        reason=f"{name} departs from the spec ({clause})",
                        strict=True,
                        run=mark.kwargs.get("run", True),
                    )
                )


@pytest.fixture(scope="session")
def module_path(pytestconfig: pytest.Config) -> str:
    path = selected_module_path(pytestconfig)
    if not Path(path).exists():
        pytest.skip(f"PKCS#11 module {path} is missing")
    return path


@pytest.fixture(scope="session")
def loaded(module_path: str) -> Module:
    """The module, dlopen()ed once for the whole run (in this process: for softhsm-py that is the
    python-pkcs11 situation, the library sharing the host's interpreter)."""
    return Module(module_path)


@pytest.fixture
def token_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, loaded: Module) -> dict[str, str]:
    """A fresh token directory and config file, named in os.environ for the next C_Initialize."""
    env = write_config(tmp_path, loaded.path, log_file=str(tmp_path / "softhsm-py.log"))
    monkeypatch.delenv("SOFTHSM_PY_CONF", raising=False)
    monkeypatch.delenv("SOFTHSM2_CONF", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture
def bare(loaded: Module, token_env: dict[str, str]) -> Iterator[Module]:
    """The module, configured but not initialised; finalised (if needed) after the test."""
    yield loaded
    loaded.finalize()


@pytest.fixture
def module(bare: Module) -> Module:
    """The module, initialised on a fresh token directory (one empty slot, no token)."""
    bare.initialize()
    return bare


@pytest.fixture(autouse=True)
def _no_stray_output(
    request: pytest.FixtureRequest, capfd: pytest.CaptureFixture[str], tmp_path: Path
) -> Iterator[None]:
    """A module must never write to stdout (the host's), nor let a Python traceback escape."""
    yield
    out, err = capfd.readouterr()
    if out:
        pytest.fail(f"the test wrote to stdout:\n{out}")
    path = selected_module_path(request.config)
    if is_softhsm2(path):
        return
    log = tmp_path / "softhsm-py.log"
    logged = log.read_text(errors="replace") if log.exists() else ""
    for where, content in (("stderr", err), ("the log file", logged)):
        if "Traceback" in content:
            pytest.fail(f"a Python traceback reached {where}:\n{content}")
