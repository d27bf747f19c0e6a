"""The ``softhsm-py`` command, run as a user runs it: a subprocess with its own config file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SO_PIN, USER_PIN = "87654321", "123456"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    conf = tmp_path / "softhsm-py.toml"
    conf.write_text('token_dir = "tokens"\nkdf_cost = 10\n')
    return {**os.environ, "SOFTHSM_PY_CONF": str(conf)}


def cli(env: dict[str, str], *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "softhsm_py.cli", *args], env=env, capture_output=True, text=True, timeout=120
    )
    assert (done.returncode == 0) == ok, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    return done


def test_module_path_is_the_built_library(env: dict[str, str]) -> None:
    path = Path(cli(env, "module-path").stdout.strip())
    assert path.is_absolute() and path.is_file() and path.name.startswith("_native")


def test_token_life_cycle(env: dict[str, str]) -> None:
    assert "slot 0: (empty" in cli(env, "list-slots").stdout
    out = cli(env, "init-token", "--label", "ci token", "--so-pin", SO_PIN, "--pin", USER_PIN).stdout
    assert "initialised token 'ci token'" in out and "slot 0" in out
    slots = cli(env, "list-slots").stdout
    assert "slot 0: token 'ci token'" in slots and "user_pin_initialized" in slots
    assert "slot 1: (empty" in slots
    # a second token goes to the empty slot; the PIN can come from the environment
    cli({**env, "SO": SO_PIN}, "init-token", "--label", "second", "--so-pin-env", "SO")
    assert "slot 1: token 'second'" in cli(env, "list-slots").stdout
    cli(env, "delete-token", "--slot", "1", "--so-pin", "00000000", ok=False)
    cli(env, "delete-token", "--slot", "1", "--so-pin", SO_PIN)
    assert "second" not in cli(env, "list-slots").stdout


def test_list_objects_with_uris(env: dict[str, str]) -> None:
    from softhsm_py.core import sessions
    from softhsm_py.core.runtime import Library
    from softhsm_py.pkcs11 import general, objects

    cli(env, "init-token", "--label", "objs", "--so-pin", SO_PIN, "--pin", USER_PIN)
    os.environ["SOFTHSM_PY_CONF"] = env["SOFTHSM_PY_CONF"]
    try:
        lib = Library()
        general.initialize(lib, None)
        h = sessions.open_session(lib, 0, 6)
        sessions.login(lib, h, 1, USER_PIN.encode())
        ulong = (0).to_bytes(8, "little")
        for label, private in ((b"public data", False), (b"secret;data", True)):
            objects.create_object(
                lib,
                h,
                [(0, ulong), (1, b"\x01"), (2, b"\x01" if private else b"\x00"), (3, label), (0x11, b"v")],
            )
        general.finalize(lib)
    finally:
        del os.environ["SOFTHSM_PY_CONF"]
    public = cli(env, "list-objects", "--slot", "0").stdout
    assert "label='public data'" in public and "secret" not in public
    assert "pkcs11:token=objs;manufacturer=softhsm-py;" in public
    assert "object=public%20data;type=data" in public
    everything = cli({**env, "P": USER_PIN}, "list-objects", "--slot", "0", "--pin-env", "P").stdout
    assert "object=secret%3Bdata;type=data" in everything  # ';' is a URI separator: escaped


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["init-token", "--label", "x" * 33, "--so-pin", SO_PIN], "longer than 32 bytes"),
        (["init-token", "--label", "x", "--so-pin-env", "NOT_SET_ANYWHERE"], "NOT_SET_ANYWHERE is not set"),
        (["init-token", "--label", "x", "--so-pin", "1"], "CKR_PIN_LEN_RANGE"),
        (["list-objects", "--slot", "9"], "CKR_SLOT_ID_INVALID"),
        (["delete-token", "--slot", "0", "--so-pin", SO_PIN], "CKR_TOKEN_NOT_RECOGNIZED"),
        (["host-config", "openssl-engine", "--module", "/tmp/a\nb.so"], "softhsm-py:"),
    ],
)
def test_bad_input_is_a_clear_error(env: dict[str, str], args: list[str], message: str) -> None:
    done = cli(env, *args, ok=False)
    assert done.returncode == 1 and message in done.stderr and done.stdout == ""


def test_unknown_command_and_missing_option(env: dict[str, str]) -> None:
    assert cli(env, "frobnicate", ok=False).returncode == 2
    assert cli(env, "init-token", ok=False).returncode == 2  # --label is required


def test_invalid_config_is_reported(env: dict[str, str], tmp_path: Path) -> None:
    Path(env["SOFTHSM_PY_CONF"]).write_text("pin_lockout = 'many'\n")
    done = cli(env, "list-slots", ok=False)
    assert "pin_lockout" in done.stderr
    assert cli(env, "show-config", ok=False).returncode == 1


def test_show_config(env: dict[str, str]) -> None:
    out = cli(env, "show-config").stdout
    assert "kdf_cost = 10" in out and "tokens" in out


@pytest.mark.parametrize("host", ["openssl-engine", "openssl-provider", "p11-kit", "java", "nss", "openssh"])
def test_host_config_names_the_module(env: dict[str, str], host: str) -> None:
    module = cli(env, "module-path").stdout.strip()
    assert module in cli(env, "host-config", host).stdout


def test_attestation_root_is_a_ca_certificate_made_once(env: dict[str, str]) -> None:
    from cryptography import x509

    first = cli(env, "attestation-root").stdout
    cert = x509.load_pem_x509_certificate(first.encode())
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert cli(env, "attestation-root").stdout == first
