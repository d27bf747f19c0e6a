"""Crossing tenants every way a caller could, against a real ``softhsm-py serve`` with two
partitions (alpha, beta): JWT bearer tokens pick the partition, API keys split the roles (the
TSB's multi-tenant set-up); a second server does the same with mutual TLS.

Each attempt must get the TSB's error, be in the audit log, and leak nothing: no other tenant's
key names, no token or API key in any response, log or audit line.
"""

from __future__ import annotations

import base64
import json
import secrets
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from support.credentials import CertAuthority, Signer, api_key, claims, hmac_token, unsigned_token

from .conftest import Server, mtls_context, partitions_table, prepare_token, start_server, tls_context
from .test_keys_routes import ALL, create, error

pytestmark = pytest.mark.slow  # servers

ISSUER, AUDIENCE = "https://issuer.test", "softhsm-py-tenants"
ROLES = (
    "keyManagementToken",
    "keyOperationToken",
    "approverToken",
    "serviceToken",
    "approverKeyManagementToken",
)
P256 = "1.2.840.10045.3.1.7"
ATTRS = {**ALL, "extractable": True, "sensitive": False, "destroyable": True}
KEYS = {
    "alpha": {"alpha-sign": "EC", "alpha-wrap": "AES", "alpha-secret": "AES", "shared": "EC"},
    "beta": {
        "beta-sign": "EC",
        "beta-wrap": "AES",
        "beta-secret": "AES",
        "shared": "EC",
        "beta-extra": "AES",
    },
}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@dataclass
class World:
    server: Server
    signer: Signer
    role_keys: dict[str, str]
    secrets: list[str] = field(default_factory=list)  # never in a response, log or audit line

    def token(self, partition: str, **kw: Any) -> str:
        token = self.signer.token(claims(partition, issuer=ISSUER, audience=AUDIENCE, **kw))
        self.secrets.append(token)
        return token

    def headers(self, partition: str, role: str, **kw: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(partition, **kw)}", "X-API-KEY": self.role_keys[role]}

    def call(self, method: str, path: str, headers: dict[str, str], body: Any = None) -> httpx.Response:
        with self.server.client() as c:
            r = c.request(method, path, headers=headers, json=body)
        for secret in self.secrets + list(self.role_keys.values()):
            assert secret not in r.text, (path, r.text)
        return r

    def as_tenant(
        self, partition: str, role: str, method: str, path: str, body: Any = None
    ) -> httpx.Response:
        return self.call(method, path, self.headers(partition, role), body)


def _make_key(world: World, partition: str, label: str, algorithm: str) -> None:
    extra: dict[str, Any] = {"curveOid": P256} if algorithm == "EC" else {"keySize": 256}
    with world.server.client(headers=world.headers(partition, "keyManagementToken")) as c:
        r = create(c, label, algorithm, attributes=ATTRS, **extra)
    assert r.status_code == 201, r.text


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("tenants")
    signer = Signer.new("ed25519")
    root.mkdir(parents=True, exist_ok=True)
    (root / "issuer.pub.pem").write_bytes(signer.public_pem)
    pairs = {role: api_key() for role in ROLES}
    rest = (
        f'\n[rest]\nmax_auth_failures = 1000\n[rest.jwt]\nissuer = "{ISSUER}"\naudience = "{AUDIENCE}"\n'
        'keys = ["issuer.pub.pem"]\n[rest.api_keys]\n'
        + "".join(f'{role} = [{{ hash = "{h}", id = "{role}-1" }}]\n' for role, (_k, h) in pairs.items())
        + partitions_table("alpha", "beta")
    )
    env = prepare_token(root, "alpha", rest, more_labels=("beta",))
    server = start_server(root, env=env)
    w = World(server, signer, {role: k for role, (k, _h) in pairs.items()}, [env["SOFTHSM_PY_TEST_REST_PIN"]])
    try:
        for partition, labels in KEYS.items():
            for label, algorithm in labels.items():
                _make_key(w, partition, label, algorithm)
        yield w
    finally:
        server.stop()


