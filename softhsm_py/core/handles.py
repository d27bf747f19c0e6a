"""Object handles of one library instance.

Handles are small integers, never reused while the library runs, and stable: a token object keeps
the handle it first got (PKCS#11 3.0, 2.4). Token objects are named by (slot, store oid) and their
attributes are a cache of the store's row; session objects live only here.
"""

from __future__ import annotations

import itertools
from typing import Any

from softhsm_py import errors


class ObjectRef:
    """One object as a handle names it; compared by identity."""

    __slots__ = ("attrs", "cache", "generation", "oid", "private", "session", "slot_id", "stamp")

    def __init__(
        self,
        slot_id: int,
        private: bool,
        oid: int | None = None,  # a token object's id in the store
        session: int | None = None,  # a session object's owning session
        attrs: dict[int, Any] | None = None,  # decoded values; for token objects a cache
        generation: int = -1,  # the token generation ``attrs`` was loaded at (token objects)
        cache: dict[str, Any] | None = None,  # engine objects made from ``attrs``
        stamp: object = None,  # the stored version ``attrs`` was decoded from (Store.reload)
    ) -> None:
        self.slot_id = slot_id
        self.private = private
        self.oid = oid
        self.session = session
        self.attrs = {} if attrs is None else attrs
        self.generation = generation
        self.cache = {} if cache is None else cache
        self.stamp = stamp

    def __repr__(self) -> str:  # attributes may hold key material
        kind = f"oid={self.oid}" if self.oid is not None else f"session={self.session}"
        return f"ObjectRef(slot={self.slot_id}, {kind}, private={self.private})"

    @property
    def is_token_object(self) -> bool:
        return self.oid is not None


class HandleTable:
    """Handles -> refs, with two indexes kept in step: token objects by (slot, oid), and session
    objects by owning session, so that closing a session or finding objects never scans every
    handle. Handles grow, so each index, like ``_refs``, lists its handles in handle order."""

    def __init__(self) -> None:
        self._next = itertools.count(1)
        self._refs: dict[int, ObjectRef] = {}
        self._by_oid: dict[tuple[int, int], int] = {}
        self._by_session: dict[int, dict[int, None]] = {}  # session -> its objects' handles

    def token_object(self, slot_id: int, oid: int, private: bool) -> int:
        """The handle of a stored object, allocating one the first time it is seen."""
        handle = self._by_oid.get((slot_id, oid))
        if handle is None:
            handle = next(self._next)
            self._by_oid[(slot_id, oid)] = handle
            self._refs[handle] = ObjectRef(slot_id=slot_id, private=private, oid=oid)
        return handle

    def add(self, ref: ObjectRef) -> int:
        handle = next(self._next)
        self._refs[handle] = ref
        if ref.oid is not None:
            self._by_oid[(ref.slot_id, ref.oid)] = handle
        if ref.session is not None:
            self._by_session.setdefault(ref.session, {})[handle] = None
        return handle

    def get(self, handle: int) -> ObjectRef:
        try:
            return self._refs[handle]
        except KeyError:
            raise errors.ObjectHandleInvalid() from None

    def drop(self, handle: int) -> None:
        ref = self._refs.pop(handle, None)
        if ref is None:
            return
        if ref.oid is not None:
            self._by_oid.pop((ref.slot_id, ref.oid), None)
        if ref.session is not None:
            owned = self._by_session.get(ref.session)
            if owned is not None:
                owned.pop(handle, None)
                if not owned:
                    del self._by_session[ref.session]

    def session_objects(self, session: int) -> list[int]:
        return list(self._by_session.get(session, ()))

    def drop_session_objects(self, session: int) -> None:
        for handle in self.session_objects(session):
            self.drop(handle)

    def forget_private(self, slot_id: int) -> None:
        """Logout (3.0, 5.6): private session objects are destroyed and handles to private token
        objects become invalid for good; the objects get new handles when found again."""
        for handle in [h for h, r in self._refs.items() if r.slot_id == slot_id and r.private]:
            self.drop(handle)

    def forget_slot(self, slot_id: int) -> None:
        for handle in [h for h, r in self._refs.items() if r.slot_id == slot_id]:
            self.drop(handle)

    def session_handles_on(self, slot_id: int) -> list[int]:
        """Handles of the session objects on ``slot_id``, in handle order."""
        out = [h for owned in self._by_session.values() for h in owned if self._refs[h].slot_id == slot_id]
        out.sort()
        return out
