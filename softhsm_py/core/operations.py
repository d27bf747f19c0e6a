"""Starting an operation: the gate, then the mechanism's context. A front end runs the context
(PKCS#11 keeps it in the session across multi-part calls; REST runs it once)."""

from __future__ import annotations

from typing import Any

from softhsm_py.constants import Attribute
from softhsm_py.core import gate
from softhsm_py.core.mechanism import Mechanism
from softhsm_py.core.runtime import Runtime
from softhsm_py.core.session import OpKind, Session
from softhsm_py.mechanisms import registry

_ALWAYS_AUTHENTICATE = int(Attribute.ALWAYS_AUTHENTICATE)


class Started:
    """A context and what its key asks of the caller before each use."""

    __slots__ = ("always_authenticate", "context")

    def __init__(self, context: Any, always_authenticate: bool) -> None:
        self.context = context
        self.always_authenticate = always_authenticate  # CKA_ALWAYS_AUTHENTICATE (3.0, 4.9)


def start(rt: Runtime, session: Session, kind: OpKind, mechanism: Mechanism, key_handle: int) -> Started:
    """A ``kind`` operation with ``mechanism`` on the key ``key_handle``. Caller holds the lock."""
    impl = registry.lookup(mechanism.type)
    ref = gate.usable_key(rt, session, key_handle, gate.USAGE[kind], mechanism.type)
    context = impl.start(kind, mechanism.type, mechanism.param, ref)
    return Started(context, ref.attrs.get(_ALWAYS_AUTHENTICATE) is True)


def start_digest(mechanism: Mechanism) -> Any:
    """A digest needs no key, hence no gate."""
    return registry.lookup(mechanism.type).digest_init(mechanism.type, mechanism.param)
