"""Object management (PKCS#11 3.0, 5.7): the C_* view of ``core.objects.lifecycle``: raw
templates decoded, answers encoded, and the find operation's state in the session."""

from __future__ import annotations

from collections import deque
from typing import Any

from softhsm_py import errors
from softhsm_py.core.objects import lifecycle
from softhsm_py.core.runtime import Library
from softhsm_py.core.session import OpKind
from softhsm_py.core.tokens import session_of
from softhsm_py.pkcs11.templates import RawTemplate, decode, encode_answer


def create_object(lib: Library, handle: int, template: RawTemplate) -> int:
    return lifecycle.create(lib, handle, decode(template))


def copy_object(lib: Library, handle: int, object_handle: int, template: RawTemplate) -> int:
    return lifecycle.copy(lib, handle, object_handle, decode(template, strict=True))


def destroy_object(lib: Library, handle: int, object_handle: int) -> None:
    lifecycle.destroy(lib, handle, object_handle)


def get_object_size(lib: Library, handle: int, object_handle: int) -> int:
    return lifecycle.size(lib, handle, object_handle)


def get_attribute_value(lib: Library, handle: int, object_handle: int, kinds: list[int]) -> list[Any]:
    """Per kind asked: the encoded value, or the error that keeps it from the caller."""
    answers = lifecycle.read(lib, handle, object_handle, kinds)
    return [
        answer if isinstance(answer, errors.PKCS11Error) else encode_answer(kind, answer)
        for kind, answer in zip(kinds, answers, strict=True)
    ]


def set_attribute_value(lib: Library, handle: int, object_handle: int, template: RawTemplate) -> None:
    lifecycle.change(lib, handle, object_handle, decode(template, strict=True))


def find_objects_init(lib: Library, handle: int, template: RawTemplate) -> None:
    with lib.lock:
        _, session = session_of(lib, handle)
        if OpKind.FIND in session.operations:
            raise errors.OperationActive()
        try:
            wanted = decode(template)
        except errors.TemplateInconsistent:
            # One type asked for twice with two values: no object matches both, and CKR_TEMPLATE_
            # INCONSISTENT is not among C_FindObjectsInit's codes (3.0, 5.7).
            found = []
        else:
            found = lifecycle.find(lib, handle, wanted)
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
