"""PKCS#11 hosts and keys with Smart Key Attributes (a policy made through the REST front end's
core door): pkcs11-tool cannot sign with one (CKR_KEY_FUNCTION_NOT_PERMITTED); PyKCS11 can read
the policy attribute but not change it, not make the key extractable, not read its value, not
wrap it out (C_CopyObject: tests/unit/test_ska_core.py). No PKCS#11 call can carry approvals."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from support.hosts import Token, assert_no_traceback, make_token, python_has, require, run, run_python
from support.ska import Approver, policy, rule

pytestmark = pytest.mark.slow  # a token made by the CLI, hosts as processes
CKA_VENDOR_SKA_POLICY = 0x80000000 | 0x53480005
CKA_VENDOR_SKA_BLOCKED = 0x80000000 | 0x53480006

MAKE_KEYS = r"""
import json, os, sys
from softhsm_py.config import load_config
from softhsm_py.constants import Attribute as A, Mechanism
from softhsm_py.core.mechanism import Mechanism as Mech
from softhsm_py.core.partition import open_partition
part = open_partition(load_config(), os.environ["TOKEN_LABEL"], os.environ["PIN"].encode())
P256 = bytes.fromhex("06082a8648ce3d030107")
for name, ident in (("ska", b"\xaa\x01"), ("plain", b"\xaa\x02")):
    public = {A.EC_PARAMS: P256, A.VERIFY: True, A.ID: ident}
    part.generate(name, Mech(Mechanism.EC_KEY_PAIR_GEN), public=public,
                  private={A.SIGN: True, A.ID: ident, A.COPYABLE: True},
                  policy=json.loads(os.environ["POLICY"]) if name == "ska" else None)
part.close()
print("{}")
"""

PYKCS11 = r"""
import json, os
import PyKCS11 as P
lib = P.PyKCS11Lib()
lib.load(os.environ["MODULE"])
slot = [s for s in lib.getSlotList(tokenPresent=True)
        if lib.getTokenInfo(s).label.strip() == os.environ["TOKEN_LABEL"]][0]
s = lib.openSession(slot, P.CKF_SERIAL_SESSION | P.CKF_RW_SESSION)
s.login(os.environ["PIN"])
POLICY, BLOCKED = int(os.environ["POLICY_ATTR"]), int(os.environ["BLOCKED_ATTR"])
(priv,) = s.findObjects([(P.CKA_LABEL, "ska"), (P.CKA_CLASS, P.CKO_PRIVATE_KEY)])
(other,) = s.findObjects([(P.CKA_LABEL, "plain"), (P.CKA_CLASS, P.CKO_PUBLIC_KEY)])
out = {}
def rv(fn):
    try:
        fn()
        return "OK"
    except P.PyKCS11Error as e:
        return P.CKR[e.value]
value = bytes(s.getAttributeValue(priv, [POLICY], allAsBinary=True)[0])
out["policy_len"] = len(value)
out["extractable"] = s.getAttributeValue(priv, [P.CKA_EXTRACTABLE])[0]
out["sign"] = rv(lambda: s.sign(priv, b"data", P.Mechanism(P.CKM_ECDSA_SHA256)))
out["set_policy"] = rv(lambda: s.setAttributeValue(priv, [(POLICY, b"")]))
out["set_blocked"] = rv(lambda: s.setAttributeValue(priv, [(BLOCKED, b"\x01")]))
out["set_extractable"] = rv(lambda: s.setAttributeValue(priv, [(P.CKA_EXTRACTABLE, True)]))
out["value_hidden"] = s.getAttributeValue(priv, [P.CKA_VALUE])[0] is None  # PyKCS11: SENSITIVE -> None
aes = s.generateKey([(P.CKA_CLASS, P.CKO_SECRET_KEY), (P.CKA_KEY_TYPE, P.CKK_AES), (P.CKA_VALUE_LEN, 32),
                     (P.CKA_WRAP, True), (P.CKA_TOKEN, False)], P.Mechanism(P.CKM_AES_KEY_GEN))
out["wrap"] = rv(lambda: s.wrapKey(aes, priv, P.Mechanism(P.CKM_AES_KEY_WRAP_KWP)))
print(json.dumps(out))
"""


@pytest.fixture
def token(tmp_path: Path) -> Token:
    token = make_token(tmp_path / "hsm")
    approver = Approver.new("ec")
    package_parent = Path(token.module).resolve().parent.parent
    env = dict(
        token.env, TOKEN_LABEL=token.label, PIN=token.pin, POLICY=json.dumps(policy(rule([approver], 1)))
    )
    run([sys.executable, "-c", MAKE_KEYS], env, cwd=package_parent)
    return token


def test_pkcs11_tool_cannot_sign_with_a_policy_key(token: Token, tmp_path: Path) -> None:
    require("pkcs11-tool")
    data = tmp_path / "in.bin"
    data.write_bytes(b"pay me")
    refused = token.tool(
        "--sign",
        "--id",
        "aa01",
        "-m",
        "ECDSA-SHA256",
        "-i",
        str(data),
        "-o",
        str(tmp_path / "sig"),
        check=False,
    )
    assert refused.returncode != 0
    assert b"CKR_KEY_FUNCTION_NOT_PERMITTED" in refused.stderr + refused.stdout, refused
    # the same host signs with a key without a policy
    token.tool("--sign", "--id", "aa02", "-m", "ECDSA-SHA256", "-i", str(data), "-o", str(tmp_path / "sig"))
    assert_no_traceback(token)


def test_pykcs11_cannot_change_or_extract_a_policy_key(token: Token) -> None:
    python_has("PyKCS11")
    out = run_python(
        token, PYKCS11, POLICY_ATTR=str(CKA_VENDOR_SKA_POLICY), BLOCKED_ATTR=str(CKA_VENDOR_SKA_BLOCKED)
    )
    assert out["policy_len"] > 0 and out["extractable"] is False
    assert out["sign"] == "CKR_KEY_FUNCTION_NOT_PERMITTED"
    assert out["set_policy"] == out["set_blocked"] == out["set_extractable"] == "CKR_ATTRIBUTE_READ_ONLY"
    assert out["value_hidden"] is True
    assert out["wrap"] == "CKR_KEY_UNEXTRACTABLE"
    assert_no_traceback(token)
