"""The report: a Markdown table (operation, threads, ops/s of each module, ratio) with the machine
and the one-off measurements underneath, and the same as JSON."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

PY, V2 = "softhsm-py", "SoftHSMv2"
RSA_SCALING_TARGET = 1.6  # 2 threads / 1 thread, RSA signing
THREADS_TARGET = 1.0  # 2 threads / 1 thread, any other operation: never slower
FLOORS_TARGET = 3.0  # a tiny call's cost per PKCS#11 call, in floors
MIXED_TARGET = 1.0  # mixed workload, softhsm-py / SoftHSMv2
LATENCY_TARGET = 2.0  # RSA sign latency under load / (1-thread latency x threads per core)


def rate(x: float) -> str:
    if x >= 1000:
        return f"{x:,.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def ratio(x: float) -> str:
    if x >= 100:
        return f"{x:,.0f}"
    return f"{x:.2f}" if x >= 0.1 else f"{x:.3f}"


def table(results: list[dict[str, Any]]) -> str:
    lines = [
        f"| operation | threads | {PY} ops/s | {V2} ops/s | ratio {PY}/{V2} |",
        "|---|---:|---:|---:|---:|",
    ]
    for cell in results:
        if PY not in cell or V2 not in cell:
            continue  # the floor: softhsm-py only, reported with the tiny calls
        lines.append(
            f"| {cell['operation']} | {cell['threads']} | {rate(cell[PY]['median_ops_per_s'])} "
            f"| {rate(cell[V2]['median_ops_per_s'])} | {ratio(cell['ratio_median'])} |"
        )
    return "\n".join(lines)


def round_ratio(a: list[float], b: list[float]) -> float:
    """The median of the per-round ratios a/b (the two cells of a round ran minutes apart at most,
    so drift of a shared machine hits both alike)."""
    return statistics.median(x / y for x, y in zip(a, b, strict=True))


def thread_scaling(results: list[dict[str, Any]], rsa: list[str]) -> list[dict[str, Any]]:
    """2-thread rate / 1-thread rate (median of the per-round ratios) per module, for every
    operation with both cells; the target is 1.6x for RSA signing (``rsa``), else 1.0x (two
    threads never slower than one)."""
    by_key = {(c["operation"], c["threads"]): c for c in results}
    out = []
    for cell in results:
        name = cell["operation"]
        one, two = by_key.get((name, 1)), by_key.get((name, 2))
        if cell["threads"] != 1 or two is None or one is None or PY not in one or V2 not in one:
            continue
        row: dict[str, Any] = {"operation": name}
        for side in (PY, V2):
            row[side] = round_ratio(two[side]["rounds"], one[side]["rounds"])
        row["target"] = RSA_SCALING_TARGET if name in rsa else THREADS_TARGET
        row["softhsm_py_meets_target"] = row[PY] >= row["target"]
        out.append(row)
    return out


def floor_summary(results: list[dict[str, Any]], calls: dict[str, int], floor: str) -> dict[str, Any] | None:
    """The floor (ns, median over rounds) and each tiny call in floors per PKCS#11 call: the median
    over rounds of (ns per call / floor ns) of the same round. ``calls``: tiny operation -> PKCS#11
    calls per operation. None if the floor was not measured."""
    by_key = {(c["operation"], c["threads"]): c for c in results}
    cell = by_key.get((floor, 1))
    if cell is None or PY not in cell:
        return None
    floor_ns = [1e9 / r for r in cell[PY]["rounds"]]
    rows = []
    for name, n in calls.items():
        tiny = by_key.get((name, 1))
        if tiny is None:
            continue
        ns = [1e9 / r / n for r in tiny[PY]["rounds"]]
        row = {
            "operation": name,
            "calls": n,
            "ns_per_call": statistics.median(ns),
            "floors_per_call": statistics.median(x / f for x, f in zip(ns, floor_ns, strict=True)),
            "target": FLOORS_TARGET,
        }
        if V2 in tiny:
            row["softhsm2_ns_per_call"] = 1e9 / tiny[V2]["median_ops_per_s"] / n
        row["meets_target"] = row["floors_per_call"] <= FLOORS_TARGET
        rows.append(row)
    return {"ns": statistics.median(floor_ns), "rounds_ns": floor_ns, "tiny": rows}


def floor_text(report: dict[str, Any]) -> list[str]:
    f = report.get("floor")
    if f is None:
        return []
    o = report["driver_overhead"]
    out = [
        "",
        f"Floor: `softhsm_py_floor`, one empty call from C into softhsm-py's embedded interpreter through "
        f"cffi, made through the driver as every call here is: {f['ns']:.0f} ns (median of the rounds). "
        f"What of it is the driver's: an empty Python call costs {o['python_loop_ns']:.0f} ns, and "
        f"C_GetInfo on {V2} (the driver's cffi call into C plus {V2}'s own C_GetInfo) "
        f"{o['getinfo_ns'][V2]:.0f} ns, an upper bound on the driver's cost per call.",
        "",
        f"| tiny call (1 thread) | PKCS#11 calls | {PY} ns/call | floors/call | target | {V2} ns/call |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in f["tiny"]:
        verdict = "meets" if row["meets_target"] else "MISSES"
        v2 = row.get("softhsm2_ns_per_call")
        out.append(
            f"| {row['operation']} | {row['calls']} | {row['ns_per_call']:,.0f} "
            f"| {row['floors_per_call']:.1f} | <= {row['target']:g}: {verdict} "
            f"| {'' if v2 is None else f'{v2:,.0f}'} |"
        )
    return out


def scaling_text(report: dict[str, Any]) -> list[str]:
    rows = report["thread_scaling"]
    if not rows:
        return []
    out = [
        "",
        f"| threads of the driver: 2 threads / 1 thread | {PY} | {V2} | {PY} target |",
        "|---|---:|---:|---|",
    ]
    for row in rows:
        verdict = "meets" if row["softhsm_py_meets_target"] else "MISSES"
        out.append(
            f"| {row['operation']} | {row[PY]:.2f} | {row[V2]:.2f} | >= {row['target']:g}: {verdict} |"
        )
    slower = [
        row["operation"]
        for row in rows
        if row["target"] == THREADS_TARGET and not row["softhsm_py_meets_target"]
    ]
    never = [row for row in rows if row["target"] == THREADS_TARGET]
    out.append(
        f"Two threads never slower than one ({PY}, driver): {len(never) - len(slower)} of {len(never)} "
        "operations" + (f"; slower: {', '.join(slower)}." if slower else ".")
    )
    return out


def text(report: dict[str, Any]) -> str:
    from .chost_report import chost_text  # which uses this module's names

    m = report["machine"]
    out = [table(report["results"]), ""]
    out.append(
        f"Machine: {m['cpu']}, {m['cores']} cores ({m['usable_cores']} usable); {m['python']}; {m['os']}; "
        f"cffi {m['cffi']}, cryptography {m['cryptography']} ({m['openssl']}); "
        f"system libcrypto (SoftHSMv2's) {m['system_openssl']}; "
        f"load average {m['loadavg_at_start'][0]:.2f} at start, {m['loadavg_at_end'][0]:.2f} at end."
    )
    for side, info in report["libraries"].items():
        out.append(
            f"{side}: {info.get('description', '?')} {info.get('version', '?')} ({info.get('path', '?')})"
        )
    c = report["config"]
    out.append(
        f"Run: {c['rounds']} rounds x {c['seconds_per_op']} s per op per module, sides alternating; "
        f"figures are medians over rounds, the ratio is the median of the per-round ratios. "
        f"Total {report['total_seconds']:.0f} s."
    )
    o = report["driver_overhead"]
    out.append(
        f"Driver overhead: an empty Python call in the timing loop costs {o['python_loop_ns']:.0f} ns; "
        f"C_GetInfo through the driver costs {o['getinfo_ns'][V2]:.0f} ns on {V2} (an upper bound on the "
        f"driver's own per-call cost) and {o['getinfo_ns'][PY]:.0f} ns on {PY}."
    )
    out.append(
        "Setup (once per run, not timed in the rounds): "
        + "; ".join(
            f"{side}: " + ", ".join(f"{k} {v:.1f} s" for k, v in steps.items())
            for side, steps in report["setup_seconds"].items()
        )
    )
    tool = report.get("pkcs11_tool_L")
    if tool is not None:
        if "error" in tool:
            out.append(f"pkcs11-tool -L: {tool['error']}")
        else:
            out.append(
                "Whole `pkcs11-tool --module M -L` process (median wall time): "
                + "; ".join(
                    f"{where}: "
                    + ", ".join(f"{side} {v['median_s'] * 1000:.0f} ms" for side, v in runs.items())
                    for where, runs in (
                        ("on the benchmark tokens", tool["bench_tokens"]),
                        ("on an empty token directory", tool["empty"]),
                    )
                )
            )
    rss = report.get("peak_rss")
    if rss is not None:
        parts = []
        for side, v in rss.items():
            if "error" in v:
                parts.append(f"{side}: {v['error']}")
            else:
                parts.append(
                    f"{side} {v['holding_mib']:.0f} MiB holding {v['objects']:,} objects "
                    f"(baseline {v['baseline_mib']:.0f} MiB: C_Initialize, no tokens)"
                )
        out.append("Peak RSS of a Python process (VmHWM): " + "; ".join(parts))
    out += floor_text(report)
    out += scaling_text(report)
    out += chost_text(report.get("c_host"))
    return "\n".join(out)


def write_json(report: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
