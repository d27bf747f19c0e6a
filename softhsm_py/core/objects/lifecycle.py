"""The life of an object: create, copy, change, destroy, read and find, with the rules of PKCS#11
3.0, 5.7 that every front end keeps. Values are decoded (``codec``): no front end's wire format
reaches this module.

Every object passes through ``objects.factory`` (the attribute rules) and ``access`` (who may see
and change it). Token objects are written to the store in one transaction per change; their
decoded attributes (and the engine keys made from them, ``ObjectRef.cache``) are cached on the
handle, keyed by the stored version of the object. When the token's generation moves (another
process, or another session of ours, wrote to the token) the next use asks the store whether this
object's row is still the version cached (``Store.reload``): only a write to the object itself
drops its decoded attributes and loaded keys, a write to any other object of the token does not.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import suppress
from typing import Any

from softhsm_py import errors
from softhsm_py.constants import UNAVAILABLE_INFORMATION, Attribute
from softhsm_py.core import access, events
from softhsm_py.core.handles import ObjectRef
from softhsm_py.core.objects import codec, factory
from softhsm_py.core.runtime import Library, Runtime
from softhsm_py.core.session import Session
from softhsm_py.core.tokens import session_of
from softhsm_py.store import ObjectIndex

Attrs = dict[int, Any]


# -- loading and storing ------------------------------------------------------------------------
def attrs_of(rt: Runtime, session: Session, ref: ObjectRef) -> Attrs:
    """The object's current attributes, checking that this session may see it."""
    if ref.oid is not None:
        generation = rt.store.generation(ref.slot_id)
        if ref.generation != generation:
            stored = rt.store.reload(ref.slot_id, ref.oid, session.token.token_key, ref.stamp)
            if stored is not None:  # first use, or the object changed: a new version, a new cache
                ref.attrs = {kind: codec.decode(kind, raw) for kind, raw in stored.attrs.items()}
                ref.private = stored.private
                ref.stamp = stored.stamp
                ref.cache = {}
            ref.generation = generation
    access.check_read(session.state, ref.is_token_object, ref.private)
    return ref.attrs


def object_of(lib: Library, handle: int, object_handle: int) -> tuple[Runtime, Session, ObjectRef]:
    rt, session = session_of(lib, handle)
    ref = rt.handles.get(object_handle)
    if ref.slot_id != session.slot_id:
        raise errors.ObjectHandleInvalid()
    return rt, session, ref


def _index(attrs: Attrs) -> ObjectIndex:
    private, cls, key_type, label, ident = factory.index_of(attrs)
    return ObjectIndex(private=private, object_class=cls, key_type=key_type, label=label, id=ident)


def _encoded(attrs: Attrs) -> dict[int, bytes]:
    return {kind: codec.encode(kind, value) for kind, value in attrs.items()}


def _check_new(session: Session, new: list[Attrs]) -> list[Attrs]:
    """May this session store these objects? The token objects among them."""
    for attrs in new:
        access.check_write(
            session.state, bool(attrs.get(Attribute.TOKEN, False)), bool(attrs.get(Attribute.PRIVATE, False))
        )
    return [attrs for attrs in new if attrs.get(Attribute.TOKEN, False)]


def _insert(rt: Runtime, slot_id: int, token_objects: list[Attrs], token_key: bytes | None) -> list[int]:
    if not token_objects:
        return []
    return rt.store.insert_many(
        slot_id, [(_index(attrs), _encoded(attrs)) for attrs in token_objects], token_key
    )


def _register(rt: Runtime, session: Session, new: list[Attrs], oids: list[int], how: str) -> list[int]:
    """Handles for the objects just made (token ones stored as ``oids``). Caller holds the lock."""
    stored = iter(oids)
    handles = []
    for attrs in new:
        private = bool(attrs.get(Attribute.PRIVATE, False))
        if attrs.get(Attribute.TOKEN, False):
            # No generation for the cache: the token's may have moved past our write already
            # (another process's commit, even a re-initialisation), so asking for it now could
            # stamp our attributes with a later state's. The first use reloads the row.
            handles.append(rt.handles.token_object(session.slot_id, next(stored), private))
        else:
            ref = ObjectRef(slot_id=session.slot_id, private=private, session=session.handle, attrs=attrs)
            handles.append(rt.handles.add(ref))
    events.created(rt, session, how, handles, new)
    return handles


