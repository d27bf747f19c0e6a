"""The secrecy model of the token store, over any row store (``store/rows.py``).

``SealedStore`` implements the ``Store`` protocol of ``store/base.py``: everything secret is
sealed here before a row reaches the backend, so no database ever sees a PIN or a key in clear.

* ``tokens.so_wrap`` / ``user_wrap``: the token key sealed under ``scrypt(PIN, salt, cost)``; AAD
  binds the serial and the user type. ``key_check`` is an HMAC of a constant under the token key,
  so a stale key (the token was re-initialised by another process) is refused instead of sealing
  data nobody can read.
* ``objects.blob``: the attribute TLV sealed under ``subkey(K, "object-seal")``, K being the token
  key for private objects and the token's ``public_key`` for public ones. AAD binds slot, serial,
  oid and every index column, so blobs cannot be swapped between rows and index columns cannot be
  altered unnoticed (a load fails).
* ``objects.label_mac`` / ``id_mac``: ``index_mac(subkey(K, "index-label" | "index-id"), value)``.
  Finds compare MACs. Equal labels (IDs) of one kind share a MAC: equality is visible, values not.
* ``records.blob`` (the core's multi-authorization requests and onboarded approvers: payloads,
  results, approvers' keys): sealed under ``subkey(K, "record-seal")``, K the token key; AAD binds
  slot, serial, kind, id, lookup MAC, status and creation time, so that the readable columns
  cannot be altered unnoticed. ``records.lookup`` is ``index_mac(subkey(K, "record-lookup"), v)``.

PIN counters are pessimistic: a try is counted in one transaction before scrypt runs and the
count is reset only after the PIN proved right, so parallel guesses from many processes (or
hosts) can never exceed the lockout, and killing the process mid-try does not erase the try.
One try at a time per process, and ``close()`` waits for a try in flight.

A read-only store (``read_only``: a read-only file or mount, a database role that may only read)
cannot count tries. A PIN locked in the store stays locked; other tries are counted in this
process's memory, against what the store already holds: after ``lockout`` wrong tries in a row in
one process the PIN is locked for that process, and a right one resets only the process's count.
Another process gets its own tries: with the store read-only, no PIN lockout spans processes.

Threads: scrypt (tens of milliseconds) always runs outside any transaction. ``tokens()`` and
``generation()`` run on nearly every PKCS#11 call; their answers are cached while the backend's
``version()`` stays put. A cache is a fresh object per version and data is read only after the
version, so a racing thread can at worst drop a cache, never stamp old data with a new version.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections.abc import Callable, Hashable
from typing import Any, Self

from softhsm_py import errors
from softhsm_py.constants import UserType
from softhsm_py.engine import sealing
from softhsm_py.log import get_logger
from softhsm_py.store.base import (
    ObjectIndex,
    Record,
    RecordExists,
    SlotTaken,
    StoredObject,
    TokenKeyStale,
    TokenRecord,
)
from softhsm_py.store.format import (
    Keys,
    RecordKeys,
    encode_attrs,
    key_check_of,
    u64,
    who_of,
    wrap_aad,
)
from softhsm_py.store.rows import ObjectQuery, ObjectRow, RowStore, RowTx, TokenRow
from softhsm_py.store.sealed_rows import (
    aad_of,
    check_key,
    index_match,
    keysets,
    object_row_of,
    record_row_of,
    unseal_object,
    unseal_record,
)

__all__ = ["LABEL_MAX", "SALT_LEN", "SealedStore"]

log = get_logger("store")

LABEL_MAX = 32
SALT_LEN = 16


def _check_label(label: str) -> None:
    if len(label.encode("utf-8")) > LABEL_MAX:
        raise ValueError(f"token label longer than {LABEL_MAX} bytes of UTF-8")


def _record(row: TokenRow) -> TokenRecord:
    return TokenRecord(
        row.slot_id,
        row.serial,
        row.label,
        row.user_wrap is not None,
        row.so_failures,
        row.user_failures,
        row.generation,
    )


def _token(tx: RowTx, slot_id: int) -> TokenRow:
    row = tx.token(slot_id)
    if row is None:
        raise errors.TokenNotPresent()
    return row


def _locked_now() -> errors.PinLocked:
    """PinLocked for the try that locked the PIN (``locked_now``: the core audits the lockout)."""
    exc = errors.PinLocked()
    exc.locked_now = True  # type: ignore[attr-defined]
    return exc


class _Cache:
    """The answers of ``tokens()`` and ``generation()`` valid at one ``version()``."""

    __slots__ = ("generations", "tokens", "version")

    def __init__(self, version: Hashable) -> None:
        self.version = version
        self.tokens: list[TokenRecord] | None = None
        self.generations: dict[int, int] = {}


class SealedStore:
    """The ``Store``. Create with ``softhsm_py.store.open_store``."""

    def __init__(self, rows: RowStore, *, kdf_cost: int) -> None:
        if not isinstance(kdf_cost, int) or not sealing.MIN_COST <= kdf_cost <= sealing.MAX_COST:
            rows.close()
            raise ValueError("kdf_cost out of range")
        self.rows = rows
        self.kdf_cost = kdf_cost
        self._pin_lock = threading.Lock()
        self._pid = os.getpid()
        self._cache = _Cache(object())  # matches no version
        # Read-only stores: wrong PIN tries of this process, by (slot, serial, "so" | "user").
        self._tries_here: dict[tuple[int, str, str], int] = {}

    @property
    def location(self) -> str:
        return self.rows.location

    @property
    def read_only(self) -> bool:
        """Writes are refused with TokenWriteProtected (``rows.RowStore.read_only``)."""
        return self.rows.read_only

    # ----------------------------------------------------------------------- lifecycle

    def close(self) -> None:
        if self._pid != os.getpid():  # forked child: never wait for the parent's locks
            self.rows.close()
            return
        # A PIN try in flight finishes first: it is counted before scrypt runs, and closing
        # under it would leave a right PIN on disk as a wrong one (C_Finalize racing C_Login).
        with self._pin_lock:
            self.rows.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------------- tokens

    def _fresh_cache(self) -> _Cache:
        version = self.rows.version()
        cache = self._cache
        if cache.version != version:
            cache = self._cache = _Cache(version)
        return cache

    def tokens(self) -> list[TokenRecord]:
        cache = self._fresh_cache()
        records = cache.tokens
        if records is None:
            with self.rows.read("listing tokens") as tx:
                records = cache.tokens = [_record(row) for row in tx.tokens()]
        return list(records)

    def token(self, slot_id: int) -> TokenRecord | None:
        with self.rows.read("reading a token") as tx:
            row = tx.token(slot_id)
        return None if row is None else _record(row)

    def generation(self, slot_id: int) -> int:
        """The token's generation, or 0 when the slot has no token (real ones are >= 1)."""
        cache = self._fresh_cache()
        generation = cache.generations.get(slot_id)
        if generation is None:
            with self.rows.read("reading a generation") as tx:
                generation = tx.generation(slot_id) or 0
            cache.generations[slot_id] = generation
        return generation

    def store_generation(self) -> int:
        """Store-wide counter, advanced by every write to any token (incl. create and delete)."""
        with self.rows.read("reading the store generation") as tx:
            return tx.store_generation()

    def _new_token_secrets(self, serial: str, so_pin: bytes) -> dict[str, Any]:
        token_key = sealing.random_key()
        salt = os.urandom(SALT_LEN)
        kek = sealing.derive_kek(so_pin, salt, self.kdf_cost)  # slow: outside any transaction
        return {
            "key_check": key_check_of(token_key),
            "public_key": sealing.random_key(),
            "so_wrap": sealing.seal(kek, token_key, wrap_aad(serial, "so")),
            "so_salt": salt,
            "so_cost": self.kdf_cost,
        }

    def create_token(self, slot_id: int, label: str, so_pin: bytes) -> TokenRecord:
        _check_label(label)
        if not 0 <= slot_id < 2**63:
            raise ValueError("slot_id out of range")
        if self.token(slot_id) is not None:  # fail fast, before the slow KDF
            raise SlotTaken(f"slot {slot_id} already holds a token")
        while True:
            serial = secrets.token_hex(8)
            s = self._new_token_secrets(serial, so_pin)
            with self.rows.write("creating a token") as tx:
                if tx.token(slot_id) is not None:
                    raise SlotTaken(f"slot {slot_id} already holds a token")
                if tx.token_by_serial(serial) is not None:
                    continue  # 2**-64 odds; new serial means a new wrap AAD: start over
                row = TokenRow(
                    slot_id,
                    serial,
                    label,
                    s["key_check"],
                    s["public_key"],
                    s["so_wrap"],
                    s["so_salt"],
                    s["so_cost"],
                    None,
                    None,
                    None,
                    0,
                    0,
                    0,
                )
                tx.insert_token(row)
                tx.bump(slot_id)
                record = _record(_token(tx, slot_id))
            log.info("token created on slot %d (serial %s)", slot_id, serial)
            return record

    def reinit_token(self, slot_id: int, label: str, so_pin: bytes) -> TokenRecord:
        _check_label(label)
        while True:
            with self.rows.read("reading a token") as tx:
                serial = _token(tx, slot_id).serial
            s = self._new_token_secrets(serial, so_pin)
            with self.rows.write("re-initialising a token") as tx:
                if _token(tx, slot_id).serial != serial:  # deleted and re-created: new AAD
                    continue
                tx.delete_objects(slot_id)
                tx.delete_records(slot_id)  # sealed under the old token key: unreadable from now on
                tx.update_token(
                    slot_id,
                    label=label,
                    user_wrap=None,
                    user_salt=None,
                    user_cost=None,
                    so_failures=0,
                    user_failures=0,
                    **s,
                )
                tx.bump(slot_id)
                record = _record(_token(tx, slot_id))
            log.info("token on slot %d re-initialised", slot_id)
            return record

    def delete_token(self, slot_id: int) -> None:
        """Remove the token and its objects; nothing happens if the slot holds no token."""
        with self.rows.write("deleting a token") as tx:
            if tx.delete_token(slot_id):
                tx.bump(None)
                log.info("token on slot %d deleted", slot_id)

    # ----------------------------------------------------------------------- PINs

    def verify_pin(self, slot_id: int, user: UserType, pin: bytes, lockout: int) -> bytes:
        # One PIN try at a time per process: tries are counted before they are made, so right
        # PINs in flight from many threads would otherwise add up to a lockout.
        with self._pin_lock:
            if self.rows.read_only:
                return self._verify_pin_here(slot_id, user, pin, lockout)
            return self._verify_pin(slot_id, user, pin, lockout)

    def _verify_pin_here(self, slot_id: int, user: UserType, pin: bytes, lockout: int) -> bytes:
        """A PIN try on a read-only store, counted in this process (module docstring)."""
        who = who_of(user)
        if lockout < 1:
            raise ValueError("lockout must be at least 1")
        with self.rows.read("reading a token") as tx:
            row = _token(tx, slot_id)
        wrap, salt, cost = (
            getattr(row, f"{who}_wrap"),
            getattr(row, f"{who}_salt"),
            getattr(row, f"{who}_cost"),
        )
        if wrap is None:
            raise errors.UserPinNotInitialized()
        key = (slot_id, row.serial, who)
        count = getattr(row, f"{who}_failures") + self._tries_here.get(key, 0)
        if count >= lockout:
            raise errors.PinLocked()
        self._tries_here[key] = self._tries_here.get(key, 0) + 1  # counted before it is made
        try:
            token_key = sealing.unseal(sealing.derive_kek(pin, salt, cost), wrap, wrap_aad(row.serial, who))
        except sealing.SealBroken:
            log.info(
                "wrong %s PIN on slot %d (%d of %d, counted in this process)",
                who,
                slot_id,
                count + 1,
                lockout,
            )
            if count + 1 >= lockout:
                log.warning("%s PIN on slot %d is now locked for this process", who, slot_id)
                raise _locked_now() from None
            raise errors.PinIncorrect() from None
        except Exception:
            self._tries_here[key] -= 1  # not a verdict on the PIN (e.g. out of memory)
            raise
        self._tries_here.pop(key, None)
        return token_key

    def _verify_pin(self, slot_id: int, user: UserType, pin: bytes, lockout: int) -> bytes:
        who = who_of(user)
        failures = f"{who}_failures"
        if lockout < 1:
            raise ValueError("lockout must be at least 1")
        for _ in range(3):
            # 1. Count the try before making it.
            with self.rows.write("counting a PIN try") as tx:
                row = _token(tx, slot_id)
                wrap, salt, cost = (
                    getattr(row, f"{who}_wrap"),
                    getattr(row, f"{who}_salt"),
                    getattr(row, f"{who}_cost"),
                )
                if wrap is None:
                    raise errors.UserPinNotInitialized()
                count = getattr(row, failures)
                if count >= lockout:
                    raise errors.PinLocked()
                count += 1
                tx.update_token(slot_id, **{failures: count})
                tx.bump(slot_id)
            # 2. Make it, outside any transaction.
            try:
                kek = sealing.derive_kek(pin, salt, cost)
                token_key = sealing.unseal(kek, wrap, wrap_aad(row.serial, who))
            except sealing.SealBroken:
                log.info("wrong %s PIN on slot %d (%d of %d)", who, slot_id, count, lockout)
                if count >= lockout:
                    log.warning("%s PIN on slot %d is now locked", who, slot_id)
                    raise _locked_now() from None
                raise errors.PinIncorrect() from None
            except Exception:
                # Not a verdict on the PIN (e.g. out of memory): take the try back.
                with self.rows.write("uncounting a PIN try") as tx:
                    now = tx.token(slot_id)
                    if now is not None:
                        tx.update_token(slot_id, **{failures: max(getattr(now, failures) - 1, 0)})
                        tx.bump(slot_id)
                raise
            # 3. Right PIN: reset the counter, unless the token was re-initialised meanwhile.
            with self.rows.write("resetting a PIN counter") as tx:
                now = tx.token(slot_id)
                done = now is not None and now.key_check == row.key_check
                if done:
                    tx.update_token(slot_id, **{failures: 0})
                    tx.bump(slot_id)
            if done:
                return token_key
            log.info("token on slot %d changed during a login; trying again", slot_id)
        raise errors.PinIncorrect()

    def _rewrap(self, slot_id: int, who: str, token_key: bytes, new_pin: bytes, *, init: bool) -> None:
        with self.rows.read("reading a token") as tx:
            row = _token(tx, slot_id)
        check_key(row.key_check, token_key)
        salt = os.urandom(SALT_LEN)
        kek = sealing.derive_kek(new_pin, salt, self.kdf_cost)  # slow: outside any transaction
        wrap = sealing.seal(kek, token_key, wrap_aad(row.serial, who))
        with self.rows.write("storing a PIN") as tx:
            now = _token(tx, slot_id)
            if now.serial != row.serial or now.key_check != row.key_check:
                raise TokenKeyStale()
            if who == "user" and now.user_wrap is None and not init:
                raise errors.UserPinNotInitialized()
            tx.update_token(
                slot_id,
                **{
                    f"{who}_wrap": wrap,
                    f"{who}_salt": salt,
                    f"{who}_cost": self.kdf_cost,
                    f"{who}_failures": 0,
                },
            )
            tx.bump(slot_id)

    def init_user_pin(self, slot_id: int, token_key: bytes, pin: bytes) -> None:
        """(Re)wrap the token key under a new user PIN and clear the user's counter (the SO's
        way to unlock a user)."""
        self._rewrap(slot_id, "user", token_key, pin, init=True)
        log.info("user PIN initialised on slot %d", slot_id)

    def change_pin(self, slot_id: int, user: UserType, token_key: bytes, new_pin: bytes) -> None:
        """Rewrap the token key under ``new_pin`` for ``user``; the old PIN stops working."""
        who = who_of(user)
        self._rewrap(slot_id, who, token_key, new_pin, init=False)
        log.info("%s PIN changed on slot %d", who, slot_id)

    # ----------------------------------------------------------------------- objects

    def find(
        self,
        slot_id: int,
        *,
        token_key: bytes | None,
        object_class: int | None = None,
        key_type: int | None = None,
        label: bytes | None = None,
        id: bytes | None = None,
    ) -> list[int]:
        with self.rows.read("finding objects") as tx:
            pub, priv = keysets(_token(tx, slot_id), token_key)
            query = ObjectQuery(
                private_too=priv is not None,
                object_class=None if object_class is None else u64(object_class),
                key_type=None if key_type is None else u64(key_type),
                label_mac=index_match(label, pub.label, priv.label if priv else None),
                id_mac=index_match(id, pub.id, priv.id if priv else None),
            )
            return tx.find(slot_id, query)

    def load(self, slot_id: int, oid: int, token_key: bytes | None) -> StoredObject:
        stored = self.reload(slot_id, oid, token_key, None)
        assert stored is not None
        return stored

    def reload(self, slot_id: int, oid: int, token_key: bytes | None, stamp: object) -> StoredObject | None:
        """The stamp is the whole row with its token's serial (everything the blob's AAD binds):
        every write seals afresh under a random nonce, so an equal row is the same version of the
        object, authenticated when that version was loaded, and need not be unsealed again."""
        with self.rows.read("loading an object") as tx:
            found = tx.object(slot_id, oid)
        if found is None:
            raise errors.ObjectHandleInvalid()
        row, token = found
        if row.private:
            if token_key is None:
                raise errors.ObjectHandleInvalid()
            check_key(token.key_check, token_key)
        now = (token.serial, *row.values())
        if stamp is not None and now == stamp:
            return None
        keys = Keys(token_key) if row.private and token_key is not None else Keys(token.public_key)
        attrs = unseal_object(row, token.serial, keys)
        return StoredObject(oid=oid, private=row.private, attrs=attrs, stamp=now)

    def insert(
        self, slot_id: int, index: ObjectIndex, attrs: dict[int, bytes], token_key: bytes | None
    ) -> int:
        """Store a new object; its oid. A private object needs the token key."""
        return self.insert_many(slot_id, [(index, attrs)], token_key)[0]

    def insert_many(
        self,
        slot_id: int,
        objects: list[tuple[ObjectIndex, dict[int, bytes]]],
        token_key: bytes | None,
    ) -> list[int]:
        """Store several new objects in ONE transaction (a key pair): all or none. Their oids,
        in order. Private objects need the token key."""
        if any(index.private for index, _ in objects) and token_key is None:
            raise errors.UserNotLoggedIn()
        plaintexts = [encode_attrs(attrs) for _, attrs in objects]
        oids = []
        with self.rows.write("inserting an object") as tx:
            token = _token(tx, slot_id)
            pub, priv = keysets(token, token_key)
            for (index, _), plaintext in zip(objects, plaintexts, strict=True):
                keys = priv if index.private else pub
                assert keys is not None
                row = object_row_of(slot_id, keys, index)

                def blob_of(
                    oid: int, row: ObjectRow = row, keys: Keys = keys, plaintext: bytes = plaintext
                ) -> bytes:
                    row.oid = oid
                    return sealing.seal(keys.seal, plaintext, aad_of(row, token.serial))

                oids.append(tx.insert_object(row, blob_of))
            if oids:
                tx.bump(slot_id)
        return oids

    def update(
        self,
        slot_id: int,
        oid: int,
        index: ObjectIndex,
        attrs: dict[int, bytes],
        token_key: bytes | None,
    ) -> None:
        """Replace an object's attributes and index (CKA_PRIVATE may change: both sides of the
        change need the token key if either is private)."""
        plaintext = encode_attrs(attrs)
        with self.rows.write("updating an object") as tx:
            token = _token(tx, slot_id)
            pub, priv = keysets(token, token_key)
            found = tx.object(slot_id, oid)
            if found is None or (found[0].private and priv is None):
                raise errors.ObjectHandleInvalid()
            if index.private and priv is None:
                raise errors.UserNotLoggedIn()
            keys = priv if index.private else pub
            assert keys is not None
            row = object_row_of(slot_id, keys, index, oid)
            row.blob = sealing.seal(keys.seal, plaintext, aad_of(row, token.serial))
            tx.update_object(row)
            tx.bump(slot_id)

    def delete(self, slot_id: int, oid: int) -> None:
        with self.rows.write("deleting an object") as tx:
            _token(tx, slot_id)
            if not tx.delete_object(slot_id, oid):
                raise errors.ObjectHandleInvalid()
            tx.bump(slot_id)

    # ----------------------------------------------------------------------- records

    def _record_keys(self, token: TokenRow, token_key: bytes) -> RecordKeys:
        check_key(token.key_check, token_key)
        return RecordKeys(token_key)

    def add_record(self, slot_id: int, token_key: bytes, record: Record) -> None:
        with self.rows.write("adding a record") as tx:
            token = _token(tx, slot_id)
            keys = self._record_keys(token, token_key)
            mac = keys.lookup_mac(record.lookup)
            if tx.record(slot_id, record.kind, record.id) or tx.record_by_lookup(slot_id, record.kind, mac):
                raise RecordExists(f"a {record.kind} record with that id or lookup exists")
            tx.insert_record(record_row_of(slot_id, token.serial, keys, record, mac))

    def record(
        self, slot_id: int, token_key: bytes, kind: str, *, id: str | None = None, lookup: bytes | None = None
    ) -> Record | None:
        if (id is None) == (lookup is None):
            raise ValueError("find a record by id or by lookup")
        with self.rows.read("reading a record") as tx:
            token = _token(tx, slot_id)
            keys = self._record_keys(token, token_key)
            if id is not None:
                row = tx.record(slot_id, kind, id)
            else:
                assert lookup is not None
                row = tx.record_by_lookup(slot_id, kind, keys.lookup_mac(lookup))
        return None if row is None else unseal_record(row, token.serial, keys)

    def records(
        self, slot_id: int, token_key: bytes, kind: str, statuses: list[str] | None = None
    ) -> list[Record]:
        with self.rows.read("reading records") as tx:
            token = _token(tx, slot_id)
            keys = self._record_keys(token, token_key)
            rows = tx.records(slot_id, kind, statuses)
        return [unseal_record(row, token.serial, keys) for row in rows]

    def change_record(
        self, slot_id: int, token_key: bytes, kind: str, id: str, change: Callable[[Record], Record | None]
    ) -> Record | None:
        with self.rows.write("changing a record") as tx:
            token = _token(tx, slot_id)
            keys = self._record_keys(token, token_key)
            row = tx.record(slot_id, kind, id)
            if row is None:
                return None
            current = unseal_record(row, token.serial, keys)
            new = change(current)
            if new is None:
                return current
            if (new.kind, new.id, new.created) != (row.kind, row.id, row.created):
                raise ValueError("a record's kind, id and creation time never change")
            tx.update_record(record_row_of(slot_id, token.serial, keys, new, row.lookup))
            return Record(new.kind, new.id, b"", new.status, new.created, new.body)

    def delete_record(self, slot_id: int, token_key: bytes, kind: str, id: str) -> bool:
        with self.rows.write("deleting a record") as tx:
            self._record_keys(_token(tx, slot_id), token_key)
            return tx.delete_record(slot_id, kind, id)

    def purge_records(self, slot_id: int, kind: str, statuses: list[str], before: int) -> int:
        with self.rows.write("purging records") as tx:
            return tx.purge_records(slot_id, kind, statuses, before)

    def take_lease(self, name: str, holder: str, seconds: int) -> bool:
        now = int(time.time())
        with self.rows.write("taking a lease") as tx:
            return tx.take_lease(name, holder, now, now + seconds)
