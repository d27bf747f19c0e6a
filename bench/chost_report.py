"""The C host's rows in the report: the mixed workload against its two targets, and the process
and thread scaling of RSA and ECDSA signing (see bench/chost.py)."""

from __future__ import annotations

import statistics
from typing import Any

from .chost import FLOOR, KIND_NAMES, MIXED, TINY_KINDS
from .report import (
    FLOORS_TARGET,
    LATENCY_TARGET,
    MIXED_TARGET,
    PY,
    RSA_SCALING_TARGET,
    THREADS_TARGET,
    V2,
    rate,
    ratio,
    round_ratio,
)

SIDES = (PY, V2)


def _cell(section: dict[str, Any], kind: str, processes: int, threads: int) -> dict[str, Any] | None:
    cells: list[dict[str, Any]] = section["cells"]
    for cell in cells:
        if (cell["kind"], cell["processes"], cell["threads"]) == (kind, processes, threads):
            return cell
    return None


def tiny_in_floors(section: dict[str, Any]) -> dict[str, Any] | None:
    """The floor timed from C (ns) and each tiny call in floors per PKCS#11 call: the median over
    rounds of (ns per call / floor ns of the same round)."""
    floor = _cell(section, FLOOR, 1, 1)
    if floor is None:
        return None
    floor_ns = [1e9 / r["ops_per_s"] for r in floor[PY]["rounds"]]  # never 0: a batch always counts
    rows = []
    for kind, (name, calls) in TINY_KINDS.items():
        cell = _cell(section, kind, 1, 1)
        if kind == FLOOR or cell is None:
            continue
        ns = [1e9 / r["ops_per_s"] / calls for r in cell[PY]["rounds"]]
        row: dict[str, Any] = {
            "operation": name,
            "calls": calls,
            "ns_per_call": statistics.median(ns),
            "floors_per_call": statistics.median(x / f for x, f in zip(ns, floor_ns, strict=True)),
            "target": FLOORS_TARGET,
        }
        row["meets_target"] = row["floors_per_call"] <= FLOORS_TARGET
        if V2 in cell and cell[V2]["median_ops_per_s"] > 0:
            row["softhsm2_ns_per_call"] = 1e9 / cell[V2]["median_ops_per_s"] / calls
        rows.append(row)
    return {"floor_ns": statistics.median(floor_ns), "rounds_ns": floor_ns, "tiny": rows}


def _versus(cell: dict[str, Any] | None, base: dict[str, Any], side: str) -> float | None:
    """``cell``'s rate / ``base``'s on ``side``: the median of the per-round ratios."""
    if cell is None:
        return None
    rates = [r["ops_per_s"] for r in cell[side]["rounds"]]
    return round_ratio(rates, [r["ops_per_s"] or float("nan") for r in base[side]["rounds"]])


def checks(section: dict[str, Any]) -> dict[str, Any]:
    """The must-show figures: the tiny calls in floors, the mixed ratio, RSA latency under load
    against 1-thread latency x threads per core, and 2/1 scaling of threads and processes."""
    out: dict[str, Any] = {"tiny": tiny_in_floors(section)}
    mixed = next((c for c in section["cells"] if c["kind"] == MIXED), None)
    single_rsa = _cell(section, "rsa", 1, 1)
    if mixed is not None:
        per_core = mixed["processes"] * mixed["threads"] / section["usable_cores"]
        out["mixed"] = {
            "ratio": mixed.get("ratio_median"),
            "target": MIXED_TARGET,
            "meets_target": mixed.get("ratio_median", 0.0) >= MIXED_TARGET,
            "threads_per_core": per_core,
        }
        latency: dict[str, Any] = {}
        for side in SIDES:
            loaded, alone = (
                mixed[side].get("rsa_mean_ms"),
                (single_rsa or {}).get(side, {}).get("rsa_mean_ms"),
            )
            if loaded is None or alone is None:
                continue
            limit = LATENCY_TARGET * alone * per_core
            latency[side] = {
                "under_load_ms": loaded,
                "one_thread_ms": alone,
                "limit_ms": limit,
                "meets_target": loaded <= limit,
            }
        out["rsa_latency"] = latency
    scaling = []
    for kind in KIND_NAMES:
        one, two_threads, two_procs = (_cell(section, kind, p, t) for p, t in ((1, 1), (1, 2), (2, 1)))
        if one is None:
            continue
        row: dict[str, Any] = {"kind": kind}
        for side in SIDES:
            row[side] = {
                "threads_2_1": _versus(two_threads, one, side),
                "processes_2_1": _versus(two_procs, one, side),
            }
        row["threads_target"] = RSA_SCALING_TARGET if kind == "rsa" else THREADS_TARGET
        t21 = row[PY]["threads_2_1"]
        row["softhsm_py_meets_threads_target"] = t21 is not None and t21 >= row["threads_target"]
        scaling.append(row)
    out["scaling"] = scaling
    return out


