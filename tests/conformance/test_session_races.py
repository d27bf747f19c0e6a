"""Sessions under threads, C_Finalize and fork: one session shared by two threads (allowed with
care; the module must not hand out a result computed twice), C_Finalize while other threads open
and close sessions, a fork while another thread is inside the library, and session handles
across C_Finalize / C_Initialize."""

from __future__ import annotations

import hashlib
import os
import signal
import threading
import time
from collections import Counter

import pytest

from support.constants import InitializeFlag, Mechanism, SessionFlag, rv_name
from support.mechanisms import mech
from support.pkcs11 import Module, ffi

# SHA3-512 of BIG bytes takes ~0.4 s here (hashlib releases the GIL meanwhile): long enough for
# another thread's call to meet it under way, SETTLE seconds after it began (the call first
# copies the BIG bytes in).
SLOW = Mechanism.SHA3_512
BIG = 128 * 1024 * 1024
SETTLE = 0.1


@pytest.fixture
def threaded(bare: Module) -> Module:
    if bare.softhsm2:
        pytest.skip("SoftHSMv2 crashes here (one session in two threads; C_Finalize under calls)")
    bare.initialize(ffi.new("CK_C_INITIALIZE_ARGS *", {"flags": InitializeFlag.OS_LOCKING_OK}))
    return bare


def digest_call(module: Module, h: int, data: object, size: int) -> tuple[str, bytes]:
    n, out = ffi.new("CK_ULONG *", 64), ffi.new("CK_BYTE[]", 64)
    rv = rv_name(module.rv("C_Digest", h, data, size, out, n))
    return rv, bytes(out)


@pytest.mark.slow  # digests of a big buffer, so that the other call lands inside one
def test_two_threads_digest_on_one_session(threaded: Module) -> None:
    """Two C_Digest calls on one C_DigestInit: one gets the digest of its data, the other finds
    the operation ended. Never a digest of both inputs (a context used twice) reported as OK."""
    module = threaded
    slot = module.ready_token()
    h = module.open(slot)
    big = ffi.new("CK_BYTE[]", BIG)  # zeros
    expected = {"big": hashlib.sha3_512(bytes(BIG)).digest(), "small": hashlib.sha3_512(b"abc").digest()}
    for _ in range(4):
        module.check("C_DigestInit", h, mech(SLOW).ptr)
        got: dict[str, tuple[str, bytes]] = {}

        def digest_big(got: dict[str, tuple[str, bytes]] = got) -> None:
            got["big"] = digest_call(module, h, big, BIG)

        t = threading.Thread(target=digest_big)
        t.start()
        time.sleep(SETTLE)
        got["small"] = digest_call(module, h, b"abc", 3)
        t.join()
        codes = sorted(rv for rv, _ in got.values())
        assert codes == ["OK", "OPERATION_NOT_INITIALIZED"], got
        for which, (rv, value) in got.items():
            if rv == "OK":
                assert value == expected[which], f"C_Digest({which}) answered another digest"
        assert module.rv("C_DigestUpdate", h, b"x", 1) == 0x91  # OPERATION_NOT_INITIALIZED


@pytest.mark.slow
def test_close_session_while_calls_wait_on_it(threaded: Module) -> None:
    """C_CloseSession while one thread digests on the session and another waits to: the first
    finishes (its call began before the close), the second learns the session was closed
    (CKR_SESSION_CLOSED, or SESSION_HANDLE_INVALID if it came after), never a digest."""
    module = threaded
    slot = module.ready_token()
    keeper = module.open(slot)
    big = ffi.new("CK_BYTE[]", BIG)
    expected = {"big": hashlib.sha3_512(bytes(BIG)).digest(), "small": hashlib.sha3_512(b"abc").digest()}
    in_order = 0
    for _ in range(3):
        h = module.open(slot)
        module.check("C_DigestInit", h, mech(SLOW).ptr)
        got: dict[str, tuple[str, bytes]] = {}

        def call(name: str, data: object, size: int, h: int = h, got: dict = got) -> None:
            got[name] = digest_call(module, h, data, size)

        first = threading.Thread(target=call, args=("big", big, BIG))
        first.start()
        time.sleep(SETTLE)
        second = threading.Thread(target=call, args=("small", b"abc", 3))
        second.start()
        time.sleep(0.02)
        module.close(h)
        first.join()
        second.join()
        codes = {name: rv for name, (rv, _) in got.items()}
        for name, (rv, value) in got.items():
            assert rv in ("OK", "SESSION_CLOSED", "SESSION_HANDLE_INVALID", "OPERATION_NOT_INITIALIZED"), (
                codes
            )
            if rv == "OK":
                assert value == expected[name], f"C_Digest({name}) answered another digest"
        if codes["big"] == "OK":  # the calls met as planned: the waiting one saw the close
            in_order += 1
            assert codes["small"] in ("SESSION_CLOSED", "SESSION_HANDLE_INVALID"), codes
    assert in_order, "the big digest never started first: the test did not test anything"
    assert module.state(keeper) == 2


