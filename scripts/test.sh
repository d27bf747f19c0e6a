#!/usr/bin/env bash
# The whole test suite on a fresh Debian machine: host packages, a venv with softhsm-py and its
# test dependencies, lint, then pytest against the installed package (extra args go to pytest).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-debian.sh
. scripts/setup-postgres.sh  # Debian's postgresql for the store suite; exports SOFTHSM_PY_REQUIRE_PG=1
scripts/venv.sh test
.venv/bin/ruff check .
# Run from tests/ so that `softhsm_py` is the installed package (with its built library), not the
# source tree next to it.
cd tests && ../.venv/bin/python -m pytest -p no:cacheprovider "$@"
