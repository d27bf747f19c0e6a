"""Key passwords: a key may carry a password of its own (the TSB's ``password``/``keyPassword``),
which every use of the key must present, whatever the front end.

Only a slow salted hash is kept (scrypt, the configured ``kdf_cost``, in the key's never-readable
CKA_VENDOR_PASSWORD attribute). Wrong passwords are counted in the key (never readable either) and
lock the key after ``pin_lockout`` tries in a row, like a PIN; a right password resets the count.
A PKCS#11 host presents it with C_Login(CKU_CONTEXT_SPECIFIC) after the *Init, as for
CKA_ALWAYS_AUTHENTICATE.

Tries are serialised per key in this process and a failure is written before the answer goes
out, so a process can never run more tries than the lockout allows; processes racing on one key
can overshoot by at most one try each. A right password is remembered (per process, as a keyed
digest, never the password) so that a REST client signing in a loop pays scrypt once per key,
not per request; a changed password hash forgets it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
from typing import Any

from softhsm_py import errors
from softhsm_py.constants import VendorAttribute
from softhsm_py.core.objects import lifecycle
from softhsm_py.core.runtime import Library

_PREFIX = b"scrypt1"
_SALT_LEN = 16
_HASH_LEN = 32
PASSWORD = int(VendorAttribute.PASSWORD)
FAILURES = int(VendorAttribute.PASSWORD_FAILURES)
MAX_LEN = 1024  # a password longer than this is refused unread (scrypt's cost grows with it)

# Right passwords seen by this process: (stored hash, keyed digest of the password).
_PROCESS_KEY = os.urandom(32)
_verified: set[tuple[bytes, bytes]] = set()
_locks: dict[bytes, threading.Lock] = {}
_locks_guard = threading.Lock()


def _scrypt(password: bytes, salt: bytes, cost: int) -> bytes:
    return hashlib.scrypt(password, salt=salt, n=1 << cost, r=8, p=1, maxmem=0x7FFFFFFF, dklen=_HASH_LEN)


def hash_password(password: bytes, cost: int) -> bytes:
    """The value of CKA_VENDOR_PASSWORD for ``password``."""
    if not password or len(password) > MAX_LEN:
        raise errors.PinLenRange()
    salt = os.urandom(_SALT_LEN)
    return _PREFIX + bytes([cost]) + salt + _scrypt(password, salt, cost)


def _matches(stored: bytes, password: bytes) -> bool:
    if not stored.startswith(_PREFIX) or len(stored) != len(_PREFIX) + 1 + _SALT_LEN + _HASH_LEN:
        raise errors.GeneralError()  # not a hash we wrote: refuse rather than guess
    cost = stored[len(_PREFIX)]
    salt = stored[len(_PREFIX) + 1 : len(_PREFIX) + 1 + _SALT_LEN]
    return hmac.compare_digest(_scrypt(password, salt, cost), stored[-_HASH_LEN:])


def _digest(password: bytes) -> bytes:
    return hmac.new(_PROCESS_KEY, password, "sha256").digest()


def _lock_for(stored: bytes) -> threading.Lock:
    with _locks_guard:
        lock = _locks.get(stored)
        if lock is None:
            lock = _locks[stored] = threading.Lock()
        return lock


def protected(attrs: dict[int, Any]) -> bool:
    return PASSWORD in attrs


def _failures(lib: Library, handle: int, key_handle: int) -> int:
    with lib.lock:
        rt, session, ref = lifecycle.object_of(lib, handle, key_handle)
        return int(lifecycle.attrs_of(rt, session, ref).get(FAILURES, 0))


def _set_failures(lib: Library, handle: int, key_handle: int, count: int) -> None:
    with lib.lock:
        rt, session, ref = lifecycle.object_of(lib, handle, key_handle)
        lifecycle.rewrite(rt, session, ref, {FAILURES: count})


def _audit_failure(lib: Library, handle: int, key_handle: int, *, locked: bool) -> None:
    from softhsm_py.core import events

    with lib.lock:
        rt, session, ref = lifecycle.object_of(lib, handle, key_handle)
        if rt.audit.enabled:
            attrs = lifecycle.attrs_of(rt, session, ref)
            events.key_password_failed(rt, session, key_handle, attrs, locked=locked)


def check(lib: Library, handle: int, key_handle: int, stored: bytes, password: bytes | None) -> None:
    """Raise unless ``password`` is the key's (``stored``: its CKA_VENDOR_PASSWORD). Call without
    the library lock: scrypt is slow."""
    if password is None or len(password) > MAX_LEN:
        raise errors.KeyPasswordIncorrect()  # an over-long one is refused unread and uncounted
    lockout = lib.runtime.config.pin_lockout
    digest = _digest(password)
    if (stored, digest) in _verified:
        if _failures(lib, handle, key_handle) >= lockout:
            raise errors.KeyPasswordLocked()
        return
    with _lock_for(stored):
        failures = _failures(lib, handle, key_handle)
        if failures >= lockout:
            raise errors.KeyPasswordLocked()
        if not _matches(stored, password):
            _set_failures(lib, handle, key_handle, failures + 1)
            _audit_failure(lib, handle, key_handle, locked=failures + 1 >= lockout)
            raise (errors.KeyPasswordLocked if failures + 1 >= lockout else errors.KeyPasswordIncorrect)()
        if failures:
            _set_failures(lib, handle, key_handle, 0)
        _verified.add((stored, digest))


def forget(stored: bytes) -> None:
    """Drop what this process remembers of a hash (the password changed or the key is gone)."""
    for entry in [e for e in _verified if e[0] == stored]:
        _verified.discard(entry)
