"""The report: a Markdown table (operation, threads, ops/s of each module, ratio) with the machine
and the one-off measurements underneath, and the same as JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

PY, V2 = "softhsm-py", "SoftHSMv2"
RSA_SCALING_TARGET = 1.6


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
        lines.append(
            f"| {cell['operation']} | {cell['threads']} | {rate(cell[PY]['median_ops_per_s'])} "
            f"| {rate(cell[V2]['median_ops_per_s'])} | {ratio(cell['ratio_median'])} |"
        )
    return "\n".join(lines)


def thread_scaling(results: list[dict[str, Any]], names: list[str]) -> list[dict[str, Any]]:
    """2-thread rate / 1-thread rate (medians) for the named operations, per module."""
    by_key = {(c["operation"], c["threads"]): c for c in results}
    out = []
    for name in names:
        one, two = by_key.get((name, 1)), by_key.get((name, 2))
        if one is None or two is None:
            continue
        row: dict[str, Any] = {"operation": name}
        for side in (PY, V2):
            row[side] = two[side]["median_ops_per_s"] / one[side]["median_ops_per_s"]
        row["target"] = RSA_SCALING_TARGET
        row["softhsm_py_meets_target"] = row[PY] >= RSA_SCALING_TARGET
        out.append(row)
    return out


def text(report: dict[str, Any]) -> str:
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
    for row in report["thread_scaling"]:
        verdict = "meets" if row["softhsm_py_meets_target"] else "MISSES"
        out.append(
            f"{row['operation']}: 2 threads / 1 thread = {row[PY]:.2f}x on {PY} ({verdict} the "
            f"{row['target']}x target), {row[V2]:.2f}x on {V2}."
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
    return "\n".join(out)


def write_json(report: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
