"""The "Synchronous Key Operations" and service routes through a real server. Every signature and
ciphertext is also checked outside softhsm-py with pyca/cryptography, from the public key the
service returned: the wire formats (DER or r || s, IV and tag packing) are what a client expects."""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, utils
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap_with_padding

from .conftest import Server
from .test_keys_routes import ALL, create, delete, error

B64 = base64.b64encode
PAYLOAD = b"softhsm-py says hello"


def b64(data: bytes) -> str:
    return B64(data).decode()


def unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


@pytest.fixture(scope="module")
def keys(rest_server: Server) -> Iterator[dict[str, Any]]:
    """One key of each kind, made once for the module; public keys as cryptography objects."""
    made: dict[str, Any] = {}
    attrs = {**ALL, "destroyable": True, "extractable": True, "sensitive": False}
    with rest_server.client() as c:
        for label, algorithm, extra in (
            ("op-rsa", "RSA", {"keySize": 2048}),
            ("op-p256", "EC", {"curveOid": "1.2.840.10045.3.1.7"}),
            ("op-p384", "EC", {"curveOid": "1.3.132.0.34"}),
            ("op-k1", "EC", {"curveOid": "1.3.132.0.10"}),
            ("op-bp256", "EC", {"curveOid": "1.3.36.3.3.2.8.1.1.7"}),
            ("op-p224", "EC", {"curveOid": "1.3.132.0.33"}),
            ("op-ed", "ED", {"curveOid": "1.3.101.112"}),
            ("op-aes", "AES", {"keySize": 256}),
            ("op-chacha", "ChaCha20", {"keySize": 256}),
            ("op-hmac", "HMACSHA256", {}),
        ):
            delete(c, label)
            r = create(c, label, algorithm, attributes=attrs, **extra)
            assert r.status_code == 201, r.text
            spki = r.json()["json"]["publicKey"]
            made[label] = serialization.load_der_public_key(unb64(spki)) if spki else None
        for label in ("op-aes", "op-chacha", "op-hmac"):
            made[label + "-secret"] = unb64(
                c.post("/v1/key/export/plain", json={"label": label}).json()["secretKey"]
            )
    yield made


def sign(
    c: httpx.Client, label: str, algorithm: str, payload: bytes, signature_type: str | None = None
) -> bytes:
    req: dict[str, Any] = {"payload": b64(payload), "signKeyName": label, "signatureAlgorithm": algorithm}
    if signature_type:
        req["signatureType"] = signature_type
    r = c.post("/v1/synchronousSign", json={"signRequest": req})
    assert r.status_code == 200, r.text
    return unb64(r.json()["signature"])


def verify(c: httpx.Client, label: str, algorithm: str, payload: bytes, signature: bytes) -> bool:
    req = {
        "signKeyName": label,
        "signatureAlgorithm": algorithm,
        "payload": b64(payload),
        "signature": b64(signature),
    }
    r = c.post("/v1/verify", json={"verifySignatureRequest": req})
    assert r.status_code == 200, r.text
    return bool(r.json()["signatureValid"])


RSA_CASES = [
    ("SHA256_WITH_RSA", PAYLOAD, padding.PKCS1v15(), hashes.SHA256()),
    ("SHA1_WITH_RSA", PAYLOAD, padding.PKCS1v15(), hashes.SHA1()),
    ("SHA512_WITH_RSA", PAYLOAD, padding.PKCS1v15(), hashes.SHA512()),
    ("SHA224_WITH_RSA_PSS", PAYLOAD, padding.PSS(padding.MGF1(hashes.SHA224()), 28), hashes.SHA224()),
    ("SHA256_WITH_RSA_PSS", PAYLOAD, padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256()),
    (
        "NONESHA256_WITH_RSA",
        hashlib.sha256(PAYLOAD).digest(),
        padding.PKCS1v15(),
        utils.Prehashed(hashes.SHA256()),
    ),
    (
        "NONESHA384_WITH_RSA_PSS",
        hashlib.sha384(PAYLOAD).digest(),
        padding.PSS(padding.MGF1(hashes.SHA384()), 48),
        utils.Prehashed(hashes.SHA384()),
    ),
    (
        "NONE_WITH_RSA_PSS",
        hashlib.sha256(PAYLOAD).digest(),
        padding.PSS(padding.MGF1(hashes.SHA256()), 32),
        utils.Prehashed(hashes.SHA256()),
    ),
]


