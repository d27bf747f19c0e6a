"""softhsm_py.config (file lookup, validation, render) and softhsm_py.log."""

from __future__ import annotations

import logging
import os
import stat
import sys
from pathlib import Path

import pytest

from softhsm_py.config import Config, ConfigError, load_config, render
from softhsm_py.log import LOGGER_NAME, setup_logging


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        "HOME": str(tmp_path / "home"),
        "XDG_CONFIG_HOME": str(tmp_path / "cfg"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
    }
    env.update(extra)
    return env


def write_conf(tmp_path: Path, text: str, name: str = "conf.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- lookup


def test_defaults_without_any_file(tmp_path):
    cfg = load_config(env_for(tmp_path))
    assert cfg == Config(token_dir=tmp_path / "data" / "softhsm-py" / "tokens")
    assert (cfg.log_level, cfg.log_file, cfg.pin_lockout) == ("WARNING", None, 10)
    assert (cfg.pin_min_len, cfg.pin_max_len, cfg.kdf_cost) == (4, 255, 15)


def test_xdg_defaults_fall_back_to_home(tmp_path):
    cfg = load_config({"HOME": str(tmp_path)})
    assert cfg.token_dir == tmp_path / ".local" / "share" / "softhsm-py" / "tokens"


def test_relative_xdg_values_are_ignored(tmp_path):
    cfg = load_config({"HOME": str(tmp_path), "XDG_DATA_HOME": "relative/dir"})
    assert cfg.token_dir == tmp_path / ".local" / "share" / "softhsm-py" / "tokens"


def test_xdg_config_file_is_read(tmp_path):
    path = tmp_path / "cfg" / "softhsm-py" / "softhsm-py.toml"
    path.parent.mkdir(parents=True)
    path.write_text("pin_lockout = 3\n")
    cfg = load_config(env_for(tmp_path))
    assert cfg.pin_lockout == 3
    assert cfg.source == path
    assert cfg.token_dir == tmp_path / "data" / "softhsm-py" / "tokens"


def test_env_var_wins_over_xdg(tmp_path):
    xdg = tmp_path / "cfg" / "softhsm-py" / "softhsm-py.toml"
    xdg.parent.mkdir(parents=True)
    xdg.write_text("pin_lockout = 3\n")
    conf = write_conf(tmp_path, "pin_lockout = 5\n")
    assert load_config(env_for(tmp_path, SOFTHSM_PY_CONF=str(conf))).pin_lockout == 5


def test_env_var_naming_a_missing_file_is_an_error(tmp_path):
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match="SOFTHSM_PY_CONF") as info:
        load_config(env_for(tmp_path, SOFTHSM_PY_CONF=str(missing)))
    assert str(missing) in str(info.value)


def test_all_keys(tmp_path):
    conf = write_conf(
        tmp_path,
        'token_dir = "/var/lib/hsm"\nlog_level = "debug"\nlog_file = "/var/log/hsm.log"\n'
        "pin_lockout = 4\npin_min_len = 6\npin_max_len = 64\nkdf_cost = 12\n",
    )
    cfg = load_config(env_for(tmp_path, SOFTHSM_PY_CONF=str(conf)))
    assert cfg == Config(
        token_dir=Path("/var/lib/hsm"),
        log_level="DEBUG",
        log_file=Path("/var/log/hsm.log"),
        pin_lockout=4,
        pin_min_len=6,
        pin_max_len=64,
        kdf_cost=12,
    )


