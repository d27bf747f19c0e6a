#!/usr/bin/env bash
# Create .venv (if missing) and install softhsm-py into it, with the test extras when asked:
#   scripts/venv.sh [test]
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
if [ "${1:-}" = "test" ]; then
    .venv/bin/python -m pip install -q ".[test]"
else
    .venv/bin/python -m pip install -q .
fi
