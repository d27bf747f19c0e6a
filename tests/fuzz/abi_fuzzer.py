"""A C-ABI fuzzer for PKCS#11 modules: seeded random call sequences with hostile arguments, each
sequence in a child process, counting crashes, hangs and undocumented return codes.

    python tests/fuzz/abi_fuzzer.py run --seeds 0:2000 [--module PATH] [--calls 60] [--jobs 2]

runs sequences 0..1999 and prints the tally (the long version, for the benchmark machine); the test
``tests/fuzz/test_abi_fuzz.py`` runs a short one in CI. ``child`` mode is what the parent starts.

Hostile, not invalid: arguments are what a careless or malicious caller can pass without lying
about memory it owns. Pointers are NULL or point to memory of the stated size; a length is the
true size of its buffer, smaller, or one no memory can have (2**63 and up: the module must refuse
it unread), and NULL pointers come with any length. Mechanism parameters are well-formed structs
with hostile inner lengths, or blobs whose pointer-sized words are 0 or impossible lengths (so a
"pointer" read from them is NULL or comes with a length no buffer has), never at a struct's own
size with random bytes. Handles, slots, flags, user types and mechanism types are drawn from the
live ones and from anything else.

Child protocol on stdout, one line per event: ``S <seed>`` (a sequence starts), ``C <i> <function>``
(before a call), ``R <i> <function> <CKR name>`` (after it), ``D <seed>`` (the sequence ended well).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS))

from support.constants import Mechanism, rv_name  # noqa: E402
from support.pkcs11 import FUNCTIONS_32, NATIVE, V3_2_ONLY, default_module_path, softhsm_py_config  # noqa: E402
from support.return_codes import documented  # noqa: E402

HUGE = (2**63, 2**64 - 1)  # lengths no memory has: refused unread
SO_PIN, USER_PIN = b"fuzz-so-pin", b"fuzz-user-pin"
ATTRIBUTE_TYPES = [
    0x0, 0x1, 0x2, 0x3, 0x10, 0x11, 0x100, 0x102, 0x103, 0x104, 0x105, 0x106, 0x107, 0x108, 0x109,
    0x10A, 0x10B, 0x10C, 0x110, 0x111, 0x120, 0x121, 0x122, 0x123, 0x161, 0x162, 0x163, 0x170, 0x180,
    0x181, 0x202, 0x210, 0x40000211, 0x40000212, 0x40000600, 0xCE536301, 0x633, 0x80000001,
]  # fmt: skip
TEMPLATE_TYPES = (0x40000211, 0x40000212, 0x40000213)  # WRAP/UNWRAP/DERIVE_TEMPLATE
MECHANISMS = [
    0x0, 0x1, 0x3, 0x6, 0x9, 0xD, 0x40, 0x41, 0x220, 0x250, 0x251, 0x252, 0x350, 0x1040, 0x1041, 0x1044,
    0x1050, 0x1055, 0x1057, 0x1080, 0x1081, 0x1082, 0x1083, 0x1085, 0x1086, 0x1087, 0x108A, 0x2109,
    0x210A, 0x4021, 0x402A, 0x402B, 0x80000000, 2**64 - 1,
]  # fmt: skip
_PARAM = re.compile(r"(\w+)\s+(\w+)$")
# Mechanisms whose parameter is a struct with pointers, and that struct.
STRUCTS = {
    int(Mechanism.AES_GCM): "CK_GCM_PARAMS",
    int(Mechanism.RSA_PKCS_OAEP): "CK_RSA_PKCS_OAEP_PARAMS",
    **dict.fromkeys((int(m) for m in Mechanism if m.name.endswith("RSA_PKCS_PSS")), "CK_RSA_PKCS_PSS_PARAMS"),
    int(Mechanism.ECDH1_DERIVE): "CK_ECDH1_DERIVE_PARAMS",
    int(Mechanism.ECDH1_COFACTOR_DERIVE): "CK_ECDH1_DERIVE_PARAMS",
    int(Mechanism.HKDF_DERIVE): "CK_HKDF_PARAMS",
    int(Mechanism.HKDF_DATA): "CK_HKDF_PARAMS",
    int(Mechanism.AES_CTR): "CK_AES_CTR_PARAMS",
    int(Mechanism.CHACHA20_POLY1305): "CK_SALSA20_CHACHA20_POLY1305_PARAMS",
    int(Mechanism.EDDSA): "CK_EDDSA_PARAMS",
}


OUT_ULONGS = frozenset(
    {"CK_SESSION_HANDLE_PTR", "CK_OBJECT_HANDLE_PTR", "CK_SLOT_ID_PTR", "CK_ULONG_PTR", "CK_FLAGS_PTR"}
)
ARRAYS = {
    "CK_SLOT_ID_PTR": "CK_SLOT_ID",
    "CK_MECHANISM_TYPE_PTR": "CK_MECHANISM_TYPE",
    "CK_INTERFACE_PTR": "CK_INTERFACE",
}


def _byte(v: int) -> bytes:
    return bytes([v])


def _ulong(v: int) -> bytes:
    return v.to_bytes(8, "little")


def params_of(text: str) -> list[tuple[str, str]]:
    inner = text.strip()[1:-1].strip()
    if not inner or inner == "void":
        return []
    out = []
    for part in inner.split(","):
        match = _PARAM.match(part.strip())
        assert match, part
        out.append((match.group(1), match.group(2)))
    return out


SIGNATURES = {name: params_of(params) for name, params, _ in FUNCTIONS_32}


def struct_sizes(ffi: Any) -> set[int]:
    """The size of every struct of native/pkcs11.h: a random blob is never one of them (it would be
    read as that struct, and its random bytes as pointers)."""
    names = re.findall(r"typedef struct (CK_\w+)\b", (NATIVE / "pkcs11.h").read_text())
    return {ffi.sizeof(name) for name in names}


# ----------------------------------------------------------------------------------- the child


class Sequence:
    """One seeded sequence of calls on a loaded module."""

    def __init__(self, m: Any, rng: random.Random, pools: dict[str, list[int]], sizes: set[int]) -> None:
        self.m, self.ffi, self.rng = m, m.ffi, rng
        self.pools = pools
        self.sizes = sizes
        self.keep: list[Any] = []

    # -- values -------------------------------------------------------------------------------
    def ulong(self) -> int:
        r = self.rng
        return r.choice([0, 1, 2, 3, 4, 7, 16, 32, 255, 256, 1024, 2**31, 2**32, *HUGE, r.randrange(2**64)])

    def pick(self, pool: str) -> int:
        live = self.pools[pool]
        if live and self.rng.random() < 0.75:
            return self.rng.choice(live)
        return self.ulong()

    def buf(self, n: int, data: bytes | None = None) -> Any:
        b = self.ffi.new("CK_BYTE[]", max(n, 1))
        if data:
            self.ffi.memmove(b, data, min(n, len(data)))
        self.keep.append(b)
        return b

    def data(self) -> bytes:
        r = self.rng
        n = r.choice([0, 1, 8, 15, 16, 17, 20, 32, 48, 64, 100, 256, 1024])
        return r.randbytes(n)

    def input_pair(self, name: str) -> tuple[Any, int]:
        r = self.rng
        if name == "pParameter":  # a message's parameter: a struct with pointers, as a mechanism's
            if r.random() < 0.3:
                return self.ffi.NULL, r.choice([0, 0, 16, *HUGE])
            return self.blob()
        if name in ("pPin", "pOldPin", "pNewPin"):
            pin = r.choice([USER_PIN, SO_PIN, b"", b"1", r.randbytes(r.randrange(64)), b"x" * 300])
            if r.random() < 0.85:
                return self.buf(len(pin), pin), len(pin)
        choice = r.random()
        if choice < 0.1:
            return self.ffi.NULL, 0
        if choice < 0.2:
            return self.ffi.NULL, r.choice([1, 16, *HUGE])
        data = self.data()
        length = len(data) if choice < 0.85 else r.choice([*HUGE, max(len(data) - 1, 0)])
        return self.buf(len(data), data), length

    def output_pair(self) -> tuple[Any, Any]:
        """(buffer, CK_ULONG *): the pointer says how long the buffer really is (or less)."""
        r = self.rng
        if r.random() < 0.08:
            return (self.ffi.NULL if r.random() < 0.5 else self.buf(16)), self.ffi.NULL
        n = r.choice([0, 1, 8, 16, 20, 32, 64, 128, 256, 1024])
        length = self.ffi.new("CK_ULONG *")
        self.keep.append(length)
        if r.random() < 0.3:
            length[0] = self.ulong()  # a NULL buffer: any length in, the needed one out
            return self.ffi.NULL, length
        length[0] = r.choice([n, n, max(n - 1, 0), 0])
        return self.buf(n), length

    def out_ulong(self) -> Any:
        if self.rng.random() < 0.1:
            return self.ffi.NULL
        p = self.ffi.new("CK_ULONG *")
        self.keep.append(p)
        return p

    def struct(self, ctype: str) -> Any:
        if self.rng.random() < 0.1:
            return self.ffi.NULL
        s = self.ffi.new(f"{ctype} *")
        self.keep.append(s)
        return s

    # -- templates ------------------------------------------------------------------------------
    def attribute_value(self, attr: Any, depth: int) -> None:
        r = self.rng
        kind = int(attr.type)
        if kind in TEMPLATE_TYPES and depth == 0 and r.random() < 0.6:
            inner, count = self.template(depth + 1)
            attr.pValue = inner
            if inner == self.ffi.NULL or count > 64:
                attr.ulValueLen = r.choice([0, 24, *HUGE]) if inner == self.ffi.NULL else r.choice(HUGE)
            else:
                size = self.ffi.sizeof("CK_ATTRIBUTE")
                attr.ulValueLen = r.choice([count * size, count * size, count * size + 1, *HUGE])
            return
        choice = r.random()
        if choice < 0.1:
            attr.pValue, attr.ulValueLen = self.ffi.NULL, r.choice([0, 0, 1, *HUGE])
            return
        value = r.choice(
            [b"\x00", b"\x01", b"\x02", (0).to_bytes(8, "little"), (16).to_bytes(8, "little"),
             (32).to_bytes(8, "little"), (2**64 - 1).to_bytes(8, "little"), self.data()]
        )  # fmt: skip
        attr.pValue = self.buf(len(value), value)
        attr.ulValueLen = len(value) if choice < 0.9 else r.choice(HUGE)

    def realistic(self) -> list[tuple[int, bytes]]:
        """A template a host would send (a data object, a secret or a key pair half), mutated."""
        r = self.rng
        b, u = _byte, _ulong
        base = r.choice(
            [
                [(0x0, u(0)), (0x1, b(r.choice([0, 1]))), (0x3, b"fuzz"), (0x11, self.data())],
                [(0x0, u(4)), (0x100, u(0x1F)), (0x161, u(r.choice([16, 24, 32, 7]))), (0x104, b(1)),
                 (0x105, b(1)), (0x1, b(0))],
                [(0x0, u(4)), (0x100, u(0x10)), (0x161, u(32)), (0x108, b(1)), (0x10C, b(1))],
                [(0x0, u(2)), (0x180, bytes.fromhex("06082a8648ce3d030107")), (0x10A, b(1))],
                [(0x0, u(3)), (0x108, b(1)), (0x103, b(1)), (0x10C, b(1))],
                [(0x3, b"fuzz")],
                [],
            ]
        )  # fmt: skip
        for _ in range(r.choice([0, 0, 1, 2])):
            mutation = r.random()
            if base and mutation < 0.3:
                base.pop(r.randrange(len(base)))
            elif base and mutation < 0.6:
                i = r.randrange(len(base))
                base[i] = (base[i][0], r.choice([b(0), b(1), u(0), u(2**64 - 1), self.data()]))
            else:
                base.append((r.choice(ATTRIBUTE_TYPES), r.choice([b(1), u(32), self.data()])))
        return base

    def template(self, depth: int = 0) -> tuple[Any, int]:
        r = self.rng
        if depth == 0 and r.random() < 0.4:
            entries = self.realistic()
            array = self.ffi.new("CK_ATTRIBUTE[]", max(len(entries), 1))
            self.keep.append(array)
            for i, (kind, value) in enumerate(entries):
                array[i].type = kind
                array[i].pValue, array[i].ulValueLen = self.buf(len(value), value), len(value)
            return array, len(entries)
        count = r.choice([0, 0, 1, 2, 3, 4, 6, 8])
        if r.random() < 0.05:
            return self.ffi.NULL, r.choice([0, 1, 2**60, 2**64 - 1])
        array = self.ffi.new("CK_ATTRIBUTE[]", max(count, 1))
        self.keep.append(array)
        for i in range(count):
            array[i].type = r.choice(ATTRIBUTE_TYPES) if r.random() < 0.9 else self.ulong()
            self.attribute_value(array[i], depth)
        if r.random() < 0.05:
            return array, r.choice([2**60, 2**64 - 1])  # a count no memory holds
        return array, count

    def output_template(self) -> tuple[Any, int]:
        """C_GetAttributeValue: every pValue NULL or a buffer of at least its ulValueLen."""
        r = self.rng
        count = r.choice([0, 1, 2, 3, 5])
        if r.random() < 0.05:
            return self.ffi.NULL, r.choice([0, 1, 2**60])
        array = self.ffi.new("CK_ATTRIBUTE[]", max(count, 1))
        self.keep.append(array)
        for i in range(count):
            array[i].type = r.choice(ATTRIBUTE_TYPES) if r.random() < 0.9 else self.ulong()
            if int(array[i].type) in TEMPLATE_TYPES and r.random() < 0.5:
                n = r.choice([0, 1, 2, 4])
                inner = self.ffi.new("CK_ATTRIBUTE[]", max(n, 1))
                self.keep.append(inner)
                for j in range(n):
                    inner[j].pValue, inner[j].ulValueLen = self.ffi.NULL, 0
                array[i].pValue, array[i].ulValueLen = inner, n * self.ffi.sizeof("CK_ATTRIBUTE")
                continue
            if r.random() < 0.4:
                array[i].pValue, array[i].ulValueLen = self.ffi.NULL, r.choice([0, 5, *HUGE])
            else:
                n = r.choice([0, 1, 8, 32, 256])
                array[i].pValue, array[i].ulValueLen = self.buf(n), r.choice([n, max(n - 1, 0)])
        return array, count

    # -- mechanisms ---------------------------------------------------------------------------
    def blob(self) -> tuple[Any, int]:
        """A parameter of random length whose pointer-sized words are 0 or impossible lengths."""
        r = self.rng
        words = r.choice([1, 2, 3, 4, 5, 6, 8])
        raw = b"".join(r.choice([0, *HUGE]).to_bytes(8, "little") for _ in range(words))
        if r.random() < 0.5:
            n = r.randrange(1, 80)
            if n in self.sizes:
                n += 1
            raw = r.randbytes(n)  # not a struct's size: refused by length, or read as plain bytes
        return self.buf(len(raw), raw), len(raw)

    def mechanism(self) -> Any:
        r = self.rng
        if r.random() < 0.05:
            return self.ffi.NULL
        mech = self.ffi.new("CK_MECHANISM *")
        self.keep.append(mech)
        live = self.pools["mechanisms"]
        mech.mechanism = r.choice(live) if live and r.random() < 0.7 else r.choice(MECHANISMS)
        choice = r.random()
        if choice < 0.45:
            mech.pParameter, mech.ulParameterLen = self.ffi.NULL, 0
        elif choice < 0.55:
            mech.pParameter, mech.ulParameterLen = self.ffi.NULL, r.choice([1, 16, 40, *HUGE])
        elif choice < 0.8:
            mech.pParameter, mech.ulParameterLen = self.blob()
        else:
            mech.pParameter, mech.ulParameterLen = self.structured(int(mech.mechanism))
        return mech

    def structured(self, mechanism: int) -> tuple[Any, int]:
        """The mechanism's own parameter struct, well formed, with hostile inner lengths (its
        pointers stay honest). A struct of another type would put numbers where pointers go: a
        caller's lie about memory, not a hostile argument."""
        r = self.rng
        name = STRUCTS.get(mechanism)
        if name is None:
            return self.blob()
        s = self.ffi.new(f"{name} *")
        self.keep.append(s)
        for field_name, ctype in self.ffi.typeof(s[0]).fields:
            kind = ctype.type
            if kind.kind == "pointer":
                continue  # filled with its length below
            if kind.kind == "array":
                continue
            setattr(
                s[0],
                field_name,
                r.choice([0, 1, 16, 32, 96, 128, 0x250, 0x1, *HUGE])
                if kind.cname != "unsigned char"
                else r.choice([0, 1, 2]),
            )
        for field_name, ctype in self.ffi.typeof(s[0]).fields:
            if ctype.type.kind != "pointer":
                continue
            length_field = _length_of(field_name, [f for f, _ in self.ffi.typeof(s[0]).fields])
            data = self.data()
            if r.random() < 0.3:
                setattr(s[0], field_name, self.ffi.NULL)
            else:
                setattr(s[0], field_name, self.buf(len(data), data))
                if length_field is not None:
                    setattr(s[0], length_field, r.choice([len(data), len(data), 0, *HUGE]))
            if length_field is not None and getattr(s[0], field_name) == self.ffi.NULL:
                setattr(s[0], length_field, r.choice([0, 4, *HUGE]))
        return s, self.ffi.sizeof(name) if r.random() < 0.9 else self.ffi.sizeof(name) - 1

    # -- one call -----------------------------------------------------------------------------
    def arguments(self, function: str) -> list[Any]:
        params = SIGNATURES[function]
        args: list[Any] = []
        i = 0
        r, ffi = self.rng, self.ffi
        while i < len(params):
            ctype, name = params[i]
            nxt = params[i + 1] if i + 1 < len(params) else ("", "")
            if (
                ctype in ("CK_BYTE_PTR", "CK_UTF8CHAR_PTR", "CK_VOID_PTR")
                and nxt[0] == "CK_ULONG"
                and nxt[1].startswith("ul")
            ):
                if name == "RandomData":  # an output whose length the caller states
                    n = r.choice([0, 1, 16, 64])
                    args += [self.buf(n), n] if r.random() < 0.9 else [ffi.NULL, r.choice([0, 8, *HUGE])]
                else:
                    args += list(self.input_pair(name))
                i += 2
                continue
            if ctype in ("CK_BYTE_PTR", "CK_VOID_PTR") and nxt[0] == "CK_ULONG_PTR":
                args += list(self.output_pair())
                i += 2
                continue
            if ctype == "CK_ATTRIBUTE_PTR":
                pair = self.output_template() if function == "C_GetAttributeValue" else self.template()
                args += list(pair)
                i += 2
                continue
            if (
                ctype in ("CK_SLOT_ID_PTR", "CK_MECHANISM_TYPE_PTR", "CK_INTERFACE_PTR")
                and nxt[0] == "CK_ULONG_PTR"
            ):
                item = ARRAYS[ctype]
                n = r.choice([0, 1, 2, 8, 200])
                count = ffi.new("CK_ULONG *", r.choice([n, max(n - 1, 0), 0]))
                array = ffi.new(f"{item}[]", max(n, 1)) if r.random() < 0.7 else ffi.NULL
                if array == ffi.NULL:
                    count[0] = self.ulong()
                self.keep += [count, array]
                args += [array, count if r.random() < 0.93 else ffi.NULL]
                i += 2
                continue
            if name == "phObject" and nxt[1] == "ulMaxObjectCount":
                n = r.choice([0, 1, 4, 64])
                array = ffi.new("CK_OBJECT_HANDLE[]", max(n, 1))
                self.keep.append(array)
                args += [array, n] if r.random() < 0.9 else [ffi.NULL, r.choice([0, 1, *HUGE])]
                i += 2
                continue
            args.append(self.single(function, ctype, name))
            i += 1
        return args

    def single(self, function: str, ctype: str, name: str) -> Any:
        r, ffi = self.rng, self.ffi
        if ctype == "CK_SESSION_HANDLE":
            return self.pick("sessions")
        if ctype == "CK_OBJECT_HANDLE":
            return self.pick("objects")
        if ctype == "CK_SLOT_ID":
            return self.pick("slots")
        if ctype == "CK_MECHANISM_TYPE":
            return self.pick("mechanisms")
        if ctype == "CK_USER_TYPE":
            return r.choice([0, 1, 1, 2, 3, self.ulong()])
        if ctype == "CK_FLAGS":
            flags = r.choice([0, 1, 2, 4, 6, 6, 6, self.ulong()])
            # A blocking wait lasts until a token comes or goes: never, in the fuzzer's store.
            return flags | 1 if function == "C_WaitForSlotEvent" else flags
        if ctype == "CK_SESSION_VALIDATION_FLAGS_TYPE":
            return r.choice([0, 1, self.ulong()])
        if ctype == "CK_BBOOL":
            return r.choice([0, 1])
        if ctype == "CK_ULONG":
            return self.ulong()
        if ctype == "CK_MECHANISM_PTR":
            return self.mechanism()
        if ctype == "CK_NOTIFY":
            return ffi.NULL
        if ctype.endswith("_INFO_PTR"):
            return self.struct(ctype[: -len("_PTR")])
        if ctype in (
            "CK_SESSION_HANDLE_PTR",
            "CK_OBJECT_HANDLE_PTR",
            "CK_SLOT_ID_PTR",
            "CK_ULONG_PTR",
            "CK_FLAGS_PTR",
        ):
            return self.out_ulong()
        if ctype == "CK_ASYNC_DATA_PTR":
            return self.struct("CK_ASYNC_DATA")
        if name == "pFunctionName":
            text = r.choice([b"C_Sign", b"", r.randbytes(6).replace(b"\0", b"x")])
            return ffi.NULL if r.random() < 0.3 else self.buf(len(text) + 1, text + b"\0")
        if ctype in ("CK_VOID_PTR_PTR", "CK_INTERFACE_PTR_PTR"):
            pointee = "void **" if ctype == "CK_VOID_PTR_PTR" else "CK_INTERFACE **"
            p = ffi.new(pointee) if r.random() < 0.9 else ffi.NULL
            self.keep.append(p)
            return p
        if ctype == "CK_VERSION_PTR":
            if r.random() < 0.4:
                return ffi.NULL
            return self.struct_value(
                "CK_VERSION", major=r.choice([2, 3, 0, 255]), minor=r.choice([0, 40, 1, 255])
            )
        if name == "pInterfaceName":
            text = r.choice([b"PKCS 11", b"Vendor NSS", b"", r.randbytes(8).replace(b"\0", b"x")])
            return ffi.NULL if r.random() < 0.3 else self.buf(len(text) + 1, text + b"\0")
        if name == "pLabel":
            return ffi.NULL if r.random() < 0.1 else self.buf(32, r.randbytes(32))
        if name == "pInitArgs":
            if r.random() < 0.6:
                return ffi.NULL
            a = self.struct_value("CK_C_INITIALIZE_ARGS", flags=r.choice([0, 1, 2, 3, self.ulong()]))
            if r.random() < 0.2:
                a.pReserved = self.buf(8)
            return a
        if ctype == "CK_VOID_PTR":  # pReserved, pApplication
            return ffi.NULL if r.random() < 0.7 else self.buf(8)
        raise AssertionError(f"{function}: no rule for {ctype} {name}")

    def struct_value(self, ctype: str, **fields: Any) -> Any:
        s = self.ffi.new(f"{ctype} *")
        for key, value in fields.items():
            setattr(s, key, value)
        self.keep.append(s)
        return s

    def harvest(self, function: str, args: list[Any], rv: int) -> None:
        """Live values for later calls: the sessions and objects a call made."""
        if rv != 0:
            return
        outputs = {
            "C_OpenSession": ("sessions", 4),
            "C_CreateObject": ("objects", 3),
            "C_CopyObject": ("objects", 4),
            "C_GenerateKey": ("objects", 4),
            "C_UnwrapKey": ("objects", 7),
            "C_DeriveKey": ("objects", 5),
        }
        if function in outputs:
            pool, at = outputs[function]
            if args[at] != self.ffi.NULL:
                self.pools[pool].append(int(args[at][0]))
        elif function == "C_GenerateKeyPair":
            for at in (6, 7):
                if args[at] != self.ffi.NULL:
                    self.pools["objects"].append(int(args[at][0]))
        elif function == "C_FindObjects" and args[1] != self.ffi.NULL and args[3] != self.ffi.NULL:
            self.pools["objects"] += [int(args[1][i]) for i in range(min(int(args[3][0]), 8))]


