"""Child process for the peak-RSS measurement: load one module, and either just initialise it
(``baseline``) or log in to the large token and hold every object on it (``hold``: find them all
and read each one's CKA_LABEL and CKA_VALUE). Prints one JSON line: peak RSS (VmHWM) in KiB.

Run by bench.system with the side's config in the environment; not meant to be run by hand.
"""

from __future__ import annotations

import json
import resource
import sys
import time

from .loader import CKA_CLASS, CKA_LABEL, CKA_VALUE, CKO_DATA, Module, check, ffi
from .tokens import LARGE_TOKEN, find


def vm_hwm_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def main(argv: list[str]) -> None:
    path, mode = argv
    t0 = time.perf_counter()
    module = Module(path)
    module.initialize()
    held = 0
    if mode == "hold":
        h = module.open(module.slot_of(LARGE_TOKEN))
        module.login(h)
        objects = find(module.fl, h, {CKA_CLASS: CKO_DATA})
        label, value = ffi.new("CK_BYTE[]", 64), ffi.new("CK_BYTE[]", 256)
        t = ffi.new("CK_ATTRIBUTE[2]")
        for obj in objects:
            t[0].type, t[0].pValue, t[0].ulValueLen = CKA_LABEL, label, 64
            t[1].type, t[1].pValue, t[1].ulValueLen = CKA_VALUE, value, 256
            check("C_GetAttributeValue", module.fl.C_GetAttributeValue(h, obj, t, 2))
        held = len(objects)
    seconds = time.perf_counter() - t0
    print(json.dumps({"mode": mode, "objects": held, "vm_hwm_kib": vm_hwm_kib(), "seconds": seconds}))
    sys.stdout.flush()
    module.finalize()


if __name__ == "__main__":
    main(sys.argv[1:])
