"""``--profile PATTERN``: cProfile softhsm-py's side of the matching operations, through the ABI,
with one and with two threads (a profiler per thread, merged), and print the top functions."""

from __future__ import annotations

import cProfile
import io
import os
import pstats
import threading
from collections.abc import Callable

from .ops import Op
from .timing import spin
from .tokens import Side


def profile_op(side: Side, op: Op, threads: int, seconds: float, top: int = 15) -> str:
    prepared = [op.make(side, i) for i in range(threads)]
    profiles = [cProfile.Profile() for _ in range(threads)]
    counts = [0] * threads
    barrier = threading.Barrier(threads)

    def worker(i: int) -> None:
        barrier.wait()
        profiles[i].enable()
        try:
            counts[i] = spin(prepared[i].call, seconds)[0]
        finally:
            profiles[i].disable()

    try:
        for p in prepared:
            p.call()
        runners = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
        for r in runners:
            r.start()
        for r in runners:
            r.join()
    finally:
        for p in prepared:
            if p.cleanup is not None:
                p.cleanup()
    out = io.StringIO()
    stats = pstats.Stats(profiles[0], stream=out)
    for extra in profiles[1:]:
        stats.add(extra)
    # BENCH_SORT (a pstats key), BENCH_TOP (rows) and BENCH_CALLERS (a function name pattern)
    # shape the report when hunting a cost.
    stats.strip_dirs().sort_stats(os.environ.get("BENCH_SORT", "tottime"))
    stats.print_stats(int(os.environ.get("BENCH_TOP", top)))
    if os.environ.get("BENCH_CALLERS"):
        stats.print_callers(os.environ["BENCH_CALLERS"])
    head = f"== {side.name}: {op.name}, {threads} thread(s), {sum(counts)} calls in {seconds} s (profiled)\n"
    return head + out.getvalue()


def profile(side: Side, ops: list[Op], seconds: float, emit: Callable[[str], None]) -> None:
    for op in ops:
        for threads in op.threads:
            emit(profile_op(side, op, threads, seconds))
