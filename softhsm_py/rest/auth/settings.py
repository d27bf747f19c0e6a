"""The authentication part of the ``[rest]`` table: which methods are on and their settings.

```toml
[rest]
max_auth_failures = 20             # refused authentications per client address and worker...
auth_failure_window = 60           # ...within this many seconds; then 429 until the window passes

[rest.api_keys]                    # on when present: every /v1 route needs its role's X-API-KEY
keyManagementToken = ["sha256:..."]                  # hashes from `softhsm-py api-key`
keyOperationToken = ["sha256:...", { hash = "sha256:...", id = "ci", partition = "demo" }]
serviceToken = ["sha256:..."]
approverToken = []
approverKeyManagementToken = []

[rest.jwt]                         # on when present: every /v1 route needs a bearer token
issuer = "https://issuer.example"
audience = "softhsm-py"
keys = ["issuer.pub.pem", "issuer.jwks.json"]        # PEM public keys or JWKS files
# algorithms = ["EdDSA", "ES256", "RS256"]  leeway_seconds = 30
# partition_claim = "partition"  roles_claim = "roles"

[rest.mtls]                        # on when present: TLS asks for a client certificate
ca_bundle = "clients-ca.pem"       # the CAs client certificates must chain to
client_auth = "need"               # "need": no certificate, no TLS; "want": refused with 401
[[rest.mtls.clients]]
fingerprint = "AB:CD:..."          # SHA-256 of the certificate, or
# subject = "CN=billing,O=Example" #   its subject (RFC 4514)
partition = "demo"
roles = ["keyOperationToken"]      # optional: every role
```

Every method configured must succeed (they combine with AND); the roles a caller holds are
what every method grants; each method that names a partition must name the same one.
Settings hold plain values (they travel to the workers as JSON); ``softhsm_py.rest.auth.gate``
builds the checkers from them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from softhsm_py.config import ConfigError
from softhsm_py.rest.auth import apikeys, bearer
from softhsm_py.rest.auth.clientcert import normalise_fingerprint
from softhsm_py.rest.auth.roles import ROLE_NAMES, parse_roles

CLIENT_AUTH = ("need", "want")
MAX_LEEWAY = 300
_JWT_KEYS = frozenset(
    {"issuer", "audience", "keys", "algorithms", "leeway_seconds", "partition_claim", "roles_claim"}
)
_MTLS_KEYS = frozenset({"ca_bundle", "client_auth", "clients"})
_CLIENT_KEYS = frozenset({"fingerprint", "subject", "partition", "roles"})
_API_KEY_ENTRY_KEYS = frozenset({"hash", "id", "partition"})


@dataclass(frozen=True)
class ApiKeyRow:
    hash: str
    roles: tuple[str, ...]
    id: str
    partition: str | None = None


@dataclass(frozen=True)
class JwtSettings:
    issuer: str
    audience: str
    keys: tuple[str, ...]
    algorithms: tuple[str, ...] = bearer.ALGORITHMS
    leeway_seconds: int = 30
    partition_claim: str = "partition"
    roles_claim: str = "roles"


@dataclass(frozen=True)
class CertRow:
    partition: str
    roles: tuple[str, ...]
    fingerprint: str | None = None
    subject: str | None = None


@dataclass(frozen=True)
class MtlsSettings:
    ca_bundle: str
    client_auth: str = "need"
    clients: tuple[CertRow, ...] = ()


@dataclass(frozen=True)
class AuthSettings:
    api_keys: tuple[ApiKeyRow, ...] | None = None  # None: API keys off
    jwt: JwtSettings | None = None
    mtls: MtlsSettings | None = None
    max_failures: int = 20
    failure_window: int = 60

    @property
    def methods(self) -> tuple[str, ...]:
        """The methods on, by their config table name."""
        on = [("mtls", self.mtls), ("jwt", self.jwt), ("api_keys", self.api_keys)]
        return tuple(name for name, value in on if value is not None)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AuthSettings:
        """The inverse of ``dataclasses.asdict`` (after a JSON round trip: lists for tuples)."""
        keys, jwt, mtls = data.get("api_keys"), data.get("jwt"), data.get("mtls")
        api_keys = None
        if keys is not None:
            api_keys = tuple(ApiKeyRow(**{**k, "roles": tuple(k["roles"])}) for k in keys)
        jwt_settings = None
        if jwt is not None:
            lists = {"keys": tuple(jwt["keys"]), "algorithms": tuple(jwt["algorithms"])}
            jwt_settings = JwtSettings(**{**jwt, **lists})
        mtls_settings = None
        if mtls is not None:
            clients = tuple(CertRow(**{**c, "roles": tuple(c["roles"])}) for c in mtls["clients"])
            mtls_settings = MtlsSettings(mtls["ca_bundle"], mtls["client_auth"], clients)
        return cls(
            api_keys=api_keys,
            jwt=jwt_settings,
            mtls=mtls_settings,
            max_failures=data.get("max_failures", 20),
            failure_window=data.get("failure_window", 60),
        )


# ------------------------------------------------------------------------------ parsing


def _str(value: object, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where} must be a non-empty string")
    return value


def _path(value: object, where: str, base: Path) -> str:
    p = Path(_str(value, where)).expanduser()
    return str(p if p.is_absolute() else (base / p).resolve())


def _int(value: object, where: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{where} must be an integer from {low} to {high}")
    return value


def _roles(value: object, where: str) -> tuple[str, ...]:
    try:
        roles = parse_roles(value, where)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return tuple(sorted(r.value for r in roles))


def _api_keys(table: object, where: str) -> tuple[ApiKeyRow, ...]:
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table of role = [hashes]")
    unknown = sorted(set(table).difference(ROLE_NAMES))
    if unknown:
        raise ConfigError(f"{where} unknown role(s): {', '.join(unknown)} (known: {', '.join(ROLE_NAMES)})")
    rows: dict[str, ApiKeyRow] = {}
    for role, entries in table.items():
        at = f"{where} {role}"
        if not isinstance(entries, list):
            raise ConfigError(f"{at} must be a list of hashes")
        for i, entry in enumerate(entries):
            item = entry if isinstance(entry, dict) else {"hash": entry}
            bad = sorted(set(item).difference(_API_KEY_ENTRY_KEYS))
            if bad:
                raise ConfigError(f"{at}[{i}] unknown key(s): {', '.join(bad)}")
            key_hash = item.get("hash")
            if not isinstance(key_hash, str) or not apikeys.HASH_PATTERN.fullmatch(key_hash):
                # never repeat the value: it might be a key pasted by mistake
                raise ConfigError(
                    f"{at}[{i}] must be a hash 'sha256:<64 hex digits>' from 'softhsm-py api-key' "
                    "(keys themselves are never configured)"
                )
            key_id = _str(item.get("id", apikeys.default_id(key_hash)), f"{at}[{i}] id")
            partition = item.get("partition")
            if partition is not None:
                partition = _str(partition, f"{at}[{i}] partition")
            seen = rows.get(key_hash)
            if seen is not None:
                if (seen.id, seen.partition) != (key_id, partition):
                    raise ConfigError(f"{at}[{i}]: the same key is listed with another id or partition")
                rows[key_hash] = ApiKeyRow(key_hash, tuple(sorted({*seen.roles, role})), key_id, partition)
            else:
                rows[key_hash] = ApiKeyRow(key_hash, (role,), key_id, partition)
    if not rows:
        raise ConfigError(f"{where} lists no key: remove the table or add hashes")
    ids = [row.id for row in rows.values()]
    if len(set(ids)) != len(ids):
        raise ConfigError(f"{where}: two keys have the same id")
    return tuple(rows.values())


def _jwt(table: object, where: str, base: Path) -> JwtSettings:
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table")
    bad = sorted(set(table).difference(_JWT_KEYS))
    if bad:
        raise ConfigError(f"{where} unknown key(s): {', '.join(bad)}")
    keys = table.get("keys")
    if isinstance(keys, str):
        keys = [keys]
    if not isinstance(keys, list) or not keys:
        raise ConfigError(f"{where} 'keys' must list PEM public key or JWKS files")
    algorithms = table.get("algorithms", list(bearer.ALGORITHMS))
    if (
        not isinstance(algorithms, list)
        or not algorithms
        or not all(a in bearer.ALGORITHMS for a in algorithms)
    ):
        raise ConfigError(f"{where} 'algorithms' must be a list from {', '.join(bearer.ALGORITHMS)}")
    return JwtSettings(
        issuer=_str(table.get("issuer"), f"{where} 'issuer'"),
        audience=_str(table.get("audience"), f"{where} 'audience'"),
        keys=tuple(_path(k, f"{where} 'keys'", base) for k in keys),
        algorithms=tuple(dict.fromkeys(algorithms)),
        leeway_seconds=_int(table.get("leeway_seconds", 30), f"{where} 'leeway_seconds'", 0, MAX_LEEWAY),
        partition_claim=_str(table.get("partition_claim", "partition"), f"{where} 'partition_claim'"),
        roles_claim=_str(table.get("roles_claim", "roles"), f"{where} 'roles_claim'"),
    )


def _mtls(table: object, where: str, base: Path) -> MtlsSettings:
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table")
    bad = sorted(set(table).difference(_MTLS_KEYS))
    if bad:
        raise ConfigError(f"{where} unknown key(s): {', '.join(bad)}")
    client_auth = table.get("client_auth", "need")
    if client_auth not in CLIENT_AUTH:
        raise ConfigError(f'{where} \'client_auth\' must be "need" or "want"')
    raw = table.get("clients", [])
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f"{where} needs [[rest.mtls.clients]] rows mapping certificates to partitions")
    rows = []
    for i, item in enumerate(raw):
        at = f"{where} clients[{i}]"
        if not isinstance(item, dict):
            raise ConfigError(f"{at} must be a table")
        bad = sorted(set(item).difference(_CLIENT_KEYS))
        if bad:
            raise ConfigError(f"{at} unknown key(s): {', '.join(bad)}")
        if ("fingerprint" in item) == ("subject" in item):
            raise ConfigError(f"{at} needs exactly one of fingerprint and subject")
        fingerprint = None
        if "fingerprint" in item:
            try:
                fingerprint = normalise_fingerprint(_str(item["fingerprint"], f"{at} fingerprint"))
            except ValueError as exc:
                raise ConfigError(f"{at}: {exc}") from None
        subject = _str(item["subject"], f"{at} subject") if "subject" in item else None
        roles = _roles(item["roles"], f"{at} roles") if "roles" in item else tuple(sorted(ROLE_NAMES))
        rows.append(CertRow(_str(item.get("partition"), f"{at} partition"), roles, fingerprint, subject))
    fingerprints = [r.fingerprint for r in rows if r.fingerprint]
    subjects = [r.subject for r in rows if r.subject]
    if len(set(fingerprints)) != len(fingerprints) or len(set(subjects)) != len(subjects):
        raise ConfigError(f"{where}: a certificate is mapped twice")
    return MtlsSettings(_path(table.get("ca_bundle"), f"{where} 'ca_bundle'", base), client_auth, tuple(rows))


def parse(table: Mapping[str, Any], source: str, base: Path) -> AuthSettings:
    """The authentication settings in the ``[rest]`` table ``table`` (``source``: "file: " or "")."""
    api_keys = _api_keys(table["api_keys"], f"{source}[rest.api_keys]") if "api_keys" in table else None
    jwt = _jwt(table["jwt"], f"{source}[rest.jwt]", base) if "jwt" in table else None
    mtls = _mtls(table["mtls"], f"{source}[rest.mtls]", base) if "mtls" in table else None
    where = f"{source}[rest]"
    return AuthSettings(
        api_keys=api_keys,
        jwt=jwt,
        mtls=mtls,
        max_failures=_int(table.get("max_auth_failures", 20), f"{where} 'max_auth_failures'", 1, 1_000_000),
        failure_window=_int(table.get("auth_failure_window", 60), f"{where} 'auth_failure_window'", 1, 86400),
    )


def check(auth: AuthSettings, labels: tuple[str, ...], *, loopback: bool, tls: bool, host: str) -> None:
    """The rules that tie the methods to the address and the partitions served."""
    served = set(labels)
    if not auth.methods:
        if not loopback:
            raise ConfigError(
                f"serving on {host} needs authentication: configure [rest.api_keys], [rest.jwt] "
                "or [rest.mtls] (README: REST service, Authentication)"
            )
        if len(labels) > 1:
            raise ConfigError(
                "several partitions need authentication to pick one per caller: configure "
                "[rest.jwt], [rest.mtls] or [rest.api_keys] with a partition per key"
            )
    if auth.api_keys is not None:
        for row in auth.api_keys:
            if row.partition is not None and row.partition not in served:
                raise ConfigError(
                    f"[rest.api_keys] key '{row.id}': partition '{row.partition}' is not served"
                )
        if auth.jwt is None and auth.mtls is None and len(labels) > 1:
            unbound = [row.id for row in auth.api_keys if row.partition is None]
            if unbound:
                raise ConfigError(
                    "[rest.api_keys]: with several partitions and no token or certificate to pick one, "
                    f"every key needs a partition (not: {', '.join(unbound)})"
                )
    if auth.mtls is not None:
        if not tls:
            raise ConfigError("[rest.mtls] needs TLS: it cannot be combined with plain HTTP")
        for client in auth.mtls.clients:
            if client.partition not in served:
                raise ConfigError(f"[rest.mtls] clients: partition '{client.partition}' is not served")
        import ssl

        try:
            ssl.create_default_context().load_verify_locations(cafile=auth.mtls.ca_bundle)
        except (OSError, ssl.SSLError):
            bundle = auth.mtls.ca_bundle
            raise ConfigError(f"[rest.mtls] ca_bundle: {bundle} is not a PEM bundle of CAs") from None
    if auth.jwt is not None:
        bearer.load_keys(auth.jwt.keys, auth.jwt.algorithms)


def quote(text: str) -> str:
    """A TOML basic string."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in escaped) + '"'


