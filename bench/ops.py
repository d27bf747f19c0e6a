"""The timed operations: each builds, for one side and one thread, a zero-argument ``call`` that
performs the operation once through the function list (buffers and templates made beforehand, every
CK_RV checked) and an optional ``cleanup`` run after the timed window (outside the timing)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from .loader import (
    CKA_CLASS,
    CKA_KEY_TYPE,
    CKA_LABEL,
    CKA_PRIVATE,
    CKA_TOKEN,
    CKA_VALUE,
    CKM_AES_KEY_GEN,
    CKM_ECDSA,
    CKM_EDDSA,
    CKM_SHA256,
    CKM_SHA256_HMAC,
    CKM_SHA256_RSA_PKCS,
    CKO_DATA,
    Mechanism,
    Template,
    cbc_pad_mechanism,
    check,
    ffi,
    gcm_mechanism,
    pss_mechanism,
)
from .report import PY
from .tokens import KEY_PAIRS, KEYS_TOKEN, LARGE_TOKEN, SECRET_KEYS, Side, data_label, pair_templates

KiB, MiB = 1024, 1024 * 1024


@dataclass
class Prepared:
    call: Callable[[], None]
    cleanup: Callable[[], None] | None = None


@dataclass
class Op:
    name: str
    make: Callable[[Side, int], Prepared]
    threads: tuple[int, ...] = (1, 2)
    tags: frozenset[str] = field(default_factory=frozenset)  # "rsa", "tiny" (reported in floors)
    calls: int = 1  # PKCS#11 calls per operation (the tiny calls are reported per call)
    only: str | None = None  # the one side it runs on (the floor: softhsm-py's own symbol)


def _payload(size: int) -> object:
    return ffi.new("CK_BYTE[]", bytes(range(256)) * (size // 256) + bytes(size % 256))


def _session(side: Side, i: int, token: str = KEYS_TOKEN) -> int:
    return side.sessions[token][i]


# ------------------------------------------------------------------------------- general, random
def get_info(side: Side, i: int) -> Prepared:
    fn, info = side.fl.C_GetInfo, ffi.new("CK_INFO *")

    def call() -> None:
        rv = fn(info)
        if rv:
            check("C_GetInfo", rv)

    return Prepared(call)


def random32(side: Side, i: int) -> Prepared:
    fn, h, buf = side.fl.C_GenerateRandom, _session(side, i), ffi.new("CK_BYTE[]", 32)

    def call() -> None:
        rv = fn(h, buf, 32)
        if rv:
            check("C_GenerateRandom", rv)

    return Prepared(call)


def floor(side: Side, i: int) -> Prepared:
    """softhsm-py's empty embedded call (``softhsm_py_floor``), called as the C_* functions are."""
    fn = side.module.floor()
    if fn is None:
        raise LookupError(f"{side.name} has no {FLOOR_SYMBOL}")

    def call() -> None:
        rv = fn()
        if rv:
            check(FLOOR_SYMBOL, rv)

    return Prepared(call)


# ------------------------------------------------------------------------------- one-shot operations
def _one_shot(
    init_name: str, run_name: str, mech: Mechanism, key_name: str | None, size: int, out_size: int
) -> Callable[[Side, int], Prepared]:
    """C_xInit then C_x (single part) over ``size`` bytes into a buffer of ``out_size``."""

    def make(side: Side, i: int) -> Prepared:
        init, run, h = getattr(side.fl, init_name), getattr(side.fl, run_name), _session(side, i)
        data, out, out_len = _payload(size), ffi.new("CK_BYTE[]", out_size), ffi.new("CK_ULONG *")
        mp = mech.ptr
        if key_name is None:  # C_DigestInit(h, mech)

            def call() -> None:
                rv = init(h, mp)
                if rv:
                    check(init_name, rv)
                out_len[0] = out_size
                rv = run(h, data, size, out, out_len)
                if rv:
                    check(run_name, rv)

            return Prepared(call)
        key = side.keys[key_name]

        def call_keyed() -> None:
            rv = init(h, mp, key)
            if rv:
                check(init_name, rv)
            out_len[0] = out_size
            rv = run(h, data, size, out, out_len)
            if rv:
                check(run_name, rv)

        return Prepared(call_keyed)

    return make


