"""Several instances on one store: PKCS#11 processes (``instance.py``), each with its own config
file and token cache, as if on machines of their own. On PostgreSQL: one is killed with SIGKILL
under load, the server itself crashes and comes back; on both backends: a destroyed object and a
re-initialised token show in every instance; and the CLI's backup, restore and clone."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from softhsm_py.store import open_store

from .conftest import COST
from .pgcluster import Cluster

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent
sys.path.insert(0, str(TESTS))
from support.pkcs11 import SO_PIN, USER_PIN, default_module_path, write_config  # noqa: E402

WAIT_S = 180.0


@pytest.fixture(scope="module")
def module_path() -> str:
    try:
        return os.environ.get("SOFTHSM_PY_TEST_MODULE") or default_module_path()
    except RuntimeError as exc:
        pytest.skip(str(exc))


def config(
    directory: Path, module: str, location: str | None, token_dir: Path | None = None
) -> dict[str, str]:
    """An instance's own config file (its own directory: its own machine)."""
    settings: dict[str, Any] = {"pin_lockout": 100000, "log_file": str(directory / "softhsm-py.log")}
    if location is not None:
        settings["store"] = location
    if token_dir is not None:
        settings["token_dir"] = str(token_dir)
    return {**os.environ, **write_config(directory, module, **settings)}


