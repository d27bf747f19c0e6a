"""The README's coverage table tells the truth about the function list."""

from __future__ import annotations

import re
from pathlib import Path

import softhsm_py.pkcs11.abi.entry  # noqa: F401  (every entry module registers itself)
from softhsm_py.pkcs11.abi.entries import NOT_SUPPORTED

ROOT = Path(__file__).resolve().parents[2]


def coverage_rows() -> dict[str, str]:
    """function name -> the status cell of its row in the README's coverage table."""
    text = (ROOT / "README.md").read_text()
    table = text[text.index("| function | in list | status |") :]
    rows: dict[str, str] = {}
    for line in table.splitlines()[2:]:
        if not line.startswith("|"):
            break
        names, _, status = line.strip("|").split("|", 2)
        for name in re.findall(r"C_\w+", names):
            rows[name] = status
    return rows


def test_every_function_of_the_list_has_a_row() -> None:
    listed = re.findall(
        r"^(?:FWD(?:3|32)?|LOCAL3?)\((C_\w+),", (ROOT / "native/functions.h").read_text(), re.M
    )
    assert len(listed) == 104  # 68 in 2.40, 24 more in 3.0, 12 more in 3.2
    assert set(listed) == set(coverage_rows())


def test_unsupported_functions_are_marked_so() -> None:
    rows = coverage_rows()
    assert NOT_SUPPORTED, "the async and authenticated-wrap functions of 3.2 are refused"
    for name in NOT_SUPPORTED:
        assert "CKR_FUNCTION_NOT_SUPPORTED" in rows[name], name
    for name in set(rows) - NOT_SUPPORTED:
        assert "CKR_FUNCTION_NOT_SUPPORTED" not in rows[name], name
