"""One module under test (a "side"): its configuration, tokens, keys and per-thread sessions.

Both sides get the same thing: a token "bench" holding the keys and ``small`` data objects, and a
token "bench-large" holding ``large`` data objects, all created once per run before any timing.
Keys are token objects, so they survive the C_Initialize/C_Finalize benchmark; handles are found
again by label after every re-initialisation (``attach``).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from .loader import (
    CKA_CLASS,
    CKA_DECRYPT,
    CKA_EC_PARAMS,
    CKA_ENCRYPT,
    CKA_EXTRACTABLE,
    CKA_KEY_TYPE,
    CKA_LABEL,
    CKA_MODULUS_BITS,
    CKA_PRIVATE,
    CKA_PUBLIC_EXPONENT,
    CKA_SENSITIVE,
    CKA_SIGN,
    CKA_TOKEN,
    CKA_VALUE,
    CKA_VALUE_LEN,
    CKA_VERIFY,
    CKF_OS_LOCKING_OK,
    CKF_RW_SESSION,
    CKF_SERIAL_SESSION,
    CKK_AES,
    CKK_GENERIC_SECRET,
    CKM_AES_KEY_GEN,
    CKM_EC_EDWARDS_KEY_PAIR_GEN,
    CKM_EC_KEY_PAIR_GEN,
    CKM_GENERIC_SECRET_KEY_GEN,
    CKM_RSA_PKCS_KEY_PAIR_GEN,
    CKO_DATA,
    CKO_PRIVATE_KEY,
    CKO_PUBLIC_KEY,
    CKO_SECRET_KEY,
    ED25519_OID,
    P256_OID,
    USER_PIN,
    Mechanism,
    Module,
    Template,
    check,
    ffi,
    is_softhsm2,
    write_config,
)

THREADS = 2
KEYS_TOKEN, LARGE_TOKEN = "bench", "bench-large"

SECRET_KEYS = {  # name: (mechanism, template)
    "aes": (
        CKM_AES_KEY_GEN,
        {
            CKA_CLASS: CKO_SECRET_KEY,
            CKA_KEY_TYPE: CKK_AES,
            CKA_VALUE_LEN: 32,
            CKA_ENCRYPT: True,
            CKA_DECRYPT: True,
        },
    ),
    "hmac": (
        CKM_GENERIC_SECRET_KEY_GEN,
        {
            CKA_CLASS: CKO_SECRET_KEY,
            CKA_KEY_TYPE: CKK_GENERIC_SECRET,
            CKA_VALUE_LEN: 32,
            CKA_SIGN: True,
            CKA_VERIFY: True,
        },
    ),
}
KEY_PAIRS = {  # name: (mechanism, what the public template adds to pair_templates())
    "rsa": (CKM_RSA_PKCS_KEY_PAIR_GEN, {CKA_MODULUS_BITS: 2048, CKA_PUBLIC_EXPONENT: b"\x01\x00\x01"}),
    "ec": (CKM_EC_KEY_PAIR_GEN, {CKA_EC_PARAMS: P256_OID}),
    "ed25519": (CKM_EC_EDWARDS_KEY_PAIR_GEN, {CKA_EC_PARAMS: ED25519_OID}),
}


def pair_templates(public: dict[int, Any], label: str, token: bool) -> tuple[Template, Template]:
    """CKA_CLASS is given although C_GenerateKeyPair implies it, as pkcs11-tool gives it (the
    committed softhsm-py 0.1.0 answered CKR_TEMPLATE_INCOMPLETE without it)."""
    pub = {CKA_CLASS: CKO_PUBLIC_KEY, CKA_TOKEN: token, CKA_VERIFY: True, CKA_LABEL: label, **public}
    priv = {
        CKA_CLASS: CKO_PRIVATE_KEY,
        CKA_TOKEN: token,
        CKA_PRIVATE: True,
        CKA_SENSITIVE: True,
        CKA_EXTRACTABLE: False,
        CKA_SIGN: True,
        CKA_LABEL: label,
    }
    return Template(pub), Template(priv)


def find(fl: Any, h: int, values: dict[int, Any], max_count: int = 256) -> list[int]:
    """Every object matching ``values`` (C_FindObjectsInit / C_FindObjects / C_FindObjectsFinal)."""
    t = Template(values)
    out = ffi.new("CK_OBJECT_HANDLE[]", max_count)
    count = ffi.new("CK_ULONG *")
    check("C_FindObjectsInit", fl.C_FindObjectsInit(h, t.array, len(t)))
    found: list[int] = []
    try:
        while True:
            check("C_FindObjects", fl.C_FindObjects(h, out, max_count, count))
            if not count[0]:
                return found
            found.extend(int(out[i]) for i in range(count[0]))
    finally:
        check("C_FindObjectsFinal", fl.C_FindObjectsFinal(h))


def data_label(i: int) -> str:
    return f"obj-{i:05d}"


class Side:
    """A loaded module with its own token directory (named in os.environ before C_Initialize)."""

    def __init__(
        self, path: str, workdir: Path, *, name: str | None = None, store: str | None = None
    ) -> None:
        self.path = path
        self.softhsm2 = is_softhsm2(path)
        self.name = name or ("SoftHSMv2" if self.softhsm2 else "softhsm-py")
        self.dir = workdir / (name or ("softhsm2" if self.softhsm2 else "softhsm-py")).replace(" ", "-")
        extra = {} if self.softhsm2 else {"log_file": str(self.dir / "softhsm-py.log")}
        if store is not None:
            extra["store"] = store  # a softhsm-py store backend other than SQLite
        self.env: dict[str, str] = write_config(self.dir, path, **extra)
        os.environ.update(self.env)
        self.module = Module(path)
        self.fl = self.module.fl
        self.slots: dict[str, int] = {}
        self.sessions: dict[str, list[int]] = {}
        self.keys: dict[str, int] = {}
        self.setup_seconds: dict[str, float] = {}
        self.initialized = False
        # Threads call in: say so (with NULL, SoftHSMv2 runs without locks and breaks under threads).
        self.init_args = ffi.new("CK_C_INITIALIZE_ARGS *", {"flags": CKF_OS_LOCKING_OK})

    # -- life cycle ------------------------------------------------------------------------------
    def initialize(self) -> None:
        os.environ.update(self.env)
        self.module.initialize(self.init_args)
        self.initialized = True

    def finalize(self) -> None:
        if self.initialized:
            self.initialized = False
            check("C_Finalize", self.module.finalize())

    def setup(self, small: int, large: int) -> None:
        """Create the tokens, keys and data objects (timed, reported, never part of a round)."""
        t0 = time.perf_counter()
        self.initialize()
        self.setup_seconds["initialize"] = time.perf_counter() - t0
        for label in (KEYS_TOKEN, LARGE_TOKEN):
            t0 = time.perf_counter()
            self.slots[label] = self.module.ready_token(label)
            self.setup_seconds[f"init token {label}"] = time.perf_counter() - t0
        self.attach(find_keys=False)
        h = self.sessions[KEYS_TOKEN][0]
        t0 = time.perf_counter()
        for name, (mech, values) in SECRET_KEYS.items():
            self.generate_key(h, mech, Template({CKA_TOKEN: True, CKA_LABEL: name, **values}))
        for name, (mech, public) in KEY_PAIRS.items():
            self.generate_key_pair(h, mech, *pair_templates(public, name, token=True))
        self.setup_seconds["generate keys"] = time.perf_counter() - t0
        for label, count in ((KEYS_TOKEN, small), (LARGE_TOKEN, large)):
            t0 = time.perf_counter()
            self.create_data_objects(self.sessions[label][0], count)
            self.setup_seconds[f"create {count} objects"] = time.perf_counter() - t0
        self.find_keys()

    def attach(self, find_keys: bool = True) -> None:
        """Open THREADS sessions on each token and log the user in (once per token)."""
        slots = self.slots or {label: self.module.slot_of(label) for label in (KEYS_TOKEN, LARGE_TOKEN)}
        self.slots = slots
        for label, slot in slots.items():
            self.sessions[label] = [self.module.open(slot) for _ in range(THREADS)]
            self.module.login(self.sessions[label][0], pin=USER_PIN)
        if find_keys:
            self.find_keys()

    def find_keys(self) -> None:
        h = self.sessions[KEYS_TOKEN][0]
        for name in SECRET_KEYS:
            self.keys[name] = self.find_one(h, {CKA_CLASS: CKO_SECRET_KEY, CKA_LABEL: name})
        for name in KEY_PAIRS:
            self.keys[f"{name}-pub"] = self.find_one(h, {CKA_CLASS: CKO_PUBLIC_KEY, CKA_LABEL: name})
            self.keys[f"{name}-priv"] = self.find_one(h, {CKA_CLASS: CKO_PRIVATE_KEY, CKA_LABEL: name})

    def reinitialize(self) -> None:
        """After C_Finalize: initialise again, find the slots (SoftHSMv2 renumbers them from the
        token serials), reopen the sessions, log in, find the keys again."""
        self.initialize()
        self.slots = {}
        self.attach()

    def close(self) -> None:
        self.finalize()

    # -- object helpers --------------------------------------------------------------------------
    def generate_key(self, h: int, mech: int, template: Template) -> int:
        key = ffi.new("CK_OBJECT_HANDLE *")
        check(
            "C_GenerateKey", self.fl.C_GenerateKey(h, Mechanism(mech).ptr, template.array, len(template), key)
        )
        return int(key[0])

    def generate_key_pair(self, h: int, mech: int, pub: Template, priv: Template) -> tuple[int, int]:
        hpub, hpriv = ffi.new("CK_OBJECT_HANDLE *"), ffi.new("CK_OBJECT_HANDLE *")
        rv = self.fl.C_GenerateKeyPair(
            h, Mechanism(mech).ptr, pub.array, len(pub), priv.array, len(priv), hpub, hpriv
        )
        check("C_GenerateKeyPair", rv)
        return int(hpub[0]), int(hpriv[0])

    def create_data_objects(self, h: int, count: int) -> None:
        handle = ffi.new("CK_OBJECT_HANDLE *")
        create = self.fl.C_CreateObject
        for i in range(count):
            t = Template(
                {
                    CKA_CLASS: CKO_DATA,
                    CKA_TOKEN: True,
                    CKA_PRIVATE: True,
                    CKA_LABEL: data_label(i),
                    CKA_VALUE: i.to_bytes(4, "big") * 8,
                }
            )
            check("C_CreateObject", create(h, t.array, len(t), handle))

    def find(self, h: int, values: dict[int, Any]) -> list[int]:
        return find(self.fl, h, values)

    def find_one(self, h: int, values: dict[int, Any]) -> int:
        found = self.find(h, values)
        if len(found) != 1:
            raise LookupError(f"{self.name}: {len(found)} objects match {values}")
        return found[0]

    def open_flags(self) -> int:
        return CKF_SERIAL_SESSION | CKF_RW_SESSION
