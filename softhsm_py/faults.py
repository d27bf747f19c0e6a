"""Fault injection for host developers: rules from the configuration's ``[[fault]]`` tables that
make chosen PKCS#11 calls fail, slow down, or meet a full disk. Off unless configured.

A rule names the calls it applies to (``function``: a ``C_*`` name, a list of them, or ``"*"``;
optionally ``mechanism``: only calls whose CK_MECHANISM names it) and when among them it fires
(``nth``: the nth such call of the process, counted from 1; ``probability`` with a ``seed``: a
seeded draw per call; ``times``: at most that many times; none of these: every time). It does
exactly one thing when it fires:

* ``return = "CKR_DEVICE_ERROR"``: the call returns that code at once and does nothing else;
* ``delay_ms = 250``: the call runs that much later;
* ``store = "full"``: the call runs, and every write it makes to the token store fails as on a
  full disk (CKR_DEVICE_ERROR and the store's log line; reads still work, as they do then).

This module holds the rules, their parsing (``config.py`` calls ``parse``) and the store's side
(``FullDiskRows``); the PKCS#11 boundary applies them (``pkcs11/abi/faults.py``). C_Initialize
reads the configuration, so it cannot be faulted itself; neither can the discovery functions,
which are pure C.
"""

from __future__ import annotations

import random
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["FullDiskRows", "Rule", "parse", "render", "store_full"]

_FUNCTION = re.compile(r"^C_[A-Za-z0-9]+$")
_KEYS = frozenset(
    {"function", "mechanism", "nth", "probability", "seed", "times", "return", "delay_ms", "store"}
)
_ACTIONS = ("return", "delay_ms", "store")
MAX_DELAY_MS = 600_000


class FaultConfigError(ValueError):
    """A ``[[fault]]`` table that does not parse; the message names the table and key."""


class Rule:
    """One ``[[fault]]`` table. Counting state (``nth``, ``times``, the draw) lives in the rule:
    the boundary makes fresh rules at every C_Initialize (``fresh``)."""

    __slots__ = (
        "_draw",
        "_fired",
        "_lock",
        "_seen",
        "delay_ms",
        "functions",
        "mechanism",
        "nth",
        "probability",
        "rv",
        "seed",
        "store",
        "times",
    )

    def __init__(
        self,
        functions: tuple[str, ...],
        *,
        mechanism: int | None = None,
        nth: int | None = None,
        probability: float | None = None,
        seed: int = 0,
        times: int | None = None,
        rv: int | None = None,
        delay_ms: int | None = None,
        store: str | None = None,
    ) -> None:
        self.functions = functions  # ("*",) for every function
        self.mechanism = mechanism
        self.nth = nth
        self.probability = probability
        self.seed = seed
        self.times = times
        self.rv = rv
        self.delay_ms = delay_ms
        self.store = store
        self._lock = threading.Lock()
        self._seen = 0
        self._fired = 0
        self._draw = random.Random(seed)

    def _key(self) -> tuple[object, ...]:
        return (
            self.functions,
            self.mechanism,
            self.nth,
            self.probability,
            self.seed,
            self.times,
            self.rv,
            self.delay_ms,
            self.store,
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Rule) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"Rule({render_one(self)!r})"

    def fresh(self) -> Rule:
        """The same rule with its counts at zero."""
        return Rule(
            self.functions,
            mechanism=self.mechanism,
            nth=self.nth,
            probability=self.probability,
            seed=self.seed,
            times=self.times,
            rv=self.rv,
            delay_ms=self.delay_ms,
            store=self.store,
        )

    def applies_to(self, function: str) -> bool:
        return self.functions == ("*",) or function in self.functions

    def fires(self, mechanism: int | None) -> bool:
        """Count a call to one of our functions (with ``mechanism``, if it names one); True if
        the rule fires on it."""
        if self.mechanism is not None and mechanism != self.mechanism:
            return False
        with self._lock:
            self._seen += 1
            if self.times is not None and self._fired >= self.times:
                return False
            if self.nth is not None and self._seen != self.nth:
                return False
            if self.probability is not None and self._draw.random() >= self.probability:
                return False
            self._fired += 1
            return True


# ------------------------------------------------------------------------------------- parsing


def _names(enum: Any, prefix: str) -> dict[str, int]:
    return {f"{prefix}{m.name}": int(m) for m in enum.__members__.values()}


