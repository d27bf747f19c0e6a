"""Slot events (C_WaitForSlotEvent, PKCS#11 3.0 5.5): a token appearing in a slot or leaving it.

The store is the truth: C_InitToken on the empty slot, a token deleted or re-initialised, by this
process or any other, all show in its token list (slot id -> serial). Each runtime keeps the list
as it last reported it (``Runtime.slot_view``, taken at C_Initialize) and reports one changed slot
per call. A blocking wait polls the store (its change detection makes an unchanged poll one small
query) and never holds the library lock while it waits; C_Finalize wakes it
(``Runtime.stopped``) and it answers CKR_CRYPTOKI_NOT_INITIALIZED, as the spec says.
"""

from __future__ import annotations

from softhsm_py import errors
from softhsm_py.core.runtime import Library, Runtime

POLL_SECONDS = 0.2


def _now(rt: Runtime) -> dict[int, str]:
    return {rec.slot_id: rec.serial for rec in rt.store.tokens()}


def baseline(lib: Library) -> None:
    """What the application sees at C_Initialize: no event for the tokens already there."""
    with lib.lock:
        rt = lib.runtime
        rt.slot_view = _now(rt)


def next_event(rt: Runtime) -> int | None:
    """The first slot whose token changed since it was last reported, now reported; None if
    none did. Caller holds the library lock."""
    now = _now(rt)
    seen = rt.slot_view
    if seen is None:
        rt.slot_view = now
        return None
    for slot_id in sorted(seen.keys() | now.keys()):
        if seen.get(slot_id) != now.get(slot_id):
            if slot_id in now:
                seen[slot_id] = now[slot_id]
            else:
                del seen[slot_id]
            return slot_id
    return None


def wait(lib: Library, block: bool) -> int:
    """The slot of the next event; NoEvent when none is pending and ``block`` is False."""
    with lib.lock:
        rt = lib.runtime
        slot_id = next_event(rt)
    if slot_id is not None:
        return slot_id
    if not block:
        raise errors.NoEvent()
    while True:
        if rt.stopped.wait(POLL_SECONDS):
            raise errors.CryptokiNotInitialized()  # C_Finalize (3.0, 5.5)
        with lib.lock:
            if not lib.is_running() or lib.runtime is not rt:
                raise errors.CryptokiNotInitialized()
            slot_id = next_event(rt)
        if slot_id is not None:
            return slot_id
