"""C_WaitForSlotEvent (3.0, 5.5): a token created or deleted in a slot is an event, whichever
process does it; a blocking wait returns with it, and C_Finalize in another thread ends a blocked
wait with CRYPTOKI_NOT_INITIALIZED. SoftHSMv2 2.6.1 answers FUNCTION_NOT_SUPPORTED to a blocking
wait and never reports an event: skipped there. Waits are bounded by a join timeout so a bug
hangs no run; no time is asserted."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading

import pytest

from support.constants import DONT_BLOCK, rv_name
from support.pkcs11 import SO_PIN, TESTS, Module, ffi

JOIN = 60  # seconds a test waits for a blocked thread before failing (never reached when right)


@pytest.fixture
def m(module: Module) -> Module:
    if module.softhsm2:
        pytest.skip("SoftHSMv2 2.6.1 reports no slot events")
    return module


def poll(module: Module) -> tuple[str, int]:
    slot = ffi.new("CK_SLOT_ID *")
    rv = rv_name(module.rv("C_WaitForSlotEvent", DONT_BLOCK, slot, ffi.NULL))
    return rv, int(slot[0])


def test_token_created_here_is_an_event_once(m: Module) -> None:
    assert poll(m)[0] == "NO_EVENT"
    slot = m.init_token("evented")
    assert poll(m) == ("OK", slot)
    assert poll(m)[0] == "NO_EVENT"  # reported once


class Waiter(threading.Thread):
    def __init__(self, module: Module) -> None:
        super().__init__(daemon=True)
        self.module, self.rv, self.slot = module, "", -1

    def run(self) -> None:
        slot = ffi.new("CK_SLOT_ID *")
        self.rv = rv_name(self.module.rv("C_WaitForSlotEvent", 0, slot, ffi.NULL))
        self.slot = int(slot[0])


CREATE_ELSEWHERE = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {tests!r})
    from support.pkcs11 import Module
    m = Module(sys.argv[1])
    m.initialize()
    print(m.init_token(sys.argv[2], {pin!r}))
    m.finalize()
    """
)


@pytest.mark.slow
def test_blocking_wait_sees_another_process(m: Module) -> None:
    """The wait polls the store: a token another process creates wakes it."""
    waiter = Waiter(m)
    waiter.start()
    script = CREATE_ELSEWHERE.format(tests=str(TESTS), pin=SO_PIN)
    env = {**os.environ}
    proc = subprocess.run(
        [sys.executable, "-c", script, m.path, "from-afar"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    created = int(proc.stdout.strip().splitlines()[-1])
    waiter.join(JOIN)
    assert not waiter.is_alive()
    assert (waiter.rv, waiter.slot) == ("OK", created)


@pytest.mark.slow
def test_finalize_ends_a_blocked_wait(m: Module) -> None:
    waiter = Waiter(m)
    waiter.start()
    waiter.join(0.5)  # let it block (if it returned already, the assertion below says why)
    assert waiter.is_alive(), (waiter.rv, waiter.slot)
    assert m.finalize() == 0
    waiter.join(JOIN)
    assert not waiter.is_alive()
    assert waiter.rv == "CRYPTOKI_NOT_INITIALIZED"
    m.initialize()  # the fixture finalises at the end
