"""The README's coverage table tells the truth about the function list."""

from __future__ import annotations

import re
from pathlib import Path

from softhsm_py.pkcs11.abi.entry_message import NOT_SUPPORTED

ROOT = Path(__file__).resolve().parents[2]


def coverage_rows() -> dict[str, str]:
    """function name -> the status cell of its row in the README's coverage table."""
    text = (ROOT / "README.md").read_text()
    table = text[text.index("| function | status |") :]
    rows: dict[str, str] = {}
    for line in table.splitlines()[2:]:
        if not line.startswith("|"):
            break
        names, status = line.strip("|").split("|", 1)
        for name in re.findall(r"C_\w+", names):
            rows[name] = status
    return rows


def test_every_function_of_the_list_has_a_row() -> None:
    listed = re.findall(r"^(?:FWD3?|LOCAL3?)\((C_\w+),", (ROOT / "native/functions.h").read_text(), re.M)
    assert len(listed) == 92
    assert set(listed) == set(coverage_rows())


def test_unsupported_functions_are_marked_so() -> None:
    rows = coverage_rows()
    for name in (*NOT_SUPPORTED, "C_GetOperationState", "C_SetOperationState"):
        assert "CKR_FUNCTION_NOT_SUPPORTED" in rows[name], name
    supported = set(rows) - set(NOT_SUPPORTED) - {"C_GetOperationState", "C_SetOperationState"}
    for name in supported - {"C_WaitForSlotEvent"}:  # blocking waits are the one exception it notes
        assert "CKR_FUNCTION_NOT_SUPPORTED" not in rows[name], name
