"""The ``store`` key of the configuration: the backend, and a password that never shows."""

from __future__ import annotations

from pathlib import Path

import pytest

from softhsm_py.config import Config, ConfigError, load_config, redact_url, render
from softhsm_py.store import open_rows


def load(tmp_path: Path, text: str) -> Config:
    conf = tmp_path / "softhsm-py.toml"
    conf.write_text(text)
    return load_config({"SOFTHSM_PY_CONF": str(conf), "HOME": str(tmp_path)})


def test_sqlite_is_the_default(tmp_path):
    assert load(tmp_path, "").store == "sqlite"
    assert load(tmp_path, 'store = "sqlite"').store == "sqlite"


@pytest.mark.parametrize("url", ["postgresql://hsm@db.example/hsm", "postgres:///hsm?host=/run/postgresql"])
def test_a_postgresql_url(tmp_path, url):
    cfg = load(tmp_path, f'store = "{url}"')
    assert cfg.store == url
    again = load(tmp_path, render(cfg))
    assert again == cfg


@pytest.mark.parametrize("value", ['"mysql://x"', '""', "1", '"SQLITE"', '"/var/lib/tokens"'])
def test_anything_else_is_refused_without_echoing_it(tmp_path, value):
    with pytest.raises(ConfigError) as info:
        load(tmp_path, f"store = {value}")
    where, _, message = str(info.value).partition(": ")
    assert where.endswith("softhsm-py.toml") and "'store'" in message
    if value.strip('"'):
        assert value.strip('"') not in message


def test_render_hides_the_password(tmp_path):
    cfg = load(
        tmp_path, 'store = "postgresql://hsm:Pa55word@db:5432/hsm?sslmode=verify-full&password=Other1"'
    )
    text = render(cfg)
    assert "Pa55word" not in text and "Other1" not in text
    assert 'store = "postgresql://hsm:***@db:5432/hsm?sslmode=verify-full&password=***"' in text


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u:p@h/d", "postgresql://u:***@h/d"),
        ("postgresql://u:p:q@h/d", "postgresql://u:***@h/d"),
        ("postgresql:///d?host=/tmp&password=x", "postgresql:///d?host=/tmp&password=***"),
        ("postgresql://h/d?password=x&user=u", "postgresql://h/d?password=***&user=u"),
        ("postgresql://u@h:5/d", "postgresql://u@h:5/d"),
    ],
)
def test_redact_url(url, shown):
    assert redact_url(url) == shown


def test_open_rows_refuses_an_unknown_location(tmp_path):
    with pytest.raises(ValueError):
        open_rows(tmp_path, "mysql://x")