def names_of(world: World, partition: str) -> set[str]:
    r = world.as_tenant(partition, "keyManagementToken", "GET", "/v1/key")
    assert r.status_code == 200, r.text
    return set(r.json())


def audit_since(server: Server, mark: int) -> list[dict[str, Any]]:
    return server.audit()[mark:]  # type: ignore[return-value]


# ------------------------------------------------------------------------------ the key list, statistics


def test_each_tenant_lists_and_counts_only_its_keys(world: World) -> None:
    assert names_of(world, "alpha") == set(KEYS["alpha"])
    assert names_of(world, "beta") == set(KEYS["beta"])
    for partition in ("alpha", "beta"):
        r = world.as_tenant(partition, "serviceToken", "GET", "/v1/keystore/statistics")
        text = r.json()["keyStoreStatistics"]
        assert text.startswith(f"partition={partition},"), text
        # its own secret keys only (beta has one more); the EC keys, plus the attestation key
        counts = dict(part.split("=") for part in text.split(", "))
        assert (counts["secretKeys"], counts["privateKeys"]) == ("2" if partition == "alpha" else "3", "3"), (
            text
        )
        other = "beta" if partition == "alpha" else "alpha"
        assert other not in text
    # the HSM log file is shared by the tenants: a service of several partitions shows none of it
    assert world.as_tenant("alpha", "serviceToken", "GET", "/v1/hsm/log").json() == {"log": ""}


# ------------------------------------------------------------------------------ another tenant's key


def _attempts(name: str) -> list[tuple[str, str, str, Any]]:
    """(role, method, path, body) of every route that takes a key by name."""
    sign = {
        "signRequest": {"payload": b64(b"x"), "signKeyName": name, "signatureAlgorithm": "SHA256_WITH_ECDSA"}
    }
    verify = {
        "verifySignatureRequest": {
            "payload": b64(b"x"),
            "signKeyName": name,
            "signatureAlgorithm": "SHA256_WITH_ECDSA",
            "signature": b64(b"\x30\x06\x02\x01\x01\x02\x01\x01"),
        }
    }
    encrypt = {
        "encryptRequest": {"payload": b64(b"x" * 16), "encryptKeyName": name, "cipherAlgorithm": "AES_GCM"}
    }
    decrypt = {
        "decryptRequest": {
            "encryptedPayload": b64(b"y" * 32),
            "decryptKeyName": name,
            "cipherAlgorithm": "AES_GCM",
            "initializationVector": b64(b"z" * 12),
            "tagLength": 128,
        }
    }
    csr = {"signKeyName": name, "commonName": "x", "validity": 1, "signatureAlgorithm": "SHA256_WITH_ECDSA"}
    return [
        ("keyOperationToken", "POST", "/v1/synchronousSign", sign),
        ("keyOperationToken", "POST", "/v1/verify", verify),
        ("keyOperationToken", "POST", "/v1/encrypt", encrypt),
        ("keyOperationToken", "POST", "/v1/synchronousDecrypt", decrypt),
        ("keyOperationToken", "POST", "/v1/certificate/synchronous/selfsign", csr),
        ("keyManagementToken", "POST", "/v1/key/attributes", {"label": name}),
        ("keyManagementToken", "GET", f"/v1/key/{name}/attributes", None),
        ("keyManagementToken", "POST", "/v1/key/export/plain", {"label": name}),
        ("keyManagementToken", "POST", "/v1/key/keyAttestation", {"label": name}),
        (
            "keyManagementToken",
            "POST",
            "/v1/key/changePassword",
            {"label": name, "newPassword": "new-pass-1"},
        ),
        ("keyManagementToken", "POST", "/v1/key/deleteKey", {"label": name}),
        ("keyManagementToken", "DELETE", f"/v1/key/{name}", None),
    ]


