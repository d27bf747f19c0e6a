"""The state of one loaded copy of the library.

A host may load two copies of the .so in one process; each copy's ``bind`` makes its own
:class:`Library`, so nothing here lives in module globals. Between C_Initialize and C_Finalize a
library has a :class:`Runtime`: configuration, store, tokens and sessions. A forked child inherits
the parent's runtime but must call C_Initialize again (PKCS#11 3.0, 5.4 and 6.7.5): until it does,
every call sees CKR_CRYPTOKI_NOT_INITIALIZED, and its C_Initialize starts afresh.

A child is told from its parent by a fork counter, not by ``os.getpid()`` (a syscall on every
call): the native shim bumps its counter in a ``pthread_atfork`` child handler, which runs after
every ``fork()`` of the process, whoever calls it; a library made without the shim (unit tests)
uses a counter bumped by ``os.register_at_fork``. Either is read as ``counter[0]``.

Another thread of the parent may hold the library's lock at the moment of the fork; the child
has no such thread, so the lock would stay held for ever. Each library makes itself a new lock in
the child (``os.register_at_fork`` hooks run after ``os.fork`` and after a C host's ``fork()``,
whose child the shim hands to ``PyOS_AfterFork_Child``). The store's own lock is the store's
business: its ``close()`` in a forked child must not wait for it.
"""

from __future__ import annotations

import array
import functools
import itertools
import os
import threading
import weakref
from collections.abc import Sequence

from softhsm_py import errors
from softhsm_py.audit import NOWHERE, AuditLog
from softhsm_py.config import Config
from softhsm_py.core.handles import HandleTable
from softhsm_py.core.session import Session
from softhsm_py.core.token import Token
from softhsm_py.store import Store


class Runtime:
    """What C_Initialize set up. The defaults of ``pid`` and the tables are made per runtime."""

    __slots__ = (
        "audit", "config", "forks", "handles", "pid", "session_ids", "sessions", "slot_sessions", "slot_view",
        "state_key", "stopped", "store", "tokens",
    )  # fmt: skip

    def __init__(
        self,
        config: Config,
        store: Store,
        pid: int | None = None,  # None: os.getpid()
        forks: int = -1,  # the fork counter when the runtime started (set by Library.start)
        tokens: dict[int, Token] | None = None,  # slot id -> token of this instance
        sessions: dict[int, Session] | None = None,
        handles: HandleTable | None = None,
        session_ids: itertools.count[int] | None = None,
        audit: AuditLog = NOWHERE,  # security events (core/events.py); NOWHERE: none
    ) -> None:
        self.config = config
        self.store = store
        self.audit = audit
        self.pid = os.getpid() if pid is None else pid
        self.forks = forks
        self.tokens = {} if tokens is None else tokens
        self.sessions = {} if sessions is None else sessions
        # The same sessions by slot (slot id -> handle -> session, in opening order), kept in step
        # by core.sessions: closing a session asks whether it was its slot's last, which must not
        # scan every session of the process.
        self.slot_sessions: dict[int, dict[int, Session]] = {}
        for session in self.sessions.values():
            self.slot_sessions.setdefault(session.slot_id, {})[session.handle] = session
        self.handles = HandleTable() if handles is None else handles
        # Session handles; Library.start gives every runtime its library's one count, so a handle
        # is never reused while the library is loaded and a stale handle stays invalid.
        self.session_ids = itertools.count(1) if session_ids is None else session_ids
        # Seals the operation states C_GetOperationState hands out (core.opstate): made afresh for
        # every runtime, so a state is good for this runtime's sessions only.
        self.state_key = os.urandom(32)
        # C_WaitForSlotEvent (core.slotevents): slot id -> token serial as last reported, and the
        # event C_Finalize sets to wake a blocked wait.
        self.slot_view: dict[int, str] | None = None
        self.stopped = threading.Event()


# Forks of this process seen by Python (os.fork, or a C host's fork() when the shim runs
# PyOS_AfterFork_Child): the counter of a library that has no shim's counter.
_PY_FORKS = array.array("L", [0])


def _forked() -> None:
    _PY_FORKS[0] += 1


os.register_at_fork(after_in_child=_forked)


def _new_lock_in_child(ref: weakref.ref[Library]) -> None:
    lib = ref()
    if lib is not None:
        lib.lock = threading.RLock()  # the parent's may be held by a thread the child does not have


class Library:
    def __init__(self, fork_counter: Sequence[int] | None = None) -> None:
        # Guards the runtime and its tables. Never held across a call into the host, and released
        # before long crypto (operations lock their session instead).
        self.lock = threading.RLock()
        self._runtime: Runtime | None = None
        # counter[0] changes in a forked child (see the module docstring).
        self._forks: Sequence[int] = _PY_FORKS if fork_counter is None else fork_counter
        # Session handles, never reused while this library is loaded (across C_Finalize and
        # C_Initialize too), so a stale handle stays invalid.
        self._session_ids = itertools.count(1)
        self.binding: object = None  # the PKCS#11 front end's callbacks of this copy (abi.binding)
        os.register_at_fork(after_in_child=functools.partial(_new_lock_in_child, weakref.ref(self)))

    @property
    def runtime(self) -> Runtime:
        rt = self._runtime
        if rt is None or rt.forks != self._forks[0]:
            raise errors.CryptokiNotInitialized()
        return rt

    def start(self, runtime: Runtime) -> None:
        """C_Initialize: raises CryptokiAlreadyInitialized unless this is a fresh start or a forked
        child throwing away its parent's state."""
        with self.lock:
            old = self._runtime
            forks = self._forks[0]
            if old is not None and old.forks == forks:
                raise errors.CryptokiAlreadyInitialized()
            runtime.forks = forks
            runtime.session_ids = self._session_ids
            self._runtime = runtime
        if old is not None:
            old.store.close()  # the parent's connection: forgotten, never used across fork

    def is_running(self) -> bool:
        rt = self._runtime
        return rt is not None and rt.forks == self._forks[0]

    def stop(self) -> Runtime:
        with self.lock:
            rt = self.runtime
            self._runtime = None
        rt.stopped.set()  # a C_WaitForSlotEvent blocked in another thread returns
        return rt
