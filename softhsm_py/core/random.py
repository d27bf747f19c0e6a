"""Random numbers (C_SeedRandom, C_GenerateRandom; the REST service's generateRandom): the kernel's."""

from __future__ import annotations

import os

from softhsm_py import errors
from softhsm_py.core.runtime import Library
from softhsm_py.core.tokens import session_of


def generate_random(lib: Library, handle: int, length: int) -> bytes:
    # One read of the session table: atomic under the GIL, so no library lock (taking it made
    # threads queue on every call; C_CloseSession in another thread is either before or after).
    if handle not in lib.runtime.sessions:
        raise errors.SessionHandleInvalid()
    return os.urandom(length)


def seed_random(lib: Library, handle: int, seed: bytes) -> None:
    """Mix the caller's seed into the kernel's pool, which our random numbers come from (writing to
    /dev/urandom mixes without crediting entropy, so a poor seed can never weaken it)."""
    with lib.lock:
        session_of(lib, handle)
    try:
        with open("/dev/urandom", "wb", buffering=0) as pool:
            pool.write(seed)
    except OSError:
        raise errors.RandomSeedNotSupported() from None
