"""The mechanism registry: CKM value -> implementation and CK_MECHANISM_INFO.

A mechanism is one decorated class; C_GetMechanismList / C_GetMechanismInfo read ``infos()``, so
only what is implemented is listed. Key sizes are bits for RSA / EC / Edwards / Montgomery and
bytes for AES, ChaCha20 and generic secrets, as the spec's mechanism tables state (bits for DSA
and DH primes; bytes for DES2 / DES3 and Camellia keys; the public key's length in bytes for
ML-DSA and ML-KEM).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from softhsm_py import errors
from softhsm_py.constants import MechanismFlag
from softhsm_py.mechanisms.base import (  # noqa: F401  re-exported for the session layer
    CipherContext,
    DigestContext,
    KeyView,
    MechanismImpl,
    SignContext,
    VerifyContext,
)

if TYPE_CHECKING:  # params loads dataclasses: not at module start, where this module is read
    from softhsm_py.mechanisms.params import ParamType


class MechInfo:
    """CK_MECHANISM_INFO, read-only by convention (not a dataclass: this module is imported at
    module start, and ``dataclasses`` costs ~5 ms to import)."""

    __slots__ = ("flags", "max_key", "min_key")

    def __init__(self, min_key: int, max_key: int, flags: MechanismFlag) -> None:
        self.min_key = min_key
        self.max_key = max_key
        self.flags = flags


_IMPLS: dict[int, MechanismImpl] = {}
_INFOS: dict[int, MechInfo] = {}
_PARAMS: dict[int, ParamType | None] = {}
_MESSAGE_PARAMS: dict[int, ParamType | None] = {}
_FAMILIES = (
    "digest", "hmac", "aes", "chacha", "rsa", "ec", "eddsa", "kdf", "keygen",
    "des", "camellia", "dsa", "dh", "kdf_simple", "sp800_108", "pbkdf2", "mldsa", "mlkem",
)  # fmt: skip
_loaded = False

C = type[MechanismImpl]


def mechanism(
    *mechs: int, info: MechInfo, param: ParamType | None = None, message_param: ParamType | None = None
) -> Callable[[C], C]:
    """Register ``cls`` (one shared instance) for ``mechs``, which take a parameter of type
    ``param`` (None: no parameter); stack decorators for other infos or parameter types.
    ``message_param``: the type of each message's parameter in the message-based functions
    (an AEAD's IV and tag); by default the mechanism's own ``param`` (a signature's)."""

    # Any signature or MAC also signs messages (``mechanisms.message``): the flags say so.
    flags = info.flags
    if flags & MechanismFlag.SIGN:
        flags |= MechanismFlag.MESSAGE_SIGN
    if flags & MechanismFlag.VERIFY:
        flags |= MechanismFlag.MESSAGE_VERIFY
    if flags != info.flags:
        info = MechInfo(info.min_key, info.max_key, flags)

    def register(cls: C) -> C:
        instance = cls.__dict__.get("_instance") or cls()
        cls._instance = instance  # type: ignore[attr-defined]
        for mech in mechs:
            if mech in _IMPLS:
                raise RuntimeError(f"mechanism 0x{int(mech):x} registered twice")
            _IMPLS[int(mech)] = instance
            _INFOS[int(mech)] = info
            _PARAMS[int(mech)] = param
            _MESSAGE_PARAMS[int(mech)] = message_param if message_param is not None else param
        return cls

    return register


def _load() -> None:
    # Families register on import; importing them lazily keeps registry free of cycles.
    global _loaded
    if not _loaded:
        for family in _FAMILIES:
            importlib.import_module(f"softhsm_py.mechanisms.{family}")
        _loaded = True


def lookup(mech: int) -> MechanismImpl:
    if _loaded and type(mech) is int:  # the ABI's case: one dict lookup
        impl = _IMPLS.get(mech)
        if impl is not None:
            return impl
    _load()
    try:
        return _IMPLS[int(mech)]
    except KeyError:
        raise errors.MechanismInvalid() from None


def info(mech: int) -> MechInfo:
    _load()
    try:
        return _INFOS[int(mech)]
    except KeyError:
        raise errors.MechanismInvalid() from None


def param_type(mech: int) -> ParamType | None:
    """The parameter type ``mech`` declared; None for one that takes none or is unknown (an
    unknown mechanism is refused by ``lookup`` when the core starts the operation)."""
    if not _loaded:
        _load()
    return _PARAMS.get(mech)


def message_param_type(mech: int) -> ParamType | None:
    """The type of a message's parameter in the message-based functions (see ``mechanism``)."""
    if not _loaded:
        _load()
    return _MESSAGE_PARAMS.get(mech)


def infos() -> dict[int, MechInfo]:
    _load()
    return dict(_INFOS)
