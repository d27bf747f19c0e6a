"""Options of the whole suite: which PKCS#11 module the conformance and C-host tests load."""

from __future__ import annotations

import pytest

from support.pkcs11 import SOFTHSM2_PATH


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("pkcs11", "PKCS#11 module under test")
    group.addoption("--module", default=None, help="path of the PKCS#11 module to test")
    group.addoption("--softhsm2", action="store_true", help=f"test {SOFTHSM2_PATH}")


# A test that starts a server or another program's build is `slow` (README, "Tests"): the REST
# tests that run a real `softhsm-py serve` (their module imports `start_server` or uses
# `rest_server`), the store tests that run a PostgreSQL cluster (the `pg_cluster` fixture, or a
# `postgresql` parameter), the instance tests (several processes), the Go client's build. Marked here,
# by what the test uses, so that no new one is missed.
_SERVER_FIXTURES = frozenset({"rest_server", "pg_cluster"})
_SLOW_MODULES = frozenset({"test_instances", "test_tsb_client_go", "test_bench_rest"})


def _starts_a_server(item: pytest.Item) -> bool:
    module = getattr(item, "module", None)
    if module is not None and (
        hasattr(module, "start_server") or module.__name__.split(".")[-1] in _SLOW_MODULES
    ):
        return True
    if _SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ())):
        return True
    callspec = getattr(item, "callspec", None)
    return callspec is not None and "postgresql" in callspec.id


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _starts_a_server(item):
            item.add_marker(pytest.mark.slow)
