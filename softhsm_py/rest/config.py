"""The ``[rest]`` table of the configuration file, and the settings ``softhsm-py serve`` runs with.

```toml
[rest]
listen = "127.0.0.1:8443"          # HOST:PORT ("[::1]:8443" for IPv6)
workers = 2                        # uvicorn worker processes, all on the same store
tls_certificate = "server.crt"     # PEM; with tls_key. Unset: a self-signed certificate is made
tls_key = "server.key"             #   on first start in <token_dir>/rest-tls/ (fingerprint printed)
plain_http = false                 # true: no TLS; refused unless the address is loopback
ska_scheduler_interval = 10        # s between rounds of the multi-authorization scheduler (0: off)
ska_retention_days = 30            # finished requests are deleted after this many days
approver_timestamp_max_age = 600   # s an approver's signed timestamp stays good (TSB default)
approver_timestamp_max_future = 0  # s it may be ahead of the server's clock (TSB default)

audit_log = "audit.jsonl"          # JSON lines, mode 0600; default <token_dir>/rest-audit.jsonl

[[rest.partitions]]                # the tokens served, by label
label = "demo"
pin_env = "DEMO_PIN"               # the user PIN: from an environment variable...
# pin_file = "demo.pin"            # ...or a file (first line); never in this file itself
```

Authentication (``[rest.api_keys]``, ``[rest.jwt]``, ``[rest.mtls]``, ``max_auth_failures``,
``auth_failure_window``) is read by ``softhsm_py.rest.auth.settings``. Without any method the
service only starts on a loopback address with one partition.

Relative paths are resolved against the file's directory. Errors name the key, never a value.
The settings travel to uvicorn's worker processes as JSON in ``SETTINGS_ENV``; that JSON holds
where each PIN comes from, never a PIN.
"""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from softhsm_py.config import Config, ConfigError
from softhsm_py.rest.auth import settings as auth_settings
from softhsm_py.rest.auth.settings import AuthSettings

SETTINGS_ENV = "SOFTHSM_PY_REST_SETTINGS"
DEV_PIN_ENV = "SOFTHSM_PY_PIN"
DEFAULT_LISTEN = "127.0.0.1:8443"
MAX_WORKERS = 64

_TABLE_KEYS = frozenset(
    {
        "listen",
        "workers",
        "tls_certificate",
        "tls_key",
        "plain_http",
        "partitions",
        "audit_log",
        "max_auth_failures",
        "auth_failure_window",
        "api_keys",
        "jwt",
        "mtls",
        "ska_scheduler_interval",
        "ska_retention_days",
        "approver_timestamp_max_age",
        "approver_timestamp_max_future",
    }
)
AUDIT_LOG_NAME = "rest-audit.jsonl"
#: [rest] keys of whole numbers >= 0, their defaults (RestSettings) and upper bounds
_COUNTS = {
    "ska_scheduler_interval": 3600,
    "ska_retention_days": 36500,
    "approver_timestamp_max_age": 86400,
    "approver_timestamp_max_future": 3600,
}
_PARTITION_KEYS = frozenset({"label", "pin_env", "pin_file"})


@dataclass(frozen=True)
class PartitionSource:
    """One served partition and where its user PIN comes from (exactly one of env / file)."""

    label: str
    pin_env: str | None = None
    pin_file: str | None = None

    def read_pin(self, environ: Mapping[str, str] = os.environ) -> bytes:
        if self.pin_env is not None:
            value = environ.get(self.pin_env)
            if value is None:
                raise ConfigError(f"partition '{self.label}': environment variable {self.pin_env} is not set")
            return value.encode()
        assert self.pin_file is not None
        try:
            text = Path(self.pin_file).read_text(encoding="utf-8")
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise ConfigError(f"partition '{self.label}': cannot read its PIN file ({reason})") from None
        lines = text.splitlines()
        if not lines or not lines[0]:
            raise ConfigError(f"partition '{self.label}': its PIN file is empty")
        return lines[0].encode()


