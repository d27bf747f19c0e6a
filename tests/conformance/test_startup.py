"""Module start stays light: what `pkcs11-tool -L` does (C_Initialize, C_GetSlotList,
C_GetTokenInfo, C_Finalize) must not load pyca/cryptography, whose import alone costs 30-300 ms.

Run in a fresh process: the test process itself has long since imported cryptography. No timing
is asserted here; bench/ measures the wall time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from .pkcs11 import Module

LIST = textwrap.dedent(
    """
    import json, sys
    sys.path.insert(0, {tests!r})
    from conformance.pkcs11 import Module, text

    def crypto_modules():
        return sorted(name for name in sys.modules if name.startswith("cryptography"))

    before = crypto_modules()
    m = Module(sys.argv[1])
    m.initialize()
    m.info()
    labels = []
    for slot in m.slot_list():
        m.slot_info(slot)
        labels.append(text(m.token_info(slot).label))
    m.finalize()
    print(json.dumps({{"before": before, "after": crypto_modules(), "labels": labels}}))
    """
).format(tests=str(Path(__file__).resolve().parents[1]))


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
    assert seen["after"] == []


def test_listing_a_token_imports_no_cryptography(module: Module) -> None:
    module.init_token("listed")  # in this process: C_InitToken seals, and may load cryptography
    seen = list_in_fresh_process(module)
    assert "listed" in seen["labels"]
    assert seen["after"] == []