def add_objects(rt: Runtime, session: Session, new: list[Attrs], how: str = "create") -> list[int]:
    """Store the objects the factory built, all or none; their handles. Caller holds the
    library lock (``store_new`` is the form that writes outside it). Token objects go to the
    store in one transaction (a key pair is never half there, even after a crash). ``how`` names
    the making in the audit log (core/events.py)."""
    token_objects = _check_new(session, new)
    oids = _insert(rt, session.slot_id, token_objects, session.token.token_key)
    return _register(rt, session, new, oids, how)


def add_object(rt: Runtime, session: Session, attrs: Attrs, how: str = "create") -> int:
    return add_objects(rt, session, [attrs], how)[0]


def store_new(lib: Library, handle: int, new: list[Attrs], how: str = "create") -> list[int]:
    """``add_objects`` for a caller that does not hold the library lock: the store's transaction
    (which may wait for another process's write, and syncs to disk) runs outside it, so the
    other threads' calls go on meanwhile. The session is checked before and after: if it closed
    or lost its login in between, the stored objects are taken back and the call fails as it
    would have before the write."""
    with lib.lock:
        rt, session = session_of(lib, handle)
        token_objects = _check_new(session, new)
        slot_id, token_key = session.slot_id, session.token.token_key
    oids = _insert(rt, slot_id, token_objects, token_key)
    try:
        with lib.lock:
            rt_now, session = session_of(lib, handle)
            if rt_now is not rt or session.slot_id != slot_id:
                raise errors.SessionHandleInvalid()
            _check_new(session, new)
            return _register(rt, session, new, oids, how)
    except BaseException:
        for oid in oids:
            # Gone already (a re-initialised token), or the store closed with its runtime: the
            # error the caller gets is the first one.
            with suppress(Exception):
                rt.store.delete(slot_id, oid)
        raise


def actor(session: Session) -> factory.Actor:
    return factory.Actor(is_so=session.token.so_logged_in)


# -- the operations -----------------------------------------------------------------------------
def create(lib: Library, handle: int, template: Attrs, *, core_attrs: Attrs | None = None) -> int:
    """``core_attrs``: attributes only the core sets (a key password's hash), past the rules.
    The key check of imported material (tens of milliseconds for RSA) and the store's write run
    outside the library lock."""
    with lib.lock:
        _, session = session_of(lib, handle)
        who = actor(session)
    attrs = factory.build(template, factory.Origin.CREATE, who, material=core_attrs)
    return store_new(lib, handle, [attrs])[0]


def copy(lib: Library, handle: int, object_handle: int, template: Attrs) -> int:
    with lib.lock:
        rt, session, ref = object_of(lib, handle, object_handle)
        source = attrs_of(rt, session, ref)
        attrs = factory.build(template, factory.Origin.COPY, actor(session), base=source)
    return store_new(lib, handle, [attrs], "copy")[0]


def destroy(lib: Library, handle: int, object_handle: int) -> None:
    """A token object's row is deleted outside the library lock (the write may wait for another
    process's and syncs to disk); its handle goes once the row is gone."""
    with lib.lock:
        rt, session, ref = object_of(lib, handle, object_handle)
        attrs = attrs_of(rt, session, ref)
        access.check_write(session.state, ref.is_token_object, ref.private)
        factory.check_destroy(attrs)
        if ref.oid is None:
            rt.handles.drop(object_handle)
            events.destroyed(rt, session, object_handle, attrs)
            return
    rt.store.delete(ref.slot_id, ref.oid)  # ObjectHandleInvalid if another call deleted it first
    with lib.lock:
        rt.handles.drop(object_handle)
        events.destroyed(rt, session, object_handle, attrs)


def remove(rt: Runtime, session: Session, object_handle: int) -> None:
    """Take back an object the core itself just made (a name lost to another process), past
    CKA_DESTROYABLE. Caller holds the library lock."""
    ref = rt.handles.get(object_handle)
    if ref.oid is not None:
        rt.store.delete(ref.slot_id, ref.oid)
    rt.handles.drop(object_handle)


def size(lib: Library, handle: int, object_handle: int) -> int:
    """C_GetObjectSize: the bytes its attributes take; CK_UNAVAILABLE_INFORMATION for an object
    holding a value nobody may read (a sensitive key's secret parts, a key password's hash),
    whose size would tell that value's length (3.0, 5.7)."""
    with lib.lock:
        rt, session, ref = object_of(lib, handle, object_handle)
        attrs = attrs_of(rt, session, ref)
    for kind in attrs:
        try:
            factory.read(attrs, kind)
        except errors.AttributeSensitive:
            return UNAVAILABLE_INFORMATION
        except errors.AttributeTypeInvalid:
            continue
    return sum(len(raw) for raw in _encoded(attrs).values())


