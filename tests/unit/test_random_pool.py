"""core.random's buffer of kernel bytes: every byte handed out once, across threads too; a seed
drops what was drawn before it; a forked child's runtime never shares its parent's bytes."""

from __future__ import annotations

import threading

from softhsm_py.core import random
from softhsm_py.core.random import POOL_SIZE, POOLED_MAX, RandomPool


def test_takes_are_the_requested_length_and_never_repeat() -> None:
    pool = RandomPool()
    chunks = [pool.take(n) for n in (0, 1, 16, 32, POOLED_MAX) * 40]  # crosses several refills
    assert [len(c) for c in chunks] == [n for n in (0, 1, 16, 32, POOLED_MAX) * 40]
    long = [c for c in chunks if len(c) >= 16]
    assert len(set(long)) == len(long)


def test_threads_never_get_the_same_bytes() -> None:
    pool = RandomPool()
    got: list[list[bytes]] = [[] for _ in range(4)]
    start = threading.Barrier(4)

    def run(out: list[bytes]) -> None:
        start.wait()
        for _ in range(POOL_SIZE // 32 * 3):
            out.append(pool.take(32))

    threads = [threading.Thread(target=run, args=(out,)) for out in got]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    everything = [c for out in got for c in out]
    assert len(set(everything)) == len(everything)


def test_drop_discards_the_buffered_bytes() -> None:
    pool = RandomPool()
    pool.take(32)
    buffered = pool._buf
    pool.drop()
    assert pool.take(32) not in buffered  # drawn afresh after the drop


class _Runtime:
    def __init__(self) -> None:
        self.sessions = {1: object()}
        self.random_pool = None


class _Library:
    def __init__(self) -> None:
        self.runtime = _Runtime()


def test_each_runtime_has_its_own_pool() -> None:
    a, b = _Library(), _Library()  # e.g. a parent's runtime and the one its forked child starts
    first = random.generate_random(a, 1, 32)  # type: ignore[arg-type]
    second = random.generate_random(b, 1, 32)  # type: ignore[arg-type]
    assert a.runtime.random_pool is not None and a.runtime.random_pool is not b.runtime.random_pool
    assert first != second
    assert len(random.generate_random(a, 1, POOLED_MAX + 1)) == POOLED_MAX + 1  # straight from the kernel
