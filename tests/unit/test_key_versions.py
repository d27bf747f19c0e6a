"""Key material is checked once, when it enters the token, and loaded keys are cached per object
version (issue 18).

Every way in refuses an inconsistent RSA key (the check that a load no longer repeats), and a
write to one object keeps every other object's loaded key: loads are counted, never timed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding

from softhsm_py import errors
from softhsm_py.config import Config
from softhsm_py.constants import Attribute as A
from softhsm_py.constants import KeyType, Mechanism, ObjectClass, SessionFlag, UserType
from softhsm_py.core import keys, sessions, startup, tokens
from softhsm_py.core.mechanism import Mechanism as Mech
from softhsm_py.core.objects import lifecycle
from softhsm_py.core.partition import Partition, open_partition
from softhsm_py.core.runtime import Library
from softhsm_py.engine import rsa as engine_rsa

SO_PIN, USER_PIN = b"so-pin-1234", b"user-pin-1234"
RW = SessionFlag.SERIAL_SESSION | SessionFlag.RW_SESSION
KEK = bytes(range(32))


def _b(i: int) -> bytes:
    return i.to_bytes((i.bit_length() + 7) // 8, "big")


_KEY = rsa.generate_private_key(65537, 2048).private_numbers()
_OTHER = rsa.generate_private_key(65537, 2048).private_numbers()


def _numbers(**changed: int) -> dict[str, int]:
    pub = _KEY.public_numbers
    parts = {
        "n": pub.n, "e": pub.e, "d": _KEY.d, "p": _KEY.p, "q": _KEY.q,
        "dmp1": _KEY.dmp1, "dmq1": _KEY.dmq1, "iqmp": _KEY.iqmp,
    }  # fmt: skip
    parts.update(changed)
    return parts


# Two ways an RSA key can be wrong that only a key check finds: the modulus is not p*q, and d does
# not invert e (its CRT exponents agree with the wrong d, so only e*d is off).
_BAD_D = _KEY.d + 2
INCONSISTENT = {
    "p*q != n": _numbers(p=_OTHER.p),
    "wrong d": _numbers(d=_BAD_D, dmp1=_BAD_D % (_KEY.p - 1), dmq1=_BAD_D % (_KEY.q - 1)),
}


def _template(parts: dict[str, int], token: bool = True) -> dict[int, Any]:
    return {
        A.CLASS: ObjectClass.PRIVATE_KEY, A.KEY_TYPE: KeyType.RSA, A.TOKEN: token, A.SIGN: True,
        A.MODULUS: _b(parts["n"]), A.PUBLIC_EXPONENT: _b(parts["e"]), A.PRIVATE_EXPONENT: _b(parts["d"]),
        A.PRIME_1: _b(parts["p"]), A.PRIME_2: _b(parts["q"]), A.EXPONENT_1: _b(parts["dmp1"]),
        A.EXPONENT_2: _b(parts["dmq1"]), A.COEFFICIENT: _b(parts["iqmp"]),
    }  # fmt: skip


def _der(tag: int, body: bytes) -> bytes:
    n = len(body)
    length = bytes([n]) if n < 0x80 else bytes([0x80 | ((n.bit_length() + 7) // 8)]) + _b(n)
    return bytes([tag]) + length + body


def _integer(i: int) -> bytes:
    return _der(0x02, i.to_bytes(i.bit_length() // 8 + 1, "big"))


def _pkcs8(parts: dict[str, int]) -> bytes:
    """The parts as PKCS#8 DER (RFC 5208, RFC 8017 A.1.2), written by hand: cryptography makes
    no key whose p*q is not n."""
    order = ("n", "e", "d", "p", "q", "dmp1", "dmq1", "iqmp")
    rsa_key = _der(0x30, _integer(0) + b"".join(_integer(parts[name]) for name in order))
    algorithm = _der(0x30, bytes.fromhex("06092a864886f70d010101") + b"\x05\x00")  # rsaEncryption
    return _der(0x30, _integer(0) + algorithm + _der(0x04, rsa_key))


@pytest.fixture
def config(tmp_path: Path) -> Config:
    config = Config(token_dir=tmp_path / "tokens", kdf_cost=10, pin_lockout=3)
    lib = Library()
    startup.start(lib, config)
    tokens.init_token(lib, 0, SO_PIN, "keys")
    handle = sessions.open_session(lib, 0, RW)
    sessions.login(lib, handle, UserType.SO, SO_PIN)
    tokens.init_pin(lib, handle, USER_PIN)
    startup.stop(lib)
    return config


@pytest.fixture
def part(config: Config) -> Iterator[Partition]:
    part = open_partition(config, "keys", USER_PIN)
    yield part
    part.close()


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One entry per RSA private key the engine loads."""
    counted: list[int] = []
    real: Callable[..., Any] = engine_rsa.load_private

    def counting(*args: Any, **kwargs: Any) -> Any:
        counted.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(engine_rsa, "load_private", counting)
    return counted


