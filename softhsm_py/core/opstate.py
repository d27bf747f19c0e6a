"""Saved operation state (C_GetOperationState / C_SetOperationState, PKCS#11 3.0 5.6) for digests,
MACs and multi-part signatures and verifications.

Neither pyca/cryptography nor hashlib can export a hash's inner state, so a state is what its
operations were fed: the mechanism and its parameter, the key's CKA_UNIQUE_ID, the data so far
(``Operation.transcript``: ``feed`` keeps it, up to ``TRANSCRIPT_MAX`` bytes) and the
kind of call made last. Restoring starts the same operations again, through the gate, with the
key the caller names (3.0: CKR_KEY_NEEDED, CKR_KEY_NOT_NEEDED, CKR_KEY_CHANGED), and feeds them
the data; a key that asks for a context login asks for it again.

A state is sealed (AES-256-GCM, ``engine.sealing``) under the runtime's own key with the token's
serial as associated data: an altered or forged state, one from another token, from before
C_Finalize or from another process is CKR_SAVED_STATE_INVALID. What cannot be saved is
CKR_STATE_UNSAVEABLE: encryption and decryption, one-shot mechanisms part-way, a digest fed a
key (C_DigestKey), more data than the cap, a result waiting for a bigger buffer.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from softhsm_py import errors
from softhsm_py.constants import Attribute
from softhsm_py.core import operations
from softhsm_py.core.mechanism import Mechanism
from softhsm_py.core.objects import lifecycle
from softhsm_py.core.operations import Operation
from softhsm_py.core.runtime import Library, Runtime
from softhsm_py.core.session import OpKind, Session
from softhsm_py.core.tokens import session_of
from softhsm_py.engine import sealing
from softhsm_py.mechanisms import params

TRANSCRIPT_MAX = 1 << 20  # bytes of data a saveable operation remembers
_MAGIC = b"SHPYOS1"  # softhsm-py operation state, format 1
_AAD = b"softhsm-py operation state\x00"
_SAVEABLE = (OpKind.DIGEST, OpKind.SIGN, OpKind.VERIFY)
_NEVER = frozenset(OpKind) - {*_SAVEABLE, OpKind.FIND}  # active, they make a state unsaveable
_UPDATE_STAGE = 2  # pkcs11.crypto's stage of C_*Update: the only one a saved operation may be in


def feed(operation: Operation, data: bytes) -> None:
    """Remember ``data`` fed to a multi-part operation, while it fits."""
    transcript = operation.transcript
    if transcript is not None:
        if len(transcript) + len(data) > TRANSCRIPT_MAX:
            operation.transcript = None
        else:
            transcript += data


# --- mechanism parameters: the dataclasses of mechanisms.params and plain values ---------------


def _encode(value: Any) -> Any:
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, bytes):
        return {"b": value.hex()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {"t": type(value).__name__, "f": fields}
    raise errors.StateUnsaveable()


def _decode(value: Any) -> Any:
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, dict) and set(value) == {"b"}:
        return bytes.fromhex(value["b"])
    if isinstance(value, dict) and set(value) == {"t", "f"}:
        cls = getattr(params, str(value["t"]), None)
        if not (
            isinstance(cls, type) and dataclasses.is_dataclass(cls) and cls.__module__ == params.__name__
        ):
            raise errors.SavedStateInvalid()
        return cls(**{k: _decode(v) for k, v in value["f"].items()})
    raise errors.SavedStateInvalid()


# --- save ----------------------------------------------------------------------------------------


def _unique_id(rt: Runtime, session: Session, key_handle: int) -> str:
    attrs = lifecycle.attrs_of(rt, session, rt.handles.get(key_handle))
    return bytes(attrs[Attribute.UNIQUE_ID]).decode()


def save(lib: Library, handle: int) -> bytes:
    """The session's saveable operations as one sealed state. Read under the session's lock (a
    step of another thread is whole or not begun), keys looked up under the library's: never
    both at once, in the order the crypto steps take them."""
    with lib.lock:
        _, session = session_of(lib, handle)
    with session.lock:
        active = dict(session.operations)
        if any(kind in active for kind in _NEVER):
            raise errors.StateUnsaveable()
        taken = []
        for kind in _SAVEABLE:
            operation = active.get(kind)
            if operation is None:
                continue
            transcript = operation.transcript
            if (
                transcript is None
                or operation.pending is not None
                or operation.stage not in (0, _UPDATE_STAGE)
            ):
                raise errors.StateUnsaveable()
            taken.append((kind, operation, bytes(transcript)))
    if not taken:
        raise errors.OperationNotInitialized()
    with lib.lock:
        rt, session = session_of(lib, handle)
        saved = [
            {
                "kind": kind.value,
                "mech": operation.mechanism,
                "param": _encode(operation.param),
                "key": _unique_id(rt, session, operation.key_handle) if kind is not OpKind.DIGEST else None,
                "data": data.hex(),
                "stage": operation.stage,
            }
            for kind, operation, data in taken
        ]
        serial = session.token.serial
        state_key = rt.state_key
    body = json.dumps({"ops": saved}, separators=(",", ":")).encode()
    return _MAGIC + sealing.seal(state_key, body, _AAD + serial.encode())


# --- restore ------------------------------------------------------------------------------------


def _open(state_key: bytes, serial: str, blob: bytes) -> list[dict[str, Any]]:
    if not blob.startswith(_MAGIC):
        raise errors.SavedStateInvalid()
    try:
        body = sealing.unseal(state_key, blob[len(_MAGIC) :], _AAD + serial.encode())
        ops = json.loads(body)["ops"]
    except (sealing.SealBroken, ValueError, KeyError, TypeError):
        raise errors.SavedStateInvalid() from None
    if not isinstance(ops, list) or not ops:
        raise errors.SavedStateInvalid()
    return ops


def restore(lib: Library, handle: int, blob: bytes, encryption_key: int, authentication_key: int) -> None:
    """Make the state's operations the session's (replacing any of the same kinds)."""
    with lib.lock:
        rt, session = session_of(lib, handle)
        ops = _open(rt.state_key, session.token.serial, blob)
        if encryption_key:
            raise errors.KeyNotNeeded()  # no saved operation encrypts
        keyed = [op for op in ops if op.get("key") is not None]
        if keyed and not authentication_key:
            raise errors.KeyNeeded()
        if authentication_key and not keyed:
            raise errors.KeyNotNeeded()
        made: list[tuple[Operation, bytes, int]] = []
        try:
            for op in ops:
                kind = OpKind(op["kind"])
                if kind not in _SAVEABLE:
                    raise errors.SavedStateInvalid()
                mechanism = Mechanism(int(op["mech"]), _decode(op["param"]))
                if kind is OpKind.DIGEST:
                    operation = Operation(kind, mechanism.type, operations.start_digest(mechanism))
                else:
                    try:
                        same = _unique_id(rt, session, authentication_key) == op["key"]
                    except errors.ObjectHandleInvalid:
                        raise errors.KeyHandleInvalid() from None
                    if not same:
                        raise errors.KeyChanged()
                    operation = operations.start(rt, session, kind, mechanism, authentication_key)
                made.append((operation, bytes.fromhex(op["data"]), int(op["stage"])))
        except (KeyError, TypeError, ValueError):
            raise errors.SavedStateInvalid() from None
    for operation, data, stage in made:  # replayed outside the library lock: this is hashing
        if data:
            operation.context.update(data)
        operation.transcript = bytearray(data)
        operation.stage = stage
    with lib.lock:
        rt, session = session_of(lib, handle)
        for operation, _, _ in made:
            session.operations[operation.kind] = operation
