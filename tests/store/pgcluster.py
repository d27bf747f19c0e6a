"""A throw-away PostgreSQL cluster for tests and the benchmark: Debian's ``initdb``/``pg_ctl`` in a
temporary directory, on a free port of 127.0.0.1, run as an unprivileged user (``postgres`` via
``runuser`` when we are root: the server refuses to run as root), trust authentication.

    with Cluster.start() as cluster:
        url = cluster.new_database("t1")   # postgresql://postgres@127.0.0.1:PORT/t1

Nothing here needs a service started beforehand; ``find_bindir`` says whether the binaries are
installed (``scripts/setup-postgres.sh`` installs them). Used by ``tests/store/conftest.py`` and by
``bench``.
"""

from __future__ import annotations

import contextlib
import glob
import os
import random
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Self

#: Set in CI: a missing PostgreSQL is then an error, never a skip.
REQUIRE_ENV = "SOFTHSM_PY_REQUIRE_PG"
SUPERUSER = "postgres"


def find_bindir() -> Path | None:
    """The directory of ``initdb`` and ``pg_ctl``: on PATH, else Debian's newest version."""
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).resolve().parent
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return Path(found[-1]).parent if found else None


def required() -> bool:
    return bool(os.environ.get(REQUIRE_ENV))


def _free_port() -> int:
    """A free port below the ephemeral range: a port in it may be taken by a client's outgoing
    connection while the server is down (or even connect to itself), and the restart then fails."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(max(1024, low - 12000), low)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port for PostgreSQL")


class Cluster:
    def __init__(self, bindir: Path, root: Path, port: int) -> None:
        self.bindir = bindir
        self.root = root  # holds data/, the socket and the server log
        self.data = root / "data"
        self.log = root / "server.log"
        self.port = port
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            self._as_user = ["runuser", "-u", SUPERUSER, "--"]

    # ------------------------------------------------------------------------- lifecycle

    @classmethod
    def start(cls, bindir: Path | None = None) -> Cluster:
        bindir = bindir or find_bindir()
        if bindir is None:
            raise RuntimeError("PostgreSQL's initdb is not installed (scripts/setup-postgres.sh)")
        root = Path(tempfile.mkdtemp(prefix="softhsm-py-pg-"))
        cluster = cls(bindir, root, _free_port())
        try:
            if cluster._as_user:
                shutil.chown(root, user=SUPERUSER)
            cluster._run(
                "initdb",
                "-D",
                str(cluster.data),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",  # its own files only; the server keeps fsync on
            )
            cluster.start_server(new_port_if_taken=True)
        except BaseException:
            cluster.destroy()
            raise
        return cluster

    def _run(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self._as_user, str(self.bindir / tool), *args],
            capture_output=True,
            text=True,
            check=check,
            timeout=120,
            cwd=self.root,
        )

    def start_server(self, *, new_port_if_taken: bool = False) -> None:
        """Start (or restart, on the same port) the server; wait until it takes connections."""
        for attempt in range(5):
            options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c max_connections=200"
            done = self._run(
                "pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.log), "-w", "start", check=False
            )
            if done.returncode == 0:
                return
            taken = "could not bind" in self.server_log()
            if not (new_port_if_taken and taken) or attempt == 4:
                raise RuntimeError(
                    f"pg_ctl start failed: {done.stdout}{done.stderr}{self.server_log()[-2000:]}"
                )
            self.port = _free_port()

    def stop_server(self, mode: str = "fast") -> None:
        """``fast``: a clean shutdown; ``immediate``: like a crash (recovery at the next start)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def server_log(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def destroy(self) -> None:
        with contextlib.suppress(Exception):
            if (self.data / "postmaster.pid").exists():
                self.stop_server("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.destroy()

    # ------------------------------------------------------------------------- databases

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{dbname}"

    def admin(self, sql: str) -> None:
        """Run one statement as the superuser (psql, so that this module needs no driver)."""
        done = subprocess.run(
            [str(self.bindir / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", self.url(), "-c", sql],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode != 0:
            raise RuntimeError(f"psql: {done.stderr.strip()}")

    def new_database(self, name: str) -> str:
        """A fresh, empty database; its URL."""
        self.admin(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._run("pg_isready", "-h", "127.0.0.1", "-p", str(self.port), check=False).returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError("the PostgreSQL server did not come up")