def test_relative_paths_resolve_against_the_file_directory(tmp_path):
    sub = tmp_path / "etc"
    sub.mkdir()
    conf = write_conf(sub, 'token_dir = "tokens"\nlog_file = "../log/hsm.log"\n')
    cfg = load_config(env_for(tmp_path, SOFTHSM_PY_CONF=str(conf)))
    assert cfg.token_dir == (sub / "tokens").resolve()
    assert cfg.log_file == (tmp_path / "log" / "hsm.log").resolve()


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("colour = 1\n", "colour"),
        ('pin_lockout = "10"\n', "pin_lockout"),
        ("pin_lockout = true\n", "pin_lockout"),
        ("pin_lockout = 1.5\n", "pin_lockout"),
        ("pin_lockout = 0\n", "pin_lockout"),
        ("pin_min_len = 0\n", "pin_min_len"),
        ("pin_max_len = 256\n", "pin_max_len"),
        ("pin_min_len = 8\npin_max_len = 6\n", "pin_max_len"),
        ("kdf_cost = 9\n", "kdf_cost"),
        ("kdf_cost = 23\n", "kdf_cost"),
        ('log_level = "LOUD"\n', "log_level"),
        ("log_level = 3\n", "log_level"),
        ("token_dir = 7\n", "token_dir"),
        ('token_dir = ""\n', "token_dir"),
        ("log_file = []\n", "log_file"),
    ],
)
def test_bad_values_name_file_and_key(tmp_path, text, key):
    conf = write_conf(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(env_for(tmp_path, SOFTHSM_PY_CONF=str(conf)))
    message = str(info.value)
    assert str(conf) in message
    assert key in message


def test_values_are_not_echoed(tmp_path):
    conf = write_conf(tmp_path, 'pin_lockout = "hunter2-secretish"\n')
    with pytest.raises(ConfigError) as info:
        load_config(env_for(tmp_path, SOFTHSM_PY_CONF=str(conf)))
    assert "hunter2" not in str(info.value)


def test_bad_toml(tmp_path):
    conf = write_conf(tmp_path, "pin_lockout = = 3\n")
    with pytest.raises(ConfigError, match="invalid TOML") as info:
        load_config(env_for(tmp_path, SOFTHSM_PY_CONF=str(conf)))
    assert str(conf) in str(info.value)


def test_not_utf8(tmp_path):
    conf = tmp_path / "conf.toml"
    conf.write_bytes(b'label = "\xff"\n')
    with pytest.raises(ConfigError, match="UTF-8"):
        load_config(env_for(tmp_path, SOFTHSM_PY_CONF=str(conf)))


def test_unreadable_default_file(tmp_path):
    # A directory where the file should be: exists, but cannot be read (works even as root).
    (tmp_path / "cfg" / "softhsm-py" / "softhsm-py.toml").mkdir(parents=True)
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(env_for(tmp_path))


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file_permissions(tmp_path):
    conf = write_conf(tmp_path, "pin_lockout = 3\n")
    conf.chmod(0)
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(env_for(tmp_path, SOFTHSM_PY_CONF=str(conf)))


# --------------------------------------------------------------------------- render


@pytest.mark.parametrize("log_file", [None, 'we"ird\\path/hsm.log'])
def test_render_reads_back(tmp_path, log_file):
    cfg = Config(
        token_dir=tmp_path / 'tok "dir"',
        log_level="INFO",
        log_file=None if log_file is None else tmp_path / log_file,
        pin_lockout=7,
        pin_min_len=5,
        pin_max_len=50,
        kdf_cost=11,
    )
    text = render(cfg)
    conf = write_conf(tmp_path, text)
    again = load_config(env_for(tmp_path, SOFTHSM_PY_CONF=str(conf)))
    assert again == cfg


def test_render_defaults_mentions_stderr(tmp_path):
    text = render(load_config(env_for(tmp_path)))
    assert "stderr" in text and "kdf_cost = 15" in text


# --------------------------------------------------------------------------- logging


@pytest.fixture
def clean_logger():
    logger = logging.getLogger(LOGGER_NAME)
    saved = (logger.handlers[:], logger.level, logger.propagate)
    logger.handlers.clear()
    yield logger
    for h in logger.handlers:
        h.close()
    logger.handlers[:], logger.level, logger.propagate = saved[0], saved[1], saved[2]


def _ours(logger: logging.Logger) -> list[logging.Handler]:
    """Our handlers only: pytest attaches its capture handlers to non-propagating loggers too."""
    return [h for h in logger.handlers if getattr(h, "_softhsm_py_handler", None) is not None]


def test_logging_to_file_is_idempotent_and_isolated(tmp_path, clean_logger, capsys):
    log_file = tmp_path / "logs" / "hsm.log"
    cfg = Config(token_dir=tmp_path, log_level="INFO", log_file=log_file)
    root_records: list[logging.LogRecord] = []

    class Catch(logging.Handler):
        def emit(self, record):
            root_records.append(record)

    root_catch = Catch()
    logging.getLogger().addHandler(root_catch)
    try:
        logger = setup_logging(cfg)
        assert setup_logging(cfg) is logger
        assert len(_ours(logger)) == 1
        assert logger.propagate is False
        assert logger.level == logging.INFO
        logging.getLogger(LOGGER_NAME + ".store").info("hello from the store")
        logger.debug("not at this level")
        for h in logger.handlers:
            h.flush()
    finally:
        logging.getLogger().removeHandler(root_catch)
    text = log_file.read_text()
    assert "hello from the store" in text and "not at this level" not in text
    assert root_records == []
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""


def test_logging_to_stderr_never_stdout(tmp_path, clean_logger, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stderr", sys.stderr)  # capsys' stream at setup time
    logger = setup_logging(Config(token_dir=tmp_path, log_level="WARNING"))
    logger.warning("to stderr")
    logger.info("filtered")
    out = capsys.readouterr()
    assert out.out == ""
    assert "to stderr" in out.err and "filtered" not in out.err


def test_switching_destination_replaces_our_handler_only(tmp_path, clean_logger):
    foreign = logging.NullHandler()
    clean_logger.addHandler(foreign)
    setup_logging(Config(token_dir=tmp_path))
    setup_logging(Config(token_dir=tmp_path, log_file=tmp_path / "a.log"))
    setup_logging(Config(token_dir=tmp_path, log_file=tmp_path / "b.log"))
    ours = _ours(clean_logger)
    assert foreign in clean_logger.handlers
    assert len(ours) == 1 and isinstance(ours[0], logging.FileHandler)
    assert ours[0].baseFilename.endswith("b.log")


def test_log_file_is_private_whatever_the_umask(tmp_path, clean_logger):
    """Issue 16, item 5: under umask 000 the log was 0666 (anyone could forge entries); it is 0600,
    in directories made 0700; a file others could already write to loses those bits."""
    log_file = tmp_path / "new" / "dir" / "hsm.log"
    old = os.umask(0)
    try:
        logger = setup_logging(Config(token_dir=tmp_path, log_file=log_file))
        logger.warning("first line")
        for h in logger.handlers:
            h.flush()
    finally:
        os.umask(old)
    assert stat.S_IMODE(log_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(log_file.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(log_file.parent.parent.stat().st_mode) == 0o700
    shared = tmp_path / "shared.log"
    shared.write_text("older lines\n")
    shared.chmod(0o666)
    logger = setup_logging(Config(token_dir=tmp_path, log_file=shared))
    logger.warning("appended")
    for h in logger.handlers:
        h.flush()
    assert stat.S_IMODE(shared.stat().st_mode) == 0o644
    assert shared.read_text().startswith("older lines\n") and "appended" in shared.read_text()
