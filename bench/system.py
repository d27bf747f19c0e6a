"""Everything measured outside the driver's rounds: the machine, the wall time of a whole
``pkcs11-tool -L`` process per module, and the peak RSS of a process holding the large token."""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .loader import ROOT, ffi, pkcs11, write_config
from .tokens import Side


def _first(path: str, key: str) -> str | None:
    try:
        text = Path(path).read_text()
    except OSError:
        return None
    for line in text.splitlines():
        name, _, value = line.partition(":" if ":" in line and "=" not in line else "=")
        if name.strip() == key:
            return value.strip().strip('"')
    return None


def _system_openssl() -> str | None:
    """The system libcrypto's version (SoftHSMv2 links it; cryptography bundles its own)."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("crypto")
    if name is None:
        return None
    try:
        lib = ctypes.CDLL(name)
        lib.OpenSSL_version.restype = ctypes.c_char_p
        return lib.OpenSSL_version(0).decode()
    except (OSError, AttributeError):
        return None


def machine() -> dict[str, Any]:
    import cffi
    import cryptography
    from cryptography.hazmat.backends.openssl.backend import backend

    return {
        "cpu": _first("/proc/cpuinfo", "model name") or platform.processor(),
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "os": f"{_first('/etc/os-release', 'PRETTY_NAME') or platform.system()}, kernel {platform.release()}",
        "cffi": cffi.__version__,
        "cryptography": cryptography.__version__,
        "openssl": backend.openssl_version_text(),
        "system_openssl": _system_openssl(),
        "loadavg_at_start": list(os.getloadavg()),
    }


def library_info(side: Side) -> dict[str, str]:
    info = ffi.new("CK_INFO *")
    rv = side.fl.C_GetInfo(info)
    if rv:
        return {"error": pkcs11.rv_name(rv)}
    v = info.libraryVersion
    return {
        "path": side.path,
        "manufacturer": pkcs11.text(info.manufacturerID),
        "description": pkcs11.text(info.libraryDescription),
        "version": f"{v.major}.{v.minor}",
    }


def _env(side: Side, empty: bool = False) -> dict[str, str]:
    """The environment for a child process: the side's config, or one naming an empty token
    directory (``empty``: what the module costs before any token is there)."""
    env = dict(os.environ)
    env.update(write_config(side.dir / "empty", side.path) if empty else side.env)
    return env


def pkcs11_tool_wall(sides: Sequence[Side], repeats: int) -> dict[str, Any]:
    """Median wall time of ``pkcs11-tool --module M -L`` (a whole process: load, C_Initialize,
    list slots and tokens, C_Finalize, exit), on the benchmark's tokens and on an empty token
    directory, the modules alternating."""
    tool = shutil.which("pkcs11-tool")
    if tool is None:
        return {"error": "pkcs11-tool not found (Debian: apt-get install opensc)"}
    out: dict[str, Any] = {}

    def run(side: Side, empty: bool) -> subprocess.CompletedProcess[str]:
        env = _env(side, empty)
        # As installed (pip compiles bytecode): a development tree run with
        # PYTHONDONTWRITEBYTECODE would recompile the package on every start.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        argv = [tool, "--module", side.path, "-L"]
        return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, check=False)

    for empty in (False, True):
        times: dict[str, list[float]] = {s.name: [] for s in sides}
        for side in sides:
            run(side, empty)  # untimed: writes the bytecode, warms the page cache
        for r in range(repeats):
            for side in sides if r % 2 == 0 else list(reversed(sides)):
                t0 = time.perf_counter()
                done = run(side, empty)
                elapsed = time.perf_counter() - t0
                if done.returncode != 0:
                    return {
                        "error": f"{side.name}: pkcs11-tool -L exited {done.returncode}: {done.stderr[-500:]}"
                    }
                times[side.name].append(elapsed)
        out["empty" if empty else "bench_tokens"] = {
            name: {"median_s": statistics.median(t), "runs_s": t} for name, t in times.items()
        }
    return out


CHILD = "import sys; sys.path.append(sys.argv.pop(1)); from bench.rss_child import main; main(sys.argv[1:])"


def _child(side: Side, mode: str) -> dict[str, Any]:
    env = _env(side, empty=mode == "baseline")
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(ROOT), side.path, mode],
        env=env,
        cwd=side.dir,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if done.returncode != 0 or not done.stdout.strip():
        raise RuntimeError(f"{side.name} rss child ({mode}) exited {done.returncode}: {done.stderr[-800:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def peak_rss(sides: Sequence[Side]) -> dict[str, Any]:
    """Peak RSS (VmHWM) of a fresh Python process that loads the module and C_Initializes it on
    an empty token directory (baseline), and of one that initialises it on the benchmark's
    tokens, logs in and reads every object on the large token (holding)."""
    out: dict[str, Any] = {}
    for side in sides:
        try:
            base, hold = _child(side, "baseline"), _child(side, "hold")
        except (RuntimeError, subprocess.TimeoutExpired, ValueError) as exc:
            out[side.name] = {"error": str(exc)}
            continue
        out[side.name] = {
            "baseline_mib": base["vm_hwm_kib"] / 1024,
            "holding_mib": hold["vm_hwm_kib"] / 1024,
            "objects": hold["objects"],
            "hold_seconds": hold["seconds"],
        }
    return out