def _length_of(pointer: str, fields: list[str]) -> str | None:
    """The length field of a struct's pointer field (pIv -> ulIvLen, pSourceData -> ulSourceDataLen)."""
    stem = pointer[1:]
    for candidate in (f"ul{stem}Len", f"ul{stem}Length"):
        if candidate in fields:
            return candidate
    return None


SELDOM = frozenset(
    {"C_Initialize", "C_Finalize", "C_InitToken", "C_CloseAllSessions", "C_GetOperationState",
     "C_SetOperationState", "C_GetFunctionStatus", "C_CancelFunction", "C_WaitForSlotEvent"}
)  # fmt: skip


def weight(name: str) -> int:
    """How often a sequence calls ``name``: operations on keys often, the life cycle and the
    functions every module stubs (message-based, legacy) seldom."""
    if name in SELDOM:
        return 1
    if "Message" in name or name in ("C_CloseSession", "C_Logout", "C_InitPIN", "C_SetPIN"):
        return 2
    if name.endswith(("Init", "Update", "Final")) or name in (
        "C_Encrypt", "C_Decrypt", "C_Sign", "C_Verify", "C_Digest", "C_WrapKey", "C_UnwrapKey", "C_DeriveKey",
        "C_GenerateKey", "C_GenerateKeyPair", "C_CreateObject", "C_CopyObject", "C_GetAttributeValue",
        "C_SetAttributeValue", "C_FindObjects",
    ):  # fmt: skip
        return 6
    return 3


