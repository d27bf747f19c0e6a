"""Options of the whole suite: which PKCS#11 module the conformance and C-host tests load."""

from __future__ import annotations

import pytest

from support.pkcs11 import SOFTHSM2_PATH


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("pkcs11", "PKCS#11 module under test")
    group.addoption("--module", default=None, help="path of the PKCS#11 module to test")
    group.addoption("--softhsm2", action="store_true", help=f"test {SOFTHSM2_PATH}")