def _verdict(ok: bool) -> str:
    return "meets" if ok else "MISSES"


def chost_text(section: dict[str, Any] | None) -> list[str]:
    if section is None:
        return []
    if "error" in section:
        return ["", f"C host rows: {section['error']}"]
    c = section["checks"]
    out = [""]
    tiny = c.get("tiny")
    if tiny is not None:
        out += [
            f"From the C host (no driver, 1 process x 1 thread): the floor `softhsm_py_floor` costs "
            f"{tiny['floor_ns']:.0f} ns.",
            "",
            f"| C host: tiny call | PKCS#11 calls | {PY} ns/call | floors/call | target | {V2} ns/call |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for row in tiny["tiny"]:
            v2 = row.get("softhsm2_ns_per_call")
            out.append(
                f"| {row['operation']} | {row['calls']} | {row['ns_per_call']:,.0f} "
                f"| {row['floors_per_call']:.1f} | <= {row['target']:g}: {_verdict(row['meets_target'])} "
                f"| {'' if v2 is None else f'{v2:,.0f}'} |"
            )
        out.append("")
    mixed = next((cell for cell in section["cells"] if cell["kind"] == MIXED), None)
    if mixed is not None:
        m = c["mixed"]
        out += [
            f"Mixed workload, C host: {mixed['processes']} processes x {mixed['threads']} threads "
            f"({m['threads_per_core']:g} threads per core), {mixed['seconds']:g} s per round; each thread "
            "loops RSA-2048 sign, ECDSA P-256 sign, create a token data object, find it by label, read "
            "its CKA_VALUE, destroy it, open + close a session (each an op).",
            "",
            "| module | ops/s | RSA signs/s | RSA sign latency under load: mean | p95 "
            "| 1-thread RSA sign latency | failed calls (all rounds) |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for side in SIDES:
            cell = mixed[side]
            lat = c["rsa_latency"].get(side, {})
            loaded, alone = cell.get("rsa_mean_ms", float("nan")), lat.get("one_thread_ms", float("nan"))
            failed = f"{cell['errors']}" + (
                f" (first: {cell['first_error']})" if cell.get("first_error") else ""
            )
            out.append(
                f"| {side} | {rate(cell['median_ops_per_s'])} | {rate(cell.get('rsa_signs_per_s', 0.0))} "
                f"| {loaded:.2f} ms | {cell.get('rsa_p95_ms', float('nan')):.2f} ms | {alone:.2f} ms "
                f"| {failed} |"
            )
        r = m["ratio"]
        out.append(
            f"Mixed workload {PY} / {V2}: {'n/a' if r is None else ratio(r) + 'x'} "
            f"({_verdict(m['meets_target'])} the >= {m['target']:g}x target)."
        )
        lat = c["rsa_latency"].get(PY)
        if lat is not None:
            out.append(
                f"RSA sign latency under load on {PY}: {lat['under_load_ms']:.2f} ms against "
                f"{LATENCY_TARGET:g} x {lat['one_thread_ms']:.2f} ms (1 thread) x {m['threads_per_core']:g} "
                f"threads per core = {lat['limit_ms']:.2f} ms ({_verdict(lat['meets_target'])} the target)."
            )
    scaled = [cell for cell in section["cells"] if cell["kind"] in KIND_NAMES]
    if scaled:
        out += [
            "",
            "| C host: operation | processes x threads | "
            + " | ".join(f"{side} ops/s" for side in SIDES)
            + f" | ratio {PY}/{V2} |",
            "|---|---:|---:|---:|---:|",
        ]
        for cell in scaled:
            r = cell.get("ratio_median")
            out.append(
                f"| {KIND_NAMES[cell['kind']]} | {cell['processes']} x {cell['threads']} | "
                + " | ".join(rate(cell[side]["median_ops_per_s"]) for side in SIDES)
                + f" | {'n/a' if r is None else ratio(r)} |"
            )
        for row in c["scaling"]:
            parts = []
            for side in SIDES:
                t21, p21 = row[side]["threads_2_1"], row[side]["processes_2_1"]
                parts.append(
                    f"{side}: 2 threads / 1 = {'n/a' if t21 is None else f'{t21:.2f}x'}, "
                    f"2 processes / 1 = {'n/a' if p21 is None else f'{p21:.2f}x'}"
                )
            verdict = _verdict(row["softhsm_py_meets_threads_target"])
            out.append(
                f"{KIND_NAMES[row['kind']]}, C host: " + "; ".join(parts) + f" ({PY} {verdict} the "
                f"2-thread >= {row['threads_target']:g}x target)."
            )
    return out
