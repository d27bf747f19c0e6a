"""A change counter of our own beside the SQLite file (``<database>-changes``, 8 bytes), so that a
reader learns whether any process committed without asking SQLite: ``PRAGMA data_version`` is a
query, ~3 us, and sqlite3 lets the GIL go for it, handing it to another thread on every call.

Writers, holding SQLite's write lock (BEGIN IMMEDIATE) and, for the two steps, a POSIX lock of
this file's own: before COMMIT the counter takes a new odd value; after COMMIT, if no writer moved
it meanwhile, the next (even) value. Values only grow. A reader reads the counter before it asks
SQLite and remembers the even value it read; while it reads that same value again, nothing was
committed since (a commit makes the counter odd first, and never gives an old value back), so it
need not ask. A writer killed between its two steps leaves the counter odd: every reader asks
SQLite on every call until the next write completes.

The file is ours, never one of SQLite's, so opening and closing it drops none of SQLite's locks
(``store/sqlite.py``'s module docstring). Aligned 8-byte loads and stores of the mapping are
single accesses on the machines we run on (x86-64, aarch64), so a reader never sees half a value.
"""

from __future__ import annotations

import fcntl
import mmap
import os
import struct
from pathlib import Path

_U64 = struct.Struct("<Q")
SUFFIX = "-changes"


class ChangeCounter:
    """The counter of one database file. ``writable=False``: read it only (a read-only store)."""

    __slots__ = ("_fd", "_map")

    def __init__(self, path: Path, *, writable: bool) -> None:
        flags = (os.O_RDWR | os.O_CREAT) if writable else os.O_RDONLY
        fd = os.open(path, flags | os.O_CLOEXEC, 0o600)
        try:
            if os.fstat(fd).st_size < _U64.size:
                if not writable:
                    raise OSError(f"{path}: shorter than a counter")
                os.ftruncate(fd, _U64.size)  # a new file reads as 0; a racing process does the same
            access = mmap.ACCESS_WRITE if writable else mmap.ACCESS_READ
            self._map = mmap.mmap(fd, _U64.size, access=access)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def read(self) -> int:
        return int(_U64.unpack_from(self._map)[0])

    def begin_commit(self) -> int:
        """Before COMMIT (the caller holds SQLite's write lock): a new odd value, returned."""
        fcntl.lockf(self._fd, fcntl.LOCK_EX)
        try:
            value = self.read()
            odd = value + 1 if value % 2 == 0 else value + 2
            _U64.pack_into(self._map, 0, odd)
            return odd
        finally:
            fcntl.lockf(self._fd, fcntl.LOCK_UN)

    def end_commit(self, odd: int) -> None:
        """After COMMIT (or ROLLBACK): the next even value, unless another writer moved on since
        (it ends its own commit the same way)."""
        fcntl.lockf(self._fd, fcntl.LOCK_EX)
        try:
            if self.read() == odd:
                _U64.pack_into(self._map, 0, odd + 1)
        finally:
            fcntl.lockf(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        self._map.close()
        os.close(self._fd)
