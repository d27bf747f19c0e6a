"""Ready-to-use configuration for the PKCS#11 hosts that load softhsm-py.

Each function returns the text a host needs (a config file, a module file, a command line) with the
module's absolute path filled in. The hosts still need ``SOFTHSM_PY_CONF`` in their environment when
the config file is not in its default place; the texts say so in a comment where the format allows.

The ``softhsm-py host-config HOST`` command prints ``render(HOST)``; ``HOSTS`` names them.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable
from pathlib import Path

ENGINE_PATH = "/usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so"
PROVIDER_PATH = "/usr/lib/x86_64-linux-gnu/ossl-modules/pkcs11.so"
NAME = "softhsm-py"


class HostConfigError(ValueError):
    """A value that cannot be written safely into a host's configuration format."""


def _module(module: str | os.PathLike[str] | None) -> str:
    if module is None:
        from softhsm_py.cli.main import module_path  # the built library of this installed package

        module = module_path()
    return str(Path(module).resolve())


def _plain(value: str, what: str, forbidden: str = "\n\r") -> str:
    """Refuse characters that would end a line or a value of the target format."""
    if any(ch in value for ch in forbidden):
        raise HostConfigError(f"{what} contains a character the format cannot hold: {value!r}")
    return value


def _conf_note() -> str:
    conf = os.environ.get("SOFTHSM_PY_CONF")
    if conf:
        return f"# run with SOFTHSM_PY_CONF={conf} in the environment"
    return "# set SOFTHSM_PY_CONF in the environment if the softhsm-py config is not in its default place"


def openssl_engine(
    module: str | os.PathLike[str] | None = None,
    *,
    engine_path: str = ENGINE_PATH,
    pin: str | None = None,
) -> str:
    """An OpenSSL config (``OPENSSL_CONF``) that loads libp11's pkcs11 engine on the module.

    Use keys as ``openssl pkeyutl -engine pkcs11 -keyform engine -inkey 'pkcs11:...'``."""
    lines = [
        _conf_note(),
        "openssl_conf = openssl_init",
        "",
        "[openssl_init]",
        "engines = engine_section",
        "",
        "[engine_section]",
        "pkcs11 = pkcs11_section",
        "",
        "[pkcs11_section]",
        "engine_id = pkcs11",
        f"dynamic_path = {_plain(engine_path, 'engine path')}",
        f"MODULE_PATH = {_plain(_module(module), 'module path')}",
    ]
    if pin is not None:
        lines.append("PIN = " + _plain(pin, "PIN", "\n\r#"))
    lines.append("init = 0")
    return "\n".join(lines) + "\n"


def openssl_provider(
    module: str | os.PathLike[str] | None = None,
    *,
    provider_path: str = PROVIDER_PATH,
    pin_file: str | os.PathLike[str] | None = None,
) -> str:
    """An OpenSSL 3 config (``OPENSSL_CONF``) that loads pkcs11-provider on the module, next to the
    default provider. No quirks are needed. Use keys by ``pkcs11:`` URI (``storeutl``, ``pkeyutl
    -inkey``, ``req -key``)."""
    lines = [
        _conf_note(),
        "HOME = .",
        "openssl_conf = openssl_init",
        "",
        "[openssl_init]",
        "providers = provider_sect",
        "",
        "[provider_sect]",
        "default = default_sect",
        "pkcs11 = pkcs11_sect",
        "",
        "[default_sect]",
        "activate = 1",
        "",
        "[pkcs11_sect]",
        f"module = {_plain(provider_path, 'provider path')}",
        f"pkcs11-module-path = {_plain(_module(module), 'module path')}",
    ]
    if pin_file is not None:
        lines.append(f"pkcs11-module-token-pin = file:{_plain(str(pin_file), 'PIN file')}")
    lines.append("activate = 1")
    return "\n".join(lines) + "\n"


def p11kit_module(module: str | os.PathLike[str] | None = None, *, trust_policy: bool = False) -> str:
    """A p11-kit module file: install it as ``/etc/pkcs11/modules/softhsm-py.module`` (root) or
    ``~/.config/pkcs11/modules/softhsm-py.module`` (other users; p11-kit ignores it for root)."""
    return "\n".join(
        [
            _conf_note(),
            f"module: {_plain(_module(module), 'module path')}",
            "critical: no",
            f"trust-policy: {'yes' if trust_policy else 'no'}",
            "",
        ]
    )


