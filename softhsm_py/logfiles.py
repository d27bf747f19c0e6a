"""Files the module appends records to: the debug log, the audit log and the call trace.

Each is opened by :func:`open_append`: created 0600 whatever the process umask (a log anyone may
write is a log anyone may forge), never truncated, appended with ``O_APPEND`` (one ``write`` per
record, so records of several processes sharing the file never interleave). A file that exists
keeps the mode its owner gave it, less any write permission for group and others.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

__all__ = ["FILE_MODE", "open_append"]

FILE_MODE = 0o600
DIR_MODE = 0o700
_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)


def _make_dirs(directory: Path) -> None:
    """``mkdir -p`` with 0700 for every directory made (``Path.mkdir`` gives parents the umask's)."""
    missing = []
    while not directory.exists():
        missing.append(directory)
        if directory.parent == directory:
            break
        directory = directory.parent
    for path in reversed(missing):
        with contextlib.suppress(FileExistsError):
            os.mkdir(path, DIR_MODE)


def open_append(path: Path) -> int:
    """A descriptor appending to ``path`` (see the module docstring). OSError if it cannot be."""
    _make_dirs(path.parent)
    fd = os.open(path, _FLAGS, FILE_MODE)
    try:
        st = os.fstat(fd)
        # A new file is at most FILE_MODE (the umask only removes bits). An older one that group
        # or others may write to is tightened, if it is ours to change (not /dev/stderr).
        if stat.S_ISREG(st.st_mode) and st.st_uid == os.geteuid() and st.st_mode & 0o022:
            os.fchmod(fd, stat.S_IMODE(st.st_mode) & ~0o022)
    except BaseException:
        os.close(fd)
        raise
    return fd
