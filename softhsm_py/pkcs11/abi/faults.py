"""The boundary's side of fault injection (``softhsm_py/faults.py`` holds the rules): an entry
that some rule names is wrapped in a function that asks each rule, in the configuration's order,
whether it fires on this call; the first that does decides (return a code, delay, or a full
disk). Entries no rule names are left as they are, so an unfaulted call costs nothing more.

An injected code is what a real failure would leave behind, too: a failing step of an operation
(C_Sign, C_DecryptUpdate, ...) ends that operation, as every failure but CKR_BUFFER_TOO_SMALL
does (3.0, 5.2), so a host sees its usual recovery path work (or not)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from softhsm_py.constants import ReturnValue
from softhsm_py.core.runtime import Library
from softhsm_py.core.session import OpKind
from softhsm_py.faults import Rule, store_full
from softhsm_py.log import get_logger
from softhsm_py.pkcs11.abi.trace import Signature, peek_mechanism, rv_name

log = get_logger("faults")

_E, _D, _H = OpKind.ENCRYPT, OpKind.DECRYPT, OpKind.DIGEST
_S, _V = OpKind.SIGN, OpKind.VERIFY
# The operations a failing call ends (the steps after C_*Init).
STEPS: dict[str, tuple[OpKind, ...]] = {
    **dict.fromkeys(("C_Encrypt", "C_EncryptUpdate", "C_EncryptFinal"), (_E,)),
    **dict.fromkeys(("C_Decrypt", "C_DecryptUpdate", "C_DecryptFinal"), (_D,)),
    **dict.fromkeys(("C_Digest", "C_DigestUpdate", "C_DigestKey", "C_DigestFinal"), (_H,)),
    **dict.fromkeys(("C_Sign", "C_SignUpdate", "C_SignFinal"), (_S,)),
    **dict.fromkeys(("C_Verify", "C_VerifyUpdate", "C_VerifyFinal"), (_V,)),
    "C_SignRecover": (OpKind.SIGN_RECOVER,),
    "C_VerifyRecover": (OpKind.VERIFY_RECOVER,),
    "C_DigestEncryptUpdate": (_H, _E),
    "C_DecryptDigestUpdate": (_D, _H),
    "C_SignEncryptUpdate": (_S, _E),
    "C_DecryptVerifyUpdate": (_D, _V),
}
_BUFFER_TOO_SMALL = int(ReturnValue.BUFFER_TOO_SMALL)


def _end_operations(library: Library, handle: Any, kinds: tuple[OpKind, ...]) -> None:
    with library.lock:
        rt = library._runtime  # not .runtime: no CryptokiNotInitialized here
        session = None if rt is None else rt.sessions.get(handle)
        if session is not None:
            for kind in kinds:
                session.end(kind)


def faulted(
    rules: Sequence[Rule], library: Library, ffi: Any, sig: Signature, inner: Callable[..., int]
) -> Callable[..., int]:
    """``inner`` (a guarded entry) under ``rules`` (those that apply to ``sig.name``)."""
    at = sig.mechanism_at
    name = sig.name
    ends = STEPS.get(name, ())

    def call(*args: Any) -> int:
        mech = None
        if at is not None:
            try:
                peeked = peek_mechanism(ffi, args[at])
            except Exception:
                peeked = None
            mech = None if peeked is None else peeked[0]
        for rule in rules:
            if not rule.fires(mech):
                continue
            if rule.rv is not None:
                log.info("injected fault: %s returns %s", name, rv_name(rule.rv))
                if ends and rule.rv != _BUFFER_TOO_SMALL and args and isinstance(args[0], int):
                    try:
                        _end_operations(library, args[0], ends)
                    except Exception:
                        log.exception("ending the operation of an injected failure")
                return rule.rv
            if rule.delay_ms is not None:
                log.info("injected fault: %s delayed %d ms", name, rule.delay_ms)
                time.sleep(rule.delay_ms / 1000)
                return inner(*args)
            log.info("injected fault: %s runs with the store full", name)
            with store_full():
                return inner(*args)
        return inner(*args)

    call.__name__ = name
    return call
