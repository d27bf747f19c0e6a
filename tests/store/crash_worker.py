"""The processes of the crash-consistency test (``tests/store/test_crash_consistency.py``): each
loads the built library through the conformance suite's cffi loader, with the SOFTHSM_PY_CONF of
the test's store, and talks to the test on stdout.

    python crash_worker.py setup               the tokens and the fixed keys; prints one JSON line
    python crash_worker.py drive STATE SEED    writes of every kind until killed (or MAX_OPS): a
                                               "B <n> <kind> <json>" line before each call and an
                                               "E <n> <CKR>" line after it
    python crash_worker.py check ARGS          the store as a new process finds it: one JSON line

The writes: create, set, destroy, copy (token objects), generate a key and a key pair, unwrap,
derive, set PIN, init PIN (as the SO), init token (re-initialise slot 1, or a new token in the
empty slot), and the logins around them (each counts a PIN try in the store before it checks it).
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the support package (a child process)

from support.constants import Attribute, KeyType, Mechanism, ObjectClass, UserType, rv_name
from support.keys import EC_OIDS
from support.mechanisms import Mech, hkdf
from support.objects import find
from support.pkcs11 import Module, default_module_path, ffi, padded
from support.templates import Query, Template, cbytes

A = Attribute
SO_PIN = b"crash-so-pin"
MAX_OPS = 60
P256 = EC_OIDS["P-256"]
KINDS = (
    "create", "set", "destroy", "copy", "genkey", "genpair", "unwrap", "derive",
    "setpin", "initpin", "badlogin", "inittoken", "newtoken",
)  # fmt: skip
MAX_NEW_TOKENS = 3


def say(*parts: object) -> None:
    """One line in one write (a kill never leaves half a line, even with PYTHONUNBUFFERED)."""
    sys.stdout.write(" ".join(str(p) for p in parts) + "\n")
    sys.stdout.flush()


class Worker:
    def __init__(self) -> None:
        self.m = Module(os.environ.get("SOFTHSM_PY_TEST_MODULE") or default_module_path())

    def rv(self, name: str, *args: Any) -> str:
        return rv_name(self.m.rv(name, *args))

    def ok(self, name: str, *args: Any) -> None:
        got = self.rv(name, *args)
        if got != "OK":
            raise RuntimeError(f"{name} returned CKR_{got}")

    def session(self, slot: int) -> int:
        h = ffi.new("CK_SESSION_HANDLE *")
        self.ok("C_OpenSession", slot, 0x6, ffi.NULL, ffi.NULL, h)  # RW | SERIAL
        return int(h[0])

    def login(self, h: int, pin: bytes, user: int = UserType.USER) -> str:
        return self.rv("C_Login", h, user, pin, len(pin))

    def one(self, h: int, label: str, cls: int | None = None) -> int:
        query: dict[int, Any] = {A.LABEL: label.encode()}
        if cls is not None:
            query[A.CLASS] = cls
        found = find(self.m, h, query)
        if len(found) != 1:
            raise RuntimeError(f"{label}: {len(found)} objects")
        return found[0]

    def new_handle(self, name: str, *args: Any) -> int:
        out = ffi.new("CK_OBJECT_HANDLE *")
        self.ok(name, *args, out)
        return int(out[0])

    # ------------------------------------------------------------------------------- setup

    def setup(self, pin: str) -> None:
        self.m.initialize()
        self.ok("C_InitToken", 0, SO_PIN, len(SO_PIN), padded("main"))
        h = self.session(0)
        self.ok("C_Login", h, UserType.SO, SO_PIN, len(SO_PIN))
        self.ok("C_InitPIN", h, pin.encode(), len(pin))
        self.ok("C_Logout", h)
        assert self.login(h, pin.encode()) == "OK"
        secret = {A.CLASS: ObjectClass.SECRET_KEY, A.TOKEN: True, A.PRIVATE: True, A.SENSITIVE: True}
        wrapper = Template({**secret, A.KEY_TYPE: KeyType.AES, A.VALUE: os.urandom(32), A.LABEL: b"wrapper",
                            A.WRAP: True, A.UNWRAP: True})  # fmt: skip
        handle = self.new_handle("C_CreateObject", h, wrapper.ptr, wrapper.count)
        base = Template({**secret, A.KEY_TYPE: KeyType.GENERIC_SECRET, A.VALUE: os.urandom(32),
                         A.LABEL: b"base", A.DERIVE: True})  # fmt: skip
        self.new_handle("C_CreateObject", h, base.ptr, base.count)
        plain = Template({A.CLASS: ObjectClass.SECRET_KEY, A.KEY_TYPE: KeyType.AES, A.TOKEN: False,
                          A.VALUE: os.urandom(32), A.EXTRACTABLE: True})  # fmt: skip
        key = self.new_handle("C_CreateObject", h, plain.ptr, plain.count)
        wrapped = self.out("C_WrapKey", h, Mech(Mechanism.AES_KEY_WRAP).ptr, handle, key)
        self.ok("C_CloseSession", h)
        self.ok("C_InitToken", 1, SO_PIN, len(SO_PIN), padded("scratch-0"))
        self.m.finalize()
        say(json.dumps({"wrapped": wrapped.hex()}))

    def out(self, name: str, *args: Any) -> bytes:
        n = ffi.new("CK_ULONG *", 4096)
        buf = ffi.new("CK_BYTE[]", 4096)
        self.ok(name, *args, buf, n)
        return bytes(ffi.buffer(buf, int(n[0])))

    # ------------------------------------------------------------------------------- drive

    def drive(self, state: dict[str, Any], seed: int) -> None:
        rng = random.Random(seed)
        self.state = state
        self.step = state.get("step")  # kill inside the store: at this statement of the target
        self.steps = 0
        if self.step is not None:
            kill_inside_the_store(self)
        self.pin: str = state["pin"]
        self.objects: dict[str, dict[str, Any]] = state["objects"]  # label -> {"kind": ...}
        self.n = 0
        self.m.initialize()
        self.h = self.session(0)
        self.call("login", {"pin": self.pin}, lambda: self.login(self.h, self.pin.encode()))
        target = state["target"]
        prelude = [rng.choice(KINDS) for _ in range(rng.randrange(3))]
        for kind in [*prelude, target, *(rng.choice(KINDS) for _ in range(MAX_OPS))]:
            getattr(self, f"op_{kind}")(rng)
        self.m.finalize()

    def call(self, kind: str, args: dict[str, Any], fn: Any) -> str:
        """One bracketed call: the test knows it began, and whether it ended (and how)."""
        self.n += 1
        say("B", self.n, kind, json.dumps(args))
        if kind == self.state["target"] and self.step is not None and not self.steps:
            self.steps = 1  # armed: statements are counted from here on
        got = fn()
        say("E", self.n, got)
        return str(got)

    def done(self, kind: str, args: dict[str, Any], name: str, *call: Any) -> bool:
        """``call(kind, ...)`` of the C function ``name``; True if it returned CKR_OK."""
        return self.call(kind, args, lambda: self.rv(name, *call)) == "OK"

    def label(self) -> str:
        return f"r{self.state['round']}n{self.n + 1}"

    def data_labels(self) -> list[str]:
        return sorted(k for k, v in self.objects.items() if v["kind"] == "data")

    def op_create(self, rng: random.Random) -> None:
        label, value, app = self.label(), os.urandom(16).hex(), f"app-{rng.randrange(10**6)}"
        t = Template({A.CLASS: ObjectClass.DATA, A.TOKEN: True, A.PRIVATE: True, A.LABEL: label.encode(),
                      A.VALUE: bytes.fromhex(value), A.APPLICATION: app.encode()})  # fmt: skip
        out = ffi.new("CK_OBJECT_HANDLE *")
        args = {"label": label, "value": value, "app": app}
        if self.done("create", args, "C_CreateObject", self.h, t.ptr, t.count, out):
            self.objects[label] = {"kind": "data", "value": value, "app": app}

    def op_set(self, rng: random.Random) -> None:
        """Two attributes in one C_SetAttributeValue of a secret key: both old or both new."""
        labels = sorted(k for k, v in self.objects.items() if v["kind"] in ("aes", "generic"))
        if not labels:
            return self.op_genkey(rng)
        label = rng.choice(labels)
        handle = self.one(self.h, label)
        ident, start = (
            os.urandom(8).hex(),
            f"20{rng.randrange(10, 99)}0{rng.randrange(1, 9)}1{rng.randrange(10)}",
        )
        t = Template({A.ID: bytes.fromhex(ident), A.START_DATE: start.encode()})
        args = {"label": label, "id": ident, "start": start}
        if (
            self.call("set", args, lambda: self.rv("C_SetAttributeValue", self.h, handle, t.ptr, t.count))
            == "OK"
        ):
            self.objects[label] = {**self.objects[label], "id": ident, "start": start}

    def op_destroy(self, rng: random.Random) -> None:
        # Not the fixed keys the other writes use, and not a half of a pair (two writes).
        labels = sorted(
            k for k, v in self.objects.items() if v["kind"] in ("data", "aes", "generic") and k[0] == "r"
        )
        if not labels:
            return self.op_create(rng)
        label = rng.choice(labels)
        handle = self.one(self.h, label)
        if self.done("destroy", {"label": label}, "C_DestroyObject", self.h, handle):
            del self.objects[label]

    def op_copy(self, rng: random.Random) -> None:
        labels = self.data_labels()
        if not labels:
            return self.op_create(rng)
        source, label = rng.choice(labels), self.label()
        handle = self.one(self.h, source)
        t = Template({A.LABEL: label.encode()})
        out = ffi.new("CK_OBJECT_HANDLE *")
        args = {"label": label, "source": source}
        if (
            self.call("copy", args, lambda: self.rv("C_CopyObject", self.h, handle, t.ptr, t.count, out))
            == "OK"
        ):
            self.objects[label] = dict(self.objects[source])

    def _secret(self, key_type: int, label: str, **flags: bool) -> dict[int, Any]:
        attrs = {A.CLASS: ObjectClass.SECRET_KEY, A.KEY_TYPE: key_type, A.TOKEN: True, A.PRIVATE: True,
                 A.LABEL: label.encode()}  # fmt: skip
        attrs.update({getattr(A, k.upper()): v for k, v in flags.items()})
        return attrs

    def op_genkey(self, rng: random.Random) -> None:
        label = self.label()
        t = Template({**self._secret(KeyType.AES, label, encrypt=True, decrypt=True), A.VALUE_LEN: 32})
        out = ffi.new("CK_OBJECT_HANDLE *")
        mech = Mech(Mechanism.AES_KEY_GEN)
        if (
            self.call(
                "genkey",
                {"label": label},
                lambda: self.rv("C_GenerateKey", self.h, mech.ptr, t.ptr, t.count, out),
            )
            == "OK"
        ):
            self.objects[label] = {"kind": "aes"}

    def op_genpair(self, rng: random.Random) -> None:
        label = self.label()
        ident = label.encode()
        pub = Template({A.TOKEN: True, A.EC_PARAMS: P256, A.VERIFY: True, A.LABEL: ident, A.ID: ident})
        priv = Template({A.TOKEN: True, A.PRIVATE: True, A.SENSITIVE: True, A.SIGN: True, A.LABEL: ident,
                         A.ID: ident})  # fmt: skip
        hp, hq = ffi.new("CK_OBJECT_HANDLE *"), ffi.new("CK_OBJECT_HANDLE *")
        mech = Mech(Mechanism.EC_KEY_PAIR_GEN)

        def run() -> str:
            return self.rv(
                "C_GenerateKeyPair", self.h, mech.ptr, pub.ptr, pub.count, priv.ptr, priv.count, hp, hq
            )

        if self.call("genpair", {"label": label}, run) == "OK":
            self.objects[label] = {"kind": "pair"}

    def op_unwrap(self, rng: random.Random) -> None:
        label = self.label()
        wrapper = self.one(self.h, "wrapper")
        wrapped = bytes.fromhex(self.state["wrapped"])
        t = Template(self._secret(KeyType.AES, label, encrypt=True, decrypt=True))
        out = ffi.new("CK_OBJECT_HANDLE *")
        mech, blob = Mech(Mechanism.AES_KEY_WRAP), cbytes(wrapped)

        def run() -> str:
            return self.rv("C_UnwrapKey", self.h, mech.ptr, wrapper, blob, len(wrapped), t.ptr, t.count, out)

        if self.call("unwrap", {"label": label}, run) == "OK":
            self.objects[label] = {"kind": "aes"}

    def op_derive(self, rng: random.Random) -> None:
        label = self.label()
        base = self.one(self.h, "base")
        t = Template({**self._secret(KeyType.GENERIC_SECRET, label, sign=True, verify=True), A.VALUE_LEN: 32})
        out = ffi.new("CK_OBJECT_HANDLE *")
        mech = hkdf(salt=label.encode())
        if (
            self.call(
                "derive",
                {"label": label},
                lambda: self.rv("C_DeriveKey", self.h, mech.ptr, base, t.ptr, t.count, out),
            )
            == "OK"
        ):
            self.objects[label] = {"kind": "generic"}

    def new_pin(self) -> str:
        return f"pin-{self.state['round']}-{self.n + 1}"

    def op_setpin(self, rng: random.Random) -> None:
        old, new = self.pin.encode(), self.new_pin()
        args = {"old": self.pin, "new": new}
        if (
            self.call(
                "setpin", args, lambda: self.rv("C_SetPIN", self.h, old, len(old), new.encode(), len(new))
            )
            == "OK"
        ):
            self.pin = new

    def op_initpin(self, rng: random.Random) -> None:
        new = self.new_pin()
        self.call("logout", {}, lambda: self.rv("C_Logout", self.h))
        assert self.call("so_login", {}, lambda: self.login(self.h, SO_PIN, UserType.SO)) == "OK"
        if (
            self.call("initpin", {"new": new}, lambda: self.rv("C_InitPIN", self.h, new.encode(), len(new)))
            == "OK"
        ):
            self.pin = new
        self.call("logout", {}, lambda: self.rv("C_Logout", self.h))
        assert self.call("login", {"pin": self.pin}, lambda: self.login(self.h, self.pin.encode())) == "OK"

    def op_badlogin(self, rng: random.Random) -> None:
        self.call("logout", {}, lambda: self.rv("C_Logout", self.h))
        wrong = b"not-the-pin"
        assert self.call("badlogin", {}, lambda: self.login(self.h, wrong)) == "PIN_INCORRECT"
        assert self.call("login", {"pin": self.pin}, lambda: self.login(self.h, self.pin.encode())) == "OK"

    def op_inittoken(self, rng: random.Random) -> None:
        label = f"scratch-{self.state['round']}-{self.n + 1}"
        text = padded(label)
        self.call(
            "inittoken",
            {"slot": 1, "label": label},
            lambda: self.rv("C_InitToken", 1, SO_PIN, len(SO_PIN), text),
        )

    def op_newtoken(self, rng: random.Random) -> None:
        if self.state["new_tokens_left"] <= 0:
            return self.op_inittoken(rng)
        empty = [s for s in self.m.slot_list() if not self.m.token_flags(s) & 0x400]  # CKF_TOKEN_INITIALIZED
        (slot,) = empty
        label = f"new-{self.state['round']}-{self.n + 1}"
        text = padded(label)
        args = {"slot": slot, "label": label}
        if (
            self.call("newtoken", args, lambda: self.rv("C_InitToken", slot, SO_PIN, len(SO_PIN), text))
            == "OK"
        ):
            self.state["new_tokens_left"] -= 1

    # ------------------------------------------------------------------------------- check

    def check(self, args: dict[str, Any]) -> None:
        out: dict[str, Any] = {"counters": counters(), "integrity": integrity()}
        self.m.initialize()
        tokens = {}
        for slot in self.m.slot_list():
            info = self.m.token_info(slot)
            if info.flags & 0x400:
                tokens[str(slot)] = bytes(ffi.buffer(info.label)).decode().rstrip(" ")
        out["tokens"] = tokens
        so_ok = {}
        for slot in tokens:
            if slot != "0":
                h = self.session(int(slot))
                so_ok[slot] = self.login(h, SO_PIN, UserType.SO)
                self.rv("C_CloseSession", h)
        out["so_login"] = so_ok
        h = self.session(0)
        works = [pin for pin in args["pins"] if self.login(h, pin.encode()) == "OK"]
        out["pins"] = works
        objects = []
        for handle in find(self.m, h, {}):
            q = Query([A.LABEL, A.CLASS, A.KEY_TYPE, A.VALUE, A.APPLICATION, A.ID, A.START_DATE])
            q.run(self.m, h, handle)  # VALUE of a sensitive key: unavailable, the rest filled
            label, cls, key_type, value, app, ident, start = (q.value(i) for i in range(7))
            item = {
                "label": bytes(label).decode(),
                "class": int(cls),
                "key_type": None if key_type is None else int(key_type),
                "value": bytes(value).hex() if cls == ObjectClass.DATA and value is not None else None,
                "app": bytes(app).decode() if cls == ObjectClass.DATA and app is not None else None,
                "id": bytes(ident).hex() if ident is not None else None,
                "start": bytes(start).decode() if start is not None else None,
            }
            item["usable"] = self.usable(h, handle, item)
            objects.append(item)
        out["objects"] = objects
        self.m.finalize()
        say(json.dumps(out))

    def usable(self, h: int, handle: int, item: dict[str, Any]) -> bool:
        """The key does what its kind is for (its material is whole, not just its row)."""
        data = b"crash consistency"
        buf, n = ffi.new("CK_BYTE[]", 512), ffi.new("CK_ULONG *", 512)
        if item["class"] == ObjectClass.PRIVATE_KEY:
            if self.rv("C_SignInit", h, Mech(Mechanism.ECDSA_SHA256).ptr, handle) != "OK":
                return False
            return self.rv("C_Sign", h, data, len(data), buf, n) == "OK"
        if item["class"] == ObjectClass.SECRET_KEY and item["key_type"] == KeyType.AES:
            if self.rv("C_EncryptInit", h, Mech(Mechanism.AES_ECB).ptr, handle) != "OK":
                return False
            block = bytes(16)
            return self.rv("C_Encrypt", h, block, 16, buf, n) == "OK"
        if item["class"] == ObjectClass.SECRET_KEY and item["label"] != "base":
            if self.rv("C_SignInit", h, Mech(Mechanism.SHA256_HMAC).ptr, handle) != "OK":
                return False
            return self.rv("C_Sign", h, data, len(data), buf, n) == "OK"
        return True


class _Counted:
    """A row-store transaction whose statements are counted; the driver dies (SIGKILL, nothing
    flushed, nothing rolled back) before the one it was told to die at."""

    def __init__(self, tx: Any, worker: Worker) -> None:
        self._tx, self._worker = tx, worker

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._tx, name)
        worker = self._worker

        def counted(*args: Any, **kwargs: Any) -> Any:
            if worker.steps:
                if worker.steps == worker.step:
                    os.kill(os.getpid(), signal.SIGKILL)
                worker.steps += 1
            return method(*args, **kwargs)

        return counted


def kill_inside_the_store(worker: Worker) -> None:
    """The library runs in this interpreter (a Python host): wrap both row stores' write
    transactions before C_Initialize opens the store."""
    from contextlib import contextmanager

    from softhsm_py.store.postgres import PgRows
    from softhsm_py.store.sqlite import SqliteRows

    for cls in (SqliteRows, PgRows):
        write = cls.write

        @contextmanager
        def counted_write(self: Any, what: str, write: Any = write) -> Any:
            with write(self, what) as tx:
                yield _Counted(tx, worker)

        cls.write = counted_write  # type: ignore[method-assign]


def counters() -> dict[str, list[int]]:
    """PIN try counters as stored, read before this process makes any try: {slot: [so, user]}."""
    from softhsm_py.config import load_config
    from softhsm_py.store import open_store

    config = load_config()
    store = open_store(config.token_dir, kdf_cost=config.kdf_cost, location=config.store)
    try:
        return {str(t.slot_id): [t.so_failures, t.user_failures] for t in store.tokens()}
    finally:
        store.close()


def integrity() -> str:
    from softhsm_py.config import load_config
    from softhsm_py.store.sqlite import DB_NAME

    config = load_config()
    if config.store != "sqlite":
        return "ok"  # PostgreSQL keeps its own pages whole
    db = sqlite3.connect(f"file:{config.token_dir / DB_NAME}?mode=ro", uri=True)
    try:
        return str(db.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        db.close()


def main() -> None:
    worker = Worker()
    mode = sys.argv[1]
    if mode == "setup":
        worker.setup(sys.argv[2])
    elif mode == "drive":
        worker.drive(json.loads(sys.argv[2]), int(sys.argv[3]))
    elif mode == "check":
        worker.check(json.loads(sys.argv[2]))
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