def digest(size: int) -> Callable[[Side, int], Prepared]:
    return _one_shot("C_DigestInit", "C_Digest", Mechanism(CKM_SHA256), None, size, 32)


def sign(mech: Mechanism, key: str, size: int, out_size: int) -> Callable[[Side, int], Prepared]:
    return _one_shot("C_SignInit", "C_Sign", mech, key, size, out_size)


def encrypt(mech: Mechanism, size: int, out_size: int) -> Callable[[Side, int], Prepared]:
    return _one_shot("C_EncryptInit", "C_Encrypt", mech, "aes", size, out_size)


def verify(mech: Mechanism, key: str, size: int, sig_size: int) -> Callable[[Side, int], Prepared]:
    def make(side: Side, i: int) -> Prepared:
        h = _session(side, i)
        data, sig, sig_len = _payload(size), ffi.new("CK_BYTE[]", sig_size), ffi.new("CK_ULONG *", sig_size)
        check("C_SignInit", side.fl.C_SignInit(h, mech.ptr, side.keys[key + "-priv"]))
        check("C_Sign", side.fl.C_Sign(h, data, size, sig, sig_len))
        n = int(sig_len[0])
        init, run, pub, mp = side.fl.C_VerifyInit, side.fl.C_Verify, side.keys[key + "-pub"], mech.ptr

        def call() -> None:
            rv = init(h, mp, pub)
            if rv:
                check("C_VerifyInit", rv)
            rv = run(h, data, size, sig, n)
            if rv:
                check("C_Verify", rv)

        return Prepared(call)

    return make


# ------------------------------------------------------------------------------- key generation
def generate_secret(side: Side, i: int) -> Prepared:
    fn, h, mech = side.fl.C_GenerateKey, _session(side, i), Mechanism(CKM_AES_KEY_GEN)
    _, values = SECRET_KEYS["aes"]
    t = Template({CKA_TOKEN: False, **values})
    key, made = ffi.new("CK_OBJECT_HANDLE *"), []

    def call() -> None:
        rv = fn(h, mech.ptr, t.array, t.count, key)
        if rv:
            check("C_GenerateKey", rv)
        made.append(key[0])

    return Prepared(call, lambda: _destroy(side, h, made))


def generate_pair(name: str) -> Callable[[Side, int], Prepared]:
    mech_type, public = KEY_PAIRS[name]

    def make(side: Side, i: int) -> Prepared:
        fn, h, mech = side.fl.C_GenerateKeyPair, _session(side, i), Mechanism(mech_type)
        pub, priv = pair_templates(public, f"tmp-{name}", token=False)
        hpub, hpriv, made = ffi.new("CK_OBJECT_HANDLE *"), ffi.new("CK_OBJECT_HANDLE *"), []

        def call() -> None:
            rv = fn(h, mech.ptr, pub.array, pub.count, priv.array, priv.count, hpub, hpriv)
            if rv:
                check("C_GenerateKeyPair", rv)
            made.extend((hpub[0], hpriv[0]))

        return Prepared(call, lambda: _destroy(side, h, made))

    return make


def _destroy(side: Side, h: int, handles: list[int]) -> None:
    for obj in handles:
        check("C_DestroyObject", side.fl.C_DestroyObject(h, obj))
    handles.clear()


# ------------------------------------------------------------------------------- objects, sessions
def get_attributes(side: Side, i: int) -> Prepared:
    """CKA_KEY_TYPE and CKA_LABEL of the RSA private key (a private, sensitive token object)."""
    fn, h, obj = side.fl.C_GetAttributeValue, _session(side, i), side.keys["rsa-priv"]
    t = Template({CKA_KEY_TYPE: 0, CKA_LABEL: b" " * 3})  # "rsa": the buffers fit exactly

    def call() -> None:
        rv = fn(h, obj, t.array, 2)
        if rv:
            check("C_GetAttributeValue", rv)

    return Prepared(call)