def test_another_tenants_key_by_name_is_not_there(world: World) -> None:
    """Every route, with beta's key names, from alpha: 404/650, exactly as for a name no
    partition has, and beta's keys untouched."""
    mark = len(world.server.audit())
    for name in ("beta-sign", "beta-secret"):
        for (role, method, path, body), (_, _, nowhere_path, nowhere_body) in zip(
            _attempts(name), _attempts("no-such-key"), strict=True
        ):
            r = world.as_tenant("alpha", role, method, path, body)
            got = error(r, 404, 650)
            assert got["message"] == f"Key with name {name} not found", (path, got)
            nowhere = world.as_tenant("alpha", role, method, nowhere_path, nowhere_body)
            assert nowhere.json() == {**got, "message": "Key with name no-such-key not found"}
    assert names_of(world, "beta") == set(KEYS["beta"])
    lines = [
        line
        for line in audit_since(world.server, mark)
        if line["keys"] and line["keys"][0].startswith("beta-")
    ]
    assert len(lines) == 2 * len(_attempts("x"))
    for line in lines:
        assert (line["event"], line["partition"], line["status"], line["errorCode"]) == (
            "request",
            "alpha",
            404,
            650,
        )
        assert set(line["who"]) == {"token_subject", "api_key"}


def test_guessed_names_find_nothing(world: World) -> None:
    guesses = [
        "beta-sign",
        "BETA-SIGN",
        "beta-sign ",
        " beta-sign",
        "beta\u2010sign",
        "beta-sign\x00",
        "beta-*",
        "%",
    ]
    guesses += [secrets.token_hex(4) for _ in range(4)]
    mark = len(world.server.audit())
    bodies = set()
    for name in guesses:
        r = world.as_tenant("alpha", "keyManagementToken", "POST", "/v1/key/attributes", {"label": name})
        assert r.status_code in (400, 404), (name, r.text)
        body = r.json()
        bodies.add((r.status_code, body["errorCode"]))
        assert "beta" not in body["message"].replace(name, ""), body
    assert bodies <= {(404, 650), (400, 600), (400, 610)}
    audited = [line["keys"] for line in audit_since(world.server, mark)]
    assert len(audited) == len(guesses)


def test_same_name_is_each_tenants_own_key(world: World) -> None:
    a = world.as_tenant(
        "alpha", "keyManagementToken", "POST", "/v1/key/attributes", {"label": "shared"}
    ).json()
    b = world.as_tenant(
        "beta", "keyManagementToken", "POST", "/v1/key/attributes", {"label": "shared"}
    ).json()
    assert a["json"]["publicKey"] != b["json"]["publicKey"]
    req = {"payload": b64(b"hello"), "signKeyName": "shared", "signatureAlgorithm": "SHA256_WITH_ECDSA"}
    signature = world.as_tenant(
        "alpha", "keyOperationToken", "POST", "/v1/synchronousSign", {"signRequest": req}
    )
    verify = {"verifySignatureRequest": {**req, "signature": signature.json()["signature"]}}
    ok = world.as_tenant("alpha", "keyOperationToken", "POST", "/v1/verify", verify)
    other = world.as_tenant("beta", "keyOperationToken", "POST", "/v1/verify", verify)
    assert (ok.json()["signatureValid"], other.json()["signatureValid"]) == (True, False)


