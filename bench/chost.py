"""The process-level rows, run by a C host (bench/chost.c, compiled here with ``cc``).

In the driver, softhsm-py shares the driver's interpreter and GIL; a C application gets its own
embedded interpreter per process. So the rows where processes and many threads meet are run by
small C processes that load each module as a C application does: the mixed workload (by default
2 processes x 8 threads, each thread looping RSA-2048 sign, ECDSA P-256 sign, create / find /
read / destroy a token data object, open + close a session) and the process and thread scaling
of RSA-2048 and ECDSA P-256 signing (1 process x 1 thread, 1 x 2, 2 x 1). Each side gets its own
processes, on its own token directory (the side's config in their environment), started once;
the cells run in alternating rounds like the driver's, all processes of a cell released together.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import statistics
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from .loader import ROOT, USER_PIN
from .tokens import KEYS_TOKEN, Side

SOURCE = Path(__file__).resolve().with_name("chost.c")
NATIVE = ROOT / "native"
START_TIMEOUT = 120.0  # a C host's start: load the module, C_Initialize, log in, find the keys
RUN_SLACK = 120.0  # how long a cell may take beyond its window (a pass started is finished)

MIXED = "mixed"
KIND_NAMES = {"rsa": "RSA-2048 sign PKCS#1 v1.5 SHA-256", "ecdsa": "ECDSA P-256 sign (32 B hash)"}
FLOOR = "floor"
TINY_KINDS = {  # kind: (name, PKCS#11 calls per operation); timed from C, 1 process x 1 thread
    FLOOR: ("floor: empty embedded call", 1),
    "getinfo": ("C_GetInfo", 1),
    "random": ("C_GenerateRandom 32 B", 1),
    "digest": ("SHA-256 digest 64 B", 2),
    "open_close": ("C_OpenSession + C_CloseSession", 2),
    "getattr": ("C_GetAttributeValue public attribute", 1),
}


@dataclass(frozen=True)
class Cell:
    kind: str  # "mixed", "rsa" or "ecdsa"
    processes: int
    threads: int  # per process
    seconds: float

    @property
    def key(self) -> str:
        return f"{self.kind} {self.processes}x{self.threads}"

    @property
    def name(self) -> str:
        if self.kind in TINY_KINDS:
            return TINY_KINDS[self.kind][0]
        return "mixed workload" if self.kind == MIXED else KIND_NAMES[self.kind]

    def runs_on(self, side: Side) -> bool:
        return self.kind != FLOOR or not side.softhsm2  # the floor is softhsm-py's own symbol


def compile_host(workdir: Path) -> Path:
    """Compile bench/chost.c against native/pkcs11.h and native/functions.h; return the program."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        raise RuntimeError("no C compiler (cc): the C host rows need one (Debian: apt-get install gcc)")
    out = workdir / "chost"
    argv = [cc, "-O2", "-Wall", "-pthread", f"-I{NATIVE}", "-o", str(out), str(SOURCE), "-ldl"]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"compiling {SOURCE.name} failed: {done.stderr[-2000:]}")
    return out


