"""The one place that decides who calls: credentials -> a ``Caller`` (one partition, the roles it
holds, who it is), and whether those roles open a route.

Checked in this order, each method only when configured (they combine with AND):

1. mutual TLS: a verified client certificate that a ``[[rest.mtls.clients]]`` row names
   (none: 401/618);
2. JWT: ``Authorization: Bearer <token>`` (missing: 401/406; invalid: 401/617);
3. API key: ``X-API-KEY`` (any case) equal to a configured key (missing or unknown: 401/631);
4. the partition: every method that names one must name the same (else 401/618); when none
   names one, the service must serve exactly one;
5. the route: an API key whose roles do not open it is refused as the TSB does (401/631, so
   tsb-client-go rolls over to its next key); a token or certificate whose roles do not open
   it gives 403/400.

Without any method (``--dev``, or a loopback address with one partition) every caller is the
anonymous owner of the one partition. Refusals name the method and a reason for the log; the
message sent back is a fixed text, never a token, key or claim.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from softhsm_py.rest.auth import bearer
from softhsm_py.rest.auth.apikeys import ApiKey, ApiKeys
from softhsm_py.rest.auth.clientcert import CertRule, ClientCertificates, fingerprint
from softhsm_py.rest.auth.roles import ALL_ROLES, ROLE_NAMES, Role
from softhsm_py.rest.auth.settings import AuthSettings
from softhsm_py.rest.errors import BusinessReason, TsbError

R = BusinessReason


class AuthRefused(TsbError):
    """A refused caller. ``detail`` is for the log and audit (no secret); ``who`` what was
    established before the refusal."""

    def __init__(
        self,
        reason: BusinessReason,
        message: str,
        status: int,
        detail: str,
        who: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(reason, message, status, headers=headers)
        self.detail = detail
        self.who = dict(who or {})


@dataclass(frozen=True)
class Credentials:
    """What a request presents (header values as sent; the certificate as TLS verified it)."""

    api_key: str | None = None
    authorization: str | None = None
    client_cert: bytes | None = None  # DER of the verified leaf
    duplicate_headers: bool = False  # two X-API-KEY or Authorization headers


@dataclass(frozen=True)
class Caller:
    partition: str
    grants: tuple[tuple[str, frozenset[Role]], ...]  # (method, roles it grants)
    who: Mapping[str, str] = field(default_factory=dict)

    @property
    def roles(self) -> frozenset[Role]:
        roles = ALL_ROLES
        for _method, granted in self.grants:
            roles = roles & granted
        return roles


def _bearer_token(value: str) -> str | None:
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


class Gate:
    def __init__(self, auth: AuthSettings, labels: tuple[str, ...]) -> None:
        self.auth = auth
        self.labels = labels
        self.api_keys: ApiKeys | None = None
        self.bearer: bearer.BearerVerifier | None = None
        self.certs: ClientCertificates | None = None
        if auth.api_keys is not None:
            self.api_keys = ApiKeys(
                [
                    ApiKey(row.hash, frozenset(ROLE_NAMES[r] for r in row.roles), row.id, row.partition)
                    for row in auth.api_keys
                ]
            )
        if auth.jwt is not None:
            j = auth.jwt
            self.bearer = bearer.BearerVerifier(
                bearer.load_keys(j.keys, j.algorithms),
                issuer=j.issuer,
                audience=j.audience,
                leeway=j.leeway_seconds,
                partition_claim=j.partition_claim,
                roles_claim=j.roles_claim,
                served=labels,
            )
        if auth.mtls is not None:
            self.certs = ClientCertificates(
                [
                    CertRule(c.partition, frozenset(ROLE_NAMES[r] for r in c.roles), c.fingerprint, c.subject)
                    for c in auth.mtls.clients
                ]
            )

    @property
    def anonymous(self) -> bool:
        return not self.auth.methods

    def authenticate(self, creds: Credentials) -> Caller:
        if self.anonymous:
            return Caller(self.labels[0], (("none", ALL_ROLES),), {"anonymous": "no authentication"})
        if creds.duplicate_headers:
            raise AuthRefused(R.INVALID_API_KEY, "Invalid API key", 401, "repeated credential header")
        who: dict[str, str] = {}
        grants: list[tuple[str, frozenset[Role]]] = []
        named: list[tuple[str, str]] = []  # (method, partition)
        if self.certs is not None:
            if creds.client_cert is None:
                raise AuthRefused(
                    R.INSUFFICIENT_LOGIN_INFORMATION,
                    "A client certificate is required",
                    401,
                    "mtls: no certificate",
                )
            identity = self.certs.identify(creds.client_cert)
            if identity is None:
                who["certificate_sha256"] = fingerprint(creds.client_cert)
                raise AuthRefused(
                    R.INSUFFICIENT_LOGIN_INFORMATION,
                    "The client certificate is not authorised",
                    401,
                    "mtls: certificate not mapped",
                    who,
                )
            who["certificate_sha256"] = identity.fingerprint
            grants.append(("mtls", identity.rule.roles))
            named.append(("mtls", identity.rule.partition))
        if self.bearer is not None:
            token = _bearer_token(creds.authorization) if creds.authorization else None
            challenge = {"WWW-Authenticate": "Bearer"}
            if token is None:
                raise AuthRefused(
                    R.MISSING_ACCESS_TOKEN, "Missing access token", 401, "jwt: no token", who, challenge
                )
            try:
                claims = self.bearer.verify(token)
            except bearer.TokenRefused as exc:
                raise AuthRefused(
                    R.INVALID_ACCESS_TOKEN, "Invalid access token", 401, f"jwt: {exc.reason}", who, challenge
                ) from None
            who["token_subject"] = claims.subject
            if claims.token_id:
                who["token_id"] = claims.token_id[:64]
            grants.append(("jwt", claims.roles))
            named.append(("jwt", claims.partition))
        if self.api_keys is not None:
            key = self.api_keys.match(creds.api_key) if creds.api_key else None
            if key is None:
                detail = "api key: missing" if not creds.api_key else "api key: unknown"
                raise AuthRefused(R.INVALID_API_KEY, "Invalid API key", 401, detail, who)
            who["api_key"] = key.id
            grants.append(("api_key", key.roles))
            if key.partition is not None:
                named.append(("api_key", key.partition))
        partitions = {label for _method, label in named}
        if len(partitions) > 1:
            raise AuthRefused(
                R.INSUFFICIENT_LOGIN_INFORMATION,
                "The credentials name different partitions",
                401,
                "credentials disagree on the partition: " + ", ".join(f"{m}={p}" for m, p in named),
                who,
            )
        if partitions:
            partition = partitions.pop()
        elif len(self.labels) == 1:
            partition = self.labels[0]
        else:  # check() refuses such a configuration; kept as a net
            raise AuthRefused(
                R.INSUFFICIENT_LOGIN_INFORMATION, "No partition selected", 401, "no partition", who
            )
        return Caller(partition, tuple(grants), who)

    @staticmethod
    def authorize(caller: Caller, pattern: str, allowed: frozenset[Role]) -> None:
        """Refuse unless every method's roles open a route that ``allowed`` roles open."""
        wanted = " or ".join(sorted(r.value for r in allowed))
        # the API key first: its refusal (631) is the one tsb-client-go rolls over on
        for method, granted in sorted(caller.grants, key=lambda grant: grant[0] != "api_key"):
            if granted & allowed:
                continue
            if method == "api_key":
                detail = f"api key lacks {wanted} for {pattern}"
                raise AuthRefused(R.INVALID_API_KEY, "Invalid API key", 401, detail, caller.who)
            raise AuthRefused(
                R.SECURITY_NOT_ALLOWED,
                "The caller's roles do not open this route",
                403,
                f"{method} lacks {wanted} for {pattern}",
                caller.who,
            )
