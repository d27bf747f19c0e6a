"""Seeing into the module through its C ABI (softhsm-py only): the call trace (``trace_file``,
``$SOFTHSM_PY_TRACE``), fault injection (``[[fault]]`` rules) and the audit log (``audit_file``).
Each test writes its own configuration and initialises the module with it; C_Finalize takes the
trace and the rules away again (the next test's C_Initialize reads its own)."""

from __future__ import annotations

import json
import random
import re
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from support.constants import Attribute, KeyType, Mechanism, ObjectClass, UserType, rv_name
from support.mechanisms import Mech, hkdf
from support.pkcs11 import SO_PIN, USER_PIN, Module, ffi, write_config
from support.token import Token

A = Attribute
NULL = ffi.NULL
SECRET = bytes(range(0xA0, 0xC0))  # a key value that must never show in a trace or an audit record
P256 = bytes.fromhex("06082a8648ce3d030107")


@pytest.fixture
def start(bare: Module, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Module]:
    """start(extra TOML, **settings): write the config (with ``extra`` appended) and C_Initialize."""
    if bare.softhsm2:
        pytest.skip("softhsm-py's tracing, fault injection and audit log")
    monkeypatch.delenv("SOFTHSM_PY_TRACE", raising=False)

    def go(extra: str = "", **settings: Any) -> Module:
        env = write_config(tmp_path, bare.path, log_file=str(tmp_path / "softhsm-py.log"), **settings)
        conf = Path(env["SOFTHSM_PY_CONF"])
        conf.write_text(conf.read_text() + extra)
        bare.initialize()
        return bare

    return go


def trace_lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def calls(path: Path, function: str) -> list[str]:
    return [line for line in trace_lines(path) if f" {function}(" in line]


LINE = re.compile(r"^\S+Z pid=\d+ tid=\d+ (C_\w+)\((.*)\) = (CKR_\w+) \d+\.\dus$")


# ------------------------------------------------------------------------------- tracing


def test_trace_names_calls_and_hides_secrets(start: Callable[..., Module], tmp_path: Path) -> None:
    trace = tmp_path / "trace.log"
    m = start(trace_file=str(trace))
    t = Token(m)  # C_InitToken, C_InitPIN, C_Login...
    key = t.secret(SECRET, KeyType.GENERIC_SECRET, LABEL=b"traced", ID=b"\x42")
    t.sign(Mechanism.SHA256_HMAC, key, b"data that must not show")
    pub, priv = t.generate_pair(
        Mechanism.EC_KEY_PAIR_GEN, {A.EC_PARAMS: P256, A.TOKEN: True}, {A.TOKEN: True, A.SIGN: True}
    )
    bad = ffi.new("CK_SESSION_HANDLE *")
    assert rv_name(m.rv("C_OpenSession", t.slot, 0, NULL, NULL, bad)) == "SESSION_PARALLEL_NOT_SUPPORTED"
    m.finalize()
    text = trace.read_text()
    lines = trace_lines(trace)
    assert all(LINE.match(line) for line in lines), [line for line in lines if not LINE.match(line)]
    functions = [LINE.match(line).group(1) for line in lines]  # type: ignore[union-attr]
    assert functions[0] == "C_Initialize" and functions[-1] == "C_Finalize"
    for function in ("C_InitToken", "C_InitPIN", "C_Login", "C_CreateObject", "C_SignInit", "C_Sign"):
        assert function in functions, function
    # PINs never (nor their lengths); key values and data never; public facts with their values.
    for secret in (SO_PIN, USER_PIN, SECRET, b"data that must not show"):
        assert secret.decode("latin-1") not in text and secret.hex() not in text
    assert "ulPinLen" not in text
    (create,) = calls(trace, "C_CreateObject")
    assert "CKA_CLASS=CKO_SECRET_KEY" in create and "CKA_KEY_TYPE=CKK_GENERIC_SECRET" in create
    assert 'CKA_LABEL="traced"' in create and "CKA_ID=42" in create and "CKA_SENSITIVE=false" in create
    assert "CKA_VALUE(32)" in create and f"*phObject={key}" in create
    (sign_init,) = calls(trace, "C_SignInit")
    assert f"pMechanism=CKM_SHA256_HMAC, hKey={key}" in sign_init
    sign = calls(trace, "C_Sign")
    assert "pSignature=NULL" in sign[0] and "*pulSignatureLen=32" in sign[0]  # the size query
    (pair,) = calls(trace, "C_GenerateKeyPair")
    assert "pMechanism=CKM_EC_KEY_PAIR_GEN" in pair and f"CKA_EC_PARAMS={P256.hex()}" in pair
    assert f"*phPublicKey={pub}, *phPrivateKey={priv}" in pair
    assert "flags=0x0, " in calls(trace, "C_OpenSession")[-1]
    assert "= CKR_SESSION_PARALLEL_NOT_SUPPORTED " in calls(trace, "C_OpenSession")[-1]
    login = [line for line in calls(trace, "C_Login") if "CKU_USER" in line]
    assert login and "= CKR_OK" in login[-1]
    assert stat.S_IMODE(trace.stat().st_mode) == 0o600


