"""One benchmark run: set both modules up on fresh token directories, time the rounds, take the
one-off measurements and return the report (a JSON-able dict)."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import chost, chost_report, report, system
from .ops import FLOOR, OVERHEAD, catalogue, select
from .timing import run_rounds, spin
from .tokens import Side


@dataclass
class Options:
    module: str
    softhsm2_module: str
    rounds: int = 5
    seconds_per_op: float = 0.5
    only: str | None = None
    small: int = 1_000
    large: int = 10_000
    tool_repeats: int = 5
    extras: bool = True  # pkcs11-tool -L and peak RSS
    c_host: bool = True  # the C host's rows: mixed workload, process and thread scaling
    mixed: tuple[int, int] = (2, 8)  # processes, threads per process
    mixed_seconds: float = 2.0  # per side per round
    scaling_seconds: float = 1.0
    tiny_seconds: float = 0.5  # the tiny calls and the floor, timed from the C host


def benchmark(opts: Options, log: Callable[[str], None] = lambda _msg: None) -> dict[str, Any]:
    t_start = time.perf_counter()
    info = system.machine()
    saved_env = {k: os.environ.get(k) for k in ("SOFTHSM_PY_CONF", "SOFTHSM2_CONF")}
    try:
        with tempfile.TemporaryDirectory(prefix="softhsm-bench-") as tmp:
            sides = [Side(opts.module, Path(tmp)), Side(opts.softhsm2_module, Path(tmp))]
            if [s.name for s in sides] != [report.PY, report.V2]:
                raise SystemExit(
                    f"--module must be softhsm-py and --softhsm2-module SoftHSMv2: {[s.path for s in sides]}"
                )
            try:
                for side in sides:
                    log(f"{side.name}: tokens, keys, {opts.small:,} + {opts.large:,} token objects ...")
                    side.setup(opts.small, opts.large)
                    log(f"{side.name}: " + ", ".join(f"{k} {v:.1f} s" for k, v in side.setup_seconds.items()))
                ops = select(catalogue(opts.small, opts.large), opts.only)
                python_loop = spin(lambda: None, 0.2)
                results = run_rounds(sides, ops, opts.rounds, opts.seconds_per_op, log)
                libraries = {side.name: system.library_info(side) for side in sides}
            finally:
                for side in sides:
                    side.close()
            extras: dict[str, Any] = {}
            plan = chost.cells(
                opts.mixed, opts.mixed_seconds, opts.scaling_seconds, opts.tiny_seconds, opts.only
            )
            if opts.c_host and plan:
                log("C host rows: mixed workload, process and thread scaling ...")
                try:
                    section = chost.run(sides, Path(tmp), opts.rounds, plan, log)
                    section["checks"] = chost_report.checks(section)
                except (RuntimeError, OSError) as exc:  # reported: the driver's rounds are kept
                    log(f"C host rows: {exc}")
                    section = {"error": str(exc)}
                extras["c_host"] = section
            if opts.extras:
                log("pkcs11-tool -L wall time ...")
                extras["pkcs11_tool_L"] = system.pkcs11_tool_wall(sides, opts.tool_repeats)
                log("peak RSS of a process holding the large token ...")
                extras["peak_rss"] = system.peak_rss(sides)
    finally:
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    info["loadavg_at_end"] = list(os.getloadavg())
    overhead = next(c for c in results if c["operation"] == OVERHEAD and c["threads"] == 1)
    rsa = [op.name for op in ops if "rsa" in op.tags]
    tiny = {op.name: op.calls for op in ops if "tiny" in op.tags}
    return {
        "machine": info,
        "libraries": libraries,
        "config": {
            "rounds": opts.rounds,
            "seconds_per_op": opts.seconds_per_op,
            "only": opts.only,
            "objects": {"small": opts.small, "large": opts.large},
        },
        "setup_seconds": {side.name: side.setup_seconds for side in sides},
        "driver_overhead": {
            "python_loop_ns": python_loop[1] / python_loop[0] * 1e9,
            "getinfo_ns": {s.name: 1e9 / overhead[s.name]["median_ops_per_s"] for s in sides},
        },
        "results": results,
        "floor": report.floor_summary(results, tiny, FLOOR),
        "thread_scaling": report.thread_scaling(results, rsa),
        **extras,
        "total_seconds": time.perf_counter() - t_start,
    }
