"""Random numbers (C_SeedRandom, C_GenerateRandom; the REST service's generateRandom): the kernel's.

A request for a few bytes is served from a buffer of kernel bytes drawn 4 KiB at a time: a
getrandom() system call costs ~0.35-0.75 us, more than the whole of the rest of a
C_GenerateRandom(32). Every byte is handed out once (the buffer's position moves under a lock,
so two threads never get the same bytes), the buffer belongs to one runtime (a forked child
starts a runtime of its own, so never sees its parent's bytes), and C_SeedRandom drops it, so
that bytes drawn after the seed was mixed in come next. Larger requests go to the kernel
directly.
"""

from __future__ import annotations

import os
import threading

from softhsm_py import errors
from softhsm_py.core.runtime import Library, Runtime
from softhsm_py.core.tokens import session_of

POOL_SIZE = 4096
POOLED_MAX = 256  # requests up to this length come from the buffer


class RandomPool:
    """Kernel bytes drawn ``POOL_SIZE`` at a time, each handed out once."""

    __slots__ = ("_buf", "_lock", "_pos")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buf = b""
        self._pos = 0

    def take(self, length: int) -> bytes:
        with self._lock:
            pos = self._pos
            end = pos + length
            if end > len(self._buf):
                self._buf, pos, end = os.urandom(POOL_SIZE), 0, length
            self._pos = end
            return self._buf[pos:end]

    def drop(self) -> None:
        with self._lock:
            self._buf, self._pos = b"", 0


def _pool(rt: Runtime) -> RandomPool:
    pool = rt.random_pool
    if pool is None:  # two threads may both make one: the one stored last is used from then on
        pool = rt.random_pool = RandomPool()
    return pool


def generate_random(lib: Library, handle: int, length: int) -> bytes:
    # One read of the session table: atomic under the GIL, so no library lock (taking it made
    # threads queue on every call; C_CloseSession in another thread is either before or after).
    rt = lib.runtime
    if handle not in rt.sessions:
        raise errors.SessionHandleInvalid()
    if length <= POOLED_MAX:
        return (rt.random_pool or _pool(rt)).take(length)
    return os.urandom(length)


def seed_random(lib: Library, handle: int, seed: bytes) -> None:
    """Mix the caller's seed into the kernel's pool, which our random numbers come from (writing to
    /dev/urandom mixes without crediting entropy, so a poor seed can never weaken it)."""
    with lib.lock:
        rt, _ = session_of(lib, handle)
    try:
        with open("/dev/urandom", "wb", buffering=0) as pool:
            pool.write(seed)
    except OSError:
        raise errors.RandomSeedNotSupported() from None
    _pool(rt).drop()  # what comes next is drawn after the seed