def child(module: str, first: int, count: int, calls: int) -> None:
    from support.pkcs11 import Module

    m = Module(module)
    sizes = struct_sizes(m.ffi)
    names = [
        name
        for name, _, _ in FUNCTIONS_32
        if (m.fl32 is not None if name in V3_2_ONLY else name in m._in_list or m.has_symbol(name))
    ]
    weights = [weight(name) for name in names]
    prepare(m)
    for seed in range(first, first + count):
        rng = random.Random(seed)
        print(f"S {seed}", flush=True)
        m.rv("C_Initialize", m.ffi.NULL)
        pools = live_pools(m)
        seq = Sequence(m, rng, pools, sizes)
        for i in range(calls):
            function = rng.choices(names, weights)[0]
            args = seq.arguments(function)
            print(f"C {i} {function}", flush=True)
            rv = m.rv(function, *args)
            print(f"R {i} {function} {rv_name(rv)}", flush=True)
            seq.harvest(function, args, rv)
            recover(m, seq, function, rv)
            if len(seq.keep) > 5000:
                seq.keep = seq.keep[-500:]
        m.rv("C_Finalize", m.ffi.NULL)
        print(f"D {seed}", flush=True)


def recover(m: Any, seq: Sequence, function: str, rv: int) -> None:
    """Keep the sequence able to reach deep: after a call that ended the library, every session
    or the login, start them again (untraced bookkeeping, not fuzzing)."""
    if rv != 0:
        return
    if function == "C_Finalize":
        m.rv("C_Initialize", m.ffi.NULL)
        seq.pools.update(live_pools(m))
    elif function in ("C_CloseAllSessions", "C_CloseSession") or (
        function == "C_Initialize" and not seq.pools["sessions"]
    ):
        seq.pools.update(live_pools(m))
    elif function == "C_Logout":
        for h in seq.pools["sessions"]:
            m.rv("C_Login", h, 1, USER_PIN, len(USER_PIN))


