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

from support.hosts import assert_no_traceback, make_token, run_python
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


# python-pkcs11's own DES, DSA and DH tests (tests/test_des.py, test_dsa.py, test_dh.py of the
# project), call for call, plus the mechanisms it picks for these key types when none is named
# (DES3_CBC_PAD, DES3_MAC, DES3_ECB wrap, DSA_SHA512, DH_PKCS_DERIVE). What leaves the token is
# checked here with pyca/cryptography.
LEGACY_SCRIPT = r"""
import base64, json, os
import pkcs11
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11.util.dsa import decode_dsa_domain_parameters, encode_dsa_domain_parameters

out = {}
lib = pkcs11.lib(os.environ["MODULE"])
token = lib.get_token(token_label=os.environ["TOKEN_LABEL"])
with token.open(user_pin=os.environ["PIN"]) as session:  # as python-pkcs11's TestCase opens it
    # test_des.py
    assert isinstance(session.generate_key(KeyType.DES2), pkcs11.SecretKey)
    assert isinstance(session.generate_key(KeyType.DES3), pkcs11.SecretKey)
    for key_type in (KeyType.DES2, KeyType.DES3):
        key = session.generate_key(key_type)
        iv = session.generate_random(64)
        crypttext = key.encrypt("PLAIN TEXT_", mechanism_param=iv)
        assert key.decrypt(crypttext, mechanism_param=iv) == b"PLAIN TEXT_"
        assert key.verify("PLAIN TEXT_", key.sign("PLAIN TEXT_"))                  # DES3_MAC
    known = session.create_object({Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.KEY_TYPE: KeyType.DES3,
                                   Attribute.VALUE: bytes.fromhex(os.environ["DES3_KEY"]),
                                   Attribute.ENCRYPT: True, Attribute.SIGN: True, Attribute.WRAP: True})
    iv = bytes(8)
    out["des3_cbc_pad"] = known.encrypt(b"PLAIN TEXT_", mechanism_param=iv).hex()
    out["des3_mac"] = known.sign(b"PLAIN TEXT_").hex()
    readable = {Attribute.EXTRACTABLE: True, Attribute.SENSITIVE: False}
    aes = session.generate_key(KeyType.AES, 128, template=readable)
    out["wrapped"] = known.wrap_key(aes).hex()                                      # DES3_ECB
    out["aes"] = aes[Attribute.VALUE].hex()

    # test_dsa.py
    parameters = session.generate_domain_parameters(KeyType.DSA, 1024)
    assert isinstance(parameters, pkcs11.DomainParameters)
    assert parameters[Attribute.PRIME_BITS] == 1024
    encode_dsa_domain_parameters(parameters)
    dsaparams = session.create_domain_parameters(
        KeyType.DSA, decode_dsa_domain_parameters(base64.b64decode(os.environ["DSA_PARAMS"])), local=True)
    public, private = dsaparams.generate_keypair()
    assert isinstance(public, pkcs11.PublicKey) and isinstance(private, pkcs11.PrivateKey)
    assert len(public[Attribute.VALUE]) > 120
    signature = private.sign("Message to sign", mechanism=Mechanism.DSA_SHA1)
    assert public.verify("Message to sign", signature, mechanism=Mechanism.DSA_SHA1)
    public, private = session.generate_keypair(KeyType.DSA, 1024)
    assert len(public[Attribute.VALUE]) > 120
    out["dsa"] = {a: public[getattr(Attribute, a)].hex() for a in ("PRIME", "SUBPRIME", "BASE", "VALUE")}
    out["dsa_sha512"] = private.sign("Message to sign").hex()                       # DSA_SHA512
    out["dsa_sha1"] = private.sign("Message to sign", mechanism=Mechanism.DSA_SHA1).hex()

    # test_dh.py (test_derive_key, on RFC 3526's 2048-bit group)
    prime = bytes.fromhex(os.environ["DH_PRIME"])
    parameters = session.create_domain_parameters(
        KeyType.DH, {Attribute.PRIME: prime, Attribute.BASE: [0x2]}, local=True)
    alice_public, alice_private = parameters.generate_keypair()
    alice_value = alice_public[Attribute.VALUE]
    bob_public, bob_private = parameters.generate_keypair()
    bob_value = bob_public[Attribute.VALUE]
    assert alice_value != bob_value
    iv = session.generate_random(128)
    template = {Attribute.SENSITIVE: False, Attribute.EXTRACTABLE: True}
    alice_session = alice_private.derive_key(KeyType.AES, 128, mechanism_param=bob_value, template=template)
    bob_session = bob_private.derive_key(KeyType.AES, 128, mechanism_param=alice_value, template=template)
    assert alice_session[Attribute.VALUE] == bob_session[Attribute.VALUE]
    crypttext = alice_session.encrypt("HI BOB!", mechanism_param=iv)
    assert bob_session.decrypt(crypttext, mechanism_param=iv) == b"HI BOB!"
    out["mechanisms"] = sorted(int(m) for m in token.slot.get_mechanisms())
print(json.dumps(out))
"""

