"""The key gate: every use of a key, by any front end, passes here before a mechanism sees it.

What a key's attributes allow (PKCS#11 3.0, 4.7-4.10): the usage attribute of the operation
(CKA_SIGN for signing, ...), CKA_ALLOWED_MECHANISMS, and for a key that is an operation's data
(C_WrapKey) the extractability rules; 3.2's CKA_ENCAPSULATE_TEMPLATE for the key a KEM makes. A
key with Smart Key Attributes also needs what its policy asks for (``core.ska.approvals.check``): a
blocked key is refused, and a key whose rule for the operation is not empty needs approvals, which
only a front end that can carry them (REST) brings; PKCS#11 cannot, so there such a key is
CKR_KEY_FUNCTION_NOT_PERMITTED. A front end names the key and the operation; it never repeats a
check made here.
"""

from __future__ import annotations

from softhsm_py import errors
from softhsm_py.constants import Attribute, ObjectClass, VendorAttribute
from softhsm_py.core.handles import ObjectRef
from softhsm_py.core.objects import factory, lifecycle
from softhsm_py.core.runtime import Runtime
from softhsm_py.core.session import OpKind, Session
from softhsm_py.core.ska import approvals
from softhsm_py.core.ska.tlv import Op

# The attribute that must be TRUE on a key for each kind of operation (3.0, 4.8-4.10 tables), as
# plain ints: an IntEnum member costs a class attribute lookup on every key use.
USAGE: dict[OpKind, int] = {
    OpKind.ENCRYPT: int(Attribute.ENCRYPT),
    OpKind.DECRYPT: int(Attribute.DECRYPT),
    OpKind.SIGN: int(Attribute.SIGN),
    OpKind.VERIFY: int(Attribute.VERIFY),
    OpKind.SIGN_RECOVER: int(Attribute.SIGN_RECOVER),
    OpKind.VERIFY_RECOVER: int(Attribute.VERIFY_RECOVER),
    OpKind.VERIFY_SIGNATURE: int(Attribute.VERIFY),
    OpKind.MESSAGE_ENCRYPT: int(Attribute.ENCRYPT),
    OpKind.MESSAGE_DECRYPT: int(Attribute.DECRYPT),
    OpKind.MESSAGE_SIGN: int(Attribute.SIGN),
    OpKind.MESSAGE_VERIFY: int(Attribute.VERIFY),
    OpKind.ENCAPSULATE: int(Attribute.ENCAPSULATE),  # 3.2
    OpKind.DECAPSULATE: int(Attribute.DECAPSULATE),
}
WRAP, UNWRAP, DERIVE = int(Attribute.WRAP), int(Attribute.UNWRAP), int(Attribute.DERIVE)
_CLASS = int(Attribute.CLASS)
_KEY_TYPE = int(Attribute.KEY_TYPE)
_ALWAYS_AUTHENTICATE = int(Attribute.ALWAYS_AUTHENTICATE)
_PASSWORD = int(VendorAttribute.PASSWORD)
_ATTESTATION = int(VendorAttribute.ATTESTATION)
_TIMESTAMP = int(VendorAttribute.TIMESTAMP)
_SKA_POLICY = int(VendorAttribute.SKA_POLICY)
#: the multi-authorization operations a usage may run under (none: no approval can cover it)
_SKA_OPS: dict[int, frozenset[int]] = {
    int(Attribute.SIGN): frozenset({Op.SIGN, Op.CERTIFICATE}),
    int(Attribute.DECRYPT): frozenset({Op.DECRYPT}),
    int(Attribute.UNWRAP): frozenset({Op.UNWRAP}),
}
_ALLOWED_MECHANISMS = int(Attribute.ALLOWED_MECHANISMS)
_KEY_CLASSES = frozenset(
    int(c) for c in (ObjectClass.SECRET_KEY, ObjectClass.PRIVATE_KEY, ObjectClass.PUBLIC_KEY)
)