def prepare(m: Any) -> None:
    """A token with both PINs in slot 0 (the fuzzer's own token directory), made once per child."""
    m.rv("C_Initialize", m.ffi.NULL)
    flags = m.token_flags(0)
    if not flags & 0x400:
        m.init_token("fuzz", SO_PIN, 0)
        m.init_pin(0, USER_PIN, SO_PIN)
        keys(m)
    m.rv("C_Finalize", m.ffi.NULL)


def keys(m: Any) -> None:
    """Token keys of every kind the fuzzed calls can use, made once per token directory."""
    from support.constants import Attribute as A
    from support.keys import EC_OIDS
    from support.templates import Template

    ffi = m.ffi
    h = m.open(0)
    m.login(h, 1, USER_PIN)
    usable = {A.TOKEN: True, A.PRIVATE: True, A.ENCRYPT: True, A.DECRYPT: True, A.SIGN: True, A.VERIFY: True,
              A.WRAP: True, A.UNWRAP: True, A.DERIVE: True, A.EXTRACTABLE: True}  # fmt: skip
    out = ffi.new("CK_OBJECT_HANDLE *")
    for key_type, size in ((0x1F, 32), (0x10, 32)):  # AES, generic secret
        t = Template(
            {A.CLASS: 4, A.KEY_TYPE: key_type, A.VALUE: os.urandom(size), A.LABEL: b"fuzz", **usable}
        )
        m.check("C_CreateObject", h, t.ptr, t.count, out)
    data = Template({A.CLASS: 0, A.TOKEN: True, A.LABEL: b"fuzz", A.VALUE: b"data"})
    m.check("C_CreateObject", h, data.ptr, data.count, out)
    hp, hq = ffi.new("CK_OBJECT_HANDLE *"), ffi.new("CK_OBJECT_HANDLE *")
    for mechanism, public in ((0x1040, {A.EC_PARAMS: EC_OIDS["P-256"]}), (0x0, {A.MODULUS_BITS: 1024})):
        mech = ffi.new(
            "CK_MECHANISM *", {"mechanism": mechanism, "pParameter": ffi.NULL, "ulParameterLen": 0}
        )
        pub = Template(
            {A.TOKEN: True, A.VERIFY: True, A.ENCRYPT: True, A.WRAP: True, A.DERIVE: True, **public}
        )
        priv = Template({A.TOKEN: True, A.PRIVATE: True, A.SIGN: True, A.DECRYPT: True, A.UNWRAP: True,
                         A.DERIVE: True})  # fmt: skip
        m.rv("C_GenerateKeyPair", h, mech, pub.ptr, pub.count, priv.ptr, priv.count, hp, hq)
    m.rv("C_CloseSession", h)