@dataclass(frozen=True)
class RestSettings:
    host: str
    port: int
    workers: int = 1
    tls_certificate: str | None = None
    tls_key: str | None = None
    plain_http: bool = False
    dev: bool = False
    partitions: tuple[PartitionSource, ...] = field(default_factory=tuple)
    tls_dir: str | None = None  # where a self-signed certificate is kept
    auth: AuthSettings = field(default_factory=AuthSettings)
    audit_log: str | None = None  # None: no audit log (settings built in code, tests)
    ska_scheduler_interval: int = 10
    ska_retention_days: int = 30
    approver_timestamp_max_age: int = 600
    approver_timestamp_max_future: int = 0

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> RestSettings:
        data = json.loads(text)
        data["partitions"] = tuple(PartitionSource(**p) for p in data.get("partitions", ()))
        data["auth"] = AuthSettings.from_dict(data.get("auth") or {})
        return cls(**data)

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(p.label for p in self.partitions)

    @property
    def scheme(self) -> str:
        return "http" if self.plain_http else "https"

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


def parse_listen(value: str, where: str = "listen") -> tuple[str, int]:
    """``HOST:PORT`` / ``[V6]:PORT`` -> (host, port); "localhost" means 127.0.0.1."""
    host, sep, port_text = value.rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise ConfigError(f"{where} must be HOST:PORT")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if host == "localhost":
        host = "127.0.0.1"
    port = int(port_text)
    if not 0 < port < 65536:
        raise ConfigError(f"{where}: the port must be between 1 and 65535")
    return host, port


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check(settings: RestSettings) -> None:
    """The rules no configuration may break."""
    if settings.dev and not is_loopback(settings.host):
        raise ConfigError(
            f"--dev serves without TLS or authentication: only on loopback, not {settings.host}"
        )
    if settings.plain_http and not is_loopback(settings.host):
        raise ConfigError(f"plain HTTP is only served on a loopback address, not {settings.host}")
    if (settings.tls_certificate is None) != (settings.tls_key is None):
        raise ConfigError("[rest] tls_certificate and tls_key go together")
    if not 1 <= settings.workers <= MAX_WORKERS:
        raise ConfigError(f"[rest] workers must be between 1 and {MAX_WORKERS}")
    if not settings.partitions:
        raise ConfigError("no partition to serve: add [[rest.partitions]] or use --dev --partition LABEL")
    labels = [p.label for p in settings.partitions]
    if len(set(labels)) != len(labels):
        raise ConfigError("[rest] partitions: a label appears twice")
    if not settings.dev:
        auth_settings.check(
            settings.auth,
            settings.labels,
            loopback=is_loopback(settings.host),
            tls=not settings.plain_http,
            host=settings.host,
        )