def usable_key(
    rt: Runtime,
    session: Session,
    key_handle: int,
    usage: int | None,
    mechanism: int | None,
    key_types: frozenset[int] = frozenset(),
    authorization: approvals.Authorization | None = None,
) -> ObjectRef:
    """The key for an operation, after the checks every key use shares: ``usage`` is the attribute
    that must be TRUE, ``mechanism`` the one its CKA_ALLOWED_MECHANISMS must allow (None for a key
    that is an operation's data, like the key C_WrapKey wraps), ``key_types`` the mechanism's (none:
    the mechanism checks). A key of the wrong type is KEY_TYPE_INCONSISTENT before its usage is
    looked at: an AES key has CKA_ENCRYPT, yet CKM_RSA_PKCS cannot use it. ``authorization``:
    what the call presents for a key with a policy (REST; PKCS#11 presents nothing). Caller holds
    the lock."""
    try:
        ref = rt.handles.get(key_handle)
        if ref.slot_id != session.slot_id:
            raise errors.ObjectHandleInvalid()
        attrs = lifecycle.attrs_of(rt, session, ref)
    except errors.ObjectHandleInvalid:
        raise errors.KeyHandleInvalid() from None
    if attrs.get(_CLASS) not in _KEY_CLASSES:
        raise errors.KeyHandleInvalid()
    if attrs.get(_ATTESTATION) is True or attrs.get(_TIMESTAMP) is True:
        raise errors.KeyFunctionNotPermitted()  # signs attestations / timestamps, nothing else
    if key_types and attrs.get(_KEY_TYPE) not in key_types:
        raise errors.KeyTypeInconsistent()
    if usage is not None and attrs.get(usage) is not True:
        raise errors.KeyFunctionNotPermitted()
    allowed = attrs.get(_ALLOWED_MECHANISMS)
    # An empty list restricts nothing (as SoftHSMv2).
    if allowed and mechanism is not None and mechanism not in allowed:
        raise errors.MechanismInvalid()  # 3.0, 4.6: the key may not be used with this mechanism
    if usage is not None and _SKA_POLICY in attrs:
        check_policy(rt, session, attrs, usage, authorization)
    return ref


def check_policy(
    rt: Runtime,
    session: Session,
    attrs: dict[int, object],
    usage: int,
    authorization: approvals.Authorization | None,
) -> None:
    """The key's Smart Key Attributes for a use of ``usage`` (core.ska.approvals.check)."""
    ops = _SKA_OPS.get(usage, frozenset())
    op: int | None = None
    if ops:
        op = authorization.op if authorization is not None and authorization.op in ops else min(ops)
    timestamp_key = approvals.timestamp_key(rt, session) if authorization is not None else None
    approvals.check(attrs, op, authorization, timestamp_key)


def check_wrappable(key: ObjectRef, wrapping: ObjectRef) -> None:
    """May ``wrapping`` carry ``key`` out of the token (C_WrapKey; 3.0, 4.8-4.10)?"""
    attrs = key.attrs
    if attrs.get(Attribute.EXTRACTABLE) is not True:
        raise errors.KeyUnextractable()
    if attrs.get(Attribute.WRAP_WITH_TRUSTED) is True and wrapping.attrs.get(Attribute.TRUSTED) is not True:
        raise errors.KeyNotWrappable()
    required = wrapping.attrs.get(Attribute.WRAP_TEMPLATE)
    if required and not factory.matches(attrs, required):
        raise errors.KeyNotWrappable()  # 3.0, 4.8: CKA_WRAP_TEMPLATE


def check_encapsulable(new_key: dict[int, object], encapsulating: ObjectRef) -> None:
    """May ``encapsulating`` make a key with these attributes (C_EncapsulateKey; 3.2, 5.18)?
    Its CKA_ENCAPSULATE_TEMPLATE must match the new key; a conflict is CKR_KEY_HANDLE_INVALID,
    the code 3.2 gives it."""
    required = encapsulating.attrs.get(Attribute.ENCAPSULATE_TEMPLATE)
    if required and not factory.matches(new_key, required):
        raise errors.KeyHandleInvalid()


def check_unattended(key: ObjectRef) -> None:
    """A key used by one call with no *Init before it (C_WrapKey, C_UnwrapKey, C_DeriveKey) has
    no operation a C_Login(CKU_CONTEXT_SPECIFIC) could authorise: a key that asks for one
    (CKA_ALWAYS_AUTHENTICATE, a key password) is refused there (CKR_USER_NOT_LOGGED_IN). A front
    end that checked the key's password itself (core.partition) does not call this."""
    if key.attrs.get(_ALWAYS_AUTHENTICATE) is True or _PASSWORD in key.attrs:
        raise errors.UserNotLoggedIn()
