"""Module configuration: one TOML file, read once at C_Initialize (and by the CLI).

Lookup order:

1. ``$SOFTHSM_PY_CONF`` names the file; it must exist.
2. ``$XDG_CONFIG_HOME/softhsm-py/softhsm-py.toml`` (``XDG_CONFIG_HOME`` defaults to ``~/.config``).
3. No file: defaults, with ``token_dir = $XDG_DATA_HOME/softhsm-py/tokens``
   (``XDG_DATA_HOME`` defaults to ``~/.local/share``).

Every key is optional. A relative ``token_dir`` is resolved against the directory of the file.
``store`` picks the backend: ``"sqlite"`` (the default: one file in ``token_dir``) or a
``postgresql://`` URL (libpq's: a password may also come from ``PGPASSWORD`` or ``~/.pgpass``).
Errors raise ``ConfigError`` naming the file and the key, never a value.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

__all__ = [
    "CONFIG_ENV",
    "Config",
    "ConfigError",
    "default_config_path",
    "load_config",
    "redact_url",
    "render",
]

CONFIG_ENV = "SOFTHSM_PY_CONF"
APP_NAME = "softhsm-py"
CONFIG_FILE_NAME = "softhsm-py.toml"

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
#: PKCS#11 PINs are counted in bytes; a CK_ULONG length, but we keep them sane.
PIN_LEN_LIMIT = 255
KDF_COST_RANGE = (10, 22)
SQLITE = "sqlite"
POSTGRES_SCHEMES = ("postgresql://", "postgres://")


class ConfigError(Exception):
    """The configuration file is missing, unreadable, not TOML, or holds a bad key."""


#: The keys a file may set: Config's attributes (its slots) but ``source``.
KEYS = (
    "token_dir",
    "log_level",
    "log_file",
    "pin_lockout",
    "pin_min_len",
    "pin_max_len",
    "kdf_cost",
    "store",
)
#: Tables read by other parts of the package from the same file (``rest``: softhsm_py.rest.config).
TABLES = ("rest",)


class Config:
    """The settings in effect, read-only by convention. Equal when every key is, whatever the
    ``source``. Not a dataclass: importing ``dataclasses`` costs ~5 ms of every module start."""

    __slots__ = (*KEYS, "source")

    def __init__(
        self,
        token_dir: Path,
        log_level: str = "WARNING",
        log_file: Path | None = None,  # None: stderr
        pin_lockout: int = 10,  # consecutive wrong PINs before CKR_PIN_LOCKED
        pin_min_len: int = 4,
        pin_max_len: int = PIN_LEN_LIMIT,
        kdf_cost: int = 15,  # log2 of scrypt's n for new PIN wraps
        store: str = SQLITE,  # or a postgresql:// URL
        source: Path | None = None,  # file read, if any
    ) -> None:
        self.token_dir = token_dir
        self.log_level = log_level
        self.log_file = log_file
        self.pin_lockout = pin_lockout
        self.pin_min_len = pin_min_len
        self.pin_max_len = pin_max_len
        self.kdf_cost = kdf_cost
        self.store = store
        self.source = source

    def _key(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in KEYS)

    def __eq__(self, other: object) -> bool:
        if type(other) is not Config:
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())


# ---------------------------------------------------------------------------------- lookup


def _home(environ: Mapping[str, str]) -> Path:
    home = environ.get("HOME")
    return Path(home) if home else Path.home()


def _xdg(environ: Mapping[str, str], var: str, default: str) -> Path:
    value = environ.get(var)
    # The XDG spec says relative values are invalid and must be ignored.
    if value and os.path.isabs(value):
        return Path(value)
    return _home(environ) / default


def default_config_path(environ: Mapping[str, str] = os.environ) -> Path:
    return _xdg(environ, "XDG_CONFIG_HOME", ".config") / APP_NAME / CONFIG_FILE_NAME


def default_token_dir(environ: Mapping[str, str] = os.environ) -> Path:
    return _xdg(environ, "XDG_DATA_HOME", ".local/share") / APP_NAME / "tokens"


def load_config(environ: Mapping[str, str] = os.environ) -> Config:
    """Find and read the configuration file (see the module docstring)."""
    explicit = environ.get(CONFIG_ENV)
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ConfigError(f"{CONFIG_ENV} names {path}, which does not exist or is not a file")
        return _load_file(path, environ)
    path = default_config_path(environ)
    if path.exists():
        return _load_file(path, environ)
    return Config(token_dir=default_token_dir(environ))


# ---------------------------------------------------------------------------------- parsing


def _load_file(path: Path, environ: Mapping[str, str]) -> Config:
    import tomllib  # here: with no config file, module start never pays for the TOML parser

    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror or type(exc).__name__})") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        # The decoder's message gives line and column, not file contents.
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    return _from_mapping(data, path, environ)


def _from_mapping(data: Mapping[str, object], path: Path, environ: Mapping[str, str]) -> Config:
    unknown = sorted(set(data).difference(KEYS, TABLES))
    if unknown:
        raise ConfigError(f"{path}: unknown key(s): {', '.join(unknown)}")

    def where(key: str) -> str:
        return f"{path}: key '{key}'"

    def get_int(key: str, default: int, lo: int, hi: int | None = None) -> int:
        value = data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where(key)} must be an integer")
        if value < lo or (hi is not None and value > hi):
            bound = f"between {lo} and {hi}" if hi is not None else f"at least {lo}"
            raise ConfigError(f"{where(key)} must be {bound}")
        return value

    def get_path(key: str) -> Path | None:
        if key not in data:
            return None
        value = data[key]
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{where(key)} must be a non-empty string (a path)")
        p = Path(value).expanduser()
        return p if p.is_absolute() else (path.parent / p)

    defaults = Config(token_dir=Path())
    token_dir = get_path("token_dir") or default_token_dir(environ)
    log_file = get_path("log_file")

    log_level = data.get("log_level", defaults.log_level)
    if not isinstance(log_level, str) or log_level.upper() not in LOG_LEVELS:
        raise ConfigError(f"{where('log_level')} must be one of {', '.join(LOG_LEVELS)}")
    log_level = log_level.upper()

    pin_lockout = get_int("pin_lockout", defaults.pin_lockout, 1)
    pin_min_len = get_int("pin_min_len", defaults.pin_min_len, 1, PIN_LEN_LIMIT)
    pin_max_len = get_int("pin_max_len", defaults.pin_max_len, 1, PIN_LEN_LIMIT)
    if pin_max_len < pin_min_len:
        raise ConfigError(f"{where('pin_max_len')} must be at least pin_min_len")
    kdf_cost = get_int("kdf_cost", defaults.kdf_cost, *KDF_COST_RANGE)
    store = data.get("store", defaults.store)
    if not isinstance(store, str) or not (store == SQLITE or store.startswith(POSTGRES_SCHEMES)):
        raise ConfigError(f'{where("store")} must be "{SQLITE}" or a postgresql:// URL')

    return Config(
        token_dir=token_dir.resolve(),
        log_level=log_level,
        log_file=log_file.resolve() if log_file else None,
        pin_lockout=pin_lockout,
        pin_min_len=pin_min_len,
        pin_max_len=pin_max_len,
        kdf_cost=kdf_cost,
        store=store,
        source=path,
    )


# ---------------------------------------------------------------------------------- output


def _toml_string(value: str) -> str:
    out = ['"']
    for ch in value:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def redact_url(url: str) -> str:
    """``url`` without its password (in the user part or a ``password=`` parameter), for
    output and logs; anything else is left exactly as written."""
    import re

    scheme, sep, rest = url.partition("://")
    end = len(rest)
    for stop in "/?#":
        pos = rest.find(stop)
        if pos != -1:
            end = min(end, pos)
    authority, tail = rest[:end], rest[end:]
    if "@" in authority:
        user, _, host = authority.rpartition("@")
        if ":" in user:
            authority = user.split(":", 1)[0] + ":***@" + host
    tail = re.sub(r"([?&]password=)[^&#]*", r"\1***", tail)
    return scheme + sep + authority + tail


def render(config: Config) -> str:
    """The effective configuration as TOML (``softhsm-py show-config``); ``load`` reads it back."""
    lines = []
    if config.source is not None:
        lines.append(f"# read from {config.source}")
    else:
        lines.append("# no configuration file: defaults")
    lines.append(f"token_dir = {_toml_string(str(config.token_dir))}")
    lines.append(f"log_level = {_toml_string(config.log_level)}")
    if config.log_file is not None:
        lines.append(f"log_file = {_toml_string(str(config.log_file))}")
    else:
        lines.append("# log_file unset: logging goes to stderr")
    lines.append(f"pin_lockout = {config.pin_lockout}")
    lines.append(f"pin_min_len = {config.pin_min_len}")
    lines.append(f"pin_max_len = {config.pin_max_len}")
    lines.append(f"kdf_cost = {config.kdf_cost}")
    lines.append(f"store = {_toml_string(redact_url(config.store) if config.store != SQLITE else SQLITE)}")
    return "\n".join(lines) + "\n"