class Host:
    """One C host process on one side; lines from its stdout arrive through a reader thread."""

    def __init__(self, program: Path, side: Side, index: int) -> None:
        self.side = side
        self.stderr_path = side.dir / f"chost-{index}.stderr"
        env = dict(os.environ)
        env.update(side.env)
        with open(self.stderr_path, "w") as err:
            self.proc = subprocess.Popen(
                [str(program), side.path, KEYS_TOKEN, USER_PIN.decode()],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                env=env,
                cwd=side.dir,
            )
        self.lines: queue.Queue[str] = queue.Queue()
        assert self.proc.stdout is not None
        threading.Thread(target=self._read, args=(self.proc.stdout,), daemon=True).start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.put(line.rstrip("\n"))
        self.lines.put("")  # end of file: the process has gone

    def send(self, command: str) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(command + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            raise self.failure(f"gone before {command!r}") from None

    def expect(self, timeout: float, what: str) -> str:
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise self.failure(f"no {what} after {timeout:.0f} s") from None
        if not line:
            raise self.failure(f"exited {self.proc.wait()} before {what}")
        return line

    def failure(self, message: str) -> RuntimeError:
        try:
            tail = self.stderr_path.read_text()[-1500:]
        except OSError:
            tail = ""
        return RuntimeError(f"{self.side.name} C host: {message}: {tail.strip()}")

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.send("quit")
                self.proc.wait(timeout=30)
            except (RuntimeError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()


def run_cell(hosts: Sequence[Host], cell: Cell) -> list[dict[str, Any]]:
    """Warm up every process's threads, release all processes together, collect their reports."""
    used = hosts[: cell.processes]
    for host in used:
        host.send(f"prepare {cell.kind} {cell.threads}")
    for host in used:
        if host.expect(START_TIMEOUT, "prepared") != "prepared":
            raise host.failure("unexpected answer to prepare")
    for host in used:
        host.send(f"go {cell.seconds}")
    results = []
    for host in used:
        line = host.expect(cell.seconds + RUN_SLACK, "result")
        try:
            results.append(json.loads(line))
        except ValueError:
            raise host.failure(f"unreadable result {line[:200]!r}") from None
    return results


def _measure(results: list[dict[str, Any]], cell: Cell) -> dict[str, Any]:
    """One cell on one side: ops/s over all processes and the mean RSA sign latency."""
    ops = sum(r["ops"] for r in results)
    n = sum(r["rsa_latency_ms"]["n"] for r in results)
    total_ms = sum(r["rsa_latency_ms"]["sum"] for r in results)
    # The tiny kinds count every batch, over each thread's own elapsed time; the others only what
    # ended within the window.
    window = statistics.fmean(r["elapsed"] for r in results) if cell.kind in TINY_KINDS else cell.seconds
    out: dict[str, Any] = {
        "ops_per_s": ops / window,
        "errors": sum(r["errors"] for r in results),
        "extra_found": sum(r["extra_found"] for r in results),
    }
    first = next((r["first_error"] for r in results if r["first_error"]), None)
    if first:
        out["first_error"] = first
    if n:
        out["rsa_mean_ms"] = total_ms / n
        # the processes' own 95th percentiles, the worst of them (each process sorts its own)
        out["rsa_p95_ms"] = max(r["rsa_latency_ms"].get("p95", 0.0) for r in results)
        out["rsa_signs_per_s"] = n / cell.seconds
    return out


def cells(
    mixed: tuple[int, int],
    mixed_seconds: float,
    scaling_seconds: float,
    tiny_seconds: float,
    only: str | None = None,
) -> list[Cell]:
    """The tiny calls and the floor (1 process x 1 thread), the mixed workload (``mixed``:
    processes, threads each), then RSA and ECDSA signing with 1 process x 1 thread, 1 x 2 and
    2 x 1; ``only``: those whose name matches (a regex; the floor stays with any tiny call)."""
    processes, threads = mixed
    out = [Cell(kind, 1, 1, tiny_seconds) for kind in TINY_KINDS]
    out.append(Cell(MIXED, processes, threads, mixed_seconds))
    for kind in KIND_NAMES:
        out += [Cell(kind, p, t, scaling_seconds) for p, t in ((1, 1), (1, 2), (2, 1))]
    if only:
        rx = re.compile(only, re.IGNORECASE)
        picked = [cell for cell in out if rx.search(cell.name)]
        kinds = {cell.kind for cell in picked}
        # What the picked rows are reported against: the floor (the tiny calls) and the 1-thread
        # RSA sign latency (the mixed workload).
        if kinds & set(TINY_KINDS):
            picked.append(Cell(FLOOR, 1, 1, tiny_seconds))
        if MIXED in kinds:
            picked.append(Cell("rsa", 1, 1, scaling_seconds))
        out = [cell for cell in out if cell in picked]
    return out


def run(
    sides: Sequence[Side],
    workdir: Path,
    rounds: int,
    plan: Sequence[Cell],
    log: Callable[[str], None] = lambda _msg: None,
) -> dict[str, Any]:
    """Every cell of ``plan`` on every side, ``rounds`` times, the sides alternating."""
    program = compile_host(workdir)
    need = max(c.processes for c in plan)
    hosts: dict[str, list[Host]] = {}
    samples: dict[str, dict[str, list[dict[str, Any]]]] = {c.key: {s.name: [] for s in sides} for c in plan}
    if not plan:
        return {"cells": [], "usable_cores": len(os.sched_getaffinity(0))}
    try:
        t0 = time.perf_counter()
        for side in sides:
            hosts[side.name] = [Host(program, side, i) for i in range(need)]
        for side in sides:
            for host in hosts[side.name]:
                if host.expect(START_TIMEOUT, "ready") != "ready":
                    raise host.failure("unexpected first line")
        log(f"C hosts: {need} per side started in {time.perf_counter() - t0:.1f} s")
        k = 0
        for r in range(rounds):
            t_round = time.perf_counter()
            for cell in plan:
                order = list(sides) if (r + k) % 2 == 0 else list(reversed(sides))
                k += 1
                for side in order:
                    if cell.runs_on(side):
                        samples[cell.key][side.name].append(_measure(run_cell(hosts[side.name], cell), cell))
            log(f"C host round {r + 1}/{rounds}: {time.perf_counter() - t_round:.1f} s")
    finally:
        for side_hosts in hosts.values():
            for host in side_hosts:
                host.close()
    return {
        "cells": [_summarise(cell, samples[cell.key], sides) for cell in plan],
        "usable_cores": len(os.sched_getaffinity(0)),
    }


def _summarise(
    cell: Cell, per_side: dict[str, list[dict[str, Any]]], sides: Sequence[Side]
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "kind": cell.kind,
        "processes": cell.processes,
        "threads": cell.threads,
        "seconds": cell.seconds,
    }
    sides = [side for side in sides if per_side[side.name]]  # the floor: softhsm-py only
    for side in sides:
        rounds = per_side[side.name]
        entry: dict[str, Any] = {
            "median_ops_per_s": statistics.median(m["ops_per_s"] for m in rounds),
            "rounds": rounds,
        }
        means = [m["rsa_mean_ms"] for m in rounds if "rsa_mean_ms" in m]
        if means:
            entry["rsa_mean_ms"] = statistics.median(means)
            entry["rsa_signs_per_s"] = statistics.median(m.get("rsa_signs_per_s", 0.0) for m in rounds)
            entry["rsa_p95_ms"] = statistics.median(m["rsa_p95_ms"] for m in rounds if "rsa_p95_ms" in m)
        entry["errors"] = int(sum(m["errors"] for m in rounds))  # failed calls (mixed), all rounds
        entry["extra_found"] = int(sum(m["extra_found"] for m in rounds))
        first = next((m["first_error"] for m in rounds if "first_error" in m), None)
        if first is not None:
            entry["first_error"] = first  # e.g. "C_CreateObject 0x5"
        out[side.name] = entry
    if len(sides) == 2:
        a, b = (per_side[s.name] for s in sides)
        ratios = [x["ops_per_s"] / y["ops_per_s"] for x, y in zip(a, b, strict=True) if y["ops_per_s"] > 0]
        if ratios:
            out["ratio_median"] = statistics.median(ratios)
            out["ratios"] = ratios
    return out
