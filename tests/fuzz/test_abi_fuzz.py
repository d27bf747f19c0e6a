"""The C-ABI fuzzer (tests/fuzz/abi_fuzzer.py) on the built library: seeded random call sequences
with hostile arguments, each batch of sequences in a child process. Zero crashes, zero hangs, zero
codes the specification does not document for the function, zero CKR_GENERAL_ERROR (our code for
"a bug was hit") and no traceback in the module's log.

CI runs ``SOFTHSM_PY_FUZZ_SEQUENCES`` sequences (default 1,000 x 60 calls, about half a minute on 2
cores) from seed ``SOFTHSM_PY_FUZZ_SEED`` (default 0); the long version for the benchmark machine
is ``python tests/fuzz/abi_fuzzer.py run --seeds 0:100000``. A failure names the seed and the call,
and the batch to re-run to reproduce it (sequences of one batch share a token directory)."""

from __future__ import annotations

import os

import pytest

from support.pkcs11 import default_module_path

from .abi_fuzzer import run

pytestmark = pytest.mark.slow

SEQUENCES = int(os.environ.get("SOFTHSM_PY_FUZZ_SEQUENCES", "1000"))
FIRST = int(os.environ.get("SOFTHSM_PY_FUZZ_SEED", "0"))


def test_abi_fuzz(request: pytest.FixtureRequest) -> None:
    module = request.config.getoption("module", default=None) or default_module_path()
    if request.config.getoption("softhsm2", default=False):
        pytest.skip("SoftHSMv2 crashes on hostile lengths (tests/conformance/test_abi_inputs.py says where)")
    tally = run(module, range(FIRST, FIRST + SEQUENCES), calls=60)
    summary = tally.summary()
    assert tally.sequences == SEQUENCES - len(tally.crashes) - len(tally.hangs), summary
    assert not tally.crashes, "\n".join(tally.crashes)
    assert not tally.hangs, tally.hangs
    assert not tally.undocumented, dict(tally.undocumented)
    assert not tally.internal, dict(tally.internal)
    assert summary["functions_called"] >= 100, summary  # every function of the 3.2 list
    print(f"\nfuzzed: {summary}")