# --- every way in checks ------------------------------------------------------------------------


@pytest.mark.parametrize("token", [True, False], ids=["token", "session"])
@pytest.mark.parametrize("flaw", list(INCONSISTENT))
def test_create_refuses_an_inconsistent_rsa_key(part: Partition, flaw: str, token: bool) -> None:
    with pytest.raises(errors.AttributeValueInvalid):
        lifecycle.create(part.lib, part.handle, _template(INCONSISTENT[flaw], token))


@pytest.mark.parametrize("flaw", list(INCONSISTENT))
def test_unwrap_refuses_an_inconsistent_rsa_key(part: Partition, flaw: str) -> None:
    kek = lifecycle.create(
        part.lib,
        part.handle,
        {A.CLASS: ObjectClass.SECRET_KEY, A.KEY_TYPE: KeyType.AES, A.VALUE: KEK, A.UNWRAP: True},
    )
    template: dict[int, Any] = {
        A.CLASS: ObjectClass.PRIVATE_KEY,
        A.KEY_TYPE: KeyType.RSA,
        A.TOKEN: True,
        A.SIGN: True,
    }
    mech = Mech(Mechanism.AES_KEY_WRAP_KWP)
    good = aes_key_wrap_with_padding(KEK, _pkcs8(_numbers()))
    keys.unwrap_key(part.lib, part.handle, mech, kek, good, template)  # the same way works for a key
    wrapped = aes_key_wrap_with_padding(KEK, _pkcs8(INCONSISTENT[flaw]))
    with pytest.raises(errors.WrappedKeyInvalid):
        keys.unwrap_key(part.lib, part.handle, mech, kek, wrapped, template)


@pytest.mark.parametrize("flaw", list(INCONSISTENT))
def test_import_refuses_an_inconsistent_rsa_key(part: Partition, flaw: str) -> None:
    """The REST import (TSB: INVALID_PAYLOAD, rest/errors.py); nothing of it stays."""
    with pytest.raises(errors.WrappedKeyInvalid):
        part.import_key("bad", private_pkcs8=_pkcs8(INCONSISTENT[flaw]), key_type=KeyType.RSA, template={})
    assert part.names() == []
    part.import_key("good", private_pkcs8=_pkcs8(_numbers()), key_type=KeyType.RSA, template={A.SIGN: True})
    assert part.names() == ["good"]


def test_key_parts_of_a_stored_key_cannot_change(part: Partition) -> None:
    """C_SetAttributeValue and C_CopyObject are the other ways to new material: both refuse."""
    handle = lifecycle.create(part.lib, part.handle, _template(_numbers()))
    wrong: list[dict[int, Any]] = [{A.PRIME_1: _b(_OTHER.p)}, {A.PRIVATE_EXPONENT: _b(_BAD_D)}]
    for changes in wrong:
        with pytest.raises(errors.AttributeReadOnly):
            lifecycle.change(part.lib, part.handle, handle, changes)
        with pytest.raises(errors.AttributeReadOnly):
            lifecycle.copy(part.lib, part.handle, handle, changes)


def test_a_load_trusts_the_store() -> None:
    """What the checks above keep out, a load takes as it is (engine.rsa.load_private): a stored
    key was checked when it came in, and the store's seal keeps it as it was."""
    parts = INCONSISTENT["wrong d"]
    key = engine_rsa.load_private(*(_b(parts[n]) for n in ("n", "e", "d", "p", "q", "dmp1", "dmq1", "iqmp")))
    assert key.private_numbers().d == _BAD_D


# --- loaded keys per object version -------------------------------------------------------------