def render_lines(auth: AuthSettings) -> tuple[list[str], list[str]]:
    """(keys of [rest], sub-tables) as TOML lines for ``softhsm-py show-config``; key hashes are
    redacted to the keys' ids."""
    q = quote
    keys = [f"max_auth_failures = {auth.max_failures}", f"auth_failure_window = {auth.failure_window}"]
    if not auth.methods:
        keys.append("# no authentication: only served on a loopback address with one partition")
    tables: list[str] = []
    if auth.api_keys is not None:
        tables.append("\n[rest.api_keys]  # hashes redacted: each key shown by its id")
        for role in ROLE_NAMES:
            cells = []
            for r in (r for r in auth.api_keys if role in r.roles):
                part = f", partition = {q(r.partition)}" if r.partition else ""
                cells.append(f'{{ id = {q(r.id)}, hash = "sha256:<redacted>"{part} }}')
            tables.append(f"{role} = [{', '.join(cells)}]")
    if auth.jwt is not None:
        j = auth.jwt
        tables += [
            "\n[rest.jwt]",
            f"issuer = {q(j.issuer)}",
            f"audience = {q(j.audience)}",
            f"keys = [{', '.join(q(k) for k in j.keys)}]",
            f"algorithms = [{', '.join(q(a) for a in j.algorithms)}]",
            f"leeway_seconds = {j.leeway_seconds}",
            f"partition_claim = {q(j.partition_claim)}",
            f"roles_claim = {q(j.roles_claim)}",
        ]
    if auth.mtls is not None:
        m = auth.mtls
        tables += ["\n[rest.mtls]", f"ca_bundle = {q(m.ca_bundle)}", f"client_auth = {q(m.client_auth)}"]
        for row in m.clients:
            tables.append("[[rest.mtls.clients]]")
            if row.fingerprint:
                tables.append(f"fingerprint = {q(row.fingerprint)}")
            if row.subject:
                tables.append(f"subject = {q(row.subject)}")
            tables.append(f"partition = {q(row.partition)}")
            tables.append(f"roles = [{', '.join(q(r) for r in row.roles)}]")
    return keys, tables
