"""Threads in one process and two processes on one token directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from collections import Counter
from collections.abc import Callable

import pytest

from support.constants import InitializeFlag, TokenFlag, UserType, rv_name
from support.pkcs11 import SO_PIN, TESTS, USER_PIN, Module, ffi, spec_departure, text

THREADS = 8


@pytest.fixture(params=["os-locking", "null-args"])
def threaded(bare: Module, request: pytest.FixtureRequest) -> Module:
    """The module initialised for threads: with CKF_OS_LOCKING_OK (the spec's way), and with
    C_Initialize(NULL) as python-pkcs11 does. The spec (5.4, case 1) lets a module assume a
    single thread after C_Initialize(NULL), and SoftHSMv2 then runs without locks (it crashes
    here), so the NULL case is softhsm-py's promise only."""
    if request.param == "null-args":
        if bare.softhsm2:
            pytest.skip("C_Initialize(NULL) promises a single thread (3.0 5.4 case 1)")
        bare.initialize()
    else:
        args = ffi.new("CK_C_INITIALIZE_ARGS *", {"flags": InitializeFlag.OS_LOCKING_OK})
        bare.initialize(args)
    return bare


def run_threads(target: Callable[[int], None], n: int = THREADS) -> None:
    """Run ``target(i)`` in ``n`` threads started together; re-raise the first failure."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(n)

    def body(i: int) -> None:
        try:
            barrier.wait()
            target(i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a thread hangs (deadlock?)"
    if errors:
        raise errors[0]


def test_threads_login_or_already(threaded: Module) -> None:
    module = threaded
    """Each thread opens a session and logs in: the login is shared per token, so all but the
    first see USER_ALREADY_LOGGED_IN (or OK again if every session closed in between)."""
    slot = module.ready_token()
    seen: Counter[str] = Counter()
    keeper = module.open(slot)  # keeps the login alive across the threads' close/open

    def work(i: int) -> None:
        for _ in range(10):
            h = module.open(slot, rw=bool(i % 2))
            rv = module.expect(
                ("OK", "USER_ALREADY_LOGGED_IN"), "C_Login", h, UserType.USER, USER_PIN, len(USER_PIN)
            )
            seen[rv] += 1
            assert len(module.random(h, 32)) == 32
            assert module.state(h) in (1, 3)
            module.close(h)

    run_threads(work)
    if seen["OK"] > 1:  # racy, so not a strict marker: seen in about half the runs
        module.departure("SoftHSMv2", clause="3.0 5.6 C_Login: concurrent logins both return OK")
    assert seen["OK"] == 1 and seen["USER_ALREADY_LOGGED_IN"] == 10 * THREADS - 1
    module.close(keeper)


def test_threads_share_one_login(threaded: Module) -> None:
    module = threaded
    slot = module.ready_token()
    main = module.open(slot)
    module.login(main)

    def work(i: int) -> None:
        for _ in range(25):
            h = module.open(slot, rw=bool(i % 2))
            assert module.state(h) in (1, 3)
            module.random(h, 64)
            module.close(h)

    run_threads(work)
    assert module.state(main) == 3


def test_threads_on_separate_tokens(threaded: Module) -> None:
    module = threaded
    slots = [module.ready_token(f"t{i}") for i in range(THREADS)]

    def work(i: int) -> None:
        slot = slots[i]
        for j in range(5):
            h = module.open(slot)
            if j % 2:
                module.login(h, UserType.SO, SO_PIN)
                assert module.state(h) == 4
            else:
                module.login(h)
                assert module.state(h) == 3
            module.random(h, 16)
            module.check("C_Logout", h)
            module.close(h)

    run_threads(work)
    for slot in slots:
        assert module.token_flags(slot) & TokenFlag.USER_PIN_INITIALIZED


def test_threads_open_close_many_sessions(threaded: Module) -> None:
    module = threaded
    slot = module.ready_token()

    def work(i: int) -> None:
        handles = [module.open(slot) for _ in range(20)]
        assert len(set(handles)) == 20
        for h in handles:
            module.close(h)

    run_threads(work)
    assert module.token_info(slot).ulSessionCount in (0, 2**64 - 1)


def test_login_racing_close_session(threaded: Module) -> None:
    """C_Login on a session that another thread closes meanwhile must not leave the token logged
    in with no session left (3.0 5.6: closing the last session logs the user out). The PIN check
    runs outside the library lock, so the race window is the whole KDF."""
    module = threaded
    slot = module.ready_token()
    outcomes: Counter[str] = Counter()
    leaked = 0
    for _ in range(200):
        h = module.open(slot)
        result: dict[str, str] = {}

        def login(h: int = h, result: dict[str, str] = result) -> None:
            result["rv"] = rv_name(module.rv("C_Login", h, UserType.USER, USER_PIN, len(USER_PIN)))

        t = threading.Thread(target=login)
        t.start()
        module.rv("C_CloseSession", h)
        t.join()
        outcomes[result["rv"]] += 1
        with module.session(slot) as probe:
            if module.state(probe) != 2:  # CKS_RW_PUBLIC_SESSION
                leaked += 1
                module.rv("C_Logout", probe)
    assert set(outcomes) <= {"OK", "SESSION_HANDLE_INVALID", "SESSION_CLOSED"}
    assert leaked == 0, f"{leaked} of 200 logins outlived their (only) session: {dict(outcomes)}"


# ------------------------------------------------------------------------------- two processes

PEER = textwrap.dedent(
    """
    import json, sys
    sys.path.insert(0, {tests!r})
    from support.constants import UserType, rv_name
    from support.pkcs11 import Module, text
    m = Module(sys.argv[1])
    m.initialize()
    out = {{}}
    slots = m.slot_list()
    out["labels"] = [text(m.token_info(s).label) for s in slots]
    slot = m.slot_of("shared") if "shared" in out["labels"] else None
    for action in sys.argv[2:]:
        verb, _, arg = action.partition("=")
        h = m.open(slot)
        if verb == "login":
            rv = m.rv("C_Login", h, UserType.USER, arg.encode(), len(arg))
            out.setdefault("login", []).append(rv_name(rv))
        m.close(h)
    if slot is not None:
        out["flags"] = int(m.token_flags(slot))
    m.finalize()
    print(json.dumps(out))
    """
).format(tests=str(TESTS))


def peer(module: Module, *actions: str) -> dict:
    """Run the other process on the same token directory (same environment)."""
    proc = subprocess.run(
        [sys.executable, "-c", PEER, module.path, *actions],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ),
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    return json.loads(proc.stdout)


def test_two_processes_see_tokens_and_pins(module: Module) -> None:
    slot = module.ready_token("shared")
    seen = peer(module)
    assert "shared" in seen["labels"]
    assert seen["flags"] & TokenFlag.USER_PIN_INITIALIZED
    # A PIN changed here works there, the old one no longer does.
    new = "changed-pin"
    with module.session(slot) as h:
        module.login(h)
        module.check("C_SetPIN", h, USER_PIN, len(USER_PIN), new.encode(), len(new))
    seen = peer(module, f"login={USER_PIN.decode()}", f"login={new}")
    assert seen["login"] == ["PIN_INCORRECT", "OK"]
    # And a token created there is seen here.
    assert text(module.token_info(slot).label) == "shared"


@spec_departure("SoftHSMv2", clause="3.0 5.5 CK_TOKEN_INFO flags: no PIN lockout")
def test_two_processes_pin_lockout(module: Module) -> None:
    slot = module.ready_token("shared")
    seen = peer(module, "login=wrong-1", "login=wrong-2", "login=wrong-3", f"login={USER_PIN.decode()}")
    assert seen["login"][:2] == ["PIN_INCORRECT", "PIN_INCORRECT"]
    assert seen["login"][3] == "PIN_LOCKED"
    assert module.token_flags(slot) & TokenFlag.USER_PIN_LOCKED
    with module.session(slot) as h:
        assert rv_name(module.rv("C_Login", h, UserType.USER, USER_PIN, len(USER_PIN))) == "PIN_LOCKED"
        module.login(h, UserType.SO, SO_PIN)
        module.check("C_InitPIN", h, USER_PIN, len(USER_PIN))  # the SO unlocks the user here...
    seen = peer(module, f"login={USER_PIN.decode()}")
    assert seen["login"] == ["OK"]  # ... and the other process can log in again
    assert not seen["flags"] & TokenFlag.USER_PIN_LOCKED
