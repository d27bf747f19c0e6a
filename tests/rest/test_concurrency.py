"""Several uvicorn workers and a PKCS#11 process on one partition at once: REST clients sign and
create/delete keys while a python-pkcs11 process signs and creates/deletes objects through the
library. Nothing is lost (every key that should exist does, every deleted one is gone), no request
fails, every signature verifies. Loops are bounded; no timing is asserted."""

from __future__ import annotations

import base64
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from .conftest import Server, start_server, tls_context
from .test_keys_routes import create

ROUNDS = 12
THREADS = 8

PKCS11_CHILD = textwrap.dedent(
    """
    import sys, pkcs11
    from pkcs11 import KeyType, Mechanism, Attribute
    lib = pkcs11.lib(sys.argv[1])
    token = lib.get_token(token_label=sys.argv[2])
    with token.open(user_pin=sys.argv[3], rw=True) as session:
        key = session.get_key(label="conc-shared", object_class=pkcs11.ObjectClass.PRIVATE_KEY)
        for i in range(int(sys.argv[4])):
            sig = key.sign(b"from pkcs11 %d" % i, mechanism=Mechanism.ECDSA_SHA256)
            assert len(sig) == 64
            secret = session.generate_key(KeyType.AES, 128, label="conc-p11-%d" % i, store=True)
            secret.destroy()
            session.generate_key(KeyType.AES, 128, label="conc-p11-kept-%d" % i, store=True)
    print("pkcs11 ok")
    """
)


@pytest.fixture(scope="module")
def busy_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(tmp_path_factory.mktemp("conc"), workers=3)
    try:
        yield server
    finally:
        server.stop()


def test_workers_and_pkcs11_process_share_a_partition(busy_server: Server, tmp_path: Path) -> None:
    pytest.importorskip("pkcs11")
    c = busy_server.client()
    r = create(
        c,
        "conc-shared",
        "EC",
        curveOid="1.2.840.10045.3.1.7",
        attributes={"decrypt": False, "sign": True, "unwrap": False, "destroyable": True},
    )
    assert r.status_code == 201, r.text
    public = serialization.load_der_public_key(base64.b64decode(r.json()["json"]["publicKey"]))
    assert isinstance(public, ec.EllipticCurvePublicKey)

    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            PKCS11_CHILD,
            busy_server.module_path(),
            busy_server.label,
            busy_server.user_pin,
            str(ROUNDS),
        ],
        env=busy_server.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

    def worker(n: int) -> list[str]:
        problems = []
        with httpx.Client(base_url=busy_server.url, verify=tls_context(busy_server.cert), timeout=120) as h:
            for i in range(ROUNDS):
                payload = f"rest {n} {i}".encode()
                s = h.post(
                    "/v1/synchronousSign",
                    json={
                        "signRequest": {
                            "payload": base64.b64encode(payload).decode(),
                            "signKeyName": "conc-shared",
                            "signatureAlgorithm": "SHA256_WITH_ECDSA",
                        }
                    },
                )
                if s.status_code != 200:
                    problems.append(f"sign {s.status_code} {s.text}")
                else:
                    public.verify(base64.b64decode(s.json()["signature"]), payload, ec.ECDSA(hashes.SHA256()))
                attrs = {"decrypt": True, "sign": False, "unwrap": False, "destroyable": True}
                for label in (f"conc-{n}-{i}", f"conc-{n}-{i}-kept"):
                    k = h.post(
                        "/v1/key",
                        json={"label": label, "algorithm": "AES", "keySize": 128, "attributes": attrs},
                    )
                    if k.status_code != 201:
                        problems.append(f"create {k.status_code} {k.text}")
                d = h.post("/v1/key/deleteKey", json={"label": f"conc-{n}-{i}"})
                if d.status_code != 200:
                    problems.append(f"delete {d.status_code} {d.text}")
        return problems

    with ThreadPoolExecutor(THREADS) as pool:
        problems = [p for ps in pool.map(worker, range(THREADS)) for p in ps]
    out, err = child.communicate(timeout=600)
    assert child.returncode == 0 and "pkcs11 ok" in out, err
    assert problems == []

    names = set(c.get("/v1/key").json())
    expected_kept = {f"conc-{n}-{i}-kept" for n in range(THREADS) for i in range(ROUNDS)}
    expected_kept |= {f"conc-p11-kept-{i}" for i in range(ROUNDS)}
    gone = {f"conc-{n}-{i}" for n in range(THREADS) for i in range(ROUNDS)} | {
        f"conc-p11-{i}" for i in range(ROUNDS)
    }
    assert expected_kept <= names
    assert not (gone & names)
    assert "conc-shared" in names