def get_public_attribute(side: Side, i: int) -> Prepared:
    """CKA_LABEL of the RSA public key: one public attribute of a public object."""
    fn, h, obj = side.fl.C_GetAttributeValue, _session(side, i), side.keys["rsa-pub"]
    t = Template({CKA_LABEL: b" " * 3})  # "rsa"

    def call() -> None:
        rv = fn(h, obj, t.array, 1)
        if rv:
            check("C_GetAttributeValue", rv)

    return Prepared(call)


def find_by_label(token: str, count: int) -> Callable[[Side, int], Prepared]:
    def make(side: Side, i: int) -> Prepared:
        h = _session(side, i, token)
        t = Template({CKA_CLASS: CKO_DATA, CKA_LABEL: data_label(count // 2)})
        init, run, final = side.fl.C_FindObjectsInit, side.fl.C_FindObjects, side.fl.C_FindObjectsFinal
        out, found = ffi.new("CK_OBJECT_HANDLE[]", 4), ffi.new("CK_ULONG *")
        check("C_FindObjectsInit", init(h, t.array, t.count))
        check("C_FindObjects", run(h, out, 4, found))
        check("C_FindObjectsFinal", final(h))
        if found[0] != 1:
            raise LookupError(f"{side.name}: {found[0]} objects labelled {data_label(count // 2)}")

        def call() -> None:
            rv = init(h, t.array, t.count) or run(h, out, 4, found) or final(h)
            if rv:
                check("C_FindObjects*", rv)

        return Prepared(call)

    return make


def open_close(side: Side, i: int) -> Prepared:
    opener, closer = side.fl.C_OpenSession, side.fl.C_CloseSession
    slot, flags, h = side.slots[KEYS_TOKEN], side.open_flags(), ffi.new("CK_SESSION_HANDLE *")
    null = ffi.NULL

    def call() -> None:
        rv = opener(slot, flags, null, null, h)
        if rv:
            check("C_OpenSession", rv)
        rv = closer(h[0])
        if rv:
            check("C_CloseSession", rv)

    return Prepared(call)


def initialize_finalize(side: Side, i: int) -> Prepared:
    """Finalises the side first (closing its sessions); the cleanup initialises it again. Both
    calls as the side makes them (CKF_OS_LOCKING_OK)."""
    side.finalize()
    init, fin, args, null = side.fl.C_Initialize, side.fl.C_Finalize, side.init_args, ffi.NULL

    def call() -> None:
        rv = init(args)
        if rv:
            check("C_Initialize", rv)
        rv = fin(null)
        if rv:
            check("C_Finalize", rv)

    return Prepared(call, side.reinitialize)


# ------------------------------------------------------------------------------- the catalogue
OVERHEAD = "C_GetInfo (driver overhead)"
FLOOR = "floor: empty embedded call"
FLOOR_SYMBOL = "softhsm_py_floor"
TINY = frozenset({"tiny"})


def catalogue(small: int, large: int) -> list[Op]:
    """Every operation, in the order they run and are reported."""
    gcm, cbc = gcm_mechanism(bytes(12)), cbc_pad_mechanism(bytes(16))
    rsa_pkcs, pss = Mechanism(CKM_SHA256_RSA_PKCS), pss_mechanism()
    ecdsa, eddsa, hmac = Mechanism(CKM_ECDSA), Mechanism(CKM_EDDSA), Mechanism(CKM_SHA256_HMAC)
    return [
        Op(FLOOR, floor, threads=(1,), only=PY),
        Op(OVERHEAD, get_info, tags=TINY),
        Op("C_GenerateRandom 32 B", random32, tags=TINY),
        Op("SHA-256 digest 64 B", digest(64), tags=TINY, calls=2),
        Op("SHA-256 digest 1 MiB", digest(MiB)),
        Op("HMAC-SHA256 sign 64 B", sign(hmac, "hmac", 64, 32)),
        Op("AES-256-GCM encrypt 1 KiB", encrypt(gcm, KiB, KiB + 16)),
        Op("AES-256-GCM encrypt 1 MiB", encrypt(gcm, MiB, MiB + 16)),
        Op("AES-256-CBC-PAD encrypt 1 KiB", encrypt(cbc, KiB, KiB + 16)),
        Op("RSA-2048 sign PKCS#1 v1.5 SHA-256", sign(rsa_pkcs, "rsa-priv", 64, 256), tags=frozenset({"rsa"})),
        Op("RSA-2048 sign PSS SHA-256", sign(pss, "rsa-priv", 64, 256), tags=frozenset({"rsa"})),
        Op("RSA-2048 verify PKCS#1 v1.5 SHA-256", verify(rsa_pkcs, "rsa", 64, 256)),
        Op("ECDSA P-256 sign (32 B hash)", sign(ecdsa, "ec-priv", 32, 64)),
        Op("ECDSA P-256 verify (32 B hash)", verify(ecdsa, "ec", 32, 64)),
        Op("Ed25519 sign 64 B", sign(eddsa, "ed25519-priv", 64, 64)),
        Op("C_GenerateKey AES-256", generate_secret),
        Op("C_GenerateKeyPair EC P-256", generate_pair("ec")),
        Op("C_GenerateKeyPair RSA-2048", generate_pair("rsa")),
        Op("C_GetAttributeValue 2 attributes", get_attributes),
        Op("C_GetAttributeValue public attribute", get_public_attribute, tags=TINY),
        Op(f"C_FindObjects by label among {small:,}", find_by_label(KEYS_TOKEN, small)),
        Op(f"C_FindObjects by label among {large:,}", find_by_label(LARGE_TOKEN, large)),
        Op("C_OpenSession + C_CloseSession", open_close, tags=TINY, calls=2),
        Op("C_Initialize + C_Finalize", initialize_finalize, threads=(1,)),
    ]


def create_destroy(side: Side, i: int) -> Prepared:
    """A private token data object created and destroyed: two store transactions."""
    create, destroy, h = side.fl.C_CreateObject, side.fl.C_DestroyObject, _session(side, i)
    t = Template(
        {CKA_CLASS: CKO_DATA, CKA_TOKEN: True, CKA_PRIVATE: True, CKA_LABEL: f"tmp-{i}", CKA_VALUE: b"v" * 32}
    )
    obj = ffi.new("CK_OBJECT_HANDLE *")

    def call() -> None:
        rv = create(h, t.array, t.count, obj) or destroy(h, obj[0])
        if rv:
            check("C_CreateObject/C_DestroyObject", rv)

    return Prepared(call)


def store_catalogue(small: int) -> list[Op]:
    """The operations whose cost the token store decides: the rows of the backend comparison."""
    return [
        Op("token object C_CreateObject + C_DestroyObject", create_destroy),
        Op(f"C_FindObjects by label among {small:,}", find_by_label(KEYS_TOKEN, small)),
        Op("C_GetAttributeValue 2 attributes", get_attributes),
        Op("ECDSA P-256 sign (32 B hash)", sign(Mechanism(CKM_ECDSA), "ec-priv", 32, 64)),
        Op("C_OpenSession + C_CloseSession", open_close),
    ]


def select(ops: list[Op], pattern: str | None, keep_overhead: bool = True) -> list[Op]:
    """The ops whose name matches ``pattern`` (a case-insensitive regex); the overhead probe and
    the floor are kept unless told otherwise, since every table reports them."""
    if not pattern:
        return ops
    rx = re.compile(pattern, re.IGNORECASE)
    return [op for op in ops if (keep_overhead and op.name in (OVERHEAD, FLOOR)) or rx.search(op.name)]
