"""The ``py_C_*`` callbacks of one loaded copy of the library, and what wraps them.

Plain, each callback is its entry bound to the copy's ``Library`` and ``Marshal`` and wrapped in
``boundary.guard``: nothing else runs per call. Tracing (``trace_file`` or ``$SOFTHSM_PY_TRACE``)
and fault injection (``[[fault]]`` rules) are decided when they can change, never per call: at
bind (the environment variable) and after every successful C_Initialize and C_Finalize (the
configuration), when the callbacks are registered again with cffi (``def_extern`` may be called
again for a name: the newest function wins). A traced callback runs its entry with a
``TracingMarshal``; only the entries some fault rule names are wrapped in ``faults.faulted``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from softhsm_py.config import TRACE_ENV, Config
from softhsm_py.core.runtime import Library
from softhsm_py.log import get_logger
from softhsm_py.pkcs11.abi import boundary
from softhsm_py.pkcs11.abi.entries import ENTRIES
from softhsm_py.pkcs11.abi.marshal import Marshal

if TYPE_CHECKING:  # imported on first use: module start pays for neither
    from softhsm_py.faults import Rule
    from softhsm_py.pkcs11.abi.trace import Signature, Tracer

log = get_logger()

OK = boundary.OK
# Their callbacks look at the configuration after the call: registered once, as themselves.
_LIFECYCLE = ("C_Initialize", "C_Finalize")


class Binding:
    def __init__(self, ffi: Any, library: Library) -> None:
        self.ffi = ffi
        self.library = library
        self.plain: dict[str, Callable[..., int]] = {
            name: self._guarded(fn, Marshal(ffi)) for name, fn in ENTRIES.items()
        }
        self.current = dict(self.plain)
        self._traced: dict[str, Callable[..., int]] | None = None  # entries on a TracingMarshal
        self._signatures: dict[str, Signature] | None = None
        self.tracer: Tracer | None = None
        self.rules: tuple[Rule, ...] = ()
        for name, fn in self.plain.items():
            self._register(name, fn)
        self._register("C_Initialize", self._initialize)
        self._register("C_Finalize", self._finalize)
        env = os.environ.get(TRACE_ENV)
        if env:
            self.apply(Path(env), ())

    def _guarded(self, fn: Callable[..., None], m: Marshal) -> Callable[..., int]:
        return boundary.guard(fn, self.library, m)

    def _register(self, name: str, fn: Callable[..., int]) -> None:
        self.ffi.def_extern(
            name=f"py_{name}", error=boundary.GENERAL_ERROR, onerror=boundary.on_callback_error
        )(fn)

    # ------------------------------------------------------------------------- lifecycle

    def _initialize(self, *args: Any) -> int:
        traced_before = self.tracer is not None
        start = time.perf_counter_ns()
        rv = self.current["C_Initialize"](*args)
        ns = time.perf_counter_ns() - start
        if rv != OK:
            return rv
        try:
            config = self.library.runtime.config
            self.apply(self.trace_target(config), config.faults)
            if self.tracer is not None and not traced_before:  # this call, as the tracer would have
                from softhsm_py.pkcs11.abi.trace import Record, arguments

                sig = self.signature("C_Initialize")
                self.tracer.line("C_Initialize", arguments(self.ffi, sig, args, Record(), rv, None), rv, ns)
        except Exception:  # tracing and faults must never fail a start that worked
            log.exception("setting up tracing and fault injection")
        return rv

    def _finalize(self, *args: Any) -> int:
        rv = self.current["C_Finalize"](*args)
        if rv == OK:
            try:
                self.apply(self.trace_target(None), ())
            except Exception:
                log.exception("ending tracing and fault injection")
        return rv

    @staticmethod
    def trace_target(config: Config | None) -> Path | None:
        env = os.environ.get(TRACE_ENV)
        if env:
            return Path(env)
        return None if config is None else config.trace_file

    # ------------------------------------------------------------------------- wrappers

    def signature(self, name: str) -> Signature:
        if self._signatures is None:
            from softhsm_py.pkcs11.abi.trace import Signature

            self._signatures = {n: Signature(n, fn) for n, fn in ENTRIES.items()}
        return self._signatures[name]

    def apply(self, trace: Path | None, rules: Sequence[Rule]) -> None:
        """Register the callbacks for tracing to ``trace`` (None: no trace) under ``rules``."""
        if self.tracer is not None and self.tracer.path != trace:
            self.tracer.close()
            self.tracer = None
        if trace is not None and self.tracer is None:
            from softhsm_py.pkcs11.abi.trace import Tracer

            try:
                self.tracer = Tracer(trace)
            except OSError as exc:
                log.error(
                    "trace file %s: cannot open (%s): no trace", trace, exc.strerror or type(exc).__name__
                )
        self.rules = tuple(rule.fresh() for rule in rules)
        if any(rule.store is not None for rule in self.rules):
            self._full_disk_store()
        if self.tracer is None and not self.rules:
            wanted = self.plain
        else:
            wanted = {name: self._wrapped(name) for name in ENTRIES}
        self.current = wanted
        for name, fn in wanted.items():
            if name not in _LIFECYCLE:
                self._register(name, fn)
        if self.rules:
            log.warning("fault injection is on: %d rule(s) from the configuration", len(self.rules))

    def _wrapped(self, name: str) -> Callable[..., int]:
        fn = self.plain[name]
        sig = self.signature(name)
        if self.tracer is not None:
            if self._traced is None:
                from softhsm_py.pkcs11.abi.trace import TracingMarshal

                m = TracingMarshal(self.ffi)
                self._traced = {n: self._guarded(f, m) for n, f in ENTRIES.items()}
            fn = self._traced[name]
        rules = [rule for rule in self.rules if rule.applies_to(name)]
        if rules:
            from softhsm_py.pkcs11.abi.faults import faulted

            fn = faulted(rules, self.library, self.ffi, sig, fn)
        if self.tracer is not None:
            from softhsm_py.pkcs11.abi.trace import traced

            fn = traced(self.tracer, self.ffi, sig, fn)
        return fn

    def _full_disk_store(self) -> None:
        """Store rules need the store's writes to be interceptable: wrap this runtime's rows."""
        from softhsm_py.faults import FullDiskRows

        store = self.library.runtime.store
        rows = getattr(store, "rows", None)
        if rows is not None and not isinstance(rows, FullDiskRows):
            store.rows = cast(Any, FullDiskRows(rows))  # type: ignore[attr-defined]
