"""Session management (PKCS#11 3.0, 5.6): what is PKCS#11-shaped about sessions (CK_SESSION_INFO,
C_SessionCancel, C_GetSessionValidationFlags, the saved operation state). Opening, closing, login
and logout are the core's (``core.sessions``), saving and restoring operations too
(``core.opstate``)."""

from __future__ import annotations

from typing import Any

from softhsm_py import errors
from softhsm_py.constants import MechanismFlag
from softhsm_py.core.runtime import Library
from softhsm_py.core.session import OpKind
from softhsm_py.core.tokens import session_of

_LAST_VALIDATION_OK = 0x1  # CKS_LAST_VALIDATION_OK (3.2)


class SessionInfo:
    """CK_SESSION_INFO; a plain slotted class (``dataclasses`` is too slow to import at start)."""

    __slots__ = ("device_error", "flags", "slot_id", "state")

    def __init__(self, slot_id: int, state: int, flags: int, device_error: int = 0) -> None:
        self.slot_id = slot_id
        self.state = state
        self.flags = flags
        self.device_error = device_error


def validation_flags(lib: Library, handle: int, kind: int) -> int:
    """C_GetSessionValidationFlags (3.2, 5.6): CKS_LAST_VALIDATION_OK is the one kind of flags. No
    operation of softhsm-py runs under a validation (FIPS 140, Common Criteria): none is ever OK."""
    with lib.lock:
        session_of(lib, handle)
    if kind != _LAST_VALIDATION_OK:
        raise errors.ArgumentsBad()
    return 0


def get_session_info(lib: Library, handle: int) -> SessionInfo:
    with lib.lock:
        _, session = session_of(lib, handle)
        return SessionInfo(session.slot_id, int(session.state), int(session.flags))


# Flags of C_SessionCancel (3.0, 5.6) and the operations they name (CKF_VERIFY: both ways of
# verifying, 3.2's C_VerifySignature* too).
_CANCEL_FLAGS = {
    MechanismFlag.ENCRYPT: (OpKind.ENCRYPT,),
    MechanismFlag.DECRYPT: (OpKind.DECRYPT,),
    MechanismFlag.DIGEST: (OpKind.DIGEST,),
    MechanismFlag.SIGN: (OpKind.SIGN,),
    MechanismFlag.SIGN_RECOVER: (OpKind.SIGN_RECOVER,),
    MechanismFlag.VERIFY: (OpKind.VERIFY, OpKind.VERIFY_SIGNATURE),
    MechanismFlag.VERIFY_RECOVER: (OpKind.VERIFY_RECOVER,),
    MechanismFlag.FIND_OBJECTS: (OpKind.FIND,),
    MechanismFlag.MESSAGE_ENCRYPT: (OpKind.MESSAGE_ENCRYPT,),
    MechanismFlag.MESSAGE_DECRYPT: (OpKind.MESSAGE_DECRYPT,),
    MechanismFlag.MESSAGE_SIGN: (OpKind.MESSAGE_SIGN,),
    MechanismFlag.MESSAGE_VERIFY: (OpKind.MESSAGE_VERIFY,),
}


def cancel(lib: Library, handle: int, flags: int) -> None:
    with lib.lock:
        _, session = session_of(lib, handle)
        for bit, kinds in _CANCEL_FLAGS.items():
            if flags & bit:
                for kind in kinds:
                    session.end(kind)


def get_operation_state(lib: Library, handle: int, out: Any) -> None:
    """C_GetOperationState: ``out`` follows 5.2 (``pkcs11.crypto.Output``)."""
    from softhsm_py.core import opstate  # loads the object layer: not at module start

    out.deliver(opstate.save(lib, handle))


def set_operation_state(
    lib: Library, handle: int, state: bytes, encryption_key: int, authentication_key: int
) -> None:
    from softhsm_py.core import opstate

    opstate.restore(lib, handle, state, encryption_key, authentication_key)
