"""``python3 -m bench``: softhsm-py against SoftHSMv2 through the C ABI (see bench/README.md)."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from . import backends, report
from .loader import SOFTHSM2_PATH, default_module_path
from .ops import catalogue, select
from .profile import profile
from .run import Options, benchmark
from .timing import log_stderr
from .tokens import Side

DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "latest.json"


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python3 -m bench", description=__doc__)
    p.add_argument("--rounds", type=int, default=None, help="alternating rounds (default 5; --quick: 3)")
    p.add_argument(
        "--seconds-per-op",
        type=float,
        default=None,
        help="time budget per operation per module per round (default 0.5; --quick: 0.1)",
    )
    p.add_argument("--only", metavar="PATTERN", help="only the operations whose name matches this regex")
    p.add_argument("--quick", action="store_true", help="a short run (~1 minute)")
    p.add_argument(
        "--objects",
        default=None,
        metavar="SMALL,LARGE",
        help="token objects for the two C_FindObjects benchmarks (default 1000,10000; "
        "--quick: 100,1000, since SoftHSMv2 takes ~5-25 ms to create each)",
    )
    p.add_argument("--no-extras", action="store_true", help="skip pkcs11-tool -L and the peak RSS")
    p.add_argument(
        "--no-c-host", action="store_true", help="skip the C host's rows (mixed workload, process scaling)"
    )
    p.add_argument(
        "--mixed",
        default="2x8",
        metavar="PROCESSESxTHREADS",
        help="the mixed workload's C host processes and threads per process (default 2x8)",
    )
    p.add_argument(
        "--mixed-seconds",
        type=float,
        default=None,
        help="the mixed workload's window per module per round (default 2; --quick: 1)",
    )
    p.add_argument("--json", type=Path, default=DEFAULT_JSON, help=f"report path (default {DEFAULT_JSON})")
    p.add_argument("--module", default=None, help="softhsm-py library (default: the in-place build)")
    p.add_argument("--softhsm2-module", default=SOFTHSM2_PATH, help=f"SoftHSMv2 (default {SOFTHSM2_PATH})")
    p.add_argument(
        "--postgresql",
        action="store_true",
        help="also time softhsm-py on SQLite against softhsm-py on PostgreSQL (a throw-away cluster; "
        "needs Debian's postgresql: scripts/setup-postgres.sh)",
    )
    p.add_argument(
        "--profile",
        metavar="PATTERN",
        help="instead of the comparison: cProfile softhsm-py on the matching operations",
    )
    return p.parse_args(argv)


def mixed_shape(text: str) -> tuple[int, int]:
    processes, _, threads = text.lower().partition("x")
    try:
        shape = int(processes), int(threads)
    except ValueError:
        raise SystemExit(f"--mixed: PROCESSESxTHREADS, e.g. 2x8, not {text!r}") from None
    if min(shape) < 1 or shape[1] > 256:
        raise SystemExit(f"--mixed: 1 or more processes, 1 to 256 threads each, not {text!r}")
    return shape


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    small, large = (int(n) for n in (args.objects or ("100,1000" if args.quick else "1000,10000")).split(","))
    opts = Options(
        module=args.module or default_module_path(),
        softhsm2_module=args.softhsm2_module,
        rounds=args.rounds or (3 if args.quick else 5),
        seconds_per_op=args.seconds_per_op or (0.1 if args.quick else 0.5),
        only=args.only,
        small=small,
        large=large,
        tool_repeats=3 if args.quick else 5,
        extras=not args.no_extras,
        c_host=not args.no_c_host,
        mixed=mixed_shape(args.mixed),
        mixed_seconds=args.mixed_seconds or (1.0 if args.quick else 2.0),
        scaling_seconds=0.5 if args.quick else 1.0,
        tiny_seconds=0.2 if args.quick else 0.5,
    )
    if args.profile:
        with tempfile.TemporaryDirectory(prefix="softhsm-bench-") as tmp:
            side = Side(opts.module, Path(tmp))
            side.setup(small, large)
            try:
                ops = select(catalogue(small, large), args.profile, keep_overhead=False)
                profile(side, ops, max(opts.seconds_per_op, 1.0), print)
            finally:
                side.close()
        return 0
    if args.postgresql and not backends.available():
        raise SystemExit("--postgresql: PostgreSQL's initdb is not installed (scripts/setup-postgres.sh)")
    result = benchmark(opts, log_stderr)
    if args.postgresql:
        result["store_backends"] = backends.compare(opts, log_stderr)
    print(report.text(result))
    if args.postgresql:
        print("\nStore backends (same library, same operations; a throw-away local PostgreSQL cluster):\n")
        print(backends.table(result["store_backends"]))
    report.write_json(result, args.json)
    log_stderr(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