def test_finalize_while_other_threads_open_and_close_sessions(threaded: Module) -> None:
    """The spec leaves this undefined (3.0 5.4 C_Finalize); the module answers each call with
    OK or CKR_CRYPTOKI_NOT_INITIALIZED, never an internal error."""
    module = threaded
    slot = module.ready_token()
    seen: Counter[str] = Counter()
    for _ in range(10):
        stop = threading.Event()

        def work(i: int, stop: threading.Event = stop) -> None:
            h = ffi.new("CK_SESSION_HANDLE *")
            while not stop.is_set():
                seen[
                    rv_name(
                        module.rv(
                            "C_OpenSession",
                            slot,
                            SessionFlag.SERIAL_SESSION | SessionFlag.RW_SESSION,
                            ffi.NULL,
                            ffi.NULL,
                            h,
                        )
                    )
                ] += 1
                if i % 2:
                    seen[rv_name(module.rv("C_CloseAllSessions", slot))] += 1

        workers = [threading.Thread(target=work, args=(i,)) for i in range(4)]
        for w in workers:
            w.start()
        time.sleep(0.01)
        assert module.finalize() == 0
        stop.set()
        for w in workers:
            w.join(timeout=30)
        module.initialize(ffi.new("CK_C_INITIALIZE_ARGS *", {"flags": InitializeFlag.OS_LOCKING_OK}))
    assert set(seen) <= {"OK", "CRYPTOKI_NOT_INITIALIZED"}, seen


def test_fork_while_another_thread_is_inside_the_library(threaded: Module) -> None:
    """A thread of the parent may hold the library's lock at the moment of fork() (C_OpenSession
    holds it while it reads the store, with the GIL released); the child, which has no such
    thread, still gets CKR_CRYPTOKI_NOT_INITIALIZED and then an answer from C_Initialize (3.0
    5.4), instead of waiting for ever. The answer may be CKR_DEVICE_ERROR: the store does not
    reopen a database a thread of the parent was using at fork."""
    module = threaded
    slot = module.ready_token()
    h = module.open(slot)
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            module.close(module.open(slot))

    worker = threading.Thread(target=hammer)
    worker.start()
    try:
        for _ in range(20):
            pid = os.fork()
            if pid == 0:  # the child: no pytest from here on, only an exit code
                code = 1
                try:
                    signal.alarm(10)
                    if module.rv("C_GetSessionInfo", h, ffi.new("CK_SESSION_INFO *")) != 0x190:
                        code = 2
                    else:
                        rv = rv_name(module.rv("C_Initialize", ffi.NULL))
                        if rv == "OK":
                            code = 0 if module.slot_list() and module.finalize() == 0 else 3
                        else:
                            code = 0 if rv == "DEVICE_ERROR" else 4
                finally:
                    os._exit(code)
            _, status = os.waitpid(pid, 0)
            assert not os.WIFSIGNALED(status), "the forked child hung (killed by SIGALRM)"
            assert os.WEXITSTATUS(status) == 0, f"the forked child failed at step {os.WEXITSTATUS(status)}"
    finally:
        stop.set()
        worker.join()
    assert module.state(h) == 2  # the parent's session is untouched


def test_session_handles_are_not_reused_after_reinitialize(module: Module) -> None:
    """softhsm-py's promise (not the spec's, and not SoftHSMv2's): a handle from before
    C_Finalize never names a session opened after the next C_Initialize."""
    if module.softhsm2:
        pytest.skip("SoftHSMv2 numbers sessions afresh after C_Initialize")
    slot = module.ready_token()
    before = {module.open(slot) for _ in range(3)}
    assert module.finalize() == 0
    module.initialize()
    after = {module.open(slot) for _ in range(3)}
    assert not before & after
