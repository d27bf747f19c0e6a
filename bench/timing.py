"""Timing: one op on one side with N threads for a time budget, and the alternating rounds.

Each thread runs its own ``call`` (its own session) in doubling batches until the budget is spent
and reports its count and elapsed time; a cell's rate is the sum of the per-thread rates. Threads
start together on a barrier. cffi releases the GIL during every foreign call, so two threads run
in parallel wherever the module lets them.
"""

from __future__ import annotations

import statistics
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from .ops import Op
from .tokens import Side

BATCH_SECONDS = 0.002  # double the batch while a batch takes less than this


def spin(call: Callable[[], None], seconds: float) -> tuple[int, float]:
    """Call ``call`` until ``seconds`` have passed (at least once); return (calls, elapsed)."""
    perf = time.perf_counter
    n, batch = 0, 1
    t0 = tb = perf()
    deadline = t0 + seconds
    while True:
        for _ in range(batch):
            call()
        n += batch
        t = perf()
        if t >= deadline:
            return n, t - t0
        if t - tb < BATCH_SECONDS:
            batch *= 2
        tb = t


def measure(side: Side, op: Op, threads: int, seconds: float) -> float:
    """ops/s of ``op`` on ``side`` with ``threads`` threads (one session each)."""
    prepared = []
    try:
        for i in range(threads):
            prepared.append(op.make(side, i))
        for p in prepared:
            p.call()  # warm-up, outside the window
        if threads == 1:
            n, dt = spin(prepared[0].call, seconds)
            return n / dt
        return _threaded([p.call for p in prepared], seconds)
    finally:
        for p in prepared:
            if p.cleanup is not None:
                p.cleanup()


def _threaded(calls: Sequence[Callable[[], None]], seconds: float) -> float:
    barrier = threading.Barrier(len(calls))
    results: list[tuple[int, float]] = [(0, 1.0)] * len(calls)
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            barrier.wait()
            results[i] = spin(calls[i], seconds)
        except BaseException as exc:  # re-raised in the driver thread
            errors.append(exc)
            barrier.abort()

    workers = [threading.Thread(target=worker, args=(i,), name=f"bench-{i}") for i in range(len(calls))]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    if errors:
        raise errors[0]
    return sum(n / dt for n, dt in results)


def run_rounds(
    sides: Sequence[Side],
    ops: Sequence[Op],
    rounds: int,
    seconds: float,
    log: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """Time every (op, threads) cell on every side, ``rounds`` times. The sides alternate: which
    one goes first flips from cell to cell and from round to round, so that drift on a noisy
    machine hits both alike. Returns one dict per cell with the per-round rates and ratios."""
    cells: dict[tuple[str, int], dict[str, list[float]]] = {}
    for r in range(rounds):
        t_round = time.perf_counter()
        k = 0
        for op in ops:
            for threads in op.threads:
                order = list(sides) if (r + k) % 2 == 0 else list(reversed(sides))
                order = [s for s in order if op.only in (None, s.name)]
                k += 1
                cell = cells.setdefault((op.name, threads), {s.name: [] for s in order})
                for side in order:
                    try:
                        cell[side.name].append(measure(side, op, threads, seconds))
                    except Exception as exc:
                        raise RuntimeError(f"{side.name}: {op.name}, {threads} thread(s): {exc}") from exc
        if log:
            log(f"round {r + 1}/{rounds}: {time.perf_counter() - t_round:.1f} s")
    return [_summarise(name, threads, rates, sides) for (name, threads), rates in cells.items()]


def _summarise(
    name: str, threads: int, rates: dict[str, list[float]], sides: Sequence[Side]
) -> dict[str, Any]:
    out: dict[str, Any] = {"operation": name, "threads": threads}
    sides = [side for side in sides if side.name in rates]  # an op that runs on one side only
    for side in sides:
        out[side.name] = {"median_ops_per_s": statistics.median(rates[side.name]), "rounds": rates[side.name]}
    if len(sides) == 2:
        a, b = (rates[s.name] for s in sides)
        ratios = [x / y for x, y in zip(a, b, strict=True)]
        out["ratio_median"] = statistics.median(ratios)
        out["ratios"] = ratios
    return out


def log_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
