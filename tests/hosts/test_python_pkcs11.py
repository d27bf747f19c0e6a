"""python-pkcs11 as the host: the library shares the host's interpreter (5.x of CLIENTS.md), and a
second copy of the .so loaded in the same process keeps its own state.

Each scenario runs in a fresh Python process (python-pkcs11 loads one library per process and
never finalises it, which would leak into the other tests of this process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from support.pkcs11 import TESTS, default_module_path, write_config

pytest.importorskip("pkcs11", reason="python-pkcs11 is missing (pip install python-pkcs11)")

USER_PIN = "87654321"

SCRIPT = textwrap.dedent(
    """
    import json, os, shutil, sys, threading
    from pathlib import Path

    sys.path.insert(0, {tests!r})
    import pkcs11  # python-pkcs11
    from pkcs11 import TokenFlag
    from support.pkcs11 import Module, text

    path, scenario, other_conf = sys.argv[1], sys.argv[2], sys.argv[3]
    out = {{}}

    # Prepare the token through python-pkcs11's own process, before python-pkcs11 loads the library.
    prep = Module(path)
    prep.initialize()
    prep.ready_token("python-pkcs11")
    prep.finalize()

    lib = pkcs11.lib(path)
    out["cryptoki_version"] = list(lib.cryptoki_version)
    out["manufacturer"] = lib.manufacturer_id
    out["slots"] = len(lib.get_slots())
    token = lib.get_token(token_label="python-pkcs11")
    out["flags"] = int(token.flags)
    with token.open(user_pin={pin!r}, rw=True) as session:
        out["random"] = len(session.generate_random(256))
        if scenario == "threads":
            # python-pkcs11 releases the GIL around its calls: re-entry from 8 host threads.
            errors = []
            def work():
                try:
                    for _ in range(20):
                        with token.open() as s:
                            assert len(s.generate_random(128)) == 16
                except BaseException as exc:
                    errors.append(repr(exc))
            threads = [threading.Thread(target=work) for _ in range(8)]
            for t in threads: t.start()
            for t in threads: t.join()
            out["thread_errors"] = errors
        if scenario == "copy":
            # A second copy of the library file, loaded next to the first in this process.
            copy = Path(other_conf).parent / "copy" / Path(path).name
            copy.parent.mkdir()
            shutil.copyfile(path, copy)
            os.environ["SOFTHSM_PY_CONF"] = other_conf  # the copy reads its config at its C_Initialize
            m = Module(copy)
            out["copy_init"] = m.rv("C_Initialize", m.ffi.NULL)
            out["copy_labels"] = [text(m.token_info(s).label) for s in m.slot_list()]
            slot = m.ready_token("copy")
            h = m.open(slot)
            out["copy_state_before_login"] = m.state(h)  # not the first copy's login
            m.login(h)
            out["copy_state"] = m.state(h)
            out["copy_finalize"] = m.finalize()
            # The first copy did not notice any of it.
            out["first_still_works"] = len(session.generate_random(64))
            out["first_slots"] = len(lib.get_slots())
        if scenario == "pqc":
            # python-pkcs11 0.10's own ML-DSA and ML-KEM API (PKCS#11 3.2 through C_GetInterface)
            from cryptography.hazmat.primitives.asymmetric import mldsa
            from pkcs11 import Attribute, KeyType, Mechanism
            from pkcs11.mechanisms import MLDSAParameterSet, MLKEMParameterSet

            pub, priv = session.generate_keypair(
                KeyType.ML_DSA, public_template={{Attribute.PARAMETER_SET: MLDSAParameterSet.ML_DSA_65}}
            )
            data = b"signed by python-pkcs11 with ML-DSA-65"
            signature = priv.sign(data)  # python-pkcs11's default: CKM_ML_DSA
            out["mldsa_verify"] = pub.verify(data, signature)
            out["mldsa_verify_other"] = pub.verify(data + b"!", signature)
            raw = pub[Attribute.VALUE]
            mldsa.MLDSA65PublicKey.from_public_bytes(raw).verify(signature, data)  # raises if not
            out["mldsa_pyca"] = True
            out["mldsa_signature_len"] = len(signature)
            out["mldsa_parts"] = pub.verify(data, priv.sign([data[:5], data[5:]], mechanism=Mechanism.ML_DSA))

            kem_pub, kem_priv = session.generate_keypair(
                KeyType.ML_KEM, public_template={{Attribute.PARAMETER_SET: MLKEMParameterSet.ML_KEM_768}}
            )
            readable = {{Attribute.SENSITIVE: False, Attribute.EXTRACTABLE: True}}
            ciphertext, ours = kem_pub.encapsulate_key(KeyType.GENERIC_SECRET, template=readable)
            theirs = kem_priv.decapsulate_key(ciphertext, KeyType.GENERIC_SECRET, template=readable)
            out["kem_ciphertext_len"] = len(ciphertext)
            out["kem_equal"] = ours[Attribute.VALUE] == theirs[Attribute.VALUE]
            out["kem_secret_len"] = len(ours[Attribute.VALUE])
            aes, = [kem_pub.encapsulate_key(KeyType.AES, key_length=128)[1]]
            out["kem_aes_len"] = aes[Attribute.VALUE_LEN]
    print(json.dumps(out))
    """
).format(tests=str(TESTS), pin=USER_PIN)


def run_scenario(request: pytest.FixtureRequest, tmp_path: Path, scenario: str) -> dict:
    module = request.config.getoption("module", default=None) or default_module_path()
    env = {k: v for k, v in os.environ.items() if k not in ("SOFTHSM2_CONF", "SOFTHSM_PY_CONF")}
    env.update(write_config(tmp_path / "first", module, log_file=str(tmp_path / "first.log")))
    other = write_config(tmp_path / "second", module, log_file=str(tmp_path / "second.log"))
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, module, scenario, other["SOFTHSM_PY_CONF"]],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    details = f"status {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert proc.returncode == 0, details
    assert "Traceback" not in proc.stderr, details
    for log in tmp_path.glob("*.log"):
        assert "Traceback" not in log.read_text(), log.read_text()
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, f"the library wrote to the host's stdout:\n{proc.stdout}"
    return json.loads(lines[0])


def test_python_pkcs11_basics(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    out = run_scenario(request, tmp_path, "basics")
    # python-pkcs11 calls C_GetInfo through C_GetFunctionList's list: the 2.40 one says 2.40
    assert out["cryptoki_version"] == [2, 40]
    assert out["manufacturer"] == "softhsm-py"
    assert out["slots"] == 2  # the token and the empty slot
    assert out["flags"] & 0x400 and out["flags"] & 0x8  # TOKEN_INITIALIZED, USER_PIN_INITIALIZED
    assert out["random"] == 32


def test_python_pkcs11_threads(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    out = run_scenario(request, tmp_path, "threads")
    assert out["thread_errors"] == []


def test_second_copy_in_one_process(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """CLIENTS.md: two copies of the file loaded at once, each with its own state."""
    out = run_scenario(request, tmp_path, "copy")
    assert out["copy_init"] == 0, "the copy's C_Initialize must return CKR_OK"
    assert "python-pkcs11" not in out["copy_labels"]  # its own config, its own token directory
    assert out["copy_state_before_login"] == 2  # CKS_RW_PUBLIC_SESSION
    assert out["copy_state"] == 3  # CKS_RW_USER_FUNCTIONS
    assert out["copy_finalize"] == 0
    assert out["first_still_works"] == 8
    assert out["first_slots"] == 2


def test_python_pkcs11_ml_dsa_and_ml_kem(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """python-pkcs11 0.10's ML-DSA and ML-KEM API over the 3.2 interface: generate, sign and
    verify (pyca/cryptography verifies too), encapsulate and decapsulate to equal secrets."""
    out = run_scenario(request, tmp_path, "pqc")
    assert out["mldsa_verify"] is True and out["mldsa_verify_other"] is False
    assert out["mldsa_pyca"] is True and out["mldsa_signature_len"] == 3309
    assert out["mldsa_parts"] is True
    assert out["kem_ciphertext_len"] == 1088
    assert out["kem_equal"] is True and out["kem_secret_len"] == 32
    assert out["kem_aes_len"] == 16