def test_derived_and_wrapped_keys_stay_home(world: World) -> None:
    mark = len(world.server.audit())

    def wrap(partition: str, source: str, wrapper: str) -> httpx.Response:
        body = {
            "wrapKeyRequest": {"keyToBeWrapped": source, "wrapKeyName": wrapper, "wrapMethod": "AES_WRAP"}
        }
        return world.as_tenant(partition, "keyOperationToken", "POST", "/v1/wrap", body)

    def unwrap(partition: str, blob: str, wrapper: str, label: str) -> httpx.Response:
        body = {
            "unwrapKeyRequest": {
                "wrappedKey": blob,
                "label": label,
                "unwrapKeyName": wrapper,
                "wrapMethod": "AES_WRAP",
                "attributes": ATTRS,
                "policy": None,
            }
        }
        return world.as_tenant(partition, "keyOperationToken", "POST", "/v1/synchronousUnwrap", body)

    error(wrap("alpha", "beta-secret", "alpha-wrap"), 404, 650)  # beta's key under alpha's wrapper
    error(wrap("alpha", "alpha-secret", "beta-wrap"), 404, 650)  # alpha's key out under beta's wrapper
    blob = wrap("beta", "beta-secret", "beta-wrap")
    assert blob.status_code == 200, blob.text
    wrapped = blob.json()["wrappedKey"]
    error(unwrap("alpha", wrapped, "beta-wrap", "stolen"), 404, 650)  # beta's unwrapping key
    refused = unwrap("alpha", wrapped, "alpha-wrap", "stolen")  # alpha's own key cannot open it
    assert 400 <= refused.status_code < 500 and refused.json()["errorCode"] != 650, refused.text
    assert "stolen" not in names_of(world, "alpha")
    # a derivation path names a key below another: not offered, whoever's key it is
    for name in ("beta-sign/0'", "alpha-sign/0'/1"):
        body = {
            "signRequest": {
                "payload": b64(b"x"),
                "signKeyName": name,
                "signatureAlgorithm": "SHA256_WITH_ECDSA",
            }
        }
        error(world.as_tenant("alpha", "keyOperationToken", "POST", "/v1/synchronousSign", body), 400, 611)
    refusals = [
        (line["keys"], line["errorCode"]) for line in audit_since(world.server, mark) if line["status"] >= 400
    ]
    assert refusals == [
        (["alpha-wrap", "beta-secret"], 650),
        (["beta-wrap", "alpha-secret"], 650),
        (["stolen", "beta-wrap"], 650),
        (["stolen", "alpha-wrap"], refused.json()["errorCode"]),
        (["beta-sign/0'"], 611),
        (["alpha-sign/0'/1"], 611),
    ]


# ------------------------------------------------------------------------------ tokens and keys


def test_tokens_that_open_nothing(world: World) -> None:
    ops = world.role_keys["serviceToken"]
    other = Signer.new("ed25519")
    good = claims("alpha", issuer=ISSUER, audience=AUDIENCE)
    head, _, sig = world.signer.token(good).split(".")
    swapped = (
        base64.urlsafe_b64encode(json.dumps({**good, "partition": "beta"}).encode()).rstrip(b"=").decode()
    )
    cases = {
        "another audience": (world.signer.token({**good, "aud": "another-service"}), "jwt: wrong audience"),
        "another issuer": (world.signer.token({**good, "iss": "https://evil.test"}), "jwt: wrong issuer"),
        "expired": (world.signer.token({**good, "exp": good["iat"] - 300}), "jwt: expired"),
        "alg none": (unsigned_token(good), "jwt: algorithm not accepted"),
        "HS256 with the public key": (
            hmac_token(world.signer.public_pem, good),
            "jwt: algorithm not accepted",
        ),
        "another signer": (other.token(good), "jwt: bad signature"),
        "a partition not served": (
            world.signer.token({**good, "partition": "gamma"}),
            "jwt: names a partition",
        ),
        "partition swapped": (f"{head}.{swapped}.{sig}", "jwt: bad signature"),
    }
    mark = len(world.server.audit())
    for what, (token, _reason) in cases.items():
        world.secrets.append(token)
        r = world.call(
            "GET", "/v1/keystore/statistics", {"Authorization": f"Bearer {token}", "X-API-KEY": ops}
        )
        assert error(r, 401, 617)["message"] == "Invalid access token", what
        assert r.headers["www-authenticate"] == "Bearer"
    error(world.call("GET", "/v1/keystore/statistics", {"X-API-KEY": ops}), 401, 406)
    lines = audit_since(world.server, mark)
    assert len(lines) == len(cases) + 1
    for line, (_, reason) in zip(lines, cases.values(), strict=False):
        assert line["reason"].startswith(reason) and line["errorCode"] == 617, line
    assert lines[-1]["errorCode"] == 406
    assert all(line["event"] == "refused" and line["partition"] is None for line in lines)


