"""OpenSSH 9.2: ``ssh-keygen -D`` lists the token's public keys (no login: public keys are not
CKA_PRIVATE); a private ``ssh-agent`` (its own socket, ``-P`` allowlisting the module) loads the
token with ``ssh-add -s`` and ``ssh-keygen -Y sign`` signs with the token keys through it. The
signatures are verified in software by ``ssh-keygen -Y verify``, the listed keys compared with the
public keys read by pyca/cryptography. OpenSSH 9.2 reads no EdDSA keys from PKCS#11: the token
holds only RSA and EC keys (CLIENTS.md)."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from support.hosts import Token, assert_no_traceback, make_token, require

DATA = b"signed by ssh-keygen -Y through ssh-agent and softhsm-py\n"


@pytest.fixture
def token(tmp_path: Path) -> Token:
    require("ssh-keygen", "pkcs11-tool")
    token = make_token(tmp_path / "hsm", label="ssh")
    token.tool("--keypairgen", "--key-type", "rsa:2048", "--id", "01", "--label", "ssh-rsa")
    token.tool("--keypairgen", "--key-type", "EC:prime256v1", "--id", "02", "--label", "ssh-ec")
    return token


def openssh_keys(token: Token, tmp_path: Path) -> set[str]:
    """The token's public keys as 'type base64' lines, read by pkcs11-tool + cryptography."""
    out = set()
    for key_id in ("01", "02"):
        path = tmp_path / f"pub{key_id}.der"
        token.tool("--read-object", "--type", "pubkey", "--id", key_id, "-o", str(path), login=False)
        key = serialization.load_der_public_key(path.read_bytes())
        line = key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        out.add(line.decode())
    return out


def key_lines(text: str) -> set[str]:
    return {" ".join(line.split()[:2]) for line in text.splitlines() if line.strip()}


def test_ssh_keygen_lists_token_public_keys(token: Token, tmp_path: Path) -> None:
    out = token.run(["ssh-keygen", "-D", token.module]).stdout.decode()
    assert key_lines(out) == openssh_keys(token, tmp_path), out
    assert_no_traceback(token)


@pytest.fixture
def agent(token: Token, tmp_path: Path) -> Iterator[dict[str, str]]:
    """A private ssh-agent allowed to load the module; the env to reach it. Killed afterwards."""
    require("ssh-agent", "ssh-add")
    sock = tmp_path / "agent.sock"
    env = dict(token.env)
    proc = subprocess.Popen(
        ["ssh-agent", "-D", "-a", str(sock), "-P", token.module],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        for _ in range(100):
            if sock.exists() or proc.poll() is not None:
                break
            time.sleep(0.05)
        if not sock.exists():
            out, err = proc.communicate(timeout=5) if proc.poll() is not None else (b"", b"")
            pytest.fail(f"ssh-agent did not start: {out!r} {err!r}")
        askpass = tmp_path / "askpass.sh"
        askpass.write_text(f"#!/bin/sh\necho '{token.pin}'\n")
        askpass.chmod(0o700)
        yield {
            "SSH_AUTH_SOCK": str(sock),
            "SSH_ASKPASS": str(askpass),
            "SSH_ASKPASS_REQUIRE": "force",
            "DISPLAY": ":0",
        }
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_ssh_agent_signs_with_token_key(token: Token, agent: dict[str, str], tmp_path: Path) -> None:
    token.run(["ssh-add", "-s", token.module], env=agent, input=b"")
    listed = token.run(["ssh-add", "-L"], env=agent).stdout.decode()
    expected = openssh_keys(token, tmp_path)
    assert key_lines(listed) == expected, listed

    (tmp_path / "data.txt").write_bytes(DATA)
    for line in sorted(expected):
        kind = line.split()[0]
        pub = tmp_path / f"{kind}.pub"
        pub.write_text(line + " token-key\n")
        sig = tmp_path / "data.txt.sig"
        sig.unlink(missing_ok=True)
        token.run(
            ["ssh-keygen", "-Y", "sign", "-f", str(pub), "-n", "file", str(tmp_path / "data.txt")], env=agent
        )
        allowed = tmp_path / "allowed_signers"
        allowed.write_text(f"tester {line}\n")
        verified = token.run(
            ["ssh-keygen", "-Y", "verify", "-f", str(allowed), "-I", "tester", "-n", "file", "-s", str(sig)],
            input=DATA,
        )
        assert b'Good "file" signature for tester' in verified.stdout + verified.stderr, verified
        # a different message does not verify
        bad = token.run(
            ["ssh-keygen", "-Y", "verify", "-f", str(allowed), "-I", "tester", "-n", "file", "-s", str(sig)],
            input=DATA + b"x",
            check=False,
        )
        assert bad.returncode != 0
    token.run(["ssh-add", "-e", token.module], env=agent)
    assert_no_traceback(token)
