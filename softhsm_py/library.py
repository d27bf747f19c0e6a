"""The state of one loaded copy of the library.

A host may load two copies of the .so in one process; each copy's ``bind`` makes its own
:class:`Library`, so nothing here lives in module globals. Between C_Initialize and C_Finalize a
library has a :class:`Runtime`: configuration, store, tokens and sessions. A forked child inherits
the parent's runtime but must call C_Initialize again (PKCS#11 3.0, 5.4 and 6.7.5): until it does,
every call sees CKR_CRYPTOKI_NOT_INITIALIZED, and its C_Initialize starts afresh.
"""

from __future__ import annotations

import itertools
import os
import threading
from dataclasses import dataclass, field

from . import errors
from .config import Config
from .handles import HandleTable
from .session import Session
from .store import Store
from .token import Token


@dataclass
class Runtime:
    config: Config
    store: Store
    pid: int = field(default_factory=os.getpid)
    tokens: dict[int, Token] = field(default_factory=dict)  # slot id -> token of this instance
    sessions: dict[int, Session] = field(default_factory=dict)
    handles: HandleTable = field(default_factory=HandleTable)
    # Session handles are never reused within a library instance, so a stale handle stays invalid.
    session_ids: itertools.count = field(default_factory=lambda: itertools.count(1))


class Library:
    def __init__(self) -> None:
        # Guards the runtime and its tables. Never held across a call into the host, and released
        # before long crypto (operations lock their session instead).
        self.lock = threading.RLock()
        self._runtime: Runtime | None = None

    @property
    def runtime(self) -> Runtime:
        rt = self._runtime
        if rt is None or rt.pid != os.getpid():
            raise errors.CryptokiNotInitialized()
        return rt

    def start(self, runtime: Runtime) -> None:
        """C_Initialize: raises CryptokiAlreadyInitialized unless this is a fresh start or a forked
        child throwing away its parent's state."""
        with self.lock:
            old = self._runtime
            if old is not None and old.pid == os.getpid():
                raise errors.CryptokiAlreadyInitialized()
            self._runtime = runtime
        if old is not None:
            old.store.close()  # the parent's connection: forgotten, never used across fork

    def is_running(self) -> bool:
        rt = self._runtime
        return rt is not None and rt.pid == os.getpid()

    def stop(self) -> Runtime:
        with self.lock:
            rt = self.runtime
            self._runtime = None
        return rt
