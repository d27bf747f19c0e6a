"""softhsm_py.cli.hostconfig: the configuration texts handed to PKCS#11 hosts (the host tests in
tests/hosts use the same texts with the real programs)."""

from __future__ import annotations

import configparser
import shlex
from pathlib import Path

import pytest

from softhsm_py.cli import hostconfig
from softhsm_py.cli.hostconfig import HostConfigError

MODULE = "/opt/softhsm py/lib/_native.so"  # a space, to check quoting


def openssl_sections(text: str) -> configparser.ConfigParser:
    """OpenSSL's config syntax is INI with a nameless leading section."""
    parser = configparser.ConfigParser(interpolation=None, comment_prefixes=("#",), delimiters=("=",))
    parser.optionxform = str  # keys are case-sensitive (MODULE_PATH)
    parser.read_string("[default]\n" + text)
    return parser


def test_openssl_engine() -> None:
    text = hostconfig.openssl_engine(MODULE, engine_path="/e/pkcs11.so", pin="1234")
    conf = openssl_sections(text)
    assert conf["default"]["openssl_conf"] == "openssl_init"
    assert conf["openssl_init"]["engines"] == "engine_section"
    assert conf["engine_section"]["pkcs11"] == "pkcs11_section"
    section = conf["pkcs11_section"]
    assert section["engine_id"] == "pkcs11"
    assert section["dynamic_path"] == "/e/pkcs11.so"
    assert section["MODULE_PATH"] == MODULE
    assert section["PIN"] == "1234"
    assert "PIN" not in openssl_sections(hostconfig.openssl_engine(MODULE))["pkcs11_section"]


def test_openssl_provider_has_no_quirks() -> None:
    text = hostconfig.openssl_provider(MODULE, provider_path="/p/pkcs11.so", pin_file="/run/pin")
    conf = openssl_sections(text)
    assert conf["provider_sect"]["default"] == "default_sect"
    assert conf["provider_sect"]["pkcs11"] == "pkcs11_sect"
    assert conf["default_sect"]["activate"] == "1"  # the default provider stays available
    section = conf["pkcs11_sect"]
    assert section["module"] == "/p/pkcs11.so"
    assert section["pkcs11-module-path"] == MODULE
    assert section["pkcs11-module-token-pin"] == "file:/run/pin"
    assert section["activate"] == "1"
    assert "quirks" not in text
    assert "pkcs11-module-token-pin" not in hostconfig.openssl_provider(MODULE)


def test_p11kit_module_file() -> None:
    text = hostconfig.p11kit_module(MODULE)
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert lines == [f"module: {MODULE}", "critical: no", "trust-policy: no"]
    assert "trust-policy: yes" in hostconfig.p11kit_module(MODULE, trust_policy=True)


def test_java_sunpkcs11() -> None:
    text = hostconfig.java_sunpkcs11(MODULE, slot=0)
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert lines == ["name = softhsm-py", f'library = "{MODULE}"', "slot = 0"]
    assert "slotListIndex = 1" in hostconfig.java_sunpkcs11(MODULE, slot_list_index=1)
    settings = [line for line in hostconfig.java_sunpkcs11(MODULE).splitlines() if not line.startswith("#")]
    assert not any(line.startswith("slot") for line in settings)  # Java takes the first token
    with pytest.raises(HostConfigError):
        hostconfig.java_sunpkcs11(MODULE, slot=0, slot_list_index=0)
    with pytest.raises(HostConfigError):
        hostconfig.java_sunpkcs11(MODULE, name="bad name")
    with pytest.raises(HostConfigError):
        hostconfig.java_sunpkcs11('/a"b.so')


def test_nss_modutil() -> None:
    args = hostconfig.nss_modutil_args("/tmp/db", MODULE, name="softhsm-py")
    assert args == ["modutil", "-dbdir", "sql:/tmp/db", "-add", "softhsm-py", "-libfile", MODULE, "-force"]
    line = hostconfig.nss_modutil("/tmp/my db", MODULE)
    assert shlex.split(line) == [
        "modutil",
        "-dbdir",
        "sql:/tmp/my db",
        "-add",
        "softhsm-py",
        "-libfile",
        MODULE,
        "-force",
    ]
    default = hostconfig.nss_modutil(module=MODULE)
    assert '"sql:$HOME/.pki/nssdb"' in default  # left for the shell to expand
    assert shlex.split(default)[2] == "sql:$HOME/.pki/nssdb"


def test_openssh_and_gnutls() -> None:
    assert f'PKCS11Provider "{MODULE}"' in hostconfig.openssh(MODULE)
    assert shlex.split(hostconfig.gnutls(MODULE)) == ["p11tool", "--provider", MODULE, "--list-tokens"]


@pytest.mark.parametrize("host", sorted(hostconfig.HOSTS))
def test_render_every_host(host: str) -> None:
    text = hostconfig.render(host, MODULE)
    assert text.endswith("\n")
    assert MODULE in text or shlex.quote(MODULE) in text


def test_render_unknown_host() -> None:
    with pytest.raises(HostConfigError, match="unknown host"):
        hostconfig.render("firefox", MODULE)


def test_values_that_would_break_the_format_are_refused() -> None:
    with pytest.raises(HostConfigError):
        hostconfig.openssl_engine("/a\nb.so")
    with pytest.raises(HostConfigError):
        hostconfig.openssl_engine(MODULE, pin="12\n34")
    with pytest.raises(HostConfigError):
        hostconfig.p11kit_module("/a\nmodule: /evil.so")
    with pytest.raises(HostConfigError):
        hostconfig.openssh('/a"b.so')


def test_default_module_is_the_built_library(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    built = tmp_path / "_native.so"
    built.write_bytes(b"")
    monkeypatch.setattr("softhsm_py.cli.main.module_path", lambda: built)
    assert f"module: {built}" in hostconfig.p11kit_module()
    assert str(built) in hostconfig.render("openssl-engine")


def test_the_config_location_is_noted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOFTHSM_PY_CONF", "/etc/softhsm-py.toml")
    assert "SOFTHSM_PY_CONF=/etc/softhsm-py.toml" in hostconfig.openssl_engine(MODULE)
    monkeypatch.delenv("SOFTHSM_PY_CONF")
    assert "SOFTHSM_PY_CONF" in hostconfig.java_sunpkcs11(MODULE)
