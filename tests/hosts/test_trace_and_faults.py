"""Tracing and fault injection seen from a real host, pkcs11-tool (a C program: the module runs in
its own embedded interpreter): the trace of a whole session read back, summarised by
``softhsm-py trace-summary``; and a fault rule whose injected error pkcs11-tool reports."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from support.hosts import assert_no_traceback, cli, make_token, require

pytestmark = pytest.mark.slow  # pkcs11-tool runs: a second or more each

LINE = re.compile(r"^\S+Z pid=\d+ tid=\d+ (C_\w+)\((.*)\) = (CKR_\w+) \d+\.\dus$")


def test_trace_of_a_pkcs11_tool_session(tmp_path: Path) -> None:
    require("pkcs11-tool")
    trace = tmp_path / "trace.log"
    token = make_token(tmp_path, trace_file=str(trace))
    token.tool("--keypairgen", "--key-type", "EC:prime256v1", "--id", "07", "--label", "traced-key")
    data = tmp_path / "data.bin"
    data.write_bytes(b"pkcs11-tool signs this")
    token.tool("--sign", "-m", "ECDSA-SHA256", "--id", "07", "-i", str(data), "-o", str(tmp_path / "sig"))
    text = trace.read_text()
    lines = text.splitlines()
    assert all(LINE.match(line) for line in lines), [x for x in lines if not LINE.match(x)]
    # The init-token of make_token ran in the CLI (no trace there); pkcs11-tool's two runs did.
    calls = [LINE.match(line).groups() for line in lines]  # type: ignore[union-attr]
    functions = [c[0] for c in calls]
    assert functions.count("C_Initialize") == 2 and functions.count("C_Finalize") == 2
    (gen,) = [c for c in calls if c[0] == "C_GenerateKeyPair"]
    assert "pMechanism=CKM_EC_KEY_PAIR_GEN" in gen[1] and 'CKA_LABEL="traced-key"' in gen[1]
    assert "CKA_ID=07" in gen[1] and "CKA_EC_PARAMS=06082a8648ce3d030107" in gen[1] and gen[2] == "CKR_OK"
    (sign_init,) = [c for c in calls if c[0] == "C_SignInit"]
    assert "pMechanism=CKM_ECDSA_SHA256" in sign_init[1]
    assert any(c[0] == "C_Sign" and "ulDataLen=22" in c[1] and "*pulSignatureLen=64" in c[1] for c in calls)
    assert any(c[0] == "C_Login" and "userType=CKU_USER" in c[1] and c[2] == "CKR_OK" for c in calls)
    assert token.pin not in text and token.so_pin not in text and "ulPinLen" not in text
    assert "pkcs11-tool signs this" not in text and b"pkcs11-tool signs this".hex() not in text
    summary = cli(token.module, token.env, "trace-summary", str(trace)).stdout.decode()
    rows = {line.split()[0]: line.split() for line in summary.splitlines() if line.startswith("C_")}
    assert rows["C_Initialize"][1] == "2" and rows["C_GenerateKeyPair"][1:3] == ["1", "0"]
    assert f"{len(lines)} calls" in summary
    assert_no_traceback(token)


def test_pkcs11_tool_reports_an_injected_error(tmp_path: Path) -> None:
    require("pkcs11-tool")
    token = make_token(tmp_path)
    token.tool("--keypairgen", "--key-type", "EC:prime256v1", "--id", "08", "--label", "faulted-key")
    rule = '[[fault]]\nfunction = "C_SignInit"\nmechanism = "CKM_ECDSA_SHA256"\nreturn = "CKR_DEVICE_ERROR"\n'
    token.conf.write_text(token.conf.read_text() + "\n" + rule)
    shown = cli(token.module, token.env, "show-config").stdout.decode()
    assert "fault injection is ON" in shown and 'function = ["C_SignInit"]' in shown
    data = tmp_path / "data.bin"
    data.write_bytes(b"never signed")
    sign = ["--sign", "--id", "08", "-i", str(data), "-o", str(tmp_path / "sig")]
    failed = token.tool(*sign, "-m", "ECDSA-SHA256", check=False)
    assert failed.returncode != 0
    assert "C_SignInit failed: rv = CKR_DEVICE_ERROR" in failed.stderr.decode(), failed.stderr.decode()
    # Another mechanism is not faulted: the rule names CKM_ECDSA_SHA256 only.
    token.tool(*sign, "-m", "ECDSA")
    log = token.log_text()
    assert "fault injection is on: 1 rule(s)" in log  # a warning: nobody runs with it on unawares
    assert_no_traceback(token)