def test_trace_from_the_environment(start: Callable[..., Module], tmp_path: Path, monkeypatch) -> None:
    """$SOFTHSM_PY_TRACE traces whatever the configuration says, and wins over trace_file."""
    by_env, by_config = tmp_path / "env.log", tmp_path / "config.log"
    monkeypatch.setenv("SOFTHSM_PY_TRACE", str(by_env))
    m = start(trace_file=str(by_config))
    m.slot_list()
    m.finalize()
    monkeypatch.delenv("SOFTHSM_PY_TRACE")
    assert [LINE.match(x).group(1) for x in trace_lines(by_env)] == [  # type: ignore[union-attr]
        "C_Initialize", "C_GetSlotList", "C_GetSlotList", "C_Finalize",
    ]  # fmt: skip
    assert not by_config.exists()


def test_no_trace_after_finalize(start: Callable[..., Module], tmp_path: Path) -> None:
    trace = tmp_path / "trace.log"
    m = start(trace_file=str(trace))
    m.finalize()
    before = trace.read_text()
    m.rv("C_GetInfo", ffi.new("CK_INFO *"))  # not initialised: no trace either
    start()  # a configuration without trace_file
    m.slot_list()
    m.finalize()
    assert trace.read_text() == before


# ------------------------------------------------------------------------------- faults


def test_fault_returns_a_code_by_mechanism(start: Callable[..., Module]) -> None:
    m = start(
        '\n[[fault]]\nfunction = "C_SignInit"\nmechanism = "CKM_SHA256_HMAC"\nreturn = "CKR_DEVICE_ERROR"\n'
    )
    t = Token(m)
    key, _ = t.aes(32)
    assert t.rv("C_SignInit", Mech(Mechanism.SHA256_HMAC).ptr, key) == "DEVICE_ERROR"
    t.sign(Mechanism.AES_CMAC, key, b"another mechanism is not faulted")
    assert t.digest(Mechanism.SHA256, b"x")


def test_fault_nth_times_and_seeded_probability(start: Callable[..., Module]) -> None:
    m = start(
        '\n[[fault]]\nfunction = "C_GenerateRandom"\nnth = 2\nreturn = "CKR_FUNCTION_FAILED"\n'
        '\n[[fault]]\nfunction = "C_SeedRandom"\nprobability = 0.5\nseed = 7\n'
        'return = "CKR_RANDOM_SEED_NOT_SUPPORTED"\n'
        '\n[[fault]]\nfunction = "C_GetSessionInfo"\ntimes = 2\nreturn = "CKR_DEVICE_MEMORY"\n'
    )
    t = Token(m)
    buf = ffi.new("CK_BYTE[8]")
    assert [t.rv("C_GenerateRandom", buf, 8) for _ in range(3)] == ["OK", "FUNCTION_FAILED", "OK"]
    draws = random.Random(7)
    expected = ["RANDOM_SEED_NOT_SUPPORTED" if draws.random() < 0.5 else "OK" for _ in range(20)]
    assert [t.rv("C_SeedRandom", buf, 8) for _ in range(20)] == expected
    info = ffi.new("CK_SESSION_INFO *")
    assert [t.rv("C_GetSessionInfo", info) for _ in range(3)] == ["DEVICE_MEMORY", "DEVICE_MEMORY", "OK"]


def test_injected_failure_ends_the_operation(start: Callable[..., Module]) -> None:
    """As a real failure does (3.0, 5.2): a host's recovery path is tested, not a wedged session."""
    m = start('\n[[fault]]\nfunction = "C_DigestUpdate"\nnth = 1\nreturn = "CKR_DEVICE_ERROR"\n')
    t = Token(m)
    t.ok("C_DigestInit", Mech(Mechanism.SHA256).ptr)
    data = ffi.new("CK_BYTE[]", b"abc")
    assert t.rv("C_DigestUpdate", data, 3) == "DEVICE_ERROR"
    assert t.rv("C_DigestUpdate", data, 3) == "OPERATION_NOT_INITIALIZED"


