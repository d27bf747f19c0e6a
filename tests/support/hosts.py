"""Host tests: a fresh token directory, the built module, and subprocess runners.

Every host test runs real programs (pkcs11-tool, openssl, p11tool, certutil, java, ssh-*) as
subprocesses against the built library, with the environment passed explicitly. ``make_token``
writes a config (``kdf_cost = 10``) in a temporary directory, initialises a token with the
``softhsm-py init-token`` command, and returns a ``Token`` that knows the module path, the env and
the PINs. ``Token.spy()`` gives the same token through OpenSC's pkcs11-spy, for diagnosing a host.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .pkcs11 import default_module_path, softhsm_py_config

SO_PIN = "12345678"
USER_PIN = "123456"
SPY_MODULE = "/usr/lib/x86_64-linux-gnu/pkcs11-spy.so"
ENGINE_PATHS = (
    "/usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so",
    "/usr/lib/x86_64-linux-gnu/engines-3/libpkcs11.so",
)
PROVIDER_PATH = "/usr/lib/x86_64-linux-gnu/ossl-modules/pkcs11.so"
P11KIT_CLIENT = "/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so"
TIMEOUT = 60  # seconds for any one host command: a hang is a failure, not a stuck run


def module_path() -> str:
    """The module under test (support.pkcs11.default_module_path), resolved; skip if not built."""
    try:
        return str(Path(default_module_path()).resolve())
    except RuntimeError as exc:
        pytest.skip(str(exc))


def require(*programs: str) -> None:
    """Skip the test, naming the program, when a host program is not installed."""
    for program in programs:
        if os.path.isabs(program):
            if not os.path.exists(program):
                pytest.skip(f"{program} not installed")
        elif shutil.which(program) is None:
            pytest.skip(f"{program} not installed")


def engine_path() -> str:
    for path in ENGINE_PATHS:
        if os.path.exists(path):
            return path
    pytest.skip("libengine-pkcs11-openssl not installed")


def base_env() -> dict[str, str]:
    """The caller's environment without anything that could point a host at another token/module."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SOFTHSM", "PKCS11SPY", "P11_KIT", "OPENSSL_", "NSS_"))
        and k not in ("PYTHONPATH", "PYTHONHOME")
    }
    env["LC_ALL"] = "C"
    return env


def run(
    args: Sequence[str | os.PathLike[str]],
    env: dict[str, str],
    *,
    check: bool = True,
    input: bytes | None = None,
    cwd: str | os.PathLike[str] | None = None,
    timeout: float = TIMEOUT,
) -> subprocess.CompletedProcess[bytes]:
    """Run a host program; on failure (check=True) fail the test with its command, code and output."""
    argv = [str(a) for a in args]
    shown = " ".join(a if len(a) < 200 else a[:60].replace("\n", " ") + "..." for a in argv)
    try:
        proc = subprocess.run(
            argv, env=env, input=input, capture_output=True, cwd=cwd, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"timed out after {timeout}s: {shown}\n{_both(exc.stdout, exc.stderr)}")
    if check and proc.returncode != 0:
        pytest.fail(
            f"exit code {proc.returncode} ({_signal(proc.returncode)}): {shown}\n"
            f"{_both(proc.stdout, proc.stderr)}"
        )
    return proc


def _signal(code: int) -> str:
    if code < 0:
        return f"killed by signal {-code}"
    if 128 < code < 160:
        return f"maybe signal {code - 128}"
    return "error"


def _both(out: bytes | str | None, err: bytes | str | None) -> str:
    def text(b: bytes | str | None) -> str:
        if b is None:
            return ""
        return b.decode(errors="replace") if isinstance(b, bytes) else b

    return f"--- stdout\n{text(out)[-4000:]}\n--- stderr\n{text(err)[-4000:]}"


