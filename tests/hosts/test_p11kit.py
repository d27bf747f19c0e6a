"""p11-kit 0.24: the module registered by a .module file (softhsm_py.cli.hostconfig.p11kit_module) is
listed by ``p11-kit list-modules`` with its token; ``p11-kit server`` exports the token on a unix
socket and pkcs11-tool uses it through p11-kit's client module (p11-kit-client.so), generating a
key and signing; the signature is checked with pyca/cryptography.

p11-kit ignores the user's config for root (CLIENTS.md): as root the file goes to
/etc/pkcs11/modules under a unique name, with ``enable-in: p11-kit`` so that no other program
(p11-kit-proxy users) loads it, and is removed afterwards; otherwise to $HOME/.config/pkcs11/modules
with HOME pointing into the test's directory."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from softhsm_py.cli import hostconfig
from support.hosts import P11KIT_CLIENT, Token, assert_no_traceback, make_token, require

MESSAGE = b"signed through p11-kit server and p11-kit-client.so\n"


@pytest.fixture
def token(tmp_path: Path) -> Token:
    require("p11-kit")
    return make_token(tmp_path / "hsm", label="kit")


@pytest.fixture
def registered(token: Token, tmp_path: Path) -> Iterator[str]:
    """Register the module with p11-kit for this test only; yields the module's p11-kit name."""
    name = f"softhsm-py-test-{uuid.uuid4().hex[:12]}"
    text = hostconfig.p11kit_module(token.module) + "enable-in: p11-kit\n"
    created: list[Path] = []
    if os.geteuid() == 0:
        directory = Path("/etc/pkcs11/modules")
        for parent in (directory.parent, directory):
            if not parent.exists():
                try:
                    parent.mkdir()
                except OSError as exc:
                    pytest.skip(f"cannot register a p11-kit module as root: {exc}")
                created.append(parent)
    else:
        home = tmp_path / "home"
        directory = home / ".config" / "pkcs11" / "modules"
        directory.mkdir(parents=True)
        token.env["HOME"] = str(home)
        token.env.pop("XDG_CONFIG_HOME", None)
    path = directory / f"{name}.module"
    path.write_text(text)
    try:
        yield name
    finally:
        path.unlink(missing_ok=True)
        for parent in reversed(created):  # only the directories this fixture made, once empty
            if not any(parent.iterdir()):
                parent.rmdir()


def test_module_file_registration(token: Token, registered: str) -> None:
    out = token.run(["p11-kit", "list-modules"]).stdout.decode()
    assert f"{registered}: {token.module}" in out, out
    section = out[out.index(f"{registered}:") :]
    assert "library-manufacturer: softhsm-py" in section, section
    assert "token: kit" in section, section
    assert_no_traceback(token)


@pytest.fixture
def server(token: Token, tmp_path: Path) -> Iterator[dict[str, str]]:
    """``p11-kit server --provider MODULE pkcs11:token=kit`` on a private socket; yields the env
    for its client module. Stopped afterwards."""
    require("pkcs11-tool", P11KIT_CLIENT)
    sock = tmp_path / "p11kit.sock"
    proc = subprocess.Popen(
        [
            "p11-kit",
            "server",
            "-f",
            "--provider",
            token.module,
            "-n",
            str(sock),
            f"pkcs11:token={token.label}",
        ],
        env=token.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        for _ in range(200):
            if sock.exists() or proc.poll() is not None:
                break
            time.sleep(0.05)
        if not sock.exists():
            proc.kill()
            out, err = proc.communicate(timeout=5)
            pytest.fail(f"p11-kit server did not start (exit {proc.returncode}): {out!r} {err!r}")
        yield {"P11_KIT_SERVER_ADDRESS": f"unix:path={sock}"}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def client_tool(token: Token, env: dict[str, str], *args: str, login: bool = True):
    argv = ["pkcs11-tool", "--module", P11KIT_CLIENT, "--token-label", token.label]
    if login:
        argv += ["--login", "--pin", token.pin]
    return token.run([*argv, *args], env=env)


def test_server_and_client_module(token: Token, server: dict[str, str], tmp_path: Path) -> None:
    slots = token.run(["pkcs11-tool", "--module", P11KIT_CLIENT, "--list-slots"], env=server).stdout.decode()
    assert "token label        : kit" in slots, slots
    assert "token manufacturer : softhsm-py" in slots, slots

    client_tool(
        token, server, "--keypairgen", "--key-type", "EC:prime256v1", "--id", "01", "--label", "remote"
    )
    # p11-kit 0.24's RPC only forwards the mechanisms it knows (no CKM_ECDSA_SHA256): hash here and
    # sign with CKM_ECDSA, as OpenSSH and libp11 do
    digest = hashes.Hash(hashes.SHA256())
    digest.update(MESSAGE)
    (tmp_path / "digest.bin").write_bytes(digest.finalize())
    client_tool(
        token,
        server,
        "--sign",
        "--id",
        "01",
        "-m",
        "ECDSA",
        "--signature-format",
        "openssl",
        "-i",
        str(tmp_path / "digest.bin"),
        "-o",
        str(tmp_path / "sig.der"),
    )
    out = str(tmp_path / "pub.der")  # without a login: see test_pkcs11_tool_crypto.public_key
    client_tool(token, server, "--read-object", "--type", "pubkey", "--id", "01", "-o", out, login=False)
    pub = serialization.load_der_public_key((tmp_path / "pub.der").read_bytes())
    pub.verify((tmp_path / "sig.der").read_bytes(), MESSAGE, ec.ECDSA(hashes.SHA256()))

    # the key is on the token itself: the module, loaded directly, sees it
    if shutil.which("pkcs11-tool"):
        listing = token.tool("--list-objects", "--type", "privkey").stdout.decode()
        assert "label:      remote" in listing, listing
    assert_no_traceback(token)