def test_a_roles_key_on_another_roles_route(world: World) -> None:
    routes = {  # a route of each role (the approver route, past the gate, refuses the empty body: 621)
        "keyManagementToken": ("GET", "/v1/key"),
        "keyOperationToken": ("GET", "/v1/generateRandom/8"),
        "serviceToken": ("GET", "/v1/keystore/statistics"),
        "approverToken": ("POST", "/v1/filteredSignApprovalTask"),
        "approverKeyManagementToken": ("GET", "/v1/approverManagement/onboarding/status"),
    }
    mark = len(world.server.audit())
    refused = 0
    for role in ROLES:
        for route_role, (method, path) in routes.items():
            r = world.as_tenant("alpha", role, method, path)
            opens = role == route_role or (path.startswith("/v1/generateRandom") and role == "serviceToken")
            if opens:  # let through: the route's answer (an empty body: 621), or 404/102 if not served
                body = r.json()
                assert not isinstance(body, dict) or body.get("errorCode") in (None, 102, 621), (
                    role,
                    path,
                    r.text,
                )
            else:
                error(r, 401, 631)
                refused += 1
    lines = [line for line in audit_since(world.server, mark) if line["event"] == "refused"]
    assert len(lines) == refused
    assert all(line["reason"].startswith("api key lacks") and line["partition"] == "alpha" for line in lines)
    # a token whose roles do not open the route: 403/400, whatever the key
    sign = {
        "signRequest": {
            "payload": b64(b"x"),
            "signKeyName": "alpha-sign",
            "signatureAlgorithm": "SHA256_WITH_ECDSA",
        }
    }
    headers = world.headers("alpha", "keyOperationToken", roles=["serviceToken"])
    error(world.call("POST", "/v1/synchronousSign", headers, sign), 403, 400)
    headers["x-api-key"] = headers.pop("X-API-KEY")  # any case of the header
    error(world.call("POST", "/v1/synchronousSign", headers, sign), 403, 400)


def test_a_good_call_is_audited_with_its_caller(world: World) -> None:
    mark = len(world.server.audit())
    sign = {"signRequest": {"payload": b64(b"secret payload"), "signKeyName": "alpha-sign",
                            "signatureAlgorithm": "SHA256_WITH_ECDSA"}}  # fmt: skip
    headers = world.headers("alpha", "keyOperationToken", subject="billing-service")
    assert world.call("POST", "/v1/synchronousSign", headers, sign).status_code == 200
    (line,) = audit_since(world.server, mark)
    assert (
        line["who"]["token_subject"] == "billing-service" and line["who"]["api_key"] == "keyOperationToken-1"
    )
    assert (line["partition"], line["route"], line["keys"], line["status"]) == (
        "alpha", "POST /v1/synchronousSign", ["alpha-sign"], 200,
    )  # fmt: skip
    assert b64(b"secret payload") not in json.dumps(line)


def test_nothing_secret_in_the_audit_log_or_the_service_log(world: World) -> None:
    """Run last in the module (pytest keeps file order): every token and key used so far."""
    path = world.server.root / "tokens" / "rest-audit.jsonl"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    texts = [path.read_text(), world.server.output()]
    log_file = world.server.root / "softhsm-py.log"
    if log_file.exists():
        texts.append(log_file.read_text())
    assert len(world.secrets) > 20
    for text in texts:
        for secret in world.secrets + list(world.role_keys.values()):
            assert secret not in text


# ------------------------------------------------------------------------------ mutual TLS


@dataclass
class MtlsWorld:
    server: Server
    certs: dict[str, tuple[Path, Path]]
    keys: dict[str, str]

    def call(
        self, who: str | None, key: str | None, method: str, path: str, body: Any = None
    ) -> httpx.Response:
        assert self.server.cert is not None
        verify = mtls_context(self.server.cert, *self.certs[who]) if who else tls_context(self.server.cert)
        headers = {"X-API-KEY": self.keys[key]} if key else {}
        with httpx.Client(base_url=self.server.url, verify=verify, timeout=60) as c:
            r = c.request(method, path, headers=headers, json=body)
        for secret in self.keys.values():
            assert secret not in r.text
        return r