def java_sunpkcs11(
    module: str | os.PathLike[str] | None = None,
    *,
    slot: int | None = None,
    slot_list_index: int | None = None,
    name: str = NAME,
) -> str:
    """A SunPKCS11 provider config (``Security.getProvider("SunPKCS11").configure(path)``, or
    ``keytool -providerClass sun.security.pkcs11.SunPKCS11 -providerArg path``).

    Slot IDs are small integers, as SunPKCS11 needs; with neither ``slot`` nor ``slot_list_index``
    Java takes the first slot with a token."""
    if slot is not None and slot_list_index is not None:
        raise HostConfigError("give slot or slot_list_index, not both")
    if not name.replace("-", "").replace("_", "").isalnum():
        raise HostConfigError(f"a SunPKCS11 name is letters, digits, '-' and '_': {name!r}")
    module_text = _module(module)
    if '"' in module_text or "\n" in module_text:
        raise HostConfigError(f"module path unusable in a SunPKCS11 config: {module_text!r}")
    lines = [_conf_note(), f"name = {name}", f'library = "{module_text}"']
    if slot is not None:
        lines.append(f"slot = {int(slot)}")
    if slot_list_index is not None:
        lines.append(f"slotListIndex = {int(slot_list_index)}")
    return "\n".join(lines) + "\n"


def nss_modutil_args(
    dbdir: str | os.PathLike[str],
    module: str | os.PathLike[str] | None = None,
    *,
    name: str = NAME,
) -> list[str]:
    """The argv of the ``modutil`` command that adds the module to the NSS database ``dbdir``."""
    return ["modutil", "-dbdir", f"sql:{dbdir}", "-add", name, "-libfile", _module(module), "-force"]


def nss_modutil(
    dbdir: str | os.PathLike[str] | None = None,
    module: str | os.PathLike[str] | None = None,
    *,
    name: str = NAME,
) -> str:
    """The ``modutil`` command line (shell-quoted) that adds the module to an NSS database
    (the user's shared database ``$HOME/.pki/nssdb`` by default)."""
    args = [shlex.quote(a) for a in nss_modutil_args(dbdir or "", module, name=name)]
    if dbdir is None:
        args[2] = '"sql:$HOME/.pki/nssdb"'  # left for the shell to expand
    return " ".join(args) + "\n"


def openssh(module: str | os.PathLike[str] | None = None) -> str:
    """An ``ssh_config`` stanza using the module's keys (RSA and EC only: OpenSSH 9.2 reads no EdDSA
    keys from PKCS#11), plus the ssh-agent allowlist note as a comment."""
    path = _plain(_module(module), "module path", '\n\r"')
    return "\n".join(
        [
            _conf_note(),
            f"# ssh-agent: start it with -P {shlex.quote(path)} to allow 'ssh-add -s' of this module",
            "Host *",
            f'    PKCS11Provider "{path}"',
            "",
        ]
    )


def gnutls(module: str | os.PathLike[str] | None = None) -> str:
    """GnuTLS tools take the module with ``--provider``: the p11tool command listing its tokens."""
    return shlex.join(["p11tool", "--provider", _module(module), "--list-tokens"]) + "\n"


HOSTS: dict[str, Callable[..., str]] = {
    "openssl-engine": openssl_engine,
    "openssl-provider": openssl_provider,
    "p11-kit": p11kit_module,
    "java": java_sunpkcs11,
    "nss": nss_modutil,
    "openssh": openssh,
    "gnutls": gnutls,
}


def render(host: str, module: str | os.PathLike[str] | None = None, **options: object) -> str:
    """The configuration text for ``host`` (one of ``HOSTS``)."""
    try:
        fn = HOSTS[host]
    except KeyError:
        raise HostConfigError(f"unknown host {host!r}: choose from {', '.join(sorted(HOSTS))}") from None
    return fn(module=module, **options)