def live_pools(m: Any) -> dict[str, list[int]]:
    pools: dict[str, list[int]] = {"sessions": [], "objects": [], "slots": [], "mechanisms": []}
    try:
        pools["slots"] = m.slot_list()
        mechs = m.ffi.new("CK_MECHANISM_TYPE[]", 256)
        count = m.ffi.new("CK_ULONG *", 256)
        if m.rv("C_GetMechanismList", 0, mechs, count) == 0:
            pools["mechanisms"] = [int(mechs[i]) for i in range(int(count[0]))]
        h = m.open(0)
        pools["sessions"].append(h)
        if m.rv("C_Login", h, 1, USER_PIN, len(USER_PIN)) == 0:
            from support.objects import find

            pools["objects"] = find(m, h, {})[:32]
    except Exception:  # a module that fails here is fuzzed from nothing
        pass
    return pools


# ----------------------------------------------------------------------------------- the parent


@dataclass
class Tally:
    sequences: int = 0
    calls: int = 0
    crashes: list[str] = field(default_factory=list)  # "seed N: <last call> (signal)"
    hangs: list[str] = field(default_factory=list)
    undocumented: Counter[str] = field(default_factory=Counter)  # "C_X -> CKR_Y"
    internal: Counter[str] = field(default_factory=Counter)  # CKR_GENERAL_ERROR: a bug was hit
    codes: Counter[str] = field(default_factory=Counter)

    def summary(self) -> dict[str, Any]:
        return {
            "sequences": self.sequences,
            "calls": self.calls,
            "crashes": self.crashes,
            "hangs": self.hangs,
            "undocumented": dict(self.undocumented),
            "internal_errors": dict(self.internal),
            "functions_called": len({k.split(" ")[0] for k in self.codes}),
        }


