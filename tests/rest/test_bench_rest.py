"""bench/rest.py: its percentile, and one short real run (server, REST load, PKCS#11 rate)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))  # appended: the installed softhsm_py stays first

from bench import rest  # noqa: E402


def test_percentile_nearest_rank() -> None:
    values = [float(x) for x in range(1, 101)]
    assert rest.percentile(values, 50) == 50.0
    assert rest.percentile(values, 99) == 99.0
    assert rest.percentile([3.0], 99) == 3.0


def test_short_run_has_every_row() -> None:
    report = rest.benchmark(0.3, 1, [1, 2], log=lambda _m: None)
    names = {(r["operation"], r["concurrency"]) for r in report["rows"]}
    assert len(names) == 6
    for row in report["rows"]:
        assert row["requests"] > 0 and row["errors"] == 0, row
        assert row["p50_ms"] <= row["p99_ms"]
    assert all(v and v > 0 for v in report["pkcs11_in_process_per_s"].values()), report
    assert "synchronousSign EC P-256" in rest.table(report)
