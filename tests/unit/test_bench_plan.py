"""The benchmark's C host plan and its targets' arithmetic (bench/chost.py, bench/chost_report.py,
bench/report.py), on made-up figures: which cells run, and what the report concludes from them."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))  # appended: the installed softhsm_py stays first

from bench import report  # noqa: E402
from bench.__main__ import mixed_shape  # noqa: E402
from bench.chost import cells  # noqa: E402
from bench.chost_report import checks, chost_text  # noqa: E402

PY, V2 = report.PY, report.V2


def keys(only: str | None) -> list[str]:
    return [cell.key for cell in cells((2, 8), 1.0, 0.5, 0.2, only)]


def test_plan_and_what_each_row_needs() -> None:
    everything = keys(None)
    assert everything[0] == "floor 1x1" and "mixed 2x8" in everything
    assert {"rsa 1x1", "rsa 1x2", "rsa 2x1", "ecdsa 1x1", "ecdsa 1x2", "ecdsa 2x1"} <= set(everything)
    assert keys("mixed") == ["mixed 2x8", "rsa 1x1"]  # the 1-thread RSA latency it is held against
    assert keys("C_GetInfo") == ["floor 1x1", "getinfo 1x1"]  # the floor the tiny calls are in
    assert keys("ECDSA") == ["ecdsa 1x1", "ecdsa 1x2", "ecdsa 2x1"]
    assert keys("nothing like this") == []


def test_mixed_shape() -> None:
    assert mixed_shape("2x8") == (2, 8) and mixed_shape("1X16") == (1, 16)
    for bad in ("2", "x8", "0x8", "2x0", "2x999", "twoxeight"):
        with pytest.raises(SystemExit):
            mixed_shape(bad)


def cell(
    kind: str, processes: int, threads: int, py: float, v2: float | None, **extra: Any
) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": kind, "processes": processes, "threads": threads, "seconds": 1.0}
    for side, ops in ((PY, py), (V2, v2)):
        if ops is not None:
            out[side] = {"median_ops_per_s": ops, "rounds": [{"ops_per_s": ops}], "errors": 0}
            out[side].update(extra.get(side, {}))
    if v2:
        out["ratio_median"] = py / v2
    return out


def test_targets_from_figures() -> None:
    section = {
        "usable_cores": 2,
        "cells": [
            cell("floor", 1, 1, 5e6, None),  # 200 ns
            cell("getinfo", 1, 1, 2.5e6, 5e6),  # 400 ns: 2 floors
            cell("digest", 1, 1, 1e6, 2e6),  # 1000 ns for 2 calls: 2.5 floors per call
            cell("open_close", 1, 1, 5e5, 1e6),  # 2000 ns for 2 calls: 5 floors per call
            cell("mixed", 2, 8, 3000.0, 1500.0, **{PY: {"rsa_mean_ms": 5.0}, V2: {"rsa_mean_ms": 9.0}}),
            cell("rsa", 1, 1, 4000.0, 2000.0, **{PY: {"rsa_mean_ms": 0.25}, V2: {"rsa_mean_ms": 0.5}}),
            cell("rsa", 1, 2, 7000.0, 3000.0),
            cell("rsa", 2, 1, 7600.0, 3800.0),
            cell("ecdsa", 1, 1, 30000.0, 20000.0),
            cell("ecdsa", 1, 2, 27000.0, 30000.0),
            cell("ecdsa", 2, 1, 55000.0, 38000.0),
        ],
    }
    c = checks(section)
    tiny = {row["operation"]: row for row in c["tiny"]["tiny"]}
    assert c["tiny"]["floor_ns"] == pytest.approx(200)
    assert tiny["C_GetInfo"]["floors_per_call"] == pytest.approx(2.0) and tiny["C_GetInfo"]["meets_target"]
    assert tiny["SHA-256 digest 64 B"]["floors_per_call"] == pytest.approx(2.5)
    assert tiny["C_OpenSession + C_CloseSession"]["floors_per_call"] == pytest.approx(5.0)
    assert not tiny["C_OpenSession + C_CloseSession"]["meets_target"]
    assert c["mixed"]["ratio"] == pytest.approx(2.0) and c["mixed"]["meets_target"]
    assert c["mixed"]["threads_per_core"] == 8
    # limit: 2 x 1-thread latency x 8 threads per core
    assert c["rsa_latency"][PY]["limit_ms"] == pytest.approx(4.0) and not c["rsa_latency"][PY]["meets_target"]
    assert c["rsa_latency"][V2]["limit_ms"] == pytest.approx(8.0) and not c["rsa_latency"][V2]["meets_target"]
    rsa, ecdsa = c["scaling"]
    assert rsa[PY]["threads_2_1"] == pytest.approx(1.75) and rsa["softhsm_py_meets_threads_target"]
    assert rsa[PY]["processes_2_1"] == pytest.approx(1.9)
    assert ecdsa[PY]["threads_2_1"] == pytest.approx(0.9) and not ecdsa["softhsm_py_meets_threads_target"]
    text = "\n".join(chost_text({**section, "checks": c}))
    assert "Mixed workload softhsm-py / SoftHSMv2: 2.00x (meets the >= 1x target)." in text
    assert "= 4.00 ms (MISSES the target)" in text


def test_thread_scaling_targets() -> None:
    def row(name: str, threads: int, py: list[float], v2: list[float]) -> dict[str, Any]:
        return {"operation": name, "threads": threads, PY: {"rounds": py}, V2: {"rounds": v2}}

    results = [
        {"operation": "floor", "threads": 1, PY: {"rounds": [1.0, 1.0, 1.0]}},
        # the machine drifts from round to round: each round's 2 threads against its own 1 thread
        row("RSA sign", 1, [100.0, 50.0, 60.0], [50.0, 50.0, 50.0]),
        row("RSA sign", 2, [170.0, 85.0, 30.0], [100.0, 100.0, 100.0]),  # 1.7, 1.7, 0.5
        row("random", 1, [100.0, 100.0, 100.0], [50.0, 50.0, 50.0]),
        row("random", 2, [100.0, 90.0, 110.0], [40.0, 40.0, 40.0]),  # 1.0, 0.9, 1.1
        row("init", 1, [10.0, 10.0, 10.0], [1.0, 1.0, 1.0]),
    ]
    rows = {r["operation"]: r for r in report.thread_scaling(results, ["RSA sign"])}
    assert set(rows) == {"RSA sign", "random"}  # the floor is softhsm-py only; init has 1 thread only
    assert rows["RSA sign"][PY] == pytest.approx(1.7)  # (the ratio of the medians would say 1.42)
    assert rows["RSA sign"]["target"] == 1.6 and rows["RSA sign"]["softhsm_py_meets_target"]
    assert rows["RSA sign"][V2] == pytest.approx(2.0)
    assert rows["random"][PY] == pytest.approx(1.0) and rows["random"]["target"] == 1.0
    assert rows["random"]["softhsm_py_meets_target"]  # 1.0: not slower
