"""Module start stays light: what `pkcs11-tool -L` does (C_Initialize, C_GetSlotList,
C_GetTokenInfo, C_Finalize) must not load pyca/cryptography, whose import alone costs 30-300 ms,
nor the stdlib's ``dataclasses`` (which imports ``inspect``, ``ast``, ``dis``...: ~5 ms) or
``logging`` (~4 ms; the package's loggers import it on their first message that passes the level).

Run in a fresh process: the test process itself has long since imported cryptography. The child
drives the module through ctypes, not ``.pkcs11.Module``: cffi's C parser (pycparser) imports
``dataclasses`` itself. No timing is asserted here; bench/ measures the wall time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from support.pkcs11 import Module

LIST = """
import ctypes, json, sys

def loaded(*roots):
    return sorted(name for name in sys.modules if name.split(".")[0] in roots)

SLOW_STDLIB = ("dataclasses", "inspect", "logging")
before, stdlib_before = loaded("cryptography"), loaded(*SLOW_STDLIB)
lib = ctypes.CDLL(sys.argv[1])
ULONG, PTR = ctypes.c_ulong, ctypes.c_void_p
for name, args in (
    ("C_Initialize", [PTR]),
    ("C_GetInfo", [PTR]),
    ("C_GetSlotList", [ctypes.c_ubyte, PTR, PTR]),
    ("C_GetSlotInfo", [ULONG, PTR]),
    ("C_GetTokenInfo", [ULONG, PTR]),
    ("C_Finalize", [PTR]),
):
    fn = getattr(lib, name)
    fn.argtypes, fn.restype = args, ULONG

def call(name, *args):
    rv = getattr(lib, name)(*args)
    if rv:
        sys.exit(f"{name} returned 0x{rv:x}")

def out():  # larger than any CK_*_INFO; only CK_TOKEN_INFO's label (its first 32 bytes) is read
    return ctypes.create_string_buffer(512)

call("C_Initialize", None)
call("C_GetInfo", out())
count = ULONG()
call("C_GetSlotList", 0, None, ctypes.byref(count))
slots = (ULONG * max(count.value, 1))()
call("C_GetSlotList", 0, slots, ctypes.byref(count))
labels = []
for slot in slots[: count.value]:
    call("C_GetSlotInfo", slot, out())
    info = out()
    call("C_GetTokenInfo", slot, info)
    labels.append(info.raw[:32].decode("utf-8", "replace").rstrip(" "))
call("C_Finalize", None)
seen = {"before": before, "stdlib_before": stdlib_before, "labels": labels}
seen.update(after=loaded("cryptography"), stdlib_after=loaded(*SLOW_STDLIB))
print(json.dumps(seen))
"""


def list_in_fresh_process(module: Module) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", LIST, module.path],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ),
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    return json.loads(proc.stdout)


def test_listing_an_empty_directory_imports_no_cryptography(module: Module) -> None:
    seen = list_in_fresh_process(module)
    assert seen["before"] == [], "the test's own imports loaded cryptography"
    assert seen["stdlib_before"] == [], "the test's own imports loaded a watched stdlib module"
    assert seen["after"] == []
    assert seen["stdlib_after"] == []


def test_listing_a_token_imports_no_cryptography(module: Module) -> None:
    module.init_token("listed")  # in this process: C_InitToken seals, and may load cryptography
    seen = list_in_fresh_process(module)
    assert "listed" in seen["labels"]
    assert seen["after"] == []
    assert seen["stdlib_after"] == []