@pytest.mark.parametrize(("algorithm", "payload", "pad", "hash_"), RSA_CASES)
def test_rsa_signatures(
    client: httpx.Client, keys: dict[str, Any], algorithm: str, payload: bytes, pad: Any, hash_: Any
) -> None:
    signature = sign(client, "op-rsa", algorithm, payload)
    keys["op-rsa"].verify(signature, payload, pad, hash_)
    assert verify(client, "op-rsa", algorithm, payload, signature)
    assert not verify(client, "op-rsa", algorithm, payload, bytes([signature[0] ^ 1]) + signature[1:])


def test_none_with_rsa_is_raw_pkcs1(client: httpx.Client, keys: dict[str, Any]) -> None:
    digest = hashlib.sha256(PAYLOAD).digest()
    signature = sign(client, "op-rsa", "NONE_WITH_RSA", digest)
    assert keys["op-rsa"].recover_data_from_signature(signature, padding.PKCS1v15(), None) == digest


EC_CASES = [
    ("SHA256_WITH_ECDSA", PAYLOAD, ec.ECDSA(hashes.SHA256())),
    ("SHA384_WITH_ECDSA", PAYLOAD, ec.ECDSA(hashes.SHA384())),
    ("SHA1_WITH_ECDSA", PAYLOAD, ec.ECDSA(hashes.SHA1())),
    ("SHA3256_WITH_ECDSA", PAYLOAD, ec.ECDSA(hashes.SHA3_256())),
    ("NONE_WITH_ECDSA", hashlib.sha256(PAYLOAD).digest(), ec.ECDSA(utils.Prehashed(hashes.SHA256()))),
    ("DOUBLE_SHA256_WITH_ECDSA", PAYLOAD, None),
]


@pytest.mark.parametrize("label", ["op-p256", "op-p384", "op-k1", "op-bp256", "op-p224"])
@pytest.mark.parametrize(("algorithm", "payload", "scheme"), EC_CASES)
@pytest.mark.parametrize("signature_type", [None, "DER", "RAW"])
def test_ecdsa_signatures(
    client: httpx.Client,
    keys: dict[str, Any],
    label: str,
    algorithm: str,
    payload: bytes,
    scheme: Any,
    signature_type: str | None,
) -> None:
    public = keys[label]
    half = (public.curve.key_size + 7) // 8
    signature = sign(client, label, algorithm, payload, signature_type)
    if signature_type == "RAW":
        assert len(signature) == 2 * half
        der = utils.encode_dss_signature(
            int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big")
        )
    else:
        der = signature
        utils.decode_dss_signature(der)
    if scheme is None:  # double SHA-256: ECDSA over sha256(sha256(m))
        scheme = ec.ECDSA(utils.Prehashed(hashes.SHA256()))
        payload_checked = hashlib.sha256(hashlib.sha256(payload).digest()).digest()
    else:
        payload_checked = payload
    public.verify(der, payload_checked, scheme)
    assert verify(client, label, algorithm, payload, signature)  # DER or RAW, both accepted
    # (a changed first byte: ECDSA truncates a long hash to the order, so an appended one would not count)
    assert not verify(client, label, algorithm, bytes([payload[0] ^ 1]) + payload[1:], signature)


def test_eddsa(client: httpx.Client, keys: dict[str, Any]) -> None:
    for signature_type in (None, "RAW"):
        signature = sign(client, "op-ed", "EDDSA", PAYLOAD, signature_type)
        assert len(signature) == 64
        keys["op-ed"].verify(signature, PAYLOAD)
        assert verify(client, "op-ed", "EDDSA", PAYLOAD, signature)


