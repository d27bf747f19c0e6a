"""A hypothesis state machine over the object functions (PKCS#11 3.0, 4.1 and 5.7) at the C ABI.

Random create / copy / set / get / find / destroy / login / logout / open / close steps on data
objects and AES secret keys (session and token, public and private, with SENSITIVE, EXTRACTABLE,
MODIFIABLE, COPYABLE and DESTROYABLE flags); every return code and every value read is checked
against a small model of the rules. Where the spec leaves a choice (an error among several that
apply; naming a sticky attribute's current value), the model accepts each allowed answer and
follows the one the module gave.

Two profiles of rules:
* ``SPEC`` (run on softhsm-py): the spec plus softhsm-py's documented choices - CKA_DESTROYABLE
  sticky once FALSE, also in copies; C_SetAttributeValue may clear CKA_COPYABLE / CKA_DESTROYABLE;
  a copy may clear CKA_COPYABLE.
* ``PORTABLE`` (run on SoftHSMv2): the spec only, without the steps where SoftHSMv2 departs from
  it (3.0 4.1.3: a copy may change CKA_PRIVATE, and may change attributes of an object whose
  CKA_MODIFIABLE is FALSE; see test_objects_attributes.py for those departures).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule, run_state_machine_as_test

from support.constants import UNAVAILABLE_INFORMATION, Attribute, Attribute32, KeyType, ObjectClass, UserType
from support.objects import copy_rv, create_rv, destroy_rv, find, set_rv
from support.pkcs11 import USER_PIN, Module, write_config
from support.templates import Query

MAX_OBJECTS = 10
SESSIONS = 3  # 0: read-write, 1: read-only (both always open), 2: read-write, opened and closed


@dataclass(frozen=True)
class Profile:
    name: str
    copy_private: bool  # C_CopyObject may change CKA_PRIVATE
    copy_unmodifiable: bool  # C_CopyObject may change attributes of a MODIFIABLE=FALSE object
    # (else: OK or CKR_ATTRIBUTE_READ_ONLY)
    copy_copyable: bool  # C_CopyObject may set CKA_COPYABLE FALSE
    set_storage_flags: bool  # C_SetAttributeValue may clear CKA_COPYABLE / CKA_DESTROYABLE (else
    # those steps are not taken: 4.4 allows only CKA_LABEL, softhsm-py allows clearing them)
    sticky_destroyable: bool  # CKA_DESTROYABLE FALSE -> TRUE refused in copies too (else: either)


SPEC = Profile("spec", copy_private=True, copy_unmodifiable=True, copy_copyable=True,
               set_storage_flags=True, sticky_destroyable=True)  # fmt: skip
PORTABLE = Profile("portable", copy_private=False, copy_unmodifiable=False, copy_copyable=False,
                   set_storage_flags=False, sticky_destroyable=False)  # fmt: skip

COMMON = [
    Attribute.CLASS,
    Attribute.TOKEN,
    Attribute.PRIVATE,
    Attribute.LABEL,
    Attribute.MODIFIABLE,
    Attribute.COPYABLE,
    Attribute.DESTROYABLE,
]
ATTRS = {
    "data": [*COMMON, Attribute.VALUE, Attribute.APPLICATION],
    "aes": [
        *COMMON,
        Attribute.KEY_TYPE,
        Attribute.ID,
        Attribute.SENSITIVE,
        Attribute.EXTRACTABLE,
        Attribute.VALUE,
    ],
}
FIND_KEYS = [
    Attribute.CLASS,
    Attribute.TOKEN,
    Attribute.PRIVATE,
    Attribute.LABEL,
    Attribute.MODIFIABLE,
    Attribute.DESTROYABLE,
]
FLAGS = {
    "sensitive": Attribute.SENSITIVE,
    "extractable": Attribute.EXTRACTABLE,
    "modifiable": Attribute.MODIFIABLE,
    "copyable": Attribute.COPYABLE,
    "destroyable": Attribute.DESTROYABLE,
}


@dataclass
class Obj:
    kind: str
    attrs: dict[int, Any]
    owner: int | None  # the session of a session object
    handle: int | None  # None: a private token object whose handle died at logout

    @property
    def label(self) -> str:
        return self.attrs[Attribute.LABEL].decode()

    @property
    def token(self) -> bool:
        return bool(self.attrs[Attribute.TOKEN])

    @property
    def private(self) -> bool:
        return bool(self.attrs[Attribute.PRIVATE])

    def hidden(self) -> bool:
        """CKA_VALUE of a key is unreadable when SENSITIVE or not EXTRACTABLE (footnote 7)."""
        return self.kind == "aes" and (
            self.attrs[Attribute.SENSITIVE] or not self.attrs[Attribute.EXTRACTABLE]
        )


@dataclass
class Outcome:
    """What the model allows: ``errors`` (any one of them when several apply, 4.1.1 "can be any
    of the error codes from above that applies"). ``soft``: the template names the value a sticky
    attribute is stuck at ("it becomes a read only attribute", footnotes 11/12): CKR_OK (no
    change) and CKR_ATTRIBUTE_READ_ONLY are both allowed."""

    errors: set[str] = field(default_factory=set)
    soft: bool = False

    def check(self, rv: str, what: str) -> bool:
        """True when the call succeeded (and the model must follow)."""
        allowed = set(self.errors) or {"OK"}
        if self.soft:
            allowed.add("ATTRIBUTE_READ_ONLY")
        assert rv in allowed, f"{what}: expected CKR_{'/'.join(sorted(allowed))}, got CKR_{rv}"
        return rv == "OK"


class ObjectMachine(RuleBasedStateMachine):
    module: Module
    profile: Profile
    base_dir: Path
    log_file: str

    def __init__(self) -> None:
        super().__init__()
        m = self.module
        self.dir = Path(tempfile.mkdtemp(dir=self.base_dir))
        os.environ.update(write_config(self.dir, m.path, log_file=self.log_file))
        m.initialize()
        self.slot = m.ready_token()
        self.sessions: dict[int, int] = {0: m.open(self.slot), 1: m.open(self.slot, rw=False)}
        self.logged_in = False
        self.objs: list[Obj] = []
        self.dead: list[int] = []
        self.counter = 0

    def teardown(self) -> None:
        self.module.finalize()
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- helpers ---------------------------------------------------------------------------------
    def _fresh_label(self) -> str:
        self.counter += 1
        return f"o{self.counter}"

    def _session(self, i: int) -> int:
        return i if i in self.sessions else 0

    def _rw(self, s: int) -> bool:
        return s != 1

    def _write_errors(self, s: int, token: bool, private: bool) -> set[str]:
        errors = set()
        if private and not self.logged_in:
            errors.add("USER_NOT_LOGGED_IN")
        if token and not self._rw(s):
            errors.add("SESSION_READ_ONLY")
        return errors

    def _live(self) -> list[Obj]:
        return [o for o in self.objs if o.handle is not None]

    def _pick(self, i: int) -> Obj:
        live = self._live()
        return live[i % len(live)]

    def _kill(self, obj: Obj) -> None:
        if obj.handle is not None:
            self.dead.append(obj.handle)
        self.objs.remove(obj)

    # -- create ------------------------------------------------------------------------------------
    @precondition(lambda self: len(self.objs) < MAX_OBJECTS)
    @rule(
        kind=st.sampled_from(["data", "aes"]),
        s=st.integers(0, SESSIONS - 1),
        token=st.booleans(),
        private=st.booleans(),
        flags=st.fixed_dictionaries({name: st.booleans() for name in FLAGS}),
    )
    def create(self, kind: str, s: int, token: bool, private: bool, flags: dict[str, bool]) -> None:
        s = self._session(s)
        label = self._fresh_label()
        attrs: dict[int, Any] = {
            Attribute.TOKEN: token,
            Attribute.PRIVATE: private,
            Attribute.LABEL: label.encode(),
        }
        for name, attr in FLAGS.items():
            if kind == "aes" or name not in ("sensitive", "extractable"):
                attrs[attr] = flags[name]
        if kind == "data":
            attrs.update(
                {
                    Attribute.CLASS: ObjectClass.DATA,
                    Attribute.VALUE: label.encode() * 3,
                    Attribute.APPLICATION: b"sm",
                }
            )
        else:
            value = hashlib.sha256(label.encode()).digest()[:16]
            attrs.update(
                {
                    Attribute.CLASS: ObjectClass.SECRET_KEY,
                    Attribute.KEY_TYPE: KeyType.AES,
                    Attribute.VALUE: value,
                    Attribute.ID: b"id",
                }
            )
        rv, handle = create_rv(self.module, self.sessions[s], attrs)
        if Outcome(self._write_errors(s, token, private)).check(rv, f"create {kind} in session {s}"):
            assert handle not in [o.handle for o in self.objs] and handle not in self.dead
            self.objs.append(Obj(kind, attrs, None if token else s, handle))

    # -- copy --------------------------------------------------------------------------------------
    @precondition(lambda self: self._live() and len(self.objs) < MAX_OBJECTS)
    @rule(i=st.integers(0, 99), s=st.integers(0, SESSIONS - 1), changes=st.dictionaries(
        st.sampled_from([Attribute.TOKEN, Attribute.PRIVATE, Attribute.MODIFIABLE, Attribute.COPYABLE,
                         Attribute.DESTROYABLE, Attribute.SENSITIVE, Attribute.EXTRACTABLE]),
        st.booleans(), max_size=3))  # fmt: skip
    def copy(self, i: int, s: int, changes: dict[int, bool]) -> None:
        src, s = self._pick(i), self._session(s)
        p = self.profile
        if not p.copy_private:
            changes.pop(Attribute.PRIVATE, None)
        if not p.copy_copyable:
            changes.pop(Attribute.COPYABLE, None)
        if src.kind == "data":
            changes.pop(Attribute.SENSITIVE, None)
            changes.pop(Attribute.EXTRACTABLE, None)
        label = self._fresh_label()
        template: dict[int, Any] = {**changes, Attribute.LABEL: label.encode()}
        out = Outcome()
        if not src.attrs[Attribute.COPYABLE]:
            out.errors.add("ACTION_PROHIBITED")
        if not p.copy_unmodifiable and not src.attrs[Attribute.MODIFIABLE]:
            out.soft = True  # SoftHSMv2 refuses (a departure, test_copy_of_unmodifiable_object)
        sticky = {
            Attribute.SENSITIVE: True,
            Attribute.EXTRACTABLE: False,
            Attribute.DESTROYABLE: False,
        }  # stuck values
        for attr, stuck in sticky.items():
            if attr in changes and src.attrs[attr] == stuck:
                if changes[attr] != stuck and (attr != Attribute.DESTROYABLE or p.sticky_destroyable):
                    out.errors.add("ATTRIBUTE_READ_ONLY")
                else:  # naming the value it has (or, PORTABLE, un-sticking DESTROYABLE): either
                    out.soft = True
        new_attrs = {**src.attrs, **template}
        out.errors |= self._write_errors(s, new_attrs[Attribute.TOKEN], new_attrs[Attribute.PRIVATE])
        rv, handle = copy_rv(self.module, self.sessions[s], src.handle, template)  # type: ignore[arg-type]
        if out.check(rv, f"copy {src.label} {changes} in session {s}"):
            assert handle != src.handle and handle not in self.dead
            self.objs.append(Obj(src.kind, new_attrs, None if new_attrs[Attribute.TOKEN] else s, handle))

    # -- set ---------------------------------------------------------------------------------------
    @precondition(lambda self: self._live())
    @rule(i=st.integers(0, 99), s=st.integers(0, SESSIONS - 1), attr=st.sampled_from([
        Attribute.LABEL, Attribute.ID, Attribute.SENSITIVE, Attribute.EXTRACTABLE, Attribute.COPYABLE,
        Attribute.DESTROYABLE, Attribute.TOKEN, Attribute.PRIVATE, Attribute.MODIFIABLE]),
        value=st.booleans())  # fmt: skip
    def set_attribute(self, i: int, s: int, attr: int, value: bool) -> None:
        obj, s = self._pick(i), self._session(s)
        if obj.kind == "data" and attr in (Attribute.ID, Attribute.SENSITIVE, Attribute.EXTRACTABLE):
            attr = Attribute.LABEL
        if not self.profile.set_storage_flags and attr in (Attribute.COPYABLE, Attribute.DESTROYABLE):
            attr = Attribute.LABEL
        new: Any = value
        if attr == Attribute.LABEL:
            new = self._fresh_label().encode()
        elif attr == Attribute.ID:
            new = b"id-" + bytes([self.counter % 256])
        out = Outcome()
        if obj.token and not self._rw(s):
            out.errors.add("SESSION_READ_ONLY")
        if not obj.attrs[Attribute.MODIFIABLE]:
            out.errors.add("ACTION_PROHIBITED")
        old = obj.attrs[attr]
        if attr in (Attribute.TOKEN, Attribute.PRIVATE, Attribute.MODIFIABLE):
            out.errors.add("ATTRIBUTE_READ_ONLY")  # 4.4: changed by copying only
        elif attr in (Attribute.SENSITIVE, Attribute.EXTRACTABLE, Attribute.COPYABLE, Attribute.DESTROYABLE):
            stuck = attr == Attribute.SENSITIVE
            if old == stuck and new != stuck:
                out.errors.add("ATTRIBUTE_READ_ONLY")
            elif old == stuck:
                out.soft = True
        rv = set_rv(self.module, self.sessions[s], obj.handle, {attr: new})  # type: ignore[arg-type]
        if out.check(rv, f"set {hex(attr)}={new!r} on {obj.label} in session {s}"):
            obj.attrs[attr] = new

    # -- get ---------------------------------------------------------------------------------------
    @precondition(lambda self: self._live())
    @rule(i=st.integers(0, 99), s=st.integers(0, SESSIONS - 1), invalid=st.booleans())
    def get(self, i: int, s: int, invalid: bool) -> None:
        obj, s = self._pick(i), self._session(s)
        types = list(ATTRS[obj.kind]) + ([Attribute32.PUBLIC_CRC64_VALUE] if invalid else [])
        q = Query(types, 256)
        rv = q.run(self.module, self.sessions[s], obj.handle)  # type: ignore[arg-type]
        errors = set()
        if invalid:
            errors.add("ATTRIBUTE_TYPE_INVALID")
        if obj.hidden():
            errors.add("ATTRIBUTE_SENSITIVE")
        Outcome(errors).check(rv, f"get {obj.label}")
        for n, attr in enumerate(types):
            if attr == Attribute32.PUBLIC_CRC64_VALUE or (attr == Attribute.VALUE and obj.hidden()):
                assert q.length(n) == UNAVAILABLE_INFORMATION, f"{obj.label}: {hex(attr)} revealed"
            else:
                assert q.value(n) == obj.attrs[attr], f"{obj.label}: {hex(attr)}"

    @precondition(lambda self: self.dead)
    @rule(i=st.integers(0, 99))
    def use_dead_handle(self, i: int) -> None:
        handle = self.dead[i % len(self.dead)]
        assert (
            Query([Attribute.CLASS], 8).run(self.module, self.sessions[0], handle) == "OBJECT_HANDLE_INVALID"
        )
        assert destroy_rv(self.module, self.sessions[0], handle) == "OBJECT_HANDLE_INVALID"

    # -- find --------------------------------------------------------------------------------------
    @rule(
        s=st.integers(0, SESSIONS - 1),
        i=st.integers(0, 99),
        keys=st.sets(st.sampled_from(FIND_KEYS), max_size=3),
    )
    def find(self, s: int, i: int, keys: set[int]) -> None:
        s = self._session(s)
        visible = [o for o in self.objs if self.logged_in or not o.private]
        template: dict[int, Any] = {}
        if visible:
            model = visible[i % len(visible)]
            template = {k: model.attrs[k] for k in keys}
        expected = {o.label for o in visible if all(o.attrs[k] == v for k, v in template.items())}
        found = find(self.module, self.sessions[s], template)
        assert len(found) == len(set(found)), "find returned a handle twice"
        by_handle = {o.handle: o for o in self.objs if o.handle is not None}
        labels = set()
        for handle in found:
            q = Query([Attribute.LABEL], 64)
            assert q.run(self.module, self.sessions[s], handle) == "OK"
            label = q.value(0).decode()
            labels.add(label)
            if handle in by_handle:
                assert by_handle[handle].label == label, "a handle changed objects"
            else:  # a private token object found again after a new login: its new handle
                assert handle not in self.dead, "a dead handle came back"
                match = [o for o in self.objs if o.label == label and o.handle is None]
                assert match, f"unexpected object {label} (handle {handle})"
                match[0].handle = handle
        assert labels == expected, f"find {template}: got {sorted(labels)}, expected {sorted(expected)}"

    # -- destroy -----------------------------------------------------------------------------------
    @precondition(lambda self: self._live())
    @rule(i=st.integers(0, 99), s=st.integers(0, SESSIONS - 1))
    def destroy(self, i: int, s: int) -> None:
        obj, s = self._pick(i), self._session(s)
        out = Outcome()
        if obj.token and not self._rw(s):
            out.errors.add("SESSION_READ_ONLY")
        if not obj.attrs[Attribute.DESTROYABLE]:
            out.errors.add("ACTION_PROHIBITED")
        if out.check(destroy_rv(self.module, self.sessions[s], obj.handle), f"destroy {obj.label}"):  # type: ignore[arg-type]
            self._kill(obj)

    # -- login, logout, sessions --------------------------------------------------------------------
    @precondition(lambda self: not self.logged_in)
    @rule(s=st.integers(0, SESSIONS - 1))
    def login(self, s: int) -> None:
        self.module.login(self.sessions[self._session(s)], UserType.USER, USER_PIN)
        self.logged_in = True

    @precondition(lambda self: self.logged_in)
    @rule(s=st.integers(0, SESSIONS - 1))
    def logout(self, s: int) -> None:
        """5.6.10: handles to private objects become invalid for good; private session objects
        are destroyed."""
        self.module.check("C_Logout", self.sessions[self._session(s)])
        self.logged_in = False
        for obj in [o for o in self.objs if o.private]:
            if obj.token:
                if obj.handle is not None:
                    self.dead.append(obj.handle)
                obj.handle = None
            else:
                self._kill(obj)

    @precondition(lambda self: 2 not in self.sessions)
    @rule()
    def open_session(self) -> None:
        self.sessions[2] = self.module.open(self.slot)

    @precondition(lambda self: 2 in self.sessions)
    @rule()
    def close_session(self) -> None:
        """5.6.2: the session's session objects are destroyed with it."""
        self.module.close(self.sessions.pop(2))
        for obj in [o for o in self.objs if o.owner == 2]:
            self._kill(obj)


def _run(module: Module, profile: Profile, tmp_path: Path, examples: int, steps: int) -> None:
    machine = type(f"ObjectMachine_{profile.name}", (ObjectMachine,), {
        "module": module, "profile": profile, "base_dir": tmp_path,
        "log_file": str(tmp_path / "softhsm-py.log")})  # fmt: skip
    saved = {k: os.environ.get(k) for k in ("SOFTHSM_PY_CONF", "SOFTHSM2_CONF")}
    try:
        run_state_machine_as_test(
            machine,
            settings=settings(
                max_examples=examples,
                stateful_step_count=steps,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(HealthCheck),
            ),
        )
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.mark.slow  # a big hypothesis budget of whole C_* call sequences
def test_object_rules_spec(bare: Module, tmp_path: Path) -> None:
    """The full model, softhsm-py's documented choices included."""
    if bare.softhsm2:
        pytest.skip(
            "the SPEC profile encodes softhsm-py choices (sticky CKA_DESTROYABLE in copies, "
            "C_SetAttributeValue clearing CKA_COPYABLE/DESTROYABLE) and 3.0 4.1.3 copy rules "
            "SoftHSMv2 departs from; test_object_rules_portable runs it"
        )
    _run(bare, SPEC, tmp_path, examples=150, steps=50)


@pytest.mark.slow
def test_object_rules_portable(bare: Module, tmp_path: Path) -> None:
    """The spec's rules only, without the copy steps SoftHSMv2 departs from: runs on any module."""
    _run(bare, PORTABLE, tmp_path, examples=60, steps=40)
