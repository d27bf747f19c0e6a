"""The authentication gate in-process (fast tier): the role table against the app's routes and
the TSB's, API keys, JWT checks, method combinations, the middleware's answers, the audit log
and the rate limit. The app runs without its lifespan (no partition is opened): every case here
is decided before a route would take a partition. Against a real server: test_tenants.py."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import stat
from pathlib import Path
from typing import Any

import httpx
import pytest

from softhsm_py.config import ConfigError
from softhsm_py.rest.app import create_app
from softhsm_py.rest.auth import apikeys, bearer
from softhsm_py.rest.auth.gate import AuthRefused, Credentials, Gate
from softhsm_py.rest.auth.ratelimit import FailureLimiter
from softhsm_py.rest.auth.roles import ALL_ROLES, PUBLIC, ROUTE_ROLES, Role, route_roles
from softhsm_py.rest.auth.settings import AuthSettings, check, parse
from softhsm_py.rest.config import RestSettings
from support.credentials import CertAuthority, Signer, api_key, claims, hmac_token, unsigned_token

TSB_ROUTES = Path(__file__).resolve().parents[3] / "shared" / "tsb" / "routes-reconstructed.json"
ISSUER, AUDIENCE = "https://issuer.test", "softhsm-py-test"


# ------------------------------------------------------------------------------ the role table


def _sample(template: str) -> str:
    return template.replace("{keyName}", "k1").replace("{length}", "16").replace("{id}", "r1")


def test_every_route_of_the_app_has_one_role_row() -> None:
    app = create_app(RestSettings(host="127.0.0.1", port=1, partitions=()))
    paths = set(app.openapi()["paths"])
    assert "/v1/synchronousSign" in paths and "/v1/key/{keyName}/attributes" in paths
    for template in paths:
        row = route_roles(template)
        assert row is not None and row[1] != PUBLIC, template
        # a concrete path is judged by the same row as the route's template
        assert route_roles(_sample(template)) == row, template
    for public in (
        "/v3/api-docs",
        "/swagger-ui/index.html",
        "/swagger-ui.html",
        "/swagger-ui/swagger-ui.css",
    ):
        row = route_roles(public)
        assert row is not None and row[1] == PUBLIC, public


def test_the_tsb_routes_have_the_documented_role() -> None:
    if not TSB_ROUTES.exists():
        pytest.skip(f"needs {TSB_ROUTES}")
    routes = json.loads(TSB_ROUTES.read_text())["routes"]
    assert len(routes) > 60
    for route in routes:
        row = route_roles(_sample(route["path"]))
        assert row is not None, route["path"]
        # "keyOperationToken (docs) / serviceToken (tsb-client-go)" for generateRandom: both
        expected = {Role(name) for name in re.findall(r"\w+Token", route["apiKeyRole"])}
        assert row[1] == expected, route["path"]


@pytest.mark.parametrize(
    "path", ["/", "/v1", "/v1/keys", "/v1/keyX", "/v1/synchronousSignX", "/v2/key", "/v1/approverManagementX"]
)
def test_a_path_no_row_names_is_not_opened(path: str) -> None:
    assert route_roles(path) is None


def test_patterns_match_whole_segments() -> None:
    assert route_roles("/v1/key")[1] == {Role.KEY_MANAGEMENT}  # type: ignore[index]
    assert route_roles("/v1/filteredSignApprovalTask")[1] == {Role.APPROVER}  # type: ignore[index]
    assert route_roles("/v1/filtered/ApprovalTask") is None
    assert len({pattern for pattern, _ in ROUTE_ROLES}) == len(ROUTE_ROLES)


# ------------------------------------------------------------------------------ API keys


def test_api_key_hash_and_match() -> None:
    key, key_hash = api_key()
    assert apikeys.hash_key(key) == key_hash == "sha256:" + hashlib.sha256(key.encode()).hexdigest()
    other, other_hash = api_key()
    keys = apikeys.ApiKeys(
        [
            apikeys.ApiKey(key_hash, frozenset({Role.SERVICE}), "a"),
            apikeys.ApiKey(other_hash, frozenset({Role.KEY_OPERATION}), "b", "p1"),
            apikeys.ApiKey(key_hash, frozenset({Role.KEY_MANAGEMENT}), "a"),
        ]
    )
    found = keys.match(key)
    assert found is not None and found.roles == {Role.SERVICE, Role.KEY_MANAGEMENT} and found.id == "a"
    assert keys.match(other).partition == "p1"  # type: ignore[union-attr]
    for wrong in ("", key[:-1], key + "x", key_hash, "x" * 100_000):
        assert keys.match(wrong) is None
    with pytest.raises(ValueError):
        apikeys.hash_key("short")
    assert len(apikeys.new_key()) >= 40 and apikeys.new_key() != apikeys.new_key()


# ------------------------------------------------------------------------------ JWT


@pytest.fixture(scope="module")
def signers() -> dict[str, Signer]:
    return {kind: Signer.new(kind) for kind in ("ed25519", "p256", "rsa", "p384")}


def _verifier(
    tmp_path: Path, *signers: Signer, served: tuple[str, ...] = ("alpha", "beta")
) -> bearer.BearerVerifier:
    paths = []
    for i, s in enumerate(signers):
        p = tmp_path / f"k{i}.pem"
        p.write_bytes(s.public_pem)
        paths.append(str(p))
    keys = bearer.load_keys(paths, bearer.ALGORITHMS)
    return bearer.BearerVerifier(
        keys,
        issuer=ISSUER,
        audience=AUDIENCE,
        leeway=30,
        partition_claim="partition",
        roles_claim="roles",
        served=served,
    )


@pytest.mark.parametrize("kind", ["ed25519", "p256", "rsa"])
def test_a_good_token_of_each_algorithm(tmp_path: Path, signers: dict[str, Signer], kind: str) -> None:
    verifier = _verifier(tmp_path, signers[kind])
    got = verifier.verify(signers[kind].token(claims("alpha", jti="t1")))
    assert (got.subject, got.partition, got.roles, got.token_id) == ("tester", "alpha", ALL_ROLES, "t1")
    roles = verifier.verify(signers[kind].token(claims("beta", roles=["serviceToken", "nonsense"]))).roles
    assert roles == {Role.SERVICE}


def _refusal(verifier: bearer.BearerVerifier, token: str) -> str:
    with pytest.raises(bearer.TokenRefused) as info:
        verifier.verify(token)
    assert token not in str(info.value)
    return info.value.reason


def test_tokens_that_open_nothing(tmp_path: Path, signers: dict[str, Signer]) -> None:
    good = signers["ed25519"]
    verifier = _verifier(tmp_path, good, signers["rsa"])
    cases = {
        "wrong audience": good.token(claims("alpha", audience="another-service")),
        "wrong issuer": good.token(claims("alpha", issuer="https://evil.test")),
        "expired": good.token(claims("alpha", lifetime=-120)),
        "not yet valid (nbf or iat)": good.token({**claims("alpha"), "nbf": claims("alpha")["iat"] + 600}),
        "algorithm not accepted": unsigned_token(claims("alpha")),
        "names a partition this service does not serve": good.token(claims("gamma")),
        "missing claim partition": good.token({k: v for k, v in claims("alpha").items() if k != "partition"}),
        "missing claim exp": good.token({k: v for k, v in claims("alpha").items() if k != "exp"}),
        "missing claim sub": good.token({k: v for k, v in claims("alpha").items() if k != "sub"}),
        "'roles' must be a list of role names": good.token(claims("alpha", roles="keyOperationToken")),  # type: ignore[arg-type]
        "bad signature": Signer.new("ed25519").token(claims("alpha")),
        "no configured key for its algorithm and key id": signers["p256"].token(claims("alpha")),
        "not a compact JWS": "abc",
    }
    for reason, token in cases.items():
        assert _refusal(verifier, token) == reason, reason
    # HS256 keyed with the issuer's public key (algorithm confusion) and a swapped partition
    assert _refusal(verifier, hmac_token(good.public_pem, claims("alpha"))) == "algorithm not accepted"
    head, _, sig = good.token(claims("alpha")).split(".")
    forged = json.dumps({**claims("beta")}).encode()
    from support.credentials import b64url

    assert _refusal(verifier, f"{head}.{b64url(forged)}.{sig}") == "bad signature"
    # a little clock skew is allowed
    assert verifier.verify(good.token(claims("alpha", lifetime=-10))).partition == "alpha"


def test_key_files_are_checked(tmp_path: Path, signers: dict[str, Signer]) -> None:
    from support.credentials import write_jwks

    jwks = write_jwks(tmp_path / "keys.json", [Signer.new("ed25519", kid="a"), Signer.new("p256", kid="b")])
    assert [k.kid for k in bearer.load_keys([str(jwks)], bearer.ALGORITHMS)] == ["a", "b"]
    private = tmp_path / "private.pem"
    private.write_bytes(signers["ed25519"].private_pem)
    p384 = tmp_path / "p384.pem"
    p384.write_bytes(signers["p384"].public_pem)
    secret = tmp_path / "oct.json"
    secret.write_text(json.dumps({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}))
    for path, message in ((private, "private key"), (p384, "not a PEM public key"), (secret, "only EdDSA")):
        with pytest.raises(ConfigError, match=message):
            bearer.load_keys([str(path)], bearer.ALGORITHMS)


def test_jwks_key_ids_pick_the_key(tmp_path: Path) -> None:
    from support.credentials import write_jwks

    a, b = Signer.new("ed25519", kid="a"), Signer.new("ed25519", kid="b")
    keys = bearer.load_keys([str(write_jwks(tmp_path / "k.json", [a, b]))], bearer.ALGORITHMS)
    verifier = bearer.BearerVerifier(
        keys, issuer=ISSUER, audience=AUDIENCE, leeway=0, partition_claim="partition", roles_claim="roles",
        served=["alpha"],
    )  # fmt: skip
    assert verifier.verify(b.token(claims("alpha"))).partition == "alpha"
    no_kid = Signer(a.kind, a.private_pem, a.public_pem)
    assert verifier.verify(no_kid.token(claims("alpha"))).partition == "alpha"  # tries both
    assert _refusal(verifier, a.token(claims("alpha"), headers={"kid": "b"})) == "bad signature"
    assert _refusal(verifier, a.token(claims("alpha"), headers={"kid": "c"})).startswith("no configured key")


# ------------------------------------------------------------------------------ the gate


def _settings(tmp_path: Path, rest: str, labels: tuple[str, ...] = ("alpha", "beta")) -> AuthSettings:
    import tomllib

    table = tomllib.loads(rest).get("rest", {})
    auth = parse(table, "", tmp_path)
    check(auth, labels, loopback=True, tls=True, host="127.0.0.1")
    return auth


@pytest.fixture
def jwt_and_keys(tmp_path: Path) -> dict[str, Any]:
    signer = Signer.new("ed25519")
    (tmp_path / "issuer.pem").write_bytes(signer.public_pem)
    keys = {role: api_key() for role in ("keyOperationToken", "serviceToken")}
    bound, bound_hash = api_key()
    rest = f"""