def run_batch(
    module: str, env: dict[str, str], first: int, count: int, calls: int, timeout: float, tally: Tally
) -> int:
    """Run seeds first..first+count-1 in one child; return the next seed to run (after a crash or
    hang, the one after the seed it hit)."""
    argv = [sys.executable, __file__, "child", module, str(first), str(count), str(calls)]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=timeout)
        hung = False
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        out, err = proc.communicate()
        hung = True
    seed, last = None, "(before the first call)"
    for line in out.splitlines():
        tag, *rest = line.split(" ")
        if tag == "S":
            seed, last = int(rest[0]), "(before the first call)"
        elif tag == "C":
            last = f"call {rest[0]} {rest[1]}"
        elif tag == "R" and len(rest) == 3:
            _, function, code = rest
            tally.calls += 1
            tally.codes[f"{function} {code}"] += 1
            if code == "GENERAL_ERROR":
                tally.internal[function] += 1
            elif code not in documented(function):
                tally.undocumented[f"{function} -> CKR_{code}"] += 1
        elif tag == "D":
            tally.sequences += 1
            seed = None
    if hung:
        tally.hangs.append(f"seed {seed}: {last}")
    elif proc.returncode != 0:
        why = f"signal {-proc.returncode}" if proc.returncode < 0 else f"status {proc.returncode}"
        tally.crashes.append(f"seed {seed} (batch from {first}): {last} ({why}) {err[-1500:]}")
    if seed is not None:
        return seed + 1
    return first + count


