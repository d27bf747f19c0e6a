"""Message digests (CKM_SHA_1 ... CKM_SHA3_512) and the CKM/CKG -> hash-name lookups others use."""

from __future__ import annotations

from typing import Any

from softhsm_py import errors
from softhsm_py.constants import MechanismFlag
from softhsm_py.engine import hash_table, hashes
from softhsm_py.mechanisms.base import DigestContext, MechanismImpl
from softhsm_py.mechanisms.registry import MechInfo, mechanism

# CKM digest mechanism -> engine hash name; without the legacy rows (MD5) also the hashAlg of
# OAEP / PSS parameters and HKDF's prf.
HASH_OF: dict[int, str] = hash_table.names_by("digest")
_PARAM_HASH_OF = {m: n for m, n in HASH_OF.items() if not hash_table.BY_NAME[n].legacy}
# CKG_MGF1_* -> hash name of MGF1.
MGF1_OF: dict[int, str] = hash_table.names_by("mgf")


def param_hash(mech: int) -> str:
    """The hash a parameter names (hashAlg, prfHashMechanism); unknown -> MechanismParamInvalid."""
    try:
        return _PARAM_HASH_OF[int(mech)]
    except (KeyError, TypeError, ValueError):
        raise errors.MechanismParamInvalid() from None


def mgf_hash(mgf: int) -> str:
    try:
        return MGF1_OF[int(mgf)]
    except (KeyError, TypeError, ValueError):
        raise errors.MechanismParamInvalid() from None


# CKM digest mechanism -> the engine's constructor of hash contexts: C_DigestInit's one lookup.
_NEW_CONTEXT = {mech: hashes.new_context(name) for mech, name in HASH_OF.items()}


class _Digest(DigestContext):
    """Holds the engine's native hash context itself: C_DigestInit + C_Digest run two Python
    frames of this module (``digest_init`` with ``__init__``, then ``digest``) and no others."""

    __slots__ = ("_ctx",)

    def __init__(self, ctx: Any) -> None:
        self._ctx = ctx

    def update(self, data: bytes) -> None:
        self._ctx.update(data)

    def final(self) -> bytes:
        return bytes(self._ctx.digest())

    def digest(self, data: bytes) -> bytes:  # update + final in one call: C_Digest's path
        ctx = self._ctx
        ctx.update(data)
        return bytes(ctx.digest())

    run = digest

    def output_bound(self, in_len: int, final: bool) -> int:
        return int(self._ctx.digest_size)


@mechanism(*HASH_OF, info=MechInfo(0, 0, MechanismFlag.DIGEST))
class Digest(MechanismImpl):
    def digest_init(self, mech: int, param: Any) -> DigestContext:
        if param is not None:
            raise errors.MechanismParamInvalid()
        return _Digest(_NEW_CONTEXT[mech]())