@pytest.fixture(scope="module")
def mtls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MtlsWorld]:
    root = tmp_path_factory.mktemp("mtls")
    ca, stranger_ca = CertAuthority.new("tenants CA"), CertAuthority.new("another CA")
    (root / "ca.pem").write_bytes(ca.pem)
    certs, fingerprints = {}, {}
    for name, authority in (("alpha", ca), ("beta", ca), ("unmapped", ca), ("stranger", stranger_ca)):
        cert, key, fingerprints[name] = authority.write_client(root / "clients", name)
        certs[name] = (cert, key)
    pairs = {name: api_key() for name in ("manage", "ops-alpha", "ops-beta")}
    rest = (
        '\n[rest]\nmax_auth_failures = 1000\n[rest.mtls]\nca_bundle = "ca.pem"\nclient_auth = "need"\n'
        + "".join(
            f'[[rest.mtls.clients]]\nfingerprint = "{fingerprints[n]}"\npartition = "{n}"\n'
            for n in ("alpha", "beta")
        )
        + "[rest.api_keys]\n"
        + f'keyManagementToken = ["{pairs["manage"][1]}"]\n'
        + f'keyOperationToken = [{{ hash = "{pairs["ops-alpha"][1]}", partition = "alpha" }},'
        + f' {{ hash = "{pairs["ops-beta"][1]}", partition = "beta" }}]\n'
        + partitions_table("alpha", "beta")
    )
    env = prepare_token(root, "alpha", rest, more_labels=("beta",))
    server = start_server(root, env=env, client_cert=certs["alpha"])
    world = MtlsWorld(server, certs, {name: k for name, (k, _h) in pairs.items()})
    try:
        for tenant in ("alpha", "beta"):
            body = {"label": f"{tenant}-sign", "algorithm": "EC", "curveOid": P256, "attributes": ATTRS}
            assert world.call(tenant, "manage", "POST", "/v1/key", body).status_code == 201
        yield world
    finally:
        server.stop()


def test_certificates_pick_the_partition(mtls: MtlsWorld) -> None:
    assert mtls.call("alpha", "manage", "GET", "/v1/key").json() == ["alpha-sign"]
    assert mtls.call("beta", "manage", "GET", "/v1/key").json() == ["beta-sign"]
    sign = {
        "signRequest": {
            "payload": b64(b"x"),
            "signKeyName": "beta-sign",
            "signatureAlgorithm": "SHA256_WITH_ECDSA",
        }
    }
    assert mtls.call("beta", "ops-beta", "POST", "/v1/synchronousSign", sign).status_code == 200
    mark = len(mtls.server.audit())
    # alpha's certificate with beta's operation key: the credentials disagree
    error(mtls.call("alpha", "ops-beta", "POST", "/v1/synchronousSign", sign), 401, 618)
    error(mtls.call("alpha", "ops-alpha", "POST", "/v1/synchronousSign", sign), 404, 650)
    # a certificate of the right CA that no row maps
    error(mtls.call("unmapped", "manage", "GET", "/v1/key"), 401, 618)
    lines = audit_since(mtls.server, mark)
    assert [(line["event"], line["status"], line["errorCode"]) for line in lines] == [
        ("refused", 401, 618), ("request", 404, 650), ("refused", 401, 618),
    ]  # fmt: skip
    assert lines[0]["reason"].startswith("credentials disagree on the partition")
    assert lines[1]["partition"] == "alpha" and lines[1]["keys"] == ["beta-sign"]
    assert lines[2]["reason"] == "mtls: certificate not mapped" and lines[2]["who"]["certificate_sha256"]


def test_a_certificate_from_another_ca_never_gets_in(mtls: MtlsWorld) -> None:
    mark = len(mtls.server.audit())
    for who in ("stranger", None):
        with pytest.raises(httpx.HTTPError):
            mtls.call(who, "manage", "GET", "/v1/key")
    lines = audit_since(mtls.server, mark)
    assert [line["event"] for line in lines] == ["tls_refused", "tls_refused"]
    assert lines[0]["reason"].startswith("mtls: certificate not verified")
    assert lines[1]["reason"] == "mtls: no client certificate"
    assert all(line["client"] and line["client"].startswith("127.0.0.1:") for line in lines)
