"""Operations: the gate, then the mechanism's context, kept as an ``Operation``. PKCS#11 keeps it
in the session across multi-part calls; REST runs it once (``run_once``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from softhsm_py.constants import Attribute
from softhsm_py.core import events, gate, passwords
from softhsm_py.core.mechanism import Mechanism
from softhsm_py.core.runtime import Library, Runtime
from softhsm_py.core.session import OpKind, Session
from softhsm_py.core.ska.approvals import Authorization
from softhsm_py.core.tokens import session_of
from softhsm_py.mechanisms import registry

_ALWAYS_AUTHENTICATE = int(Attribute.ALWAYS_AUTHENTICATE)


@dataclass(eq=False, slots=True)
class Operation:
    kind: OpKind
    mechanism: int
    context: Any
    # The key asks for a login per operation (C_Login(CKU_CONTEXT_SPECIFIC), 3.0 4.9): for
    # CKA_ALWAYS_AUTHENTICATE with the user PIN, for a key password with that password.
    needs_context_login: bool = False
    context_authenticated: bool = False
    key_handle: int = 0
    password: bytes | None = None  # the key's password hash, when it has one
    pending: bytes | None = None  # a computed result waiting for a big enough buffer...
    pending_input: bytes | None = None  # ...and the input it is the result of
    stage: int = 0  # the kind of call that used it so far (pkcs11.crypto: single, update, final)
    signature: bytes | None = None  # C_VerifySignatureInit's (3.2): given before the data
    param: Any = None  # the mechanism's parameter, for a saved state (core.opstate)
    # What a multi-part digest, signature or MAC was fed so far, for C_GetOperationState (None:
    # the state cannot be saved: too much data, or C_DigestKey fed it a key)
    transcript: bytearray | None = field(default_factory=bytearray)

    def __repr__(self) -> str:
        return f"Operation({self.kind.value}, mechanism=0x{self.mechanism:x})"


def start(
    rt: Runtime,
    session: Session,
    kind: OpKind,
    mechanism: Mechanism,
    key_handle: int,
    authorization: Authorization | None = None,
) -> Operation:
    """A ``kind`` operation with ``mechanism`` on the key ``key_handle``. Caller holds the lock."""
    impl = registry.lookup(mechanism.type)
    ref = gate.usable_key(
        rt, session, key_handle, gate.USAGE[kind], mechanism.type, impl.key_types, authorization
    )
    context = impl.start(kind, mechanism.type, mechanism.param, ref)
    if rt.audit.enabled:
        events.key_used(rt, session, key_handle, ref.attrs, kind.value, mechanism.type)
    password = ref.attrs.get(passwords.PASSWORD)
    always = ref.attrs.get(_ALWAYS_AUTHENTICATE) is True or password is not None
    return Operation(
        kind, mechanism.type, context, always, key_handle=key_handle, password=password, param=mechanism.param
    )


def start_digest(mechanism: Mechanism) -> Any:
    """A digest needs no key, hence no gate."""
    return registry.lookup(mechanism.type).digest_init(mechanism.type, mechanism.param)


def run_once(
    lib: Library,
    handle: int,
    kind: OpKind,
    mechanism: Mechanism,
    key_handle: int,
    password: bytes | None,
    authorization: Authorization | None = None,
) -> Any:
    """The context of a one-shot operation for a front end that authenticates its caller itself
    (REST): the key password, if the key has one, is checked here; CKA_ALWAYS_AUTHENTICATE is met
    by the session's login, which that front end made with the user PIN. ``authorization``: the
    approvals for a key with a policy; the caller runs the context on its payload only."""
    with lib.lock:
        rt, session = session_of(lib, handle)
        operation = start(rt, session, kind, mechanism, key_handle, authorization)
    if operation.password is not None:
        passwords.check(lib, handle, key_handle, operation.password, password)
    return operation.context
