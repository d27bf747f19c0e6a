"""Smoke test of the benchmark (bench/): the whole machinery on both modules with a tiny time
budget, and the report's structure. Never a timing assertion: numbers on a shared machine say
nothing about correctness."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))  # appended: the installed softhsm_py stays first

from bench import report  # noqa: E402
from bench.chost import FLOOR as C_FLOOR  # noqa: E402
from bench.chost import KIND_NAMES, MIXED, TINY_KINDS  # noqa: E402
from bench.loader import SOFTHSM2_PATH, default_module_path  # noqa: E402
from bench.ops import FLOOR, OVERHEAD, catalogue  # noqa: E402
from bench.run import Options, benchmark  # noqa: E402

SMALL, LARGE = 3, 5
MIXED_SHAPE = (2, 2)  # C host processes x threads: the mixed workload's machinery, cheaply
pytestmark = pytest.mark.slow  # one benchmark run of both modules


@pytest.fixture(scope="module")
def result() -> dict:
    if not Path(SOFTHSM2_PATH).exists():
        pytest.skip(f"SoftHSMv2 ({SOFTHSM2_PATH}) is not installed")
    try:
        module = default_module_path()
    except RuntimeError as exc:
        pytest.skip(str(exc))
    opts = Options(
        module=module,
        softhsm2_module=SOFTHSM2_PATH,
        rounds=2,
        seconds_per_op=0.002,
        small=SMALL,
        large=LARGE,
        tool_repeats=1,
        mixed=MIXED_SHAPE,
        mixed_seconds=0.05,
        scaling_seconds=0.02,
        tiny_seconds=0.02,
    )
    return benchmark(opts)


def test_every_operation_ran_on_both_modules(result: dict) -> None:
    expected = [(op.name, t) for op in catalogue(SMALL, LARGE) for t in op.threads]
    assert [(c["operation"], c["threads"]) for c in result["results"]] == expected
    floor = next(c for c in result["results"] if c["operation"] == FLOOR)
    assert report.V2 not in floor and "ratio_median" not in floor  # softhsm-py's own symbol
    assert all(rate > 0 for rate in floor[report.PY]["rounds"])
    for cell in result["results"]:
        if cell is floor:
            continue
        for side in (report.PY, report.V2):
            assert len(cell[side]["rounds"]) == 2
            assert all(rate > 0 for rate in cell[side]["rounds"])
            assert cell[side]["median_ops_per_s"] > 0
        assert len(cell["ratios"]) == 2
        assert cell["ratio_median"] > 0
    assert {c["threads"] for c in result["results"] if c["operation"] == "C_Initialize + C_Finalize"} == {1}


def test_report_sections(result: dict) -> None:
    for key in (
        "machine",
        "libraries",
        "config",
        "setup_seconds",
        "driver_overhead",
        "results",
        "thread_scaling",
        "floor",
        "c_host",
        "pkcs11_tool_L",
        "peak_rss",
        "total_seconds",
    ):
        assert key in result, key
    assert result["machine"]["cores"] >= 1 and result["machine"]["cpu"]
    assert set(result["libraries"]) == {report.PY, report.V2}
    overhead = result["driver_overhead"]
    assert overhead["python_loop_ns"] > 0 and set(overhead["getinfo_ns"]) == {report.PY, report.V2}
    ops = catalogue(SMALL, LARGE)
    assert [row["operation"] for row in result["thread_scaling"]] == [
        op.name for op in ops if 1 in op.threads and 2 in op.threads and op.only is None
    ]
    for row in result["thread_scaling"]:
        assert isinstance(row["softhsm_py_meets_target"], bool)
        assert row["target"] == (
            report.RSA_SCALING_TARGET if "RSA" in row["operation"] and "sign" in row["operation"] else 1.0
        )
    for side in (report.PY, report.V2):
        assert f"create {LARGE} objects" in result["setup_seconds"][side]
        rss = result["peak_rss"][side]
        assert "error" not in rss, rss
        assert rss["objects"] == LARGE and rss["holding_mib"] > 0 and rss["baseline_mib"] > 0
    tool = result["pkcs11_tool_L"]
    if "error" not in tool:  # pkcs11-tool (opensc) may be missing
        assert set(tool) == {"bench_tokens", "empty"}
        assert all(set(runs) == {report.PY, report.V2} for runs in tool.values())


def test_floor_and_tiny_calls(result: dict) -> None:
    floor = result["floor"]
    assert floor["ns"] > 0 and len(floor["rounds_ns"]) == 2
    tiny = [op for op in catalogue(SMALL, LARGE) if "tiny" in op.tags]
    assert [(row["operation"], row["calls"]) for row in floor["tiny"]] == [(op.name, op.calls) for op in tiny]
    assert {"C_OpenSession + C_CloseSession", "SHA-256 digest 64 B"} <= {
        op.name for op in tiny if op.calls == 2
    }
    for row in floor["tiny"]:
        assert row["ns_per_call"] > 0 and row["floors_per_call"] > 0 and row["softhsm2_ns_per_call"] > 0
        assert row["meets_target"] == (row["floors_per_call"] <= report.FLOORS_TARGET)


def test_c_host_rows(result: dict) -> None:
    """The C host ran every cell on both modules; softhsm-py never failed a call under the mixed load."""
    section = result["c_host"]
    assert "error" not in section, section["error"]
    shapes = [(c["kind"], c["processes"], c["threads"]) for c in section["cells"]]
    assert shapes == [(k, 1, 1) for k in TINY_KINDS] + [(MIXED, *MIXED_SHAPE)] + [
        (k, p, t) for k in KIND_NAMES for p, t in ((1, 1), (1, 2), (2, 1))
    ]
    for cell in section["cells"]:
        sides = (report.PY,) if cell["kind"] == C_FLOOR else (report.PY, report.V2)
        assert [side for side in (report.PY, report.V2) if side in cell] == list(sides)
        for side in sides:
            assert len(cell[side]["rounds"]) == 2
            assert all(r["ops_per_s"] >= 0 for r in cell[side]["rounds"])
        assert cell[report.PY]["errors"] == 0
        if cell["kind"] in TINY_KINDS:  # a batch of calls always counts
            assert all(r["ops_per_s"] > 0 for side in sides for r in cell[side]["rounds"])
    checks = section["checks"]
    assert checks["tiny"]["floor_ns"] > 0
    assert [row["operation"] for row in checks["tiny"]["tiny"]] == [
        n for k, (n, _) in TINY_KINDS.items() if k != C_FLOOR
    ]
    assert checks["mixed"]["threads_per_core"] == MIXED_SHAPE[0] * MIXED_SHAPE[1] / section["usable_cores"]
    assert [row["kind"] for row in checks["scaling"]] == list(KIND_NAMES)
    for row in checks["scaling"]:
        assert isinstance(row["softhsm_py_meets_threads_target"], bool)


def test_text_and_json(result: dict, tmp_path: Path) -> None:
    text = report.text(result)
    assert text.splitlines()[0].startswith("| operation | threads | softhsm-py ops/s | SoftHSMv2 ops/s |")
    assert OVERHEAD in text and "Machine:" in text and "Driver overhead:" in text
    assert "Floor: `softhsm_py_floor`" in text and "| tiny call (1 thread) |" in text
    assert "| C host: tiny call |" in text
    assert "Mixed workload, C host: 2 processes x 2 threads" in text and "| C host: operation |" in text
    assert "Two threads never slower than one" in text
    path = tmp_path / "results" / "latest.json"
    report.write_json(result, path)
    assert json.loads(path.read_text())["results"] == result["results"]