def run(env: dict[str, str], *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(HERE / "instance.py"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


class Load:
    """An instance under load; its events (JSON lines) collected as they come."""

    def __init__(self, env: dict[str, str], name: str, stop: Path) -> None:
        self.name = name
        self.events: list[dict[str, Any]] = []
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "instance.py"), "load", name, str(stop)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout
        for line in self.proc.stdout:
            self.events.append(json.loads(line))

    def count(self, ev: str, op: str | None = None, since: int = 0) -> int:
        return sum(1 for e in self.events[since:] if e.get("ev") == ev and (op is None or e.get("op") == op))

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(60)
        self._reader.join(60)

    def finish(self) -> None:
        try:
            code = self.proc.wait(WAIT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError(f"{self.name} did not stop; last events: {self.events[-5:]}") from None
        self._reader.join(60)
        assert code == 0, (self.name, code, self.events[-5:])

    def in_flight(self) -> dict[str, Any] | None:
        """The operation started and neither acknowledged nor failed when the process died."""
        last = [e for e in self.events if e.get("ev") in ("start", "ack", "err")]
        if last and last[-1]["ev"] == "start":
            return last[-1]
        return None


def wait_for(condition, what: str, loads: Sequence[Load] = ()) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            tails = {x.name: (x.proc.poll(), x.events[-5:]) for x in loads}
            raise AssertionError(f"timed out waiting for {what}; last events: {tails}")
        time.sleep(0.05)


def verify_signatures(point: bytes, loads: list[Load]) -> int:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, encode_dss_signature

    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point[2:])  # DER OCTET STRING
    n = 0
    for load in loads:
        for e in load.events:
            if e.get("op") == "sign" and e["ev"] == "ack":
                sig = bytes.fromhex(e["sig"])
                der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
                public.verify(der, bytes.fromhex(e["data"]), ec.ECDSA(Prehashed(hashes.SHA256())))
                n += 1
    return n


def check_writes(objects: list[dict[str, Any]], loads: list[Load]) -> None:
    """Every acknowledged write is there; nothing is there that was not written (but for an
    operation in flight when a process died); acknowledged deletions are gone."""
    present: dict[str, list[dict[str, Any]]] = {}
    for o in objects:
        present.setdefault(o["label"], []).append(o)
    for load in loads:
        created = {
            e["label"]: e["value"] for e in load.events if e.get("ev") == "ack" and e["op"] == "create"
        }
        destroyed = {e["label"] for e in load.events if e.get("ev") == "ack" and e["op"] == "destroy"}
        pairs = {e["label"] for e in load.events if e.get("ev") == "ack" and e["op"] == "keypair"}
        doubtful = {e["label"] for e in load.events if e.get("ev") in ("start", "err") and "label" in e}
        doubtful -= created.keys() | pairs | destroyed
        flight = load.in_flight()
        if flight is not None and "label" in flight:
            doubtful.add(flight["label"])
        # A destroy that was started but never acknowledged may have committed or not.
        unsure = {e["label"] for e in load.events if e.get("ev") == "start" and e["op"] == "destroy"}
        unsure -= destroyed
        for label, value in created.items():
            if label in destroyed or label in doubtful:
                continue
            values = [o["value"] for o in present.get(label, [])]
            assert values == [value] or (label in unsure and not values), (load.name, label, values)
        for label in destroyed - doubtful:
            assert label not in present, (load.name, label)
        for label in pairs - doubtful:
            assert sorted(o["cls"] for o in present.get(label, [])) == [2, 3], (load.name, label)
        ours = {label for label in present if label.startswith(f"{load.name}-")}
        assert ours <= set(created) | pairs | doubtful, (load.name, ours - set(created) - pairs)


def so_failures(location: str, slot: int) -> int:
    with open_store(Path("/nonexistent"), kdf_cost=COST, location=location) as store:
        record = store.token(slot)
        assert record is not None
        return record.so_failures


# --------------------------------------------------------------------------- failover


def test_failover_one_instance_killed_under_load(tmp_path, module_path, pg_url):
    envs = [config(tmp_path / name, module_path, pg_url) for name in ("A", "B")]
    setup = run(envs[0], "setup", "shared")
    stop = tmp_path / "stop"
    a, b = Load(envs[0], "A", stop), Load(envs[1], "B", stop)
    try:
        wait_for(lambda: a.count("ack", "create") >= 12 and b.count("ack", "create") >= 12, "load", [a, b])
        b.kill()
        mark = len(a.events)
        wait_for(lambda: a.count("ack", "create", since=mark) >= 12, "the survivor", [a, b])
    finally:
        stop.touch()
        if b.proc.poll() is None:
            b.kill()
    a.finish()
    assert a.count("err") == 0, [e for e in a.events if e.get("ev") == "err"]
    assert b.count("err") == 0, [e for e in b.events if e.get("ev") == "err"]
    assert verify_signatures(bytes.fromhex(setup["ec_point"]), [a, b]) > 20
    check_writes(run(envs[0], "check")["objects"], [a, b])
    acked = a.count("ack", "so_wrong") + b.count("ack", "so_wrong")
    flight = b.in_flight()
    in_doubt = 1 if flight is not None and flight["op"] == "so_wrong" else 0
    assert acked <= so_failures(pg_url, setup["slot"]) <= acked + in_doubt
    assert a.count("ack", "destroy") > 0 and a.count("ack", "keypair") > 0


# --------------------------------------------------------------------------- server restart


@pytest.fixture
def own_cluster():
    with Cluster.start() as cluster:
        yield cluster


def test_server_crash_under_load_is_a_device_error_then_recovery(tmp_path, module_path, own_cluster):
    url = own_cluster.new_database("instances")
    envs = [config(tmp_path / name, module_path, url) for name in ("A", "B")]
    setup = run(envs[0], "setup", "shared")
    stop = tmp_path / "stop"
    loads = [Load(envs[0], "A", stop), Load(envs[1], "B", stop)]
    try:
        wait_for(lambda: all(x.count("ack", "create") >= 5 for x in loads), "load", loads)
        before = [len(x.events) for x in loads]
        own_cluster.stop_server("immediate")
        down = [len(x.events) for x in loads]
        wait_for(
            lambda: all(x.count("err", since=m) >= 3 for x, m in zip(loads, down, strict=True)), "errors"
        )
        own_cluster.start_server()
        up = [len(x.events) for x in loads]
        wait_for(
            lambda: all(x.count("ack", "create", since=m) >= 5 for x, m in zip(loads, up, strict=True)),
            "recovery",
            loads,
        )
    finally:
        stop.touch()
        if own_cluster.log.exists() and not (own_cluster.data / "postmaster.pid").exists():
            own_cluster.start_server()  # let the instances finish
    for x, m in zip(loads, before, strict=True):
        x.finish()
        errors = [e for e in x.events if e.get("ev") == "err"]
        assert {e["rv"] for e in errors} == {"DEVICE_ERROR"}, errors
        assert not [e for e in x.events[:m] if e.get("ev") == "err"], "an error before the outage"
    assert verify_signatures(bytes.fromhex(setup["ec_point"]), loads) > 10
    check_writes(run(envs[0], "check")["objects"], loads)
    acked = sum(x.count("ack", "so_wrong") for x in loads)
    in_doubt = sum(1 for x in loads for e in x.events if e.get("ev") == "err" and e["op"] == "so_wrong")
    assert acked <= so_failures(url, setup["slot"]) <= acked + in_doubt


# --------------------------------------------------------------------------- consistency


class Serve:
    def __init__(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "instance.py"), "serve"],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def __call__(self, **cmd: Any) -> dict[str, Any]:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, "the instance died"
        return json.loads(line)

    def close(self) -> None:
        assert self.proc.stdin
        self.proc.stdin.close()
        assert self.proc.wait(60) == 0


@pytest.fixture(params=["sqlite", "postgresql"])
def shared(request, tmp_path, module_path):
    """Three instance configs on one store (SQLite: one token directory; PostgreSQL: one database)."""
    if request.param == "sqlite":
        location, token_dir = None, tmp_path / "shared-tokens"
    else:
        location, token_dir = request.getfixturevalue("pg_url"), None
    return [config(tmp_path / name, module_path, location, token_dir) for name in ("A", "B", "C")]


