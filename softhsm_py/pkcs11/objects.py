"""Object management (PKCS#11 3.0, 5.7): create, copy, destroy, attributes and finding.

Every object passes through ``objects.factory`` (the attribute rules) and ``access`` (who may see
and change it). Token objects are written to the store in one transaction per change; their
decoded attributes are cached on the handle and reloaded when the token's generation moves
(another process, or another session of ours, wrote to the token).
"""

from __future__ import annotations

from collections import deque
from typing import Any

from softhsm_py import errors
from softhsm_py.constants import Attribute
from softhsm_py.core import access
from softhsm_py.core.handles import ObjectRef
from softhsm_py.core.objects import codec, factory
from softhsm_py.core.runtime import Library, Runtime
from softhsm_py.core.session import OpKind, Session
from softhsm_py.pkcs11.abi.marshal import RawTemplate
from softhsm_py.pkcs11.common import session_of
from softhsm_py.store import ObjectIndex

Attrs = dict[int, Any]


# -- templates ----------------------------------------------------------------------------------
def raw_dict(template: RawTemplate) -> dict[int, Any]:
    """A caller's template as {type: raw}; a type given twice with different values is
    inconsistent (3.0, 4.1.1)."""
    out: dict[int, Any] = {}
    for kind, value in template:
        if isinstance(value, list):
            value = raw_dict(value)
        if kind in out and out[kind] != value:
            raise errors.TemplateInconsistent()
        out[kind] = value
    return out


def decode(template: RawTemplate, *, strict: bool = False) -> Attrs:
    return codec.decode_template(raw_dict(template), strict=strict)


def encode_answer(kind: int, value: Any) -> Any:
    """An attribute value as the ABI writes it: bytes, or [(type, bytes)] for a template."""
    if isinstance(value, dict):
        return list(codec.encode_template(value).items())
    return codec.encode(kind, value)


# -- loading and storing ------------------------------------------------------------------------
def attrs_of(rt: Runtime, session: Session, ref: ObjectRef) -> Attrs:
    """The object's current attributes, checking that this session may see it."""
    if ref.is_token_object:
        generation = rt.store.generation(ref.slot_id)
        if ref.generation != generation:
            stored = rt.store.load(ref.slot_id, ref.oid, session.token.token_key)
            ref.attrs = {kind: codec.decode(kind, raw) for kind, raw in stored.attrs.items()}
            ref.private = stored.private
            ref.generation = generation
            ref.cache.clear()
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


def add_object(rt: Runtime, session: Session, attrs: Attrs) -> int:
    """Store a new object the factory built; return its handle. Caller holds the library lock."""
    token_object = bool(attrs.get(Attribute.TOKEN, False))
    private = bool(attrs.get(Attribute.PRIVATE, False))
    access.check_write(session.state, token_object, private)
    if not token_object:
        return rt.handles.add(
            ObjectRef(slot_id=session.slot_id, private=private, session=session.handle, attrs=attrs)
        )
    oid = rt.store.insert(session.slot_id, _index(attrs), _encoded(attrs), session.token.token_key)
    # No generation for the cache: the token's may have moved past our write already (another
    # process's commit, even a re-initialisation), so asking for it now could stamp our
    # attributes with a later state's. The first use reloads the row.
    return rt.handles.token_object(session.slot_id, oid, private)


def actor(session: Session) -> factory.Actor:
    return factory.Actor(is_so=session.token.so_logged_in)


# -- the functions ------------------------------------------------------------------------------
def create_object(lib: Library, handle: int, template: RawTemplate) -> int:
    with lib.lock:
        rt, session = session_of(lib, handle)
        attrs = factory.build(decode(template), factory.Origin.CREATE, actor(session))
        return add_object(rt, session, attrs)


def copy_object(lib: Library, handle: int, object_handle: int, template: RawTemplate) -> int:
    with lib.lock:
        rt, session, ref = object_of(lib, handle, object_handle)
        source = attrs_of(rt, session, ref)
        attrs = factory.build(decode(template, strict=True), factory.Origin.COPY, actor(session), base=source)
        return add_object(rt, session, attrs)


def destroy_object(lib: Library, handle: int, object_handle: int) -> None:
    with lib.lock:
        rt, session, ref = object_of(lib, handle, object_handle)
        attrs = attrs_of(rt, session, ref)
        access.check_write(session.state, ref.is_token_object, ref.private)
        factory.check_destroy(attrs)
        if ref.is_token_object:
            rt.store.delete(ref.slot_id, ref.oid)
        rt.handles.drop(object_handle)


def get_object_size(lib: Library, handle: int, object_handle: int) -> int:
    with lib.lock:
        rt, session, ref = object_of(lib, handle, object_handle)
        return sum(len(raw) for raw in _encoded(attrs_of(rt, session, ref)).values())


def get_attribute_value(lib: Library, handle: int, object_handle: int, kinds: list[int]) -> list[Any]:
    with lib.lock:
        rt, session, ref = object_of(lib, handle, object_handle)
        attrs = attrs_of(rt, session, ref)
    answers: list[Any] = []
    for kind in kinds:
        try:
            answers.append(encode_answer(kind, factory.read(attrs, kind)))
        except (errors.AttributeSensitive, errors.AttributeTypeInvalid) as exc:
            answers.append(exc)
    return answers


def set_attribute_value(lib: Library, handle: int, object_handle: int, template: RawTemplate) -> None:
    with lib.lock:
        rt, session, ref = object_of(lib, handle, object_handle)
        attrs = attrs_of(rt, session, ref)
        access.check_write(session.state, ref.is_token_object, ref.private)
        new = factory.modify(attrs, decode(template, strict=True), actor(session), copy=False)
        if ref.is_token_object:
            # ref.generation stays the one before our write (see add_object): the next use reloads.
            rt.store.update(ref.slot_id, ref.oid, _index(new), _encoded(new), session.token.token_key)
        ref.attrs = new
        ref.cache.clear()


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


def find_objects_init(lib: Library, handle: int, template: RawTemplate) -> None:
    with lib.lock:
        rt, session = session_of(lib, handle)
        if OpKind.FIND in session.operations:
            raise errors.OperationActive()
        wanted = decode(template)
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
        session.start(OpKind.FIND, deque(found))


def find_objects(lib: Library, handle: int, max_count: int) -> list[int]:
    with lib.lock:
        rt, session = session_of(lib, handle)
        pending: deque[int] = session.active(OpKind.FIND)
        out: list[int] = []
        while pending and len(out) < max_count:
            object_handle = pending.popleft()
            try:  # objects destroyed since C_FindObjectsInit are skipped, not returned stale
                rt.handles.get(object_handle)
            except errors.ObjectHandleInvalid:
                continue
            out.append(object_handle)
        return out


def find_objects_final(lib: Library, handle: int) -> None:
    with lib.lock:
        _, session = session_of(lib, handle)
        session.active(OpKind.FIND)
        session.end(OpKind.FIND)