def run(module: str, seeds: range, calls: int, batch: int = 20, jobs: int = 2, timeout: float = 120) -> Tally:
    """Every seed of ``seeds``, ``batch`` sequences per child, ``jobs`` children at a time."""
    from concurrent.futures import ThreadPoolExecutor

    tally = Tally()
    with tempfile.TemporaryDirectory(prefix="abi-fuzz-") as tmp:

        def worker(start: int, stop: int, job: int) -> None:
            directory = Path(tmp) / f"job{job}"
            settings = {"token_dir": "tokens", "kdf_cost": 10, "pin_lockout": 1000000,
                        "log_file": str(directory / "softhsm-py.log")}  # fmt: skip
            env = {k: v for k, v in os.environ.items() if not k.startswith(("SOFTHSM_PY_CONF", "SOFTHSM2"))}
            env["PYTHONFAULTHANDLER"] = "1"  # a crash shows where it happened
            env["SOFTHSM_PY_CONF"] = str(softhsm_py_config(directory, settings))
            conf = directory / "softhsm2.conf"
            conf.write_text(
                f"directories.tokendir = {directory}/tokens\nobjectstore.backend = file\nlog.level = ERROR\n"
            )
            env["SOFTHSM2_CONF"] = str(conf)
            seed = start
            while seed < stop:
                seed = run_batch(module, env, seed, min(batch, stop - seed), calls, timeout, tally)

        chunks = _split(seeds, jobs)
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            for future in [pool.submit(worker, c.start, c.stop, i) for i, c in enumerate(chunks)]:
                future.result()
        for log in Path(tmp).glob("job*/softhsm-py.log"):
            text = log.read_text(errors="replace")
            if "Traceback" in text:
                tally.internal["traceback in the module's log"] += text.count("Traceback")
    return tally


def _split(seeds: range, jobs: int) -> list[range]:
    size = -(-len(seeds) // jobs)
    return [range(s, min(s + size, seeds.stop)) for s in range(seeds.start, seeds.stop, size)]


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "child":
        module, first, count, calls = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
        child(module, first, count, calls)
        return
    p = argparse.ArgumentParser(description="seeded random PKCS#11 call sequences with hostile arguments")
    p.add_argument("mode", choices=["run"])
    p.add_argument("--seeds", default="0:200", help="FIRST:STOP (default 0:200)")
    p.add_argument("--calls", type=int, default=60, help="calls per sequence")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--module", default=None)
    args = p.parse_args()
    first, stop = (int(x) for x in args.seeds.split(":"))
    started = time.monotonic()
    tally = run(args.module or default_module_path(), range(first, stop), args.calls, jobs=args.jobs)
    print(json.dumps({**tally.summary(), "seconds": round(time.monotonic() - started, 1)}, indent=2))
    sys.exit(1 if tally.crashes or tally.hangs or tally.undocumented or tally.internal else 0)


if __name__ == "__main__":
    main()
