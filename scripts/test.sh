#!/usr/bin/env bash
# The whole test suite on a fresh Debian machine: host packages, a venv with softhsm-py and its
# test dependencies, lint, format and type checks, then pytest against the installed package.
#   scripts/test.sh [--fast] [PYTEST ARGS...]
# --fast runs the fast tier (-m "not slow", under two minutes on 2 cores); other args go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
tier=()
if [ "${1:-}" = "--fast" ]; then
    shift
    tier=(-m "not slow")
fi
scripts/setup-debian.sh
. scripts/setup-postgres.sh  # Debian's postgresql for the store suite; exports SOFTHSM_PY_REQUIRE_PG=1
scripts/venv.sh test
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy  # [tool.mypy] in pyproject.toml: the softhsm_py package, strict
# Run from tests/ so that `softhsm_py` is the installed package (with its built library), not the
# source tree next to it.
cd tests && ../.venv/bin/python -m pytest -p no:cacheprovider "${tier[@]}" "$@"