def read(lib: Library, handle: int, object_handle: int, kinds: list[int]) -> list[Any]:
    """Each attribute's value, or the error (AttributeSensitive, AttributeTypeInvalid) that keeps
    it from the caller: one answer per kind asked, in order (C_GetAttributeValue fills all)."""
    with lib.lock:
        rt, session, ref = object_of(lib, handle, object_handle)
        attrs = attrs_of(rt, session, ref)
    answers: list[Any] = []
    for kind in kinds:
        try:
            answers.append(factory.read(attrs, kind))
        except (errors.AttributeSensitive, errors.AttributeTypeInvalid) as exc:
            answers.append(exc)
    return answers


def change(lib: Library, handle: int, object_handle: int, changes: Attrs) -> None:
    with lib.lock:
        rt, session, ref = object_of(lib, handle, object_handle)
        attrs = attrs_of(rt, session, ref)
        access.check_write(session.state, ref.is_token_object, ref.private)
        new = factory.modify(attrs, changes, actor(session), copy=False)
        if ref.oid is not None:
            # ref.generation stays the one before our write (see add_objects): the next use reloads.
            rt.store.update(ref.slot_id, ref.oid, _index(new), _encoded(new), session.token.token_key)
        ref.attrs = new
        ref.cache = {}
        events.changed(rt, session, object_handle, new, changes)


def rewrite(
    rt: Runtime, session: Session, ref: ObjectRef, changes: Attrs, remove: Iterable[int] = ()
) -> None:
    """Write core-only attributes (a key password's hash and failure count) past the attribute
    rules and the session's access rights, which keep them from every front end: like a PIN
    counter, a failure is counted in any session. Caller holds the library lock."""
    new = {kind: value for kind, value in attrs_of(rt, session, ref).items() if kind not in remove}
    new.update(changes)
    if ref.oid is not None:
        rt.store.update(ref.slot_id, ref.oid, _index(new), _encoded(new), session.token.token_key)
    ref.attrs = new
    ref.cache = {}


# -- finding ------------------------------------------------------------------------------------
def _token_candidates(rt: Runtime, session: Session, template: Attrs) -> list[int]:
    """Handles of the token objects the store's indexes allow; the rest is filtered in memory."""

    def pick(kind: int) -> Any:
        value = template.get(kind)
        return value if isinstance(value, (bytes, int)) and not isinstance(value, bool) else None

    query = {
        "object_class": pick(Attribute.CLASS),
        "key_type": pick(Attribute.KEY_TYPE),
        "label": pick(Attribute.LABEL),
        "id": pick(Attribute.ID),
    }
    public = rt.store.find(session.slot_id, token_key=None, **query)
    handles = [rt.handles.token_object(session.slot_id, oid, False) for oid in public]
    key = session.token.token_key if session.token.user_logged_in else None
    if key is not None:
        seen = set(public)
        for oid in rt.store.find(session.slot_id, token_key=key, **query):
            if oid not in seen:
                handles.append(rt.handles.token_object(session.slot_id, oid, True))
    return handles


def find(lib: Library, handle: int, wanted: Attrs) -> list[int]:
    """Handles of every object this session may see whose attributes match ``wanted``
    (C_FindObjects semantics, ``factory.matches``): token objects first, in store order."""
    with lib.lock:
        rt, session = session_of(lib, handle)
        return find_in(rt, session, wanted)


def find_in(rt: Runtime, session: Session, wanted: Attrs) -> list[int]:
    """``find`` for a caller that holds the library lock (the key gate)."""
    found: list[int] = []
    for object_handle in _token_candidates(rt, session, wanted):
        ref = rt.handles.get(object_handle)
        try:
            if factory.matches(attrs_of(rt, session, ref), wanted):
                found.append(object_handle)
        except errors.ObjectHandleInvalid:  # deleted by another process meanwhile
            continue
    for object_handle in rt.handles.session_handles_on(session.slot_id):
        ref = rt.handles.get(object_handle)
        if access.can_read(session.state, False, ref.private) and factory.matches(ref.attrs, wanted):
            found.append(object_handle)
    return found
