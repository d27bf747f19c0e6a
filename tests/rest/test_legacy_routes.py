"""The legacy algorithms through a real server: DSA keys (the service makes the domain of the size
asked for, then the pair) and their signatures, Camellia and TDEA ciphers in each mode. Every
signature and ciphertext is also checked outside softhsm-py with pyca/cryptography, from the
public key or the exported secret the service returned."""

from __future__ import annotations

import hashlib
import warnings
from typing import Any

import httpx
import pytest
from cryptography.hazmat.decrepit.ciphers.algorithms import Camellia, TripleDES
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, utils
from cryptography.hazmat.primitives.ciphers import Cipher, modes

from .conftest import Server
from .test_keys_routes import ALL, create, delete, error
from .test_operation_routes import PAYLOAD, decrypt, encrypt, sign, unb64, verify

READABLE = {**ALL, "destroyable": True, "extractable": True, "sensitive": False}


@pytest.fixture(scope="module")
def legacy_keys(rest_server: Server) -> dict[str, Any]:
    made: dict[str, Any] = {}
    with rest_server.client() as c:
        for label, algorithm, extra in (
            ("lg-dsa", "DSA", {"keySize": 1024}),
            ("lg-camellia", "Camellia", {"keySize": 128}),
            ("lg-tdea", "TDEA", {}),
        ):
            delete(c, label)
            r = create(c, label, algorithm, attributes=READABLE, **extra)
            assert r.status_code == 201, r.text
            made[label] = r.json()["json"]
        for label in ("lg-camellia", "lg-tdea"):
            r = c.post("/v1/key/export/plain", json={"label": label})
            made[label + "-secret"] = unb64(r.json()["secretKey"])
    return made


def _dsa_public(info: dict[str, Any]) -> dsa.DSAPublicKey:
    with warnings.catch_warnings():  # cryptography marks DSA deprecated
        warnings.simplefilter("ignore")
        key = serialization.load_der_public_key(unb64(info["publicKey"]))
        assert isinstance(key, dsa.DSAPublicKey)
    return key


def test_dsa_key(legacy_keys: dict[str, Any]) -> None:
    info = legacy_keys["lg-dsa"]
    assert (info["algorithm"], info["keySize"]) == ("DSA", 1024)
    assert _dsa_public(info).parameters().parameter_numbers().p.bit_length() == 1024


@pytest.mark.parametrize(
    ("algorithm", "payload", "hash_"),
    [
        ("SHA256_WITH_DSA", PAYLOAD, hashes.SHA256()),
        ("SHA1_WITH_DSA", PAYLOAD, hashes.SHA1()),
        ("SHA512_WITH_DSA", PAYLOAD, hashes.SHA512()),
        ("NONE_WITH_DSA", hashlib.sha256(PAYLOAD).digest(), utils.Prehashed(hashes.SHA256())),
    ],
    ids=["SHA256", "SHA1", "SHA512", "NONE"],
)
@pytest.mark.parametrize("signature_type", [None, "RAW"])
def test_dsa_signatures(
    client: httpx.Client,
    legacy_keys: dict[str, Any],
    algorithm: str,
    payload: bytes,
    hash_: Any,
    signature_type: str | None,
) -> None:
    public = _dsa_public(legacy_keys["lg-dsa"])
    signature = sign(client, "lg-dsa", algorithm, payload, signature_type)
    if signature_type == "RAW":  # r || s, each as long as q
        assert len(signature) == 40
        der = utils.encode_dss_signature(
            int.from_bytes(signature[:20], "big"), int.from_bytes(signature[20:], "big")
        )
    else:
        der = signature
        utils.decode_dss_signature(der)
    public.verify(der, payload, hash_)
    assert verify(client, "lg-dsa", algorithm, payload, signature)
    assert not verify(client, "lg-dsa", algorithm, bytes([payload[0] ^ 1]) + payload[1:], signature)


@pytest.mark.parametrize("label", ["lg-camellia", "lg-tdea"])
@pytest.mark.parametrize("mode", ["", "_CBC_NO_PADDING", "_ECB"])
def test_camellia_and_tdea(client: httpx.Client, legacy_keys: dict[str, Any], label: str, mode: str) -> None:
    secret = legacy_keys[label + "-secret"]
    cipher, name = (Camellia(secret), "CAMELLIA") if label == "lg-camellia" else (TripleDES(secret), "TDEA")
    algorithm = name + (mode or ("" if name == "CAMELLIA" else "_CBC"))
    block = cipher.block_size // 8
    payload = PAYLOAD if not mode else bytes(range(2 * block))
    out = encrypt(client, label, algorithm, payload)
    ct = unb64(out["encryptedPayload"])
    iv = unb64(out["initializationVector"]) if out["initializationVector"] else None
    assert (iv is None) == (mode == "_ECB") and (iv is None or len(iv) == block)
    plain = Cipher(cipher, modes.ECB() if iv is None else modes.CBC(iv)).decryptor().update(ct)
    if not mode:  # PKCS #7 padding
        plain = plain[: -plain[-1]]
    assert plain == payload
    extra = {"initializationVector": out["initializationVector"]} if iv is not None else {}
    assert decrypt(client, label, algorithm, out["encryptedPayload"], **extra) == payload


@pytest.mark.parametrize(
    ("label", "algorithm"),
    [("lg-camellia", "AES"), ("lg-tdea", "CAMELLIA"), ("lg-dsa", "SHA256_WITH_ECDSA")],
)
def test_a_key_of_another_algorithm(
    client: httpx.Client, legacy_keys: dict[str, Any], label: str, algorithm: str
) -> None:
    if algorithm.endswith("ECDSA"):
        req = {"payload": "AA==", "signKeyName": label, "signatureAlgorithm": algorithm}
        r = client.post("/v1/synchronousSign", json={"signRequest": req})
    else:
        req = {"payload": "AA==", "encryptKeyName": label, "cipherAlgorithm": algorithm}
        r = client.post("/v1/encrypt", json={"encryptRequest": req})
    error(r, 400, 607)