@dataclass
class Token:
    """A fresh token directory with one initialised token (slot ``slot``, label ``label``)."""

    directory: Path
    module: str
    env: dict[str, str]
    label: str = "host"
    so_pin: str = SO_PIN
    pin: str = USER_PIN
    slot: int = 0
    log_file: Path | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def conf(self) -> Path:
        return Path(self.env["SOFTHSM_PY_CONF"])

    @property
    def uri(self) -> str:
        """RFC 7512 URI of the token (by label)."""
        return f"pkcs11:token={self.label}"

    def key_uri(self, label: str, kind: str = "private", pin: bool = True) -> str:
        uri = f"pkcs11:token={self.label};object={label};type={kind}"
        return uri + (f"?pin-value={self.pin}" if pin else "")

    def run(self, args: Sequence[str | os.PathLike[str]], **kwargs) -> subprocess.CompletedProcess[bytes]:
        env = dict(self.env)
        env.update(kwargs.pop("env", {}))
        return run(args, env, **kwargs)

    def tool(self, *args: str, login: bool = True, **kwargs) -> subprocess.CompletedProcess[bytes]:
        """pkcs11-tool on this token (``--token-label``), logged in as the user unless login=False."""
        argv = ["pkcs11-tool", "--module", self.module, "--token-label", self.label]
        if login:
            argv += ["--login", "--pin", self.pin]
        return self.run([*argv, *args], **kwargs)

    def spy(self, log: Path | None = None) -> tuple[str, dict[str, str]]:
        """(module, env) that load this token through OpenSC's pkcs11-spy, logging to ``log``."""
        require(SPY_MODULE)
        log = log or self.directory / "spy.log"
        env = dict(self.env, PKCS11SPY=self.module, PKCS11SPY_OUTPUT=str(log))
        return SPY_MODULE, env

    def log_text(self) -> str:
        if self.log_file and self.log_file.exists():
            return self.log_file.read_text(errors="replace")
        return ""


def write_config(directory: Path, **settings: object) -> Path:
    """A softhsm-py config (token_dir = tokens, kdf_cost = 10, the default PIN lockout) in
    ``directory``; returns its path."""
    return softhsm_py_config(
        directory, {"token_dir": "tokens", "kdf_cost": 10, "log_level": "WARNING", **settings}
    )


def cli(module: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[bytes]:
    """``python -m softhsm_py.cli ARGS`` for the package that holds ``module`` (its parent on sys.path)."""
    package_parent = Path(module).resolve().parent.parent
    if not (package_parent / "softhsm_py").is_dir():  # a module outside a package (SOFTHSM_PY_TEST_MODULE)
        package_parent = Path.cwd()
    return run([sys.executable, "-m", "softhsm_py.cli", *args], env, cwd=package_parent)


def make_token(
    directory: Path,
    label: str = "host",
    *,
    init: bool = True,
    log_level: str = "WARNING",
    so_pin: str = SO_PIN,
    pin: str = USER_PIN,
    **settings: object,
) -> Token:
    """A fresh token directory under ``directory`` with one token, initialised through the CLI.

    The module logs to ``directory/softhsm-py.log`` (set ``log_level="DEBUG"`` to diagnose)."""
    module = module_path()
    directory.mkdir(parents=True, exist_ok=True)
    log_file = directory / "softhsm-py.log"
    conf = write_config(directory, log_level=log_level, log_file=str(log_file), **settings)
    env = base_env()
    env["SOFTHSM_PY_CONF"] = str(conf)
    token = Token(directory, module, env, label=label, so_pin=so_pin, pin=pin, log_file=log_file)
    if init:
        cli(
            module,
            dict(env, SO_PIN_=so_pin, PIN_=pin),
            "init-token",
            "--label",
            label,
            "--so-pin-env",
            "SO_PIN_",
            "--pin-env",
            "PIN_",
        )
        token.slot = 0
    return token


def assert_no_traceback(token: Token) -> None:
    """The module's log must hold no Python traceback (an internal error that became GENERAL_ERROR)."""
    text = token.log_text()
    assert "Traceback" not in text, f"the module logged a Python traceback:\n{text[-6000:]}"


def run_python(token: Token, script: str, **env: str) -> dict:
    """Run ``script`` in a fresh Python process (the test's interpreter) against the token, with
    MODULE, TOKEN_LABEL, PIN and ``env`` in its environment; return the JSON object it prints last.

    python-pkcs11 allows one PKCS#11 library per process: a subprocess keeps it away from the
    in-process conformance tests."""
    import json

    full = dict(MODULE=token.module, TOKEN_LABEL=token.label, PIN=token.pin, SO_PIN=token.so_pin, **env)
    proc = token.run([sys.executable, "-c", script], env=full, cwd=token.directory)
    lines = proc.stdout.decode().strip().splitlines()
    if not lines:
        pytest.fail(f"the script printed nothing:\n{_both(proc.stdout, proc.stderr)}")
    return json.loads(lines[-1])


def python_has(module: str) -> None:
    """Skip unless the test's interpreter can import ``module`` (a Python PKCS#11 host)."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} not installed")
