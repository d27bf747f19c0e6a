"""The partition's timestamp key: it dates every multi-authorization request (TSB.md 6.2 step 2)
and signs that date, so that time locks and time outs count from a time the core itself vouches
for, and an approval can be bound to one request.

The key is EC P-256 (the TSB's recorded timestamps are ecdsa-with-SHA256), private, sensitive,
never extractable, neither destroyable nor modifiable, and marked CKA_VENDOR_TIMESTAMP so that the
key gate refuses it for every operation: it signs only here, and only timestamps this module
builds. Like the attestation key it is made on first use, by whichever process gets there first
(a second one made at the same moment is taken back: the oldest stays).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from softhsm_py import errors
from softhsm_py.constants import Attribute as A
from softhsm_py.constants import Mechanism, ObjectClass
from softhsm_py.constants import VendorAttribute as V
from softhsm_py.core import keys
from softhsm_py.core.mechanism import Mechanism as Mech
from softhsm_py.core.objects import lifecycle as objects
from softhsm_py.core.session import OpKind
from softhsm_py.core.ska import approvals, tlv
from softhsm_py.core.tokens import session_of
from softhsm_py.engine import signatures
from softhsm_py.mechanisms import registry

if TYPE_CHECKING:
    from softhsm_py.core.partition import Partition

LABEL = approvals.TIMESTAMP_LABEL
DIGEST = "SHA-256"
_P256 = bytes.fromhex("06082a8648ce3d030107")
_FIND_PRIVATE: dict[int, Any] = {A.CLASS: ObjectClass.PRIVATE_KEY, V.TIMESTAMP: True, A.LABEL: LABEL.encode()}


def _private_keys(part: Partition) -> list[int]:
    return objects.find(part.lib, part.handle, _FIND_PRIVATE)


def _make_key(part: Partition) -> None:
    ident = b"timestamp"
    public: dict[int, Any] = {
        A.TOKEN: True,
        A.LABEL: LABEL.encode(),
        A.ID: ident,
        A.EC_PARAMS: _P256,
        A.VERIFY: True,
        A.MODIFIABLE: False,
        A.DESTROYABLE: False,
    }
    private: dict[int, Any] = {
        A.TOKEN: True,
        A.PRIVATE: True,
        A.LABEL: LABEL.encode(),
        A.ID: ident,
        A.SENSITIVE: True,
        A.EXTRACTABLE: False,
        A.DESTROYABLE: False,
        A.MODIFIABLE: False,
        A.COPYABLE: False,
        A.SIGN: True,
        A.DERIVE: False,
    }
    handles = keys.generate_key_pair(
        part.lib,
        part.handle,
        Mech(Mechanism.EC_KEY_PAIR_GEN),
        public,
        private,
        core_attrs={V.TIMESTAMP: True},
    )
    found = _private_keys(part)
    if found and found[0] != handles[1]:  # another process made one at the same moment
        with part.lib.lock:
            rt, session = session_of(part.lib, part.handle)
            for handle in handles:
                objects.remove(rt, session, handle)


def _key(part: Partition) -> int:
    found = _private_keys(part)
    if not found:
        _make_key(part)
        found = _private_keys(part)
    if not found:
        raise errors.DeviceError()
    return found[0]


def stamp(
    part: Partition, operation: int, key_name: str, payload_kind: int, payload: bytes, seconds: int
) -> bytes:
    """A new ``approvalToBeSigned``: ``payload`` dated ``seconds`` and signed by the timestamp key,
    for ``operation`` on the key ``key_name``."""
    raw = tlv.build_timestamp(payload_kind, payload, seconds, LABEL)
    handle = _key(part)
    mech = int(Mechanism.ECDSA_SHA256)
    with part.lib.lock:  # past the gate, which refuses this key to everyone else
        rt, session = session_of(part.lib, part.handle)
        ref = rt.handles.get(handle)
        attrs = objects.attrs_of(rt, session, ref)
        spki = bytes(attrs[A.PUBLIC_KEY_INFO])
        context = registry.lookup(mech).start(OpKind.SIGN, mech, None, ref)
    signature = signatures.ecdsa_der(bytes(context.run(raw)))
    der = signatures.with_algorithm(spki, DIGEST, signature)
    return tlv.build_approval_token(operation, key_name, raw, der)


__all__ = ["LABEL", "stamp"]
