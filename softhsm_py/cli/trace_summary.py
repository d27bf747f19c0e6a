"""``softhsm-py trace-summary TRACE``: a call trace (``trace_file``, ``$SOFTHSM_PY_TRACE``) as one
row per function: calls, errors (by CKR), and latency percentiles. Lines that are not trace lines
(another program's, a line cut by a crash) are counted and skipped."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

# <time> pid=<pid> tid=<tid> <function>(<arguments>) = <CKR> <microseconds>us
_HEAD = re.compile(r"^(\S+) pid=(\d+) tid=(\d+) (C_\w+)\(")
_TAIL = re.compile(r"\) = (CKR_\w+|0x[0-9a-f]+) (\d+(?:\.\d+)?)us$")


class Call:
    __slots__ = ("function", "pid", "rv", "us")

    def __init__(self, function: str, pid: int, rv: str, us: float) -> None:
        self.function, self.pid, self.rv, self.us = function, pid, rv, us


def parse_line(line: str) -> Call | None:
    """One trace line; None if it is not one."""
    line = line.rstrip("\n")
    head = _HEAD.match(line)
    tail = _TAIL.search(line)
    if head is None or tail is None or tail.start() < head.end() - 1:
        return None
    return Call(head.group(4), int(head.group(2)), tail.group(1), float(tail.group(2)))


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list (p in 0..100)."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


class Row:
    __slots__ = ("calls", "errors", "function", "us")

    def __init__(self, function: str) -> None:
        self.function = function
        self.calls = 0
        self.errors: Counter[str] = Counter()
        self.us: list[float] = []


class Summary:
    def __init__(self) -> None:
        self.rows: dict[str, Row] = {}
        self.skipped = 0
        self.pids: set[int] = set()

    def add(self, call: Call) -> None:
        row = self.rows.get(call.function)
        if row is None:
            row = self.rows[call.function] = Row(call.function)
        row.calls += 1
        row.us.append(call.us)
        if call.rv != "CKR_OK":
            row.errors[call.rv] += 1
        self.pids.add(call.pid)

    @property
    def calls(self) -> int:
        return sum(row.calls for row in self.rows.values())


def summarize(lines: Iterable[str]) -> Summary:
    summary = Summary()
    for line in lines:
        if not line.strip():
            continue
        call = parse_line(line)
        if call is None:
            summary.skipped += 1
        else:
            summary.add(call)
    return summary


def _us(value: float) -> str:
    if math.isnan(value):
        return "-"
    return f"{value / 1000:.1f}ms" if value >= 1000 else f"{value:.1f}us"


def render(summary: Summary) -> str:
    header = ("function", "calls", "errors", "p50", "p90", "p99", "max", "error codes")
    table = [header]
    for row in sorted(summary.rows.values(), key=lambda r: (-r.calls, r.function)):
        us = sorted(row.us)
        codes = ", ".join(f"{rv} x{n}" for rv, n in row.errors.most_common())
        table.append(
            (
                row.function,
                str(row.calls),
                str(sum(row.errors.values())),
                _us(percentile(us, 50)),
                _us(percentile(us, 90)),
                _us(percentile(us, 99)),
                _us(us[-1]),
                codes,
            )
        )
    widths = [max(len(r[i]) for r in table) for i in range(len(header) - 1)]
    out = []
    for r in table:
        cells = [r[0].ljust(widths[0])] + [r[i].rjust(widths[i]) for i in range(1, len(widths))]
        out.append("  ".join(cells) + ("  " + r[-1] if r[-1] else ""))
    errors = sum(sum(r.errors.values()) for r in summary.rows.values())
    out.append("")
    out.append(
        f"{summary.calls} calls, {errors} errors, {len(summary.rows)} functions, "
        f"{len(summary.pids)} process(es)"
        + (f"; {summary.skipped} other lines skipped" if summary.skipped else "")
    )
    return "\n".join(out) + "\n"


def summarize_file(path: Path) -> str:
    with open(path, encoding="utf-8", errors="replace") as f:
        return render(summarize(f))