def _table(config: Config) -> Mapping[str, Any]:
    if config.source is None:
        return {}
    import tomllib

    try:
        data = tomllib.loads(config.source.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        raise ConfigError(f"{config.source}: cannot read it again for [rest]") from None
    table = data.get("rest", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{config.source}: 'rest' must be a table")
    return table


def load(config: Config) -> RestSettings:
    """Settings from the file's ``[rest]`` table (defaults where it has none)."""
    table = _table(config)
    where = f"{config.source}: [rest]" if config.source else "[rest]"
    unknown = sorted(set(table).difference(_TABLE_KEYS))
    if unknown:
        raise ConfigError(f"{where} unknown key(s): {', '.join(unknown)}")
    base = config.source.parent if config.source else Path.cwd()

    def path(key: str) -> str | None:
        value = table.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{where} '{key}' must be a non-empty string (a path)")
        p = Path(value).expanduser()
        return str(p if p.is_absolute() else (base / p).resolve())

    listen = table.get("listen", DEFAULT_LISTEN)
    if not isinstance(listen, str):
        raise ConfigError(f"{where} 'listen' must be a string HOST:PORT")
    host, port = parse_listen(listen, f"{where} 'listen'")
    workers = table.get("workers", 1)
    if isinstance(workers, bool) or not isinstance(workers, int):
        raise ConfigError(f"{where} 'workers' must be an integer")
    plain = table.get("plain_http", False)
    if not isinstance(plain, bool):
        raise ConfigError(f"{where} 'plain_http' must be true or false")
    raw_parts = table.get("partitions", [])
    if not isinstance(raw_parts, list):
        raise ConfigError(f"{where} 'partitions' must be an array of tables ([[rest.partitions]])")
    parts = []
    for i, item in enumerate(raw_parts):
        at = f"{where} partitions[{i}]"
        if not isinstance(item, dict):
            raise ConfigError(f"{at} must be a table")
        bad = sorted(set(item).difference(_PARTITION_KEYS))
        if bad:
            raise ConfigError(f"{at} unknown key(s): {', '.join(bad)}")
        label = item.get("label")
        if not isinstance(label, str) or not label or len(label.encode()) > 32:
            raise ConfigError(f"{at} 'label' must be a token label (1 to 32 bytes)")
        pin_env, pin_file = item.get("pin_env"), item.get("pin_file")
        if (pin_env is None) == (pin_file is None):
            raise ConfigError(f"{at} needs exactly one of pin_env and pin_file")
        if pin_env is not None and (not isinstance(pin_env, str) or not pin_env):
            raise ConfigError(f"{at} 'pin_env' must name an environment variable")
        if pin_file is not None:
            if not isinstance(pin_file, str) or not pin_file:
                raise ConfigError(f"{at} 'pin_file' must be a path")
            p = Path(pin_file).expanduser()
            pin_file = str(p if p.is_absolute() else (base / p).resolve())
        parts.append(PartitionSource(label, pin_env, pin_file))
    counts: dict[str, Any] = {}
    for key, most in _COUNTS.items():
        if key in table:
            value = table[key]
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= most:
                raise ConfigError(f"{where} '{key}' must be a whole number from 0 to {most}")
            counts[key] = value
    return RestSettings(
        host=host,
        port=port,
        workers=workers,
        tls_certificate=path("tls_certificate"),
        tls_key=path("tls_key"),
        plain_http=plain,
        partitions=tuple(parts),
        tls_dir=str(config.token_dir / "rest-tls"),
        auth=auth_settings.parse(table, f"{config.source}: " if config.source else "", base),
        audit_log=path("audit_log") or str(config.token_dir / AUDIT_LOG_NAME),
        **counts,
    )


def render(settings: RestSettings) -> str:
    """The ``[rest]`` table in effect as TOML (``softhsm-py show-config``), secrets redacted."""
    q = auth_settings.quote
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    lines = ["", "[rest]", f"listen = {q(f'{host}:{settings.port}')}", f"workers = {settings.workers}"]
    if settings.tls_certificate and settings.tls_key:
        lines += [f"tls_certificate = {q(settings.tls_certificate)}", f"tls_key = {q(settings.tls_key)}"]
    else:
        lines.append(f"# tls_certificate unset: a self-signed one in {settings.tls_dir}")
    lines.append(f"plain_http = {'true' if settings.plain_http else 'false'}")
    if settings.audit_log:
        lines.append(f"audit_log = {q(settings.audit_log)}")
    lines += [f"{key} = {getattr(settings, key)}" for key in _COUNTS]
    keys, tables = auth_settings.render_lines(settings.auth)
    lines += keys
    for source in settings.partitions:
        lines += ["", "[[rest.partitions]]", f"label = {q(source.label)}"]
        if source.pin_env is not None:
            lines.append(f"pin_env = {q(source.pin_env)}")
        if source.pin_file is not None:
            lines.append(f"pin_file = {q(source.pin_file)}")
    lines += tables
    return "\n".join(lines) + "\n"


def from_environment(environ: Mapping[str, str] = os.environ) -> RestSettings:
    """In a worker process: the settings the serving command put in ``SETTINGS_ENV``."""
    text = environ.get(SETTINGS_ENV)
    if not text:
        raise ConfigError(f"{SETTINGS_ENV} is not set: start the service with 'softhsm-py serve'")
    return RestSettings.from_json(text)