def test_store_full_fault(start: Callable[..., Module], tmp_path: Path) -> None:
    """Writes fail as on a full disk, reads go on. A login fails too: its try is counted before
    the PIN is checked (README: a full disk)."""
    m = start(
        '\n[[fault]]\nfunction = "C_CreateObject"\nstore = "full"\n'
        '\n[[fault]]\nfunction = "C_Login"\nnth = 3\nstore = "full"\n'  # after the SO's and the user's
    )
    t = Token(m)
    t.ok("C_Logout")
    assert t.rv("C_Login", UserType.USER, USER_PIN, len(USER_PIN)) == "DEVICE_ERROR"
    attrs = {A.CLASS: ObjectClass.DATA, A.TOKEN: True, A.LABEL: b"not stored", A.VALUE: b"v"}
    from support.templates import Template

    template, out = Template(attrs), ffi.new("CK_OBJECT_HANDLE *")
    assert t.rv("C_CreateObject", template.ptr, template.count, out) == "DEVICE_ERROR"
    session_object = {**attrs, A.TOKEN: False}
    template = Template(session_object)
    assert t.rv("C_CreateObject", template.ptr, template.count, out) == "OK"  # no store write
    log = (tmp_path / "softhsm-py.log").read_text()
    assert "database or disk is full (injected fault)" in log


def test_fault_rules_end_with_finalize(start: Callable[..., Module]) -> None:
    m = start('\n[[fault]]\nfunction = "C_GetSlotList"\nreturn = "CKR_DEVICE_ERROR"\n')
    count = ffi.new("CK_ULONG *")
    assert rv_name(m.rv("C_GetSlotList", 0, NULL, count)) == "DEVICE_ERROR"
    m.finalize()
    start()
    assert rv_name(m.rv("C_GetSlotList", 0, NULL, count)) == "OK"


# ------------------------------------------------------------------------------- audit


def audit_records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_audit_log_of_a_session(start: Callable[..., Module], tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    m = start(audit_file=str(audit))
    t = Token(m)
    t.ok("C_Logout")
    bad = b"00000000"
    assert t.rv("C_Login", UserType.USER, bad, len(bad)) == "PIN_INCORRECT"
    t.m.login(t.h)
    key = t.secret(
        SECRET, KeyType.GENERIC_SECRET, LABEL=b"audited", TOKEN=True, SENSITIVE=True, EXTRACTABLE=False
    )
    t.sign(Mechanism.SHA256_HMAC, key, b"payload")
    t.set(key, {A.LABEL: b"renamed"})
    copy = t.create({A.CLASS: ObjectClass.DATA, A.TOKEN: True, A.VALUE: b"d", A.LABEL: b"data"})
    derived = t.derive(
        hkdf(salt=b"salt"),
        key,
        {A.CLASS: ObjectClass.SECRET_KEY, A.KEY_TYPE: KeyType.GENERIC_SECRET, A.VALUE_LEN: 32},
    )
    pub, priv = t.generate_pair(Mechanism.EC_KEY_PAIR_GEN, {A.EC_PARAMS: P256}, {A.SIGN: True})
    t.ok("C_DestroyObject", copy)
    new_pin = b"new-user-pin"
    t.ok("C_SetPIN", USER_PIN, len(USER_PIN), new_pin, len(new_pin))
    m.finalize()
    records = audit_records(audit)
    text = audit.read_text()
    for secret in (SO_PIN, USER_PIN, new_pin, bad, SECRET, b"payload"):
        assert secret.decode("latin-1") not in text and secret.hex() not in text
    assert stat.S_IMODE(audit.stat().st_mode) == 0o600
    events = [r["event"] for r in records]
    assert events[0] == "token_init" and records[0]["label"] == "test"
    for expected in ("pin_init", "login", "logout", "login_failed", "object_create", "key_use",
                     "attribute_change", "object_destroy", "pin_change"):  # fmt: skip
        assert expected in events, (expected, events)
    failed = next(r for r in records if r["event"] == "login_failed")
    assert failed["user"] == "USER" and failed["result"] == "CKR_PIN_INCORRECT" and failed["slot"] == t.slot
    created = {r["handle"]: r for r in records if r["event"] == "object_create"}
    assert created[key]["how"] == "create" and created[key]["label"] == "audited"
    assert created[derived]["how"] == "derive"
    assert created[pub]["how"] == created[priv]["how"] == "generate_pair"
    use = [r for r in records if r["event"] == "key_use"]
    assert {(r["handle"], r["operation"], r["mechanism"]) for r in use} >= {
        (key, "sign", "CKM_SHA256_HMAC"), (key, "derive", "CKM_HKDF_DERIVE"),
    }  # fmt: skip
    (change,) = [r for r in records if r["event"] == "attribute_change"]
    assert change["attributes"] == ["CKA_LABEL"] and change["label"] == "renamed"
    assert all(r["pid"] and r["time"].endswith("Z") for r in records)


def test_audit_lockout(start: Callable[..., Module], tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    m = start(audit_file=str(audit))  # write_config: pin_lockout = 3
    t = Token(m)
    t.ok("C_Logout")
    bad = b"99999999"
    got = [t.rv("C_Login", UserType.USER, bad, len(bad)) for _ in range(3)]
    assert got == ["PIN_INCORRECT", "PIN_INCORRECT", "PIN_LOCKED"]
    m.finalize()
    events = [r["event"] for r in audit_records(audit)]
    assert events.count("login_failed") == 3 and events.count("pin_locked") == 1
