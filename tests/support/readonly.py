"""A directory made read-only for a child process, the way an operator would: a read-only bind
mount when the tests run as root (root writes through any file mode), else the files' write
permissions taken away. ``readonly_view(directory)`` gives an argv prefix; the child sees the
directory read-only for its whole life, and the test's own process keeps writing it."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

# sh -c SCRIPT DIR ARGV...: mount DIR read-only over itself, then become ARGV.
_MOUNT = 'mount --bind -o ro "$0" "$0" && exec "$@"'


def _can_mount() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", _MOUNT, "/tmp", "true"], capture_output=True, timeout=30
    )
    return probe.returncode == 0


@contextmanager
def readonly_view(directory: Path) -> Iterator[list[str]]:
    """An argv prefix that runs a command with ``directory`` read-only; skip if neither way works."""
    if os.geteuid() == 0:
        if not _can_mount():
            pytest.skip("root, and no read-only bind mount here (unshare -m)")
        yield ["unshare", "-m", "sh", "-c", _MOUNT, str(directory)]
        return
    saved = {p: stat.S_IMODE(p.stat().st_mode) for p in [directory, *directory.rglob("*")]}
    for path, mode in saved.items():
        path.chmod(mode & ~0o222)
    try:
        yield []
    finally:
        for path, mode in saved.items():
            path.chmod(mode)
