"""[[fault]] rules in the configuration: what parses, what is refused (naming the table and the
key), how show-config renders them back, and how a rule counts (nth, times, a seeded draw)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from softhsm_py.config import ConfigError, load_config, render
from softhsm_py.constants import Mechanism, ReturnValue
from softhsm_py.faults import Rule


def load(tmp_path: Path, text: str):
    conf = tmp_path / "softhsm-py.toml"
    conf.write_text('token_dir = "tokens"\n' + text)
    return load_config({"SOFTHSM_PY_CONF": str(conf), "HOME": str(tmp_path)})


def test_rules_parse(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        'trace_file = "trace.log"\naudit_file = "audit.jsonl"\n'
        '[[fault]]\nfunction = "C_Sign"\nmechanism = "CKM_ECDSA"\nnth = 3\nreturn = "CKR_DEVICE_ERROR"\n'
        '[[fault]]\nfunction = ["C_Login", "C_SetPIN"]\nprobability = 0.25\nseed = 9\nstore = "full"\n'
        '[[fault]]\nfunction = "*"\ntimes = 2\ndelay_ms = 5\n'
        '[[fault]]\nfunction = "C_GetInfo"\nreturn = 0x30\n',
    )
    sign, login, every, info = config.faults
    assert sign.functions == ("C_Sign",) and sign.mechanism == Mechanism.ECDSA and sign.nth == 3
    assert sign.rv == ReturnValue.DEVICE_ERROR
    assert login.functions == ("C_Login", "C_SetPIN") and login.probability == 0.25 and login.seed == 9
    assert login.store == "full" and every.functions == ("*",) and every.times == 2 and every.delay_ms == 5
    assert info.rv == 0x30
    assert config.trace_file == tmp_path / "trace.log" and config.audit_file == tmp_path / "audit.jsonl"


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('function = "C_Sign"\n', "exactly one of: return, delay_ms, store"),
        ('function = "C_Sign"\nreturn = "CKR_OK"\n', "must be an error"),
        ('function = "C_Sign"\nreturn = "CKR_NOPE"\n', "'return' must be a CKR_ name"),
        ('function = "C_Sign"\nreturn = "CKR_DEVICE_ERROR"\ndelay_ms = 1\n', "exactly one of"),
        ('function = "C_Initialize"\nreturn = "CKR_DEVICE_ERROR"\n', "C_Initialize cannot be faulted"),
        ('function = "C_GetInterface"\nreturn = "CKR_DEVICE_ERROR"\n', "cannot be faulted"),
        ('function = "C_Nothing"\nreturn = "CKR_DEVICE_ERROR"\n', "no PKCS#11 function C_Nothing"),
        ('function = "sign"\nreturn = "CKR_DEVICE_ERROR"\n', "'function' must be a C_* name"),
        ('function = ["*", "C_Sign"]\nreturn = "CKR_DEVICE_ERROR"\n', "'function' must be"),
        ('function = "C_Sign"\nmechanism = "CKM_NOPE"\nreturn = "CKR_DEVICE_ERROR"\n', "'mechanism'"),
        ('function = "C_Sign"\nprobability = 1.5\nreturn = "CKR_DEVICE_ERROR"\n', "'probability'"),
        ('function = "C_Sign"\nnth = 0\nreturn = "CKR_DEVICE_ERROR"\n', "key 'nth'"),
        ('function = "C_Sign"\ndelay_ms = -1\n', "key 'delay_ms'"),
        ('function = "C_Sign"\nstore = "slow"\n', "'store' must be \"full\""),
        ('function = "C_Sign"\nreturn = "CKR_DEVICE_ERROR"\nwhen = 1\n', "unknown key(s): when"),
    ],
)
def test_bad_rules_are_refused_by_table_and_key(tmp_path: Path, table: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, f'[[fault]]\nfunction = "C_GetInfo"\ndelay_ms = 1\n[[fault]]\n{table}')
    assert "[[fault]] #2" in str(caught.value) and message in str(caught.value), str(caught.value)


def test_fault_must_be_an_array_of_tables(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="array of tables"):
        load(tmp_path, 'fault = "C_Sign"\n')


def test_show_config_renders_rules_that_read_back(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        '[[fault]]\nfunction = ["C_Sign", "C_SignFinal"]\nmechanism = "CKM_ECDSA"\nnth = 2\n'
        'return = "CKR_DEVICE_ERROR"\n'
        '[[fault]]\nfunction = "*"\nprobability = 0.5\nseed = 3\ntimes = 1\ndelay_ms = 10\n',
    )
    text = render(config)
    assert "# fault injection is ON" in text and 'return = "CKR_DEVICE_ERROR"' in text
    (tmp_path / "again.toml").write_text(text)
    again = load_config({"SOFTHSM_PY_CONF": str(tmp_path / "again.toml"), "HOME": str(tmp_path)})
    assert again.faults == config.faults and again == config
    assert "no [[fault]] rules: fault injection is off" in render(load(tmp_path, ""))


def test_rule_counting() -> None:
    nth = Rule(("C_Sign",), nth=2, rv=0x30)
    assert [nth.fires(None) for _ in range(4)] == [False, True, False, False]
    times = Rule(("C_Sign",), times=2, rv=0x30)
    assert [times.fires(None) for _ in range(4)] == [True, True, False, False]
    by_mech = Rule(("C_SignInit",), mechanism=0x1041, rv=0x30)
    assert [by_mech.fires(m) for m in (0x1041, 0x1044, None, 0x1041)] == [True, False, False, True]
    drawn = Rule(("C_Sign",), probability=0.3, seed=11, rv=0x30)
    draws = random.Random(11)
    assert [drawn.fires(None) for _ in range(50)] == [draws.random() < 0.3 for _ in range(50)]
    fresh = drawn.fresh()
    draws = random.Random(11)
    assert [fresh.fires(None) for _ in range(5)] == [draws.random() < 0.3 for _ in range(5)]
    assert Rule(("*",), rv=5).applies_to("C_Anything") and not nth.applies_to("C_Verify")