@pytest.mark.parametrize(
    ("req", "status", "code"),
    [
        ({"signKeyName": "op-rsa", "signatureAlgorithm": "EDDSA"}, 400, 607),
        ({"signKeyName": "op-p256", "signatureAlgorithm": "SHA256_WITH_RSA"}, 400, 607),
        ({"signKeyName": "op-p256", "signatureAlgorithm": "KECCAK256_WITH_ECDSA"}, 400, 611),
        ({"signKeyName": "op-p256", "signatureAlgorithm": "SHA256_WITH_ECDSA_DETERMINISTIC"}, 400, 611),
        (
            {"signKeyName": "op-p256", "signatureAlgorithm": "SHA256_WITH_ECDSA", "signatureType": "ETH"},
            400,
            611,
        ),
        (
            {"signKeyName": "op-p256", "signatureAlgorithm": "SHA256_WITH_ECDSA", "signatureType": "XYZ"},
            400,
            621,
        ),
        ({"signKeyName": "op-p256", "signatureAlgorithm": "BLS"}, 400, 611),
        ({"signKeyName": "op-p256", "signatureAlgorithm": "NOT_AN_ALGORITHM"}, 400, 621),
        ({"signKeyName": "nope", "signatureAlgorithm": "SHA256_WITH_ECDSA"}, 404, 650),
        ({"signKeyName": "op-rsa", "signatureAlgorithm": "NONESHA256_WITH_RSA"}, 400, 612),
        (
            {
                "signKeyName": "op-p256",
                "signatureAlgorithm": "SHA256_WITH_ECDSA",
                "signedApprovals": ["AAAA"],  # not a signed approval (TSB.md 6.6)
            },
            403,
            403,
        ),
        ({"signKeyName": "op-p256", "signatureAlgorithm": "SHA256_WITH_ECDSA", "extra": 1}, 400, 621),
        ({"signKeyName": "op-p256"}, 400, 600),
        # the core's gate compares the key's type first: an AES key is no ECDSA key (607)
        ({"signKeyName": "op-aes", "signatureAlgorithm": "SHA256_WITH_ECDSA"}, 400, 607),
    ],
)
def test_sign_errors(
    client: httpx.Client, keys: dict[str, Any], req: dict[str, Any], status: int, code: int
) -> None:
    error(
        client.post("/v1/synchronousSign", json={"signRequest": {"payload": b64(PAYLOAD), **req}}),
        status,
        code,
    )


def test_unwrapped_sign_body_is_refused(client: httpx.Client) -> None:
    # a bare body (no signRequest envelope) is the third-party client's "unexplained 500": here 621
    bare = {"payload": b64(PAYLOAD), "signKeyName": "op-p256", "signatureAlgorithm": "SHA256_WITH_ECDSA"}
    error(client.post("/v1/synchronousSign", json=bare), 400, 621)


def test_key_function_not_permitted(client: httpx.Client, rest_server: Server) -> None:
    delete(client, "op-verify-only")
    attrs = {"decrypt": True, "sign": False, "unwrap": False, "destroyable": True}
    assert create(client, "op-verify-only", "RSA", keySize=2048, attributes=attrs).status_code == 201
    r = client.post(
        "/v1/synchronousSign",
        json={
            "signRequest": {
                "payload": b64(PAYLOAD),
                "signKeyName": "op-verify-only",
                "signatureAlgorithm": "SHA256_WITH_RSA",
            }
        },
    )
    body = error(r, 400, 614)
    assert body["message"] == "KEY_FUNCTION_NOT_PERMITTED"
    delete(client, "op-verify-only")


