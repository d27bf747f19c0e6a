"""softhsm-py trace-summary: parsing trace lines, percentiles, and the table."""

from __future__ import annotations

import math
from pathlib import Path

from softhsm_py.cli.main import main
from softhsm_py.cli.trace_summary import parse_line, percentile, summarize

T = "2025-01-01T00:00:00.000001Z"
LINES = [
    f"{T} pid=10 tid=10 C_Initialize(pInitArgs=NULL) = CKR_OK 9000.0us",
    f"{T} pid=10 tid=11 C_Sign(hSession=1, ulDataLen=5, *pulSignatureLen=64) = CKR_OK 10.0us",
    f"{T} pid=10 tid=11 C_Sign(hSession=1, ulDataLen=5) = CKR_DEVICE_ERROR 20.0us",
    "garbage line = CKR_OK 1.0us",
    f'{T} pid=12 tid=12 C_CreateObject(hSession=1, pTemplate=[CKA_LABEL="a = b) = CKR_OK 1.0us"],'
    " ulCount=1, *phObject=3) = CKR_OK 30.0us",
    f"{T} pid=12 tid=12 C_Sign(hSession=1, ulDataLen=5, *pulSignatureLen=64) = CKR_OK 30.0us",
    f"{T} pid=12 tid=12 C_Sign(hSession=1) = 0x80000001 40.0us",
    "2025-01-01T00:00:00.0000",  # cut by a crash
]


def test_parse_line() -> None:
    call = parse_line(LINES[2])
    assert call is not None and (call.function, call.pid, call.rv, call.us) == (
        "C_Sign",
        10,
        "CKR_DEVICE_ERROR",
        20.0,
    )
    label = parse_line(LINES[4])  # a label holding ") = CKR_OK 1.0us" does not fool it
    assert label is not None and label.function == "C_CreateObject" and label.us == 30.0
    assert parse_line(LINES[3]) is None and parse_line(LINES[-1]) is None


def test_percentiles() -> None:
    values = sorted(float(v) for v in range(1, 101))
    assert (percentile(values, 50), percentile(values, 90), percentile(values, 99)) == (50, 90, 99)
    assert percentile([7.0], 99) == 7.0 and math.isnan(percentile([], 50))


def test_summary_table(tmp_path: Path, capsys) -> None:
    summary = summarize(LINES)
    sign = summary.rows["C_Sign"]
    assert sign.calls == 4 and sorted(sign.us) == [10.0, 20.0, 30.0, 40.0]
    assert dict(sign.errors) == {"CKR_DEVICE_ERROR": 1, "0x80000001": 1}
    assert summary.skipped == 2 and summary.pids == {10, 12}
    trace = tmp_path / "trace.log"
    trace.write_text("\n".join(LINES) + "\n")
    assert main(["trace-summary", str(trace)]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.startswith("C_")}
    assert rows["C_Sign"][:7] == ["C_Sign", "4", "2", "20.0us", "40.0us", "40.0us", "40.0us"]
    assert "CKR_DEVICE_ERROR x1" in out and rows["C_Initialize"][3] == "9.0ms"
    assert "6 calls, 2 errors, 3 functions, 2 process(es); 2 other lines skipped" in out
    assert main(["trace-summary", str(tmp_path / "missing.log")]) == 1
