"""The security events of the core, one function each, written to the runtime's audit log
(``softhsm_py/audit.py``). Whichever front end made the call (a PKCS#11 host, a REST request), the
event is the same. Fields are facts about who did what to which object: slot, token serial,
session, user type, handle, class, key type, label, mechanism and attribute names, CKR names.
Never a PIN, a key, key material or data. Each function returns at once when no audit log is
configured (``AuditLog.enabled``), before building anything."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from softhsm_py.constants import Attribute, ObjectClass, UserType
from softhsm_py.core.runtime import Runtime
from softhsm_py.core.session import Session

_CLASS, _KEY_TYPE, _LABEL = int(Attribute.CLASS), int(Attribute.KEY_TYPE), int(Attribute.LABEL)
_TOKEN, _PRIVATE, _SENSITIVE = int(Attribute.TOKEN), int(Attribute.PRIVATE), int(Attribute.SENSITIVE)


def _name(enum: Any, prefix: str, value: object) -> str | None:
    if not isinstance(value, int):
        return None
    try:
        return f"{prefix}{enum(value).name}"
    except ValueError:
        return f"0x{value:x}"


def _session(session: Session) -> dict[str, Any]:
    return {"slot": session.slot_id, "serial": session.token.serial, "session": session.handle}


def _object(attrs: dict[int, Any]) -> dict[str, Any]:
    from softhsm_py.constants_more import KeyType

    out: dict[str, Any] = {"class": _name(ObjectClass, "CKO_", attrs.get(_CLASS))}
    if _KEY_TYPE in attrs:
        out["key_type"] = _name(KeyType, "CKK_", attrs[_KEY_TYPE])
    out["token"] = bool(attrs.get(_TOKEN, False))
    out["private"] = bool(attrs.get(_PRIVATE, False))
    label = attrs.get(_LABEL)
    if isinstance(label, (bytes, bytearray)) and label:
        out["label"] = bytes(label).decode("utf-8", "replace")
    return out


def mechanism_name(value: int) -> str:
    from softhsm_py.constants_mechanisms import Mechanism

    return _name(Mechanism, "CKM_", value) or str(value)


def is_sensitive(attrs: dict[int, Any]) -> bool:
    """A key whose secret the token keeps: CKA_SENSITIVE, or never to be extracted."""
    return attrs.get(_SENSITIVE) is True or attrs.get(int(Attribute.EXTRACTABLE)) is False


# -- sessions and PINs ------------------------------------------------------------------------------
def login(rt: Runtime, session: Session, user: UserType, error: BaseException | None = None) -> None:
    if not rt.audit.enabled:
        return
    fields = {**_session(session), "user": user.name}
    if error is None:
        rt.audit.event("login", {**fields, "result": "CKR_OK"})
        return
    rv = getattr(error, "rv", None)
    rt.audit.event("login_failed", {**fields, "result": f"CKR_{rv.name}" if rv is not None else "error"})
    if getattr(error, "locked_now", False):
        rt.audit.event("pin_locked", fields)


def logout(rt: Runtime, session: Session, user: UserType | None) -> None:
    if rt.audit.enabled:
        rt.audit.event("logout", {**_session(session), "user": None if user is None else user.name})


def pin_changed(rt: Runtime, session: Session, user: UserType) -> None:
    if rt.audit.enabled:
        rt.audit.event("pin_change", {**_session(session), "user": user.name})


def pin_initialised(rt: Runtime, session: Session) -> None:
    if rt.audit.enabled:
        rt.audit.event("pin_init", {**_session(session), "user": "USER", "by": "SO"})


# -- tokens ------------------------------------------------------------------------------------------
def token(rt: Runtime, event: str, slot_id: int, serial: str | None, label: str | None = None) -> None:
    """``event``: token_init, token_reinit, token_delete, token_init_race."""
    if rt.audit.enabled:
        fields: dict[str, Any] = {"slot": slot_id, "serial": serial}
        if label is not None:
            fields["label"] = label
        rt.audit.event(event, fields)


# -- objects and keys ----------------------------------------------------------------------------
def created(
    rt: Runtime, session: Session, how: str, handles: Iterable[int], new: Iterable[dict[int, Any]]
) -> None:
    """``how``: create, copy, generate, generate_pair, unwrap, derive."""
    if rt.audit.enabled:
        for handle, attrs in zip(handles, new, strict=True):
            rt.audit.event(
                "object_create", {**_session(session), "how": how, "handle": handle, **_object(attrs)}
            )


def destroyed(rt: Runtime, session: Session, handle: int, attrs: dict[int, Any]) -> None:
    if rt.audit.enabled:
        rt.audit.event("object_destroy", {**_session(session), "handle": handle, **_object(attrs)})


def changed(rt: Runtime, session: Session, handle: int, attrs: dict[int, Any], kinds: Iterable[int]) -> None:
    """The names of the attributes a C_SetAttributeValue set, never their values."""
    if rt.audit.enabled:
        names = [_name(Attribute, "CKA_", kind) for kind in kinds]
        rt.audit.event(
            "attribute_change", {**_session(session), "handle": handle, **_object(attrs), "attributes": names}
        )


def key_password_failed(
    rt: Runtime, session: Session, handle: int, attrs: dict[int, Any], *, locked: bool
) -> None:
    if rt.audit.enabled:
        fields = {**_session(session), "handle": handle, **_object(attrs)}
        rt.audit.event("key_password_failed", {**fields, "locked": locked})


def key_used(
    rt: Runtime, session: Session, handle: int, attrs: dict[int, Any], operation: str, mechanism: int
) -> None:
    """A sensitive key put to work (sign, decrypt, unwrap, derive, wrap, or wrapped: ``export``)."""
    if rt.audit.enabled and (operation == "export" or is_sensitive(attrs)):
        rt.audit.event(
            "key_use",
            {
                **_session(session),
                "handle": handle,
                **_object(attrs),
                "operation": operation,
                "mechanism": mechanism_name(mechanism),
            },
        )
