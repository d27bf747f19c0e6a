"""One softhsm-py "instance" for the multi-instance tests: a process of its own that loads the built
PKCS#11 library through the conformance suite's cffi loader, with its own SOFTHSM_PY_CONF (as if
on its own machine), and prints one JSON line per event. Run by ``tests/store/test_instances.py``:

    python instance.py setup LABEL        init a token, the user PIN, an EC key pair "signer"
    python instance.py load NAME STOP     sign, create, destroy, generate, wrong SO PINs, until the
                                          file STOP exists; an "ack" line after each success
    python instance.py check              every object (label, class, value), as the user
    python instance.py serve              JSON commands on stdin (see ``serve``)
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the support package (a child process)

from support.constants import Attribute, Mechanism, ObjectClass, ReturnValue, UserType, rv_name
from support.keys import EC_OIDS
from support.objects import data_template, destroy_rv, find
from support.pkcs11 import SO_PIN, USER_PIN, CKRError, Module, default_module_path, ffi
from support.templates import Query, Template

WRONG_PIN = b"not-the-so-pin"


def emit(**event: Any) -> None:
    print(json.dumps(event), flush=True)


class Instance:
    def __init__(self) -> None:
        self.m = Module(os.environ.get("SOFTHSM_PY_TEST_MODULE") or default_module_path())
        self.m.initialize()
        self.slot = 0

    def rv(self, name: str, *args: Any) -> str:
        return rv_name(self.m.rv(name, *args))

    def ok(self, name: str, *args: Any) -> None:
        rv = self.m.rv(name, *args)
        if rv != ReturnValue.OK:
            raise CKRError(name, rv)

    def session(self) -> int:
        h = ffi.new("CK_SESSION_HANDLE *")
        self.ok("C_OpenSession", self.slot, 0x6, ffi.NULL, ffi.NULL, h)  # RW | SERIAL
        return int(h[0])

    def login(self, h: int, user: int = UserType.USER, pin: bytes = USER_PIN) -> str:
        return self.rv("C_Login", h, user, pin, len(pin))

    def find(self, h: int, **attrs: Any) -> list[int]:
        names = {"label": Attribute.LABEL, "cls": Attribute.CLASS}
        return find(self.m, h, {names[k]: v for k, v in attrs.items()})

    def get(self, h: int, obj: int, kinds: list[int]) -> tuple[str, list[Any]]:
        q = Query(kinds)
        rv = q.run(self.m, h, obj)
        return rv, [q.value(i) for i in range(len(kinds))]

    def sign(self, h: int, label: str, data: bytes) -> bytes:
        (key,) = self.find(h, label=label, cls=ObjectClass.PRIVATE_KEY)
        mech = ffi.new(
            "CK_MECHANISM *", {"mechanism": Mechanism.ECDSA, "pParameter": ffi.NULL, "ulParameterLen": 0}
        )
        self.ok("C_SignInit", h, mech, key)
        out = ffi.new("CK_BYTE[]", 256)
        n = ffi.new("CK_ULONG *", 256)
        self.ok("C_Sign", h, data, len(data), out, n)
        return bytes(ffi.buffer(out, n[0]))

    def create(self, h: int, label: str, value: bytes) -> int:
        t = Template(data_template(label, value, token=True, private=True))
        out = ffi.new("CK_OBJECT_HANDLE *")
        self.ok("C_CreateObject", h, t.ptr, len(t), out)
        return int(out[0])

    def key_pair(self, h: int, label: str) -> tuple[int, int]:
        pub = Template(
            {
                Attribute.TOKEN: True,
                Attribute.EC_PARAMS: EC_OIDS["P-256"],
                Attribute.VERIFY: True,
                Attribute.LABEL: label,
            }
        )
        priv = Template(
            {
                Attribute.TOKEN: True,
                Attribute.PRIVATE: True,
                Attribute.SENSITIVE: True,
                Attribute.SIGN: True,
                Attribute.LABEL: label,
            }
        )
        mech = ffi.new(
            "CK_MECHANISM *",
            {"mechanism": Mechanism.EC_KEY_PAIR_GEN, "pParameter": ffi.NULL, "ulParameterLen": 0},
        )
        hpub, hpriv = ffi.new("CK_OBJECT_HANDLE *"), ffi.new("CK_OBJECT_HANDLE *")
        self.ok("C_GenerateKeyPair", h, mech, pub.ptr, len(pub), priv.ptr, len(priv), hpub, hpriv)
        return int(hpub[0]), int(hpriv[0])

    def ec_point(self, h: int, label: str) -> bytes:
        (key,) = self.find(h, label=label, cls=2)
        _, (point,) = self.get(h, key, [Attribute.EC_POINT])
        return bytes(point)

    # ------------------------------------------------------------------------------- modes

    def setup(self, label: str) -> None:
        self.slot = self.m.ready_token(label)
        h = self.session()
        self.login(h)
        self.key_pair(h, "signer")
        emit(slot=self.slot, ec_point=self.ec_point(h, "signer").hex())
        self.rv("C_CloseSession", h)

    def load(self, name: str, stop: Path) -> None:
        mine: list[tuple[int, str]] = []  # (handle, label) created and not destroyed
        i = 0
        while not stop.exists():
            i += 1
            try:
                h = self.session()
            except CKRError as exc:
                emit(ev="err", op="open", rv=exc.name)
                time.sleep(0.05)
                continue
            try:
                self._round(name, i, h, mine)
            except CKRError as exc:
                emit(ev="err", op=exc.function, rv=exc.name)
                time.sleep(0.05)
            finally:
                self.rv("C_CloseSession", h)
            self._wrong_so_pin()
        emit(ev="done", rounds=i)

    def _round(self, name: str, i: int, h: int, mine: list[tuple[int, str]]) -> None:
        rv = self.login(h)
        if rv != "OK":
            emit(ev="err", op="C_Login", rv=rv)
            time.sleep(0.05)
            return
        data = os.urandom(32)
        emit(ev="ack", op="sign", data=data.hex(), sig=self.sign(h, "signer", data).hex())
        label, value = f"{name}-{i}", os.urandom(16)
        emit(ev="start", op="create", label=label)
        mine.append((self.create(h, label, value), label))
        emit(ev="ack", op="create", label=label, value=value.hex())
        if i % 3 == 0 and len(mine) > 1:
            _, gone = mine[0]
            emit(ev="start", op="destroy", label=gone)
            found = self.find(h, label=gone)  # handles of private objects end at logout
            if not found:  # a destroy that answered an error (the store went away) had committed
                mine.pop(0)
                return
            (handle,) = found
            rv = destroy_rv(self.m, h, handle)
            if rv != "OK":
                emit(ev="err", op="C_DestroyObject", rv=rv)
                return
            mine.pop(0)
            emit(ev="ack", op="destroy", label=gone)
        if i % 5 == 0:
            label = f"{name}-kp-{i}"
            emit(ev="start", op="keypair", label=label)
            self.key_pair(h, label)
            emit(ev="ack", op="keypair", label=label)

    def _wrong_so_pin(self) -> None:
        try:
            h = self.session()
        except CKRError as exc:
            emit(ev="err", op="open", rv=exc.name)
            return
        try:
            emit(ev="start", op="so_wrong")
            rv = self.login(h, UserType.SO, WRONG_PIN)
            if rv == "PIN_INCORRECT":
                emit(ev="ack", op="so_wrong")
            else:
                emit(ev="err", op="so_wrong", rv=rv)
        finally:
            self.rv("C_CloseSession", h)

    def check(self) -> None:
        h = self.session()
        rv = self.login(h)
        assert rv == "OK", rv
        out = []
        for obj in self.find(h):
            rv, (label, cls) = self.get(h, obj, [Attribute.LABEL, Attribute.CLASS])
            value = None
            if cls == ObjectClass.DATA:
                _, (value,) = self.get(h, obj, [Attribute.VALUE])
            out.append(
                {"label": bytes(label).decode(), "cls": cls, "value": None if value is None else value.hex()}
            )
        emit(objects=out)

    def serve(self) -> None:
        """Commands: {"op": "login"|"logout"|"find"|"get_label"|"destroy"|"sign"|"init_token", ...};
        answers {"rv": NAME, ...}. One session, opened by "open"."""
        h = 0
        for line in sys.stdin:
            cmd = json.loads(line)
            op = cmd["op"]
            try:
                if op == "open":
                    h = self.session()
                    emit(rv="OK")
                elif op == "login":
                    emit(
                        rv=self.login(
                            h,
                            UserType.SO if cmd.get("so") else UserType.USER,
                            cmd.get("pin", "").encode() or USER_PIN,
                        )
                    )
                elif op == "find":
                    emit(rv="OK", handles=self.find(h, label=cmd["label"]))
                elif op == "get_label":
                    rv, (label,) = self.get(h, cmd["handle"], [Attribute.LABEL])
                    emit(rv=rv, label=None if label is None else bytes(label).decode())
                elif op == "destroy":
                    emit(rv=destroy_rv(self.m, h, cmd["handle"]))
                elif op == "create":
                    emit(rv="OK", handle=self.create(h, cmd["label"], b"v"))
                elif op == "sign":
                    emit(rv="OK", sig=self.sign(h, cmd["label"], bytes.fromhex(cmd["data"])).hex())
                elif op == "ec_point":
                    emit(rv="OK", point=self.ec_point(h, cmd["label"]).hex())
                elif op == "init_token":
                    label = cmd["label"].encode().ljust(32)
                    emit(rv=self.rv("C_InitToken", self.slot, SO_PIN, len(SO_PIN), label))
                else:
                    emit(rv="unknown op")
            except CKRError as exc:
                emit(rv=exc.name)


def main() -> None:
    mode = sys.argv[1]
    inst = Instance()
    if mode == "setup":
        inst.setup(sys.argv[2])
    elif mode == "load":
        inst.load(sys.argv[2], Path(sys.argv[3]))
    elif mode == "check":
        inst.check()
    elif mode == "serve":
        inst.serve()
    inst.m.finalize()


if __name__ == "__main__":
    main()