[rest.jwt]
issuer = "{ISSUER}"
audience = "{AUDIENCE}"
keys = ["issuer.pem"]
[rest.api_keys]
keyOperationToken = [
    "{keys["keyOperationToken"][1]}",
    {{ hash = "{bound_hash}", id = "beta-ops", partition = "beta" }},
]
serviceToken = ["{keys["serviceToken"][1]}"]
"""
    gate = Gate(_settings(tmp_path, "[rest]\n" + rest), ("alpha", "beta"))
    return {"gate": gate, "signer": signer, "keys": {r: k for r, (k, _h) in keys.items()}, "bound": bound}


def _refused(gate: Gate, creds: Credentials) -> AuthRefused:
    with pytest.raises(AuthRefused) as info:
        gate.authenticate(creds)
    return info.value


def test_every_method_must_succeed(jwt_and_keys: dict[str, Any]) -> None:
    gate, signer, keys = jwt_and_keys["gate"], jwt_and_keys["signer"], jwt_and_keys["keys"]
    token = "Bearer " + signer.token(claims("alpha", issuer=ISSUER, audience=AUDIENCE))
    ops = keys["keyOperationToken"]
    caller = gate.authenticate(Credentials(api_key=ops, authorization=token))
    assert caller.partition == "alpha" and caller.roles == {Role.KEY_OPERATION}
    assert caller.who["token_subject"] == "tester" and caller.who["api_key"].startswith("key-")
    assert _refused(gate, Credentials(api_key=ops)).reason.code == 406
    assert _refused(gate, Credentials(api_key=ops, authorization="Basic abc")).reason.code == 406
    assert _refused(gate, Credentials(api_key=ops, authorization="Bearer x.y.z")).reason.code == 617
    assert _refused(gate, Credentials(authorization=token)).reason.code == 631
    wrong = _refused(gate, Credentials(api_key=ops + "x", authorization=token))
    assert (wrong.status, wrong.reason.code, wrong.message) == (401, 631, "Invalid API key")
    # a key bound to beta with a token for alpha: the credentials disagree
    mixed = _refused(gate, Credentials(api_key=jwt_and_keys["bound"], authorization=token))
    assert (mixed.reason.code, mixed.detail) == (
        618,
        "credentials disagree on the partition: jwt=alpha, api_key=beta",
    )
    dup = _refused(gate, Credentials(api_key=ops, authorization=token, duplicate_headers=True))
    assert dup.reason.code == 631


def test_roles_open_routes(jwt_and_keys: dict[str, Any]) -> None:
    gate, signer, keys = jwt_and_keys["gate"], jwt_and_keys["signer"], jwt_and_keys["keys"]
    sign = route_roles("/v1/synchronousSign")
    stats = route_roles("/v1/keystore/statistics")
    random = route_roles("/v1/generateRandom/8")
    assert sign and stats and random
    token = "Bearer " + signer.token(
        claims("alpha", issuer=ISSUER, audience=AUDIENCE, roles=["serviceToken"])
    )
    ops = gate.authenticate(Credentials(api_key=keys["keyOperationToken"], authorization=token))
    # the API key lacks nothing for a sign, the token does: 403/400
    with pytest.raises(AuthRefused) as refusal:
        gate.authorize(ops, *sign)
    assert (refusal.value.status, refusal.value.reason.code) == (403, 400)
    service = gate.authenticate(Credentials(api_key=keys["serviceToken"], authorization=token))
    gate.authorize(service, *stats)
    gate.authorize(service, *random)  # generateRandom: keyOperationToken or serviceToken
    # the key lacks the role: 401/631, so that tsb-client-go tries its next key
    with pytest.raises(AuthRefused) as refusal:
        gate.authorize(service, *sign)
    assert (refusal.value.status, refusal.value.reason.code) == (401, 631)


def test_mtls_maps_certificates(tmp_path: Path) -> None:
    ca = CertAuthority.new("CA")
    (tmp_path / "ca.pem").write_bytes(ca.pem)
    alice_pem, _ = ca.client("alice", organisation="Example")
    bob_pem, _ = ca.client("bob")
    import ssl

    alice, bob = ssl.PEM_cert_to_DER_cert(alice_pem.decode()), ssl.PEM_cert_to_DER_cert(bob_pem.decode())
    fingerprint = hashlib.sha256(bob).hexdigest()
    rest = f"""[rest.mtls]