def _code(value: object, names: Mapping[str, int], where: str, what: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**64:
        return value
    if isinstance(value, str) and value in names:
        return names[value]
    raise FaultConfigError(f"{where} must be a {what} name or a number")


def _int(table: Mapping[str, object], key: str, where: str, lo: int, hi: int) -> int | None:
    if key not in table:
        return None
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise FaultConfigError(f"{where} key '{key}' must be an integer between {lo} and {hi}")
    return value


_NEVER = frozenset({"C_Initialize", "C_GetFunctionList", "C_GetInterfaceList", "C_GetInterface"})


def forwarded_functions() -> frozenset[str]:
    """The functions the boundary can fault: every ``py_C_*`` entry but C_Initialize."""
    import softhsm_py.pkcs11.abi.entry  # noqa: F401  (its import registers every entry)
    from softhsm_py.pkcs11.abi.entries import ENTRIES

    return frozenset(ENTRIES) - _NEVER


def parse_one(table: object, where: str) -> Rule:
    from softhsm_py.constants import ReturnValue
    from softhsm_py.constants_mechanisms import Mechanism

    if not isinstance(table, Mapping):
        raise FaultConfigError(f"{where} must be a table")
    unknown = sorted(set(table).difference(_KEYS))
    if unknown:
        raise FaultConfigError(f"{where}: unknown key(s): {', '.join(unknown)}")
    function = table.get("function")
    functions = (function,) if isinstance(function, str) else function
    if (
        not isinstance(functions, (list, tuple))
        or not functions
        or not all(isinstance(f, str) and (f == "*" or _FUNCTION.match(f)) for f in functions)
        or ("*" in functions and len(functions) > 1)
    ):
        raise FaultConfigError(f"{where} key 'function' must be a C_* name, a list of them, or \"*\"")
    known = forwarded_functions()
    for name in functions:
        if name != "*" and name not in known:
            raise FaultConfigError(
                f"{where} key 'function': {name} cannot be faulted (C_Initialize reads the rules; "
                "C_GetFunctionList and C_GetInterface* never reach Python)"
                if name in _NEVER
                else f"{where} key 'function': no PKCS#11 function {name}"
            )
    mechanism = None
    if "mechanism" in table:
        mechanism = _code(table["mechanism"], _names(Mechanism, "CKM_"), f"{where} key 'mechanism'", "CKM_")
    probability = table.get("probability")
    if probability is not None and (
        isinstance(probability, bool)
        or not isinstance(probability, (int, float))
        or not 0 <= probability <= 1
    ):
        raise FaultConfigError(f"{where} key 'probability' must be a number from 0 to 1")
    actions = [key for key in _ACTIONS if key in table]
    if len(actions) != 1:
        raise FaultConfigError(f"{where} must have exactly one of: return, delay_ms, store")
    rv = None
    if "return" in table:
        rv = _code(table["return"], _names(ReturnValue, "CKR_"), f"{where} key 'return'", "CKR_")
        if rv == 0:
            raise FaultConfigError(f"{where} key 'return' must be an error, not CKR_OK")
    store = table.get("store")
    if store is not None and store != "full":
        raise FaultConfigError(f"{where} key 'store' must be \"full\"")
    return Rule(
        tuple(functions),
        mechanism=mechanism,
        nth=_int(table, "nth", where, 1, 2**63 - 1),
        probability=None if probability is None else float(probability),
        seed=_int(table, "seed", where, 0, 2**63 - 1) or 0,
        times=_int(table, "times", where, 1, 2**63 - 1),
        rv=rv,
        delay_ms=_int(table, "delay_ms", where, 0, MAX_DELAY_MS),
        store=store,
    )


def parse(tables: object, path: Path) -> tuple[Rule, ...]:
    """The ``fault`` array of tables of the configuration file at ``path``."""
    if not isinstance(tables, list):
        raise FaultConfigError(f"{path}: 'fault' must be an array of tables ([[fault]])")
    return tuple(parse_one(table, f"{path}: [[fault]] #{i + 1}") for i, table in enumerate(tables))


# ------------------------------------------------------------------------------------- output


def _name(enum: Any, prefix: str, value: int) -> str:
    try:
        return f"{prefix}{enum(value).name}"
    except ValueError:
        return f"0x{value:x}"


def _lines(rule: Rule) -> list[str]:
    from softhsm_py.constants import ReturnValue
    from softhsm_py.constants_mechanisms import Mechanism

    lines = [
        'function = "*"'
        if rule.functions == ("*",)
        else "function = [" + ", ".join(f'"{f}"' for f in rule.functions) + "]"
    ]
    if rule.mechanism is not None:
        lines.append(f'mechanism = "{_name(Mechanism, "CKM_", rule.mechanism)}"')
    for key in ("nth", "probability", "times"):
        value = getattr(rule, key)
        if value is not None:
            lines.append(f"{key} = {value}")
    if rule.probability is not None:
        lines.append(f"seed = {rule.seed}")
    if rule.rv is not None:
        lines.append(f'return = "{_name(ReturnValue, "CKR_", rule.rv)}"')
    if rule.delay_ms is not None:
        lines.append(f"delay_ms = {rule.delay_ms}")
    if rule.store is not None:
        lines.append(f'store = "{rule.store}"')
    return lines


def render_one(rule: Rule) -> str:
    return "; ".join(_lines(rule))


def render(rules: Sequence[Rule]) -> list[str]:
    """The rules as TOML (``[[fault]]`` tables) for ``softhsm-py show-config``."""
    lines: list[str] = []
    for rule in rules:
        lines.append("[[fault]]")
        lines.extend(_lines(rule))
    return lines


# ------------------------------------------------------------------------------------- the store


class _Active(threading.local):
    full = False


_ACTIVE = _Active()


@contextmanager
def store_full() -> Iterator[None]:
    """Within the block, on this thread, every store write fails as on a full disk."""
    _ACTIVE.full = True
    try:
        yield
    finally:
        _ACTIVE.full = False


class FullDiskRows:
    """A row store whose writes fail like a full disk's while ``store_full`` is active on the
    calling thread; everything else goes to the real one."""

    def __init__(self, rows: Any) -> None:
        self._rows = rows

    def __getattr__(self, name: str) -> Any:
        return getattr(self._rows, name)

    @contextmanager
    def write(self, what: str) -> Iterator[Any]:
        if _ACTIVE.full:
            from softhsm_py import errors
            from softhsm_py.log import get_logger

            # The line SQLite's SQLITE_FULL gets from the store (store/sqlite.py _device_error).
            get_logger("store").error(
                "token store: %s failed: OperationalError: database or disk is full (injected fault)", what
            )
            raise errors.DeviceError()
        with self._rows.write(what) as tx:
            yield tx