def _rsa_key(part: Partition, label: bytes) -> int:
    return lifecycle.create(part.lib, part.handle, {**_template(_numbers()), A.LABEL: label})


def _sign(part: Partition, handle: int) -> bytes:
    from softhsm_py.core import operations
    from softhsm_py.core.session import OpKind

    context = operations.run_once(
        part.lib, part.handle, OpKind.SIGN, Mech(Mechanism.SHA256_RSA_PKCS), handle, None
    )
    return bytes(context.sign(b"payload"))


def test_a_write_to_one_object_keeps_another_keys_loaded_form(part: Partition, loads: list[int]) -> None:
    a, b = _rsa_key(part, b"a"), _rsa_key(part, b"b")
    _sign(part, b)
    assert len(loads) == 1
    lifecycle.change(part.lib, part.handle, a, {A.LABEL: b"a2"})  # the token's generation moves
    data = lifecycle.create(part.lib, part.handle, {A.CLASS: ObjectClass.DATA, A.TOKEN: True})
    lifecycle.destroy(part.lib, part.handle, data)
    _sign(part, b)
    assert len(loads) == 1  # b was not loaded again
    _sign(part, a)
    assert len(loads) == 2


def test_a_write_to_the_object_itself_reloads_it(part: Partition, loads: list[int]) -> None:
    b = _rsa_key(part, b"b")
    _sign(part, b)
    lifecycle.change(part.lib, part.handle, b, {A.LABEL: b"b2"})
    _sign(part, b)
    assert len(loads) == 2
    assert lifecycle.read(part.lib, part.handle, b, [A.LABEL]) == [b"b2"]


def test_another_runtimes_write_is_seen_and_reloads_only_that_object(
    config: Config, part: Partition, loads: list[int]
) -> None:
    """A second library on the same store (its own connection: another process as the store
    sees it) changes one key; this one sees the change at once and reloads that key alone."""
    a, b = _rsa_key(part, b"a"), _rsa_key(part, b"b")
    _sign(part, a)
    _sign(part, b)
    other = open_partition(config, "keys", USER_PIN)
    try:
        [theirs] = [h for h, attrs in other._found({A.LABEL: b"a"})]
        lifecycle.change(other.lib, other.handle, theirs, {A.LABEL: b"a-changed"})
    finally:
        other.close()
    before = len(loads)
    assert lifecycle.read(part.lib, part.handle, a, [A.LABEL]) == [b"a-changed"]
    _sign(part, b)
    assert len(loads) == before
    _sign(part, a)
    assert len(loads) == before + 1


# --- store writes outside the library lock ------------------------------------------------------


@pytest.mark.parametrize("meanwhile", ["close", "logout"])
def test_an_object_stored_for_a_session_that_changed_meanwhile_is_taken_back(
    part: Partition, monkeypatch: pytest.MonkeyPatch, meanwhile: str
) -> None:
    """The write runs outside the library lock, so the session may close (or log out) while it
    runs: the call then fails as it would have before the write, and the object is not kept."""
    rt = part.lib.runtime
    real = rt.store.insert_many

    def and_meanwhile(*args: Any, **kwargs: Any) -> list[int]:
        oids = real(*args, **kwargs)
        if meanwhile == "close":
            sessions.close_session(part.lib, part.handle)
        else:
            sessions.logout(part.lib, part.handle)
        return oids

    monkeypatch.setattr(rt.store, "insert_many", and_meanwhile)
    template = {A.CLASS: ObjectClass.DATA, A.TOKEN: True, A.PRIVATE: True, A.LABEL: b"made"}
    expected = errors.SessionHandleInvalid if meanwhile == "close" else errors.UserNotLoggedIn
    with pytest.raises(expected):
        lifecycle.create(part.lib, part.handle, template)
    monkeypatch.undo()
    other = sessions.open_session(part.lib, part.slot_id, RW)
    sessions.login(part.lib, other, UserType.USER, USER_PIN)
    assert lifecycle.find(part.lib, other, {A.CLASS: ObjectClass.DATA}) == []
    lifecycle.create(part.lib, other, template)  # what was taken back, the same way, kept
    assert len(lifecycle.find(part.lib, other, {A.CLASS: ObjectClass.DATA})) == 1