def encrypt(c: httpx.Client, label: str, algorithm: str, payload: bytes, **extra: Any) -> dict[str, Any]:
    r = c.post(
        "/v1/encrypt",
        json={
            "encryptRequest": {
                "payload": b64(payload),
                "encryptKeyName": label,
                "cipherAlgorithm": algorithm,
                **extra,
            }
        },
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


def decrypt(c: httpx.Client, label: str, algorithm: str, ciphertext: str, **extra: Any) -> bytes:
    r = c.post(
        "/v1/synchronousDecrypt",
        json={
            "decryptRequest": {
                "encryptedPayload": ciphertext,
                "decryptKeyName": label,
                "cipherAlgorithm": algorithm,
                **extra,
            }
        },
    )
    assert r.status_code == 200, r.text
    return unb64(r.json()["payload"])


def test_aes_gcm_packing(client: httpx.Client, keys: dict[str, Any]) -> None:
    aad = b"header"
    out = encrypt(client, "op-aes", "AES_GCM", PAYLOAD, tagLength=128, additionalAuthenticationData=b64(aad))
    iv, sealed = unb64(out["initializationVector"]), unb64(out["encryptedPayload"])
    assert len(iv) == 12
    assert (
        unb64(out["encryptedPayloadWithoutMessageAuthenticationCode"])
        + unb64(out["messageAuthenticationCode"])
        == sealed
    )
    assert AESGCM(keys["op-aes-secret"]).decrypt(iv, sealed, aad) == PAYLOAD
    got = decrypt(
        client,
        "op-aes",
        "AES_GCM",
        out["encryptedPayload"],
        initializationVector=out["initializationVector"],
        additionalAuthenticationData=b64(aad),
        tagLength=128,
    )
    assert got == PAYLOAD
    tampered = b64(bytes([sealed[0] ^ 1]) + sealed[1:])
    r = client.post(
        "/v1/synchronousDecrypt",
        json={
            "decryptRequest": {
                "encryptedPayload": tampered,
                "decryptKeyName": "op-aes",
                "cipherAlgorithm": "AES_GCM",
                "initializationVector": out["initializationVector"],
                "additionalAuthenticationData": b64(aad),
            }
        },
    )
    error(r, 400, 410)
    r = client.post(
        "/v1/encrypt",
        json={
            "encryptRequest": {
                "payload": b64(PAYLOAD),
                "encryptKeyName": "op-aes",
                "cipherAlgorithm": "AES_GCM",
                "tagLength": 100,
            }
        },
    )
    error(r, 400, 624)


@pytest.mark.parametrize(
    ("algorithm", "payload", "local"),
    [
        ("AES", PAYLOAD, "cbc_pad"),
        ("AES_CBC_NO_PADDING", b"0123456789abcdef" * 2, "cbc"),
        ("AES_ECB", b"0123456789abcdef", "ecb"),
        ("AES_CTR", PAYLOAD, "ctr"),
    ],
)
def test_aes_modes(
    client: httpx.Client, keys: dict[str, Any], algorithm: str, payload: bytes, local: str
) -> None:
    out = encrypt(client, "op-aes", algorithm, payload)
    ct = unb64(out["encryptedPayload"])
    key = algorithms.AES(keys["op-aes-secret"])
    iv = unb64(out["initializationVector"]) if out["initializationVector"] else None
    mode = {
        "cbc_pad": lambda: modes.CBC(iv),
        "cbc": lambda: modes.CBC(iv),
        "ecb": modes.ECB,
        "ctr": lambda: modes.CTR(iv),
    }
    plain = Cipher(key, mode[local]()).decryptor().update(ct)
    if local == "cbc_pad":
        plain = plain[: -plain[-1]]
    assert plain == payload
    extra = {"initializationVector": out["initializationVector"]} if out["initializationVector"] else {}
    assert decrypt(client, "op-aes", algorithm, out["encryptedPayload"], **extra) == payload


def test_chacha20_aead(client: httpx.Client, keys: dict[str, Any]) -> None:
    out = encrypt(client, "op-chacha", "CHACHA20_AEAD", PAYLOAD)
    nonce = unb64(out["initializationVector"])
    assert (
        ChaCha20Poly1305(keys["op-chacha-secret"]).decrypt(nonce, unb64(out["encryptedPayload"]), None)
        == PAYLOAD
    )
    assert (
        decrypt(
            client,
            "op-chacha",
            "CHACHA20_AEAD",
            out["encryptedPayload"],
            initializationVector=out["initializationVector"],
        )
        == PAYLOAD
    )


@pytest.mark.parametrize(
    "algorithm",
    [
        "RSA",
        "RSA_PADDING_PKCS",
        "RSA_PADDING_OAEP",
        "RSA_PADDING_OAEP_WITH_SHA256",
        "RSA_PADDING_OAEP_WITH_SHA512",
        "RSA_NO_PADDING",
    ],
)
def test_rsa_encryption(client: httpx.Client, algorithm: str) -> None:
    out = encrypt(client, "op-rsa", algorithm, PAYLOAD)
    assert out["initializationVector"] is None and out["messageAuthenticationCode"] is None
    assert len(unb64(out["encryptedPayload"])) == 256
    plain = decrypt(client, "op-rsa", algorithm, out["encryptedPayload"])
    if algorithm == "RSA_NO_PADDING":
        assert len(plain) == 256 and plain == bytes(256 - len(PAYLOAD)) + PAYLOAD  # the full block
    else:
        assert plain == PAYLOAD


@pytest.mark.parametrize(
    ("label", "algorithm", "status", "code"),
    [
        ("op-aes", "CAMELLIA", 400, 607),
        ("op-aes", "TDEA_CBC", 400, 607),
        ("op-chacha", "CHACHA20", 400, 611),
        ("op-p256", "RSA", 400, 607),
        ("nope", "AES", 404, 650),
    ],
)
def test_cipher_errors(
    client: httpx.Client, keys: dict[str, Any], label: str, algorithm: str, status: int, code: int
) -> None:
    r = client.post(
        "/v1/encrypt",
        json={
            "encryptRequest": {"payload": b64(PAYLOAD), "encryptKeyName": label, "cipherAlgorithm": algorithm}
        },
    )
    error(r, status, code)


def test_decrypt_garbage_is_a_client_error(client: httpx.Client, keys: dict[str, Any]) -> None:
    for algorithm, ct, extra in (
        ("RSA_PADDING_OAEP", b64(os.urandom(256)), {}),
        ("RSA", b64(os.urandom(10)), {}),
        ("AES", b64(os.urandom(17)), {"initializationVector": b64(os.urandom(16))}),
        ("AES", b64(os.urandom(16)), {"initializationVector": b64(os.urandom(5))}),
        ("AES", b64(os.urandom(16)), {}),
    ):
        label = "op-rsa" if algorithm.startswith("RSA") else "op-aes"
        r = client.post(
            "/v1/synchronousDecrypt",
            json={
                "decryptRequest": {
                    "encryptedPayload": ct,
                    "decryptKeyName": label,
                    "cipherAlgorithm": algorithm,
                    **extra,
                }
            },
        )
        assert 400 <= r.status_code < 500, (algorithm, r.text)
        assert set(r.json()) == {"errorCode", "reason", "message"}


def test_wrap_unwrap(client: httpx.Client, keys: dict[str, Any]) -> None:
    attrs = {**ALL, "destroyable": True, "extractable": True, "sensitive": False}
    for label in ("wr-aes-src", "wr-ec-src", "wr-dst-1", "wr-dst-2", "wr-dst-3"):
        delete(client, label)
    assert create(client, "wr-aes-src", "AES", keySize=128, attributes=attrs).status_code == 201
    assert (
        create(client, "wr-ec-src", "EC", curveOid="1.2.840.10045.3.1.7", attributes=attrs).status_code == 201
    )
    cases = [
        ("wr-aes-src", "op-aes", "AES_WRAP", "wr-dst-1", "AES"),
        ("wr-ec-src", "op-aes", "AES_WRAP_PAD_EC", "wr-dst-2", "EC"),
        ("wr-aes-src", "op-rsa", "RSA_WRAP_OAEP", "wr-dst-3", "AES"),
    ]
    for source, wrapper, method, new, algorithm in cases:
        r = client.post(
            "/v1/wrap",
            json={"wrapKeyRequest": {"keyToBeWrapped": source, "wrapKeyName": wrapper, "wrapMethod": method}},
        )
        assert r.status_code == 200, r.text
        wrapped = r.json()["wrappedKey"]
        if method == "AES_WRAP_PAD_EC":  # RFC 5649 over PKCS#8, checked outside softhsm-py
            pkcs8 = aes_key_unwrap_with_padding(keys["op-aes-secret"], unb64(wrapped))
            assert isinstance(serialization.load_der_private_key(pkcs8, None), ec.EllipticCurvePrivateKey)
        r = client.post(
            "/v1/synchronousUnwrap",
            json={
                "unwrapKeyRequest": {
                    "wrappedKey": wrapped,
                    "label": new,
                    "unwrapKeyName": wrapper,
                    "wrapMethod": method,
                    "attributes": attrs,
                    "policy": None,
                }
            },
        )
        assert r.status_code == 201, r.text
        info = client.post("/v1/key/attributes", json={"label": new}).json()["json"]
        assert info["algorithm"] == algorithm
    # the unwrapped AES key is the same key: it decrypts what the source encrypted
    out = encrypt(client, "wr-aes-src", "AES", PAYLOAD)
    assert (
        decrypt(
            client,
            "wr-dst-1",
            "AES",
            out["encryptedPayload"],
            initializationVector=out["initializationVector"],
        )
        == PAYLOAD
    )
    error(
        client.post(
            "/v1/wrap",
            json={
                "wrapKeyRequest": {
                    "keyToBeWrapped": "op-aes",
                    "wrapKeyName": "op-aes",
                    "wrapMethod": "AES_WRAP_BLS",
                }
            },
        ),
        400,
        611,
    )
    r = client.post(
        "/v1/synchronousUnwrap",
        json={
            "unwrapKeyRequest": {
                "wrappedKey": b64(os.urandom(24)),
                "label": "wr-bad",
                "unwrapKeyName": "op-aes",
                "wrapMethod": "AES_WRAP",
                "attributes": attrs,
            }
        },
    )
    assert 400 <= r.status_code < 500, r.text
    for label in ("wr-aes-src", "wr-ec-src", "wr-dst-1", "wr-dst-2", "wr-dst-3"):
        delete(client, label)


def test_hmac(client: httpx.Client, keys: dict[str, Any]) -> None:
    import hmac as std_hmac

    r = client.post(
        "/v1/synchronousHmac", json={"hmacRequest": {"keyName": "op-hmac", "payload": b64(PAYLOAD)}}
    )
    assert r.status_code == 200, r.text
    mac = unb64(r.json()["keyedHash"])
    assert mac == std_hmac.new(keys["op-hmac-secret"], PAYLOAD, "sha256").digest()
    for path, body in (
        (
            "/v1/verify",
            {"verifyHmacRequest": {"keyName": "op-hmac", "payload": b64(PAYLOAD), "signature": b64(mac)}},
        ),
        (
            "/v1/verifyHmac",
            {"verifyHmacRequest": {"keyName": "op-hmac", "payload": b64(PAYLOAD), "signature": b64(mac)}},
        ),
    ):
        assert client.post(path, json=body).json() == {"signatureValid": True}
    bad = {"verifyHmacRequest": {"keyName": "op-hmac", "payload": b64(PAYLOAD + b"x"), "signature": b64(mac)}}
    assert client.post("/v1/verify", json=bad).json() == {"signatureValid": False}
    error(client.post("/v1/verify", json={}), 400, 600)


def test_random_and_service_routes(client: httpx.Client) -> None:
    r = client.get("/v1/generateRandom/32")
    assert r.status_code == 200 and len(unb64(r.json()["random"])) == 32
    assert unb64(r.json()["random"]) != unb64(client.get("/v1/generateRandom/32").json()["random"])
    error(client.get("/v1/generateRandom/0"), 400, 619)
    error(client.get("/v1/generateRandom/100000000"), 400, 619)
    error(client.get("/v1/generateRandom/-1"), 400, 619)
    error(client.get("/v1/generateRandom/x"), 400, 621)
    assert client.get("/v1/versionInfo").json()["Version"].startswith("2.2.0")
    assert "REST_API" in client.get("/v1/licenseInfo").json()["clientFlags"]
    stats = client.get("/v1/keystore/statistics").json()
    assert set(stats) == {"keyStoreStatistics"} and "partition=rest" in stats["keyStoreStatistics"]
    log = client.get("/v1/hsm/log").json()
    assert set(log) == {"log"} and isinstance(log["log"], str)


def test_certificate_request_and_self_signed(client: httpx.Client, keys: dict[str, Any]) -> None:
    from cryptography import x509 as cx

    r = client.post(
        "/v1/certificate/synchronous/request",
        json={
            "signKeyName": "op-p256",
            "signatureAlgorithm": "SHA256_WITH_ECDSA",
            "validity": 30,
            "standardCertificateAttributes": {"commonName": "svc.example", "country": "CH"},
            "keyUsage": ["DIGITAL_SIGNATURE"],
            "extendedKeyUsage": ["SERVER_AUTH"],
        },
    )
    assert r.status_code == 200, r.text
    pem = r.json()["certificateSigningRequest"]
    assert pem.startswith("-----BEGIN NEW CERTIFICATE REQUEST-----")
    csr = cx.load_der_x509_csr(unb64("".join(pem.strip().splitlines()[1:-1])))
    assert csr.is_signature_valid and csr.public_key() == keys["op-p256"]
    r = client.post(
        "/v1/certificate/synchronous/selfsign",
        json={
            "signKeyName": "op-rsa",
            "signatureAlgorithm": "SHA256_WITH_RSA",
            "validity": 10,
            "commonName": "me",
            "certificateAuthority": True,
            "keyUsage": ["KEY_CERT_SIGN"],
        },
    )
    assert r.status_code == 200, r.text
    cert = cx.load_der_x509_certificate(unb64(r.json()["certificate"]))
    cert.verify_directly_issued_by(cert)
    assert cert.public_key() == keys["op-rsa"] and r.json()["label"] == "op-rsa"
    bad = {
        "signKeyName": "op-p256",
        "signatureAlgorithm": "SHA256_WITH_RSA",
        "validity": 10,
        "commonName": "me",
    }
    error(client.post("/v1/certificate/synchronous/selfsign", json=bad), 400, 607)
    bad = {
        "signKeyName": "op-aes",
        "signatureAlgorithm": "SHA256_WITH_RSA",
        "validity": 10,
        "commonName": "me",
    }
    error(client.post("/v1/certificate/synchronous/selfsign", json=bad), 400, 613)
    bad = {"signKeyName": "op-rsa", "signatureAlgorithm": "SHA1_WITH_RSA", "validity": 10, "commonName": "me"}
    error(client.post("/v1/certificate/synchronous/selfsign", json=bad), 400, 621)


def test_certificate_import_get_delete(client: httpx.Client, keys: dict[str, Any]) -> None:
    from cryptography import x509 as cx

    r = client.post(
        "/v1/certificate/synchronous/selfsign",
        json={
            "signKeyName": "op-p384",
            "signatureAlgorithm": "SHA384_WITH_ECDSA",
            "validity": 5,
            "commonName": "p384",
        },
    )
    assert r.status_code == 200, r.text
    der = r.json()["certificate"]
    got = client.get("/v1/certificate/op-p384")
    assert got.status_code == 200 and got.json() == {"label": "op-p384", "certificate": der}
    assert client.delete("/v1/certificate/op-p384").status_code == 200
    error(client.get("/v1/certificate/op-p384"), 404, 650)
    r = client.post("/v1/certificate/import/plain", json={"label": "op-p384", "certificate": der})
    assert r.status_code == 200, r.text
    assert cx.load_der_x509_certificate(unb64(client.get("/v1/certificate/op-p384").json()["certificate"]))
    # another key's certificate, and something that is no certificate, are refused
    error(
        client.post("/v1/certificate/import/plain", json={"label": "op-p256", "certificate": der}), 400, 607
    )
    error(
        client.post("/v1/certificate/import/plain", json={"label": "op-p256", "certificate": b64(b"x")}),
        400,
        600,
    )
    # a request that does not bind is refused as such (tsb-client-go's trailing comma too)
    error(client.post("/v1/certificate/import/plain", json={"label": "op-rsa", "x": 1}), 400, 621)
    raw = b'{"label": "op-rsa", "certificate": "AAAA",}'
    error(
        client.post(
            "/v1/certificate/import/plain", content=raw, headers={"Content-Type": "application/json"}
        ),
        400,
        621,
    )


def test_sign_a_certificate_request(client: httpx.Client, keys: dict[str, Any]) -> None:
    from cryptography import x509 as cx

    r = client.post(
        "/v1/certificate/synchronous/request",
        json={
            "signKeyName": "op-p256",
            "signatureAlgorithm": "SHA256_WITH_ECDSA",
            "validity": 30,
            "standardCertificateAttributes": {"commonName": "leaf"},
        },
    )
    csr_pem = r.json()["certificateSigningRequest"]
    r = client.post(
        "/v1/certificate/synchronous/sign",
        json={
            "signKeyName": "op-rsa",
            "signatureAlgorithm": "SHA256_WITH_RSA",
            "validity": 7,
            "commonName": "leaf",
            "certificateSigningRequest": csr_pem,
            "keyUsage": ["DIGITAL_SIGNATURE"],
        },
    )
    assert r.status_code == 200, r.text
    cert = cx.load_der_x509_certificate(unb64(r.json()["certificate"]))
    assert cert.public_key() == keys["op-p256"]
    cert.verify_directly_issued_by(
        cx.load_der_x509_certificate(unb64(client.get("/v1/certificate/op-rsa").json()["certificate"]))
    )
    bad = {
        "signKeyName": "op-rsa",
        "signatureAlgorithm": "SHA256_WITH_RSA",
        "validity": 7,
        "commonName": "x",
        "certificateSigningRequest": "not base64 !",
    }
    error(client.post("/v1/certificate/synchronous/sign", json=bad), 400, 628)