ca_bundle = "ca.pem"
[[rest.mtls.clients]]
subject = "CN=alice,O=Example"
partition = "alpha"
roles = ["keyOperationToken"]
[[rest.mtls.clients]]
fingerprint = "{":".join(fingerprint[i : i + 2] for i in range(0, 64, 2))}"
partition = "beta"
"""
    gate = Gate(_settings(tmp_path, "[rest]\n" + rest), ("alpha", "beta"))
    got = gate.authenticate(Credentials(client_cert=alice))
    assert (got.partition, got.roles) == ("alpha", {Role.KEY_OPERATION})
    got = gate.authenticate(Credentials(client_cert=bob))
    assert (got.partition, got.roles) == ("beta", ALL_ROLES)
    assert got.who["certificate_sha256"].replace(":", "") == fingerprint.upper()
    stranger = ssl.PEM_cert_to_DER_cert(ca.client("carol")[0].decode())
    assert _refused(gate, Credentials(client_cert=stranger)).reason.code == 618
    assert _refused(gate, Credentials()).message == "A client certificate is required"


# ------------------------------------------------------------------------------ the configuration


@pytest.mark.parametrize(
    ("rest", "message"),
    [
        ('[rest.api_keys]\nkeyOperationToken = ["my-plain-secret-key-123"]', "must be a hash"),
        ("[rest.api_keys]\nkeyOperationToken = []", "lists no key"),
        ('[rest.api_keys]\nadminToken = ["sha256:' + "0" * 64 + '"]', "unknown role(s): adminToken"),
        ('[rest.jwt]\nissuer = "i"\naudience = "a"\nkeys = []', "'keys' must list"),
        ('[rest.jwt]\nissuer = "i"\naudience = "a"\nkeys = ["x"]\nalgorithms = ["HS256"]', "'algorithms'"),
        ('[rest.jwt]\nissuer = "i"\naudience = "a"\nkeys = ["x"]\nleeway_seconds = 3600', "leeway_seconds"),
        ('[rest.mtls]\nca_bundle = "ca.pem"\nclient_auth = "maybe"', "client_auth"),
        ('[rest.mtls]\nca_bundle = "ca.pem"', "needs [[rest.mtls.clients]]"),
        ('[rest.mtls]\nca_bundle = "c"\n[[rest.mtls.clients]]\npartition = "alpha"', "exactly one of"),
        (
            '[rest.mtls]\nca_bundle = "c"\n[[rest.mtls.clients]]\nfingerprint = "AB"\npartition = "a"',
            "64 hex",
        ),
    ],
)
def test_bad_tables_are_refused(tmp_path: Path, rest: str, message: str) -> None:
    import tomllib

    with pytest.raises(ConfigError, match=re.escape(message)) as info:
        parse(tomllib.loads("[rest]\n" + rest)["rest"], "", tmp_path)
    assert "my-plain-secret-key-123" not in str(info.value)


def test_configurations_that_cannot_pick_a_partition_are_refused(tmp_path: Path) -> None:
    _, h = api_key()
    keys_only = parse({"api_keys": {"keyOperationToken": [h]}}, "", tmp_path)
    with pytest.raises(ConfigError, match="every key needs a partition"):
        check(keys_only, ("alpha", "beta"), loopback=True, tls=True, host="127.0.0.1")
    check(keys_only, ("alpha",), loopback=False, tls=True, host="192.0.2.1")
    none = AuthSettings()
    with pytest.raises(ConfigError, match="needs authentication"):
        check(none, ("alpha",), loopback=False, tls=True, host="0.0.0.0")
    with pytest.raises(ConfigError, match="several partitions need authentication"):
        check(none, ("alpha", "beta"), loopback=True, tls=True, host="127.0.0.1")
    bound = parse({"api_keys": {"keyOperationToken": [{"hash": h, "partition": "gamma"}]}}, "", tmp_path)
    with pytest.raises(ConfigError, match="partition 'gamma' is not served"):
        check(bound, ("alpha",), loopback=True, tls=True, host="127.0.0.1")


def test_settings_travel_to_the_workers(tmp_path: Path, jwt_and_keys: dict[str, Any]) -> None:
    auth = jwt_and_keys["gate"].auth
    settings = RestSettings(host="127.0.0.1", port=1, auth=auth, audit_log=str(tmp_path / "a.jsonl"))
    assert RestSettings.from_json(settings.to_json()) == settings


# ------------------------------------------------------------------------------ the middleware


class App:
    """The real app in-process, its audit log in a temporary file."""

    def __init__(
        self, tmp_path: Path, auth: AuthSettings, labels: tuple[str, ...] = ("alpha", "beta")
    ) -> None:
        from softhsm_py.rest.config import PartitionSource

        self.audit_path = tmp_path / "audit.jsonl"
        parts = tuple(PartitionSource(label, pin_env="UNUSED") for label in labels)
        settings = RestSettings(
            host="127.0.0.1", port=1, partitions=parts, auth=auth, audit_log=str(self.audit_path)
        )
        self.app = create_app(settings)

    def get(self, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app, client=("192.0.2.7", 5555))
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
                return await c.get(path, headers=headers)

        return asyncio.run(go())

    def audit(self) -> list[dict[str, Any]]:
        if not self.audit_path.exists():
            return []
        return [json.loads(line) for line in self.audit_path.read_text().splitlines()]


def test_the_middleware_answers_with_the_tsb_codes(tmp_path: Path, jwt_and_keys: dict[str, Any]) -> None:
    app = App(tmp_path, jwt_and_keys["gate"].auth)
    signer, keys = jwt_and_keys["signer"], jwt_and_keys["keys"]
    token = signer.token(claims("alpha", issuer=ISSUER, audience=AUDIENCE, subject="ci"))
    ok = app.get("/v1/versionInfo", {"authorization": f"bearer {token}", "x-api-key": keys["serviceToken"]})
    assert ok.status_code == 200
    cases = [
        ({}, 401, 406),
        ({"Authorization": f"Bearer {token}"}, 401, 631),
        ({"Authorization": f"Bearer {token}", "X-Api-Key": keys["keyOperationToken"]}, 401, 631),
        ({"Authorization": f"Bearer {token}x", "X-API-KEY": keys["serviceToken"]}, 401, 617),
    ]
    for headers, status, code in cases:
        r = app.get("/v1/versionInfo", headers)
        assert (r.status_code, r.json()["errorCode"]) == (status, code), headers
        for secret in (token, *keys.values()):
            assert secret not in r.text
    assert app.get("/v1/versionInfo").headers["www-authenticate"] == "Bearer"
    # no role row: refused after authentication, as if there were no such route
    r = app.get("/v1/unknown", {"Authorization": f"Bearer {token}", "X-API-KEY": keys["serviceToken"]})
    assert (r.status_code, r.json()["errorCode"]) == (404, 102)
    assert app.get("/v3/api-docs").status_code == 200  # public
    lines = app.audit()
    assert [(line["event"], line["errorCode"]) for line in lines] == [
        ("refused", 406), ("refused", 631), ("refused", 631), ("refused", 617), ("refused", 406),
    ]  # fmt: skip
    assert lines[2]["who"]["token_subject"] == "ci" and lines[2]["reason"].startswith(
        "api key lacks serviceToken"
    )
    assert all(line["client"] == "192.0.2.7:5555" for line in lines)
    text = app.audit_path.read_text()
    for secret in (token, *keys.values()):
        assert secret not in text
    assert stat.S_IMODE(app.audit_path.stat().st_mode) == 0o600


def test_a_token_alone_picks_the_partition_and_its_roles(tmp_path: Path) -> None:
    signer = Signer.new("p256")
    (tmp_path / "issuer.pem").write_bytes(signer.public_pem)
    rest = f'[rest.jwt]\nissuer = "{ISSUER}"\naudience = "{AUDIENCE}"\nkeys = ["issuer.pem"]'
    app = App(tmp_path, _settings(tmp_path, "[rest]\n" + rest))

    def bearer(**kw: Any) -> dict[str, str]:
        return {
            "Authorization": "Bearer " + signer.token(claims("beta", issuer=ISSUER, audience=AUDIENCE, **kw))
        }

    assert app.get("/v1/versionInfo", bearer()).status_code == 200  # no roles claim: every role
    assert app.get("/v1/versionInfo", bearer(roles=["serviceToken"])).status_code == 200
    r = app.get("/v1/versionInfo", bearer(roles=["keyOperationToken"]))
    assert (r.status_code, r.json()["errorCode"]) == (403, 400)
    assert app.get("/v1/versionInfo", {"X-API-KEY": "anything-at-all-here"}).json()["errorCode"] == 406
    (refused,) = [line for line in app.audit() if line["status"] == 403]
    assert (
        refused["partition"] == "beta" and refused["reason"] == "jwt lacks serviceToken for /v1/versionInfo"
    )


def test_failures_block_the_address(tmp_path: Path) -> None:
    key, key_hash = api_key()
    auth = parse({"api_keys": {"serviceToken": [key_hash]}, "max_auth_failures": 3}, "", tmp_path)
    app = App(tmp_path, auth, ("alpha",))
    for _ in range(3):
        assert app.get("/v1/versionInfo", {"X-API-KEY": "wrong-" + key}).status_code == 401
    blocked = app.get("/v1/versionInfo", {"X-API-KEY": key})  # even the right key, for now
    assert (blocked.status_code, blocked.json()["errorCode"]) == (429, 400)
    assert int(blocked.headers["retry-after"]) >= 1
    assert app.audit()[-1]["reason"] == "rate limited"


def test_the_audit_log_follows_rotation(tmp_path: Path) -> None:
    from softhsm_py.rest.auth.audit import AuditLog

    path = tmp_path / "audit.jsonl"
    log = AuditLog(str(path))
    log.write({"n": 1})
    path.rename(tmp_path / "audit.jsonl.1")  # logrotate's rename, then a new file
    log.write({"n": 2})
    assert (tmp_path / "audit.jsonl.1").read_text() == '{"n":1}\n' and path.read_text() == '{"n":2}\n'
    path.unlink()
    log.write({"n": 3})
    assert path.read_text() == '{"n":3}\n' and stat.S_IMODE(path.stat().st_mode) == 0o600
    log.close()


def test_the_limiter_forgets_after_the_window() -> None:
    now = [1000.0]
    limiter = FailureLimiter(2, 60, clock=lambda: now[0])
    limiter.failed("a")
    assert limiter.retry_after("a") is None
    limiter.failed("a")
    assert limiter.retry_after("a") == 60 and limiter.retry_after("b") is None
    now[0] += 30
    assert limiter.retry_after("a") == 30
    now[0] += 31
    assert limiter.retry_after("a") is None and "a" not in limiter.failures


def test_the_api_description_names_the_methods(tmp_path: Path, jwt_and_keys: dict[str, Any]) -> None:
    document = App(tmp_path, jwt_and_keys["gate"].auth).get("/v3/api-docs").json()
    schemes = document["components"]["securitySchemes"]
    assert schemes["apiKey"] == {**schemes["apiKey"], "type": "apiKey", "in": "header", "name": "X-API-KEY"}
    assert schemes["bearerToken"]["scheme"] == "bearer"
    assert document["security"] == [{"bearerToken": [], "apiKey": []}]
    assert "securitySchemes" not in App(tmp_path, AuthSettings(), ("alpha",)).get("/v3/api-docs").json().get(
        "components", {}
    )


def test_without_authentication_the_caller_is_anonymous(tmp_path: Path) -> None:
    app = App(tmp_path, AuthSettings(), ("alpha",))
    assert app.get("/v1/versionInfo").status_code == 200
    # the route would take the partition (not opened here): the gate let it through
    r = app.get("/v1/keystore/statistics")
    assert r.status_code == 401 and r.json()["errorCode"] == 618