def test_a_destroyed_object_and_a_reinitialised_token_show_in_every_instance(shared):
    run(shared[0], "setup", "shared")
    a, b, c = (Serve(env) for env in shared)
    try:
        for x in (a, b):
            assert x(op="open")["rv"] == "OK" and x(op="login")["rv"] == "OK"
        made = b(op="create", label="shared-x")
        (seen,) = a(op="find", label="shared-x")["handles"]
        assert a(op="get_label", handle=seen) == {"rv": "OK", "label": "shared-x"}
        assert b(op="destroy", handle=made["handle"])["rv"] == "OK"
        assert a(op="get_label", handle=seen)["rv"] == "OBJECT_HANDLE_INVALID"
        assert a(op="find", label="shared-x")["handles"] == []
        # C re-initialises the token (it has no session): A's login and objects are void.
        pair = a(op="find", label="signer")["handles"]
        assert len(pair) == 2
        signer = pair[1]
        assert c(op="init_token", label="fresh")["rv"] == "OK"
        assert a(op="get_label", handle=signer)["rv"] == "OBJECT_HANDLE_INVALID"
        assert a(op="find", label="signer")["rv"] == "USER_NOT_LOGGED_IN"
        assert a(op="create", label="after")["rv"] == "USER_NOT_LOGGED_IN"
    finally:
        for x in (a, b, c):
            x.close()


# --------------------------------------------------------------------------- CLI


def cli(env: dict[str, str], *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "softhsm_py.cli", *args], env=env, capture_output=True, text=True, timeout=300
    )
    assert (done.returncode == 0) == ok, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    return done


def test_cli_backup_restore_clone_keys_usable(tmp_path, module_path, pg_url):
    """PostgreSQL -> file -> SQLite, and SQLite -> PostgreSQL by clone: every object and attribute
    equal, the restored key signs and the original public key verifies it."""
    pg = config(tmp_path / "pg", module_path, pg_url)
    lite = config(tmp_path / "lite", module_path, None)
    setup = run(pg, "setup", "shared")
    secrets_env = {"PASS": "a long backup passphrase", "SO": SO_PIN.decode()}
    backup = tmp_path / "shared.backup"
    out = cli({**pg, **secrets_env}, "backup", "--slot", str(setup["slot"]), "--out", str(backup),
              "--passphrase-env", "PASS", "--kdf-cost", "15")  # fmt: skip
    assert backup.stat().st_mode & 0o777 == 0o600
    cli(
        {**pg, **secrets_env},
        "backup",
        "--slot",
        "0",
        "--out",
        str(backup),
        "--passphrase-env",
        "PASS",
        ok=False,
    )
    # A tampered, a cut, and a wrongly unlocked backup: clear errors, nothing restored.
    data = backup.read_bytes()
    bad = tmp_path / "bad.backup"
    bad.write_bytes(data[:100] + bytes([data[100] ^ 1]) + data[101:])
    for path, passphrase in ((bad, "a long backup passphrase"), (backup, "the wrong passphrase")):
        done = cli({**lite, "PASS": passphrase, "SO": SO_PIN.decode()}, "restore", "--slot", "0",
                   "--in", str(path), "--passphrase-env", "PASS", "--so-pin-env", "SO", ok=False)  # fmt: skip
        assert "wrong passphrase, or the backup was altered" in done.stderr
    bad.write_bytes(data[:40])
    done = cli({**lite, **secrets_env}, "restore", "--slot", "0", "--in", str(bad),
               "--passphrase-env", "PASS", "--so-pin-env", "SO", ok=False)  # fmt: skip
    assert "truncated" in done.stderr
    assert "slot 0: (empty" in cli(lite, "list-slots").stdout
    # The real restore.
    done = cli({**lite, **secrets_env}, "restore", "--slot", "0", "--in", str(backup),
               "--passphrase-env", "PASS", "--so-pin-env", "SO")  # fmt: skip
    for output in (out.stdout + out.stderr, done.stdout + done.stderr):
        for secret in ("a long backup passphrase", SO_PIN.decode(), USER_PIN.decode()):
            assert secret not in output
    assert run(lite, "check") == run(pg, "check")
    restored = Serve(lite)
    try:
        assert restored(op="open")["rv"] == "OK" and restored(op="login")["rv"] == "OK"
        data_to_sign = os.urandom(32)
        sig = bytes.fromhex(restored(op="sign", label="signer", data=data_to_sign.hex())["sig"])
    finally:
        restored.close()
    fake = Load.__new__(Load)
    fake.events = [{"ev": "ack", "op": "sign", "data": data_to_sign.hex(), "sig": sig.hex()}]
    assert verify_signatures(bytes.fromhex(setup["ec_point"]), [fake]) == 1
    # Clone back into another slot of PostgreSQL: refused while the serial lives there ...
    conf = lite["SOFTHSM_PY_CONF"]
    done = cli({**lite, **secrets_env}, "clone", "--slot", "0", "--to-config", pg["SOFTHSM_PY_CONF"],
               "--to-slot", "7", "--so-pin-env", "SO", ok=False)  # fmt: skip
    assert "already holds that token" in done.stderr
    cli({**pg, **secrets_env}, "delete-token", "--slot", str(setup["slot"]), "--so-pin-env", "SO")
    cli({**lite, **secrets_env, "SOFTHSM_PY_CONF": conf}, "clone", "--slot", "0", "--to-config",
        pg["SOFTHSM_PY_CONF"], "--to-slot", str(setup["slot"]), "--so-pin-env", "SO")  # fmt: skip
    assert run(pg, "check") == run(lite, "check")