# RFC 3526 3: the 2048-bit MODP group (generator 2).
RFC3526_2048 = (
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD"
    "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F"
    "83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B"
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA0510"
    "15728E5A8AACAA68FFFFFFFFFFFFFFFF"
)


def test_python_pkcs11_des_dsa_dh(tmp_path: Path) -> None:
    """python-pkcs11's own DES, DSA and DH tests run against softhsm-py (issue 15 item 5)."""
    import base64
    import warnings

    from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import dsa
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
    from cryptography.hazmat.primitives.ciphers import Cipher, modes

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        params = dsa.generate_parameters(1024)
        numbers, public_numbers = dsa.DSAParameterNumbers, dsa.DSAPublicNumbers
    pn = params.parameter_numbers()
    dsa_params = _dsa_parameters_der(pn.p, pn.q, pn.g)
    des3_key = bytes.fromhex("0123456789abcdeffedcba9876543210899babbccddfeff1")  # odd parity
    token = make_token(tmp_path / "hsm", label="pp-legacy")
    out = run_python(
        token, LEGACY_SCRIPT, DES3_KEY=des3_key.hex(), DSA_PARAMS=base64.b64encode(dsa_params).decode(),
        DH_PRIME=RFC3526_2048,
    )  # fmt: skip
    tdea = TripleDES(des3_key)

    def encrypt(mode: object, data: bytes) -> bytes:
        enc = Cipher(tdea, mode).encryptor()  # type: ignore[arg-type]
        return enc.update(data) + enc.finalize()

    message = b"PLAIN TEXT_"
    assert bytes.fromhex(out["des3_cbc_pad"]) == encrypt(modes.CBC(bytes(8)), message + b"\x05" * 5)
    assert bytes.fromhex(out["des3_mac"]) == encrypt(modes.CBC(bytes(8)), message + bytes(5))[-8:][:4]
    assert bytes.fromhex(out["wrapped"]) == encrypt(modes.ECB(), bytes.fromhex(out["aes"]))

    p, q, g, y = (int(out["dsa"][a], 16) for a in ("PRIME", "SUBPRIME", "BASE", "VALUE"))
    key = public_numbers(y, numbers(p, q, g)).public_key()
    for field, algorithm in (("dsa_sha512", hashes.SHA512()), ("dsa_sha1", hashes.SHA1())):
        signature = bytes.fromhex(out[field])
        r, s = int.from_bytes(signature[:20], "big"), int.from_bytes(signature[20:], "big")
        key.verify(encode_dss_signature(r, s), b"Message to sign", algorithm)
    for m in (0x130, 0x131, 0x136, 0x134, 0x10, 0x12, 0x16, 0x20, 0x21, 0x2000):  # what the tests require
        assert m in out["mechanisms"], hex(m)
    assert_no_traceback(token)


def _dsa_parameters_der(p: int, q: int, g: int) -> bytes:
    """Dss-Parms ::= SEQUENCE { p, q, g INTEGER }, what python-pkcs11's decode_dsa_domain_parameters reads."""

    def integer(n: int) -> bytes:
        body = n.to_bytes(n.bit_length() // 8 + 1, "big")
        return b"\x02" + _length(len(body)) + body

    body = integer(p) + integer(q) + integer(g)
    return b"\x30" + _length(len(body)) + body


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(size)]) + size
