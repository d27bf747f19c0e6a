"""softhsm-py on SQLite against softhsm-py on PostgreSQL (``python3 -m bench --postgresql``).

The same library, loaded twice into the driver (the PostgreSQL side is a copy of the .so under
another name, so that the dynamic loader gives it a library of its own), each copy with its own
config file: ``token_dir`` for SQLite, ``store = "postgresql://..."`` for a throw-away cluster
started here (``tests/store/pgcluster.py``: Debian's initdb/pg_ctl in a temporary directory, on
127.0.0.1). The rows are the operations whose cost the store decides (``ops.store_catalogue``),
timed in alternating rounds as in the main table.
"""

from __future__ import annotations

import importlib
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import report
from .ops import select, store_catalogue
from .run import Options
from .timing import run_rounds
from .tokens import Side

ROOT = Path(__file__).resolve().parents[1]
SQLITE, POSTGRES = "softhsm-py on SQLite", "softhsm-py on PostgreSQL"


def _pgcluster() -> Any:
    if str(ROOT) not in sys.path:
        sys.path.append(str(ROOT))
    return importlib.import_module("tests.store.pgcluster")


def available() -> bool:
    return _pgcluster().find_bindir() is not None


def compare(opts: Options, log: Callable[[str], None] = lambda _msg: None) -> dict[str, Any]:
    pgcluster = _pgcluster()
    with tempfile.TemporaryDirectory(prefix="softhsm-bench-pg-") as tmp, pgcluster.Cluster.start() as cluster:
        url = cluster.new_database("bench")
        copy = Path(tmp) / "pg-copy" / Path(opts.module).name
        copy.parent.mkdir()
        shutil.copy2(opts.module, copy)
        sides = [
            Side(opts.module, Path(tmp), name=SQLITE),
            Side(str(copy), Path(tmp), name=POSTGRES, store=url),
        ]
        try:
            for side in sides:
                log(f"{side.name}: tokens, keys, {opts.small:,} token objects ...")
                side.setup(opts.small, opts.small)
                log(f"{side.name}: " + ", ".join(f"{k} {v:.1f} s" for k, v in side.setup_seconds.items()))
            ops = select(store_catalogue(opts.small), opts.only, keep_overhead=False)
            results = run_rounds(sides, ops, opts.rounds, opts.seconds_per_op, log)
        finally:
            for side in sides:
                side.close()
    return {
        "sides": [SQLITE, POSTGRES],
        "setup_seconds": {side.name: side.setup_seconds for side in sides},
        "results": results,
    }


def table(section: dict[str, Any]) -> str:
    lines = [
        f"| operation | threads | {SQLITE} ops/s | {POSTGRES} ops/s | ratio PostgreSQL/SQLite |",
        "|---|---:|---:|---:|---:|",
    ]
    for cell in section["results"]:
        lite, pg = cell[SQLITE]["median_ops_per_s"], cell[POSTGRES]["median_ops_per_s"]
        lines.append(
            f"| {cell['operation']} | {cell['threads']} | {report.rate(lite)} | {report.rate(pg)} "
            f"| {report.ratio(pg / lite)} |"
        )
    return "\n".join(lines)
