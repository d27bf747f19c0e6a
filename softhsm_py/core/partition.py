"""A partition (an initialised token) seen as a store of named keys: what the REST front end uses.

A ``Partition`` holds one read/write session on its token, logged in as the user, for its whole
life. A key's name is its CKA_LABEL; a "key" is a secret key, or a key pair (private and public
key sharing the label and CKA_ID), or a lone public key. Every check happens in the core: the key
gate (usage attributes, allowed mechanisms, the attestation key's one use), key passwords
(``core.passwords``), the attribute rules of the object factory, the session's access rights.
The front end names keys, mechanisms and templates, and turns answers into its wire format.

Smart Key Attributes (``core.ska``): a key may carry a policy (``generate``/``import_key``/
``unwrap`` with ``policy``); its uses take ``approvals`` (a ``Presented`` token and approvals),
which the key gate verifies; ``block``, ``unblock`` and ``modify`` change its status and policy
under the same check. ``requests`` and ``approvers`` keep the partition's multi-authorization
requests and onboarded approvers.

Names are unique per partition for keys made here; two processes creating one name at once
settle it after the fact: the older key stays, the newer is removed and its creator gets
KeyExists. A name PKCS#11 hosts gave to several keys is refused (KeyNameAmbiguous) rather than
guessed.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

from softhsm_py import errors
from softhsm_py.config import Config
from softhsm_py.constants import Attribute as A
from softhsm_py.constants import Mechanism as CKM
from softhsm_py.constants import ObjectClass, SessionFlag, UserType
from softhsm_py.constants import VendorAttribute as V
from softhsm_py.core import attestation, keys, keytypes, operations, passwords, random, sessions, startup
from softhsm_py.core.keyinfo import KeyInfo
from softhsm_py.core.mechanism import Mechanism
from softhsm_py.core.objects import factory
from softhsm_py.core.objects import lifecycle as objects
from softhsm_py.core.runtime import Library
from softhsm_py.core.session import OpKind
from softhsm_py.core.ska.approvals import Authorization, Presented
from softhsm_py.core.ska.keys import SmartKeys
from softhsm_py.core.ska.tlv import Op
from softhsm_py.core.tokens import session_of, sync_tokens

__all__ = ["Exported", "KeyInfo", "Mechanism", "Partition", "Presented", "open_partition"]

Attrs = dict[int, Any]
_PRIVATE, _PUBLIC, _SECRET = ObjectClass.PRIVATE_KEY, ObjectClass.PUBLIC_KEY, ObjectClass.SECRET_KEY
_KEY_CLASSES = (_SECRET, _PRIVATE, _PUBLIC)
# Which object of a named key an operation uses.
_PRIVATE_SIDE = frozenset({OpKind.SIGN, OpKind.DECRYPT, OpKind.SIGN_RECOVER})
RESERVED = frozenset({"attestation-key", "timestamp-key"})  # core.attestation's, core.ska.timestamps' keys
_DSA_KEY_PAIR_GEN, _DSA_PARAMETER_GEN = CKM.DSA_KEY_PAIR_GEN, CKM.DSA_PARAMETER_GEN


class Exported:
    """A key's material in clear, for a key that allows it (extractable and not sensitive)."""

    __slots__ = ("private_pkcs8", "secret", "spki")

    def __init__(self, private_pkcs8: bytes | None, spki: bytes | None, secret: bytes | None) -> None:
        self.private_pkcs8, self.spki, self.secret = private_pkcs8, spki, secret

    def __repr__(self) -> str:  # never the material
        return "Exported(...)"


def open_partition(config: Config | None, label: str, pin: bytes) -> Partition:
    """Start a runtime on ``config`` (None: the usual lookup), find the token labelled ``label``
    and log in as its user. TokenNotPresent if no such token; PinIncorrect etc. from the login."""
    lib = Library()
    startup.start(lib, config)
    try:
        with lib.lock:
            rt = lib.runtime
            sync_tokens(rt)
            slots = [rec.slot_id for rec in rt.store.tokens() if rec.label == label]
        if not slots:
            raise errors.TokenNotPresent()
        # A read-only store takes read-only sessions only: its keys still sign and decrypt.
        rw = 0 if rt.store.read_only else SessionFlag.RW_SESSION
        handle = sessions.open_session(lib, slots[0], SessionFlag.SERIAL_SESSION | rw)
        sessions.login(lib, handle, UserType.USER, pin)
    except BaseException:
        startup.stop(lib)
        raise
    return Partition(lib, handle, slots[0], label)


class Partition(SmartKeys):
    def __init__(self, lib: Library, handle: int, slot_id: int, label: str) -> None:
        self.lib, self.handle, self.slot_id, self.label = lib, handle, slot_id, label

    def __repr__(self) -> str:
        return f"Partition({self.label!r}, slot={self.slot_id})"

    def close(self) -> None:
        if self.lib.is_running():
            startup.stop(self.lib)

    # -- lookups ------------------------------------------------------------------------------
    def _found(self, template: Attrs) -> list[tuple[int, Attrs]]:
        lib = self.lib
        found = []
        with lib.lock:
            rt, session = session_of(lib, self.handle)
            for handle in objects.find(lib, self.handle, template):
                ref = rt.handles.get(handle)
                found.append((handle, dict(objects.attrs_of(rt, session, ref))))
        return found

    def _named(self, name: str, classes: Iterable[int] = _KEY_CLASSES) -> dict[int, tuple[int, Attrs]]:
        """The key objects called ``name``, by class; KeyNameAmbiguous if a class has several."""
        if name in RESERVED:
            return {}
        wanted = frozenset(int(cls) for cls in classes)
        out: dict[int, tuple[int, Attrs]] = {}
        for handle, attrs in self._found({A.LABEL: name.encode()}):  # one find: the label's index
            cls = int(attrs.get(A.CLASS, -1))
            if cls not in wanted:
                continue
            if cls in out:
                raise errors.KeyNameAmbiguous()
            out[cls] = (handle, attrs)
        return out

    def _key(self, name: str) -> tuple[int, Attrs, Attrs | None]:
        """(handle, attributes) of the key's main object (secret or private key, else a lone
        public key), and the public key's attributes."""
        named = self._named(name)
        public = named.get(_PUBLIC)
        for cls in (_SECRET, _PRIVATE):
            if cls in named:
                handle, attrs = named[cls]
                return handle, attrs, public[1] if public else None
        if public is None:
            raise errors.KeyNotFound(name)
        return public[0], public[1], None

    def _object_for(self, name: str, kind: OpKind) -> int:
        """The handle an operation of ``kind`` uses: the private or the public half of a pair."""
        named = self._named(name)
        if _SECRET in named:
            return named[_SECRET][0]
        cls = _PRIVATE if kind in _PRIVATE_SIDE else _PUBLIC
        if cls in named:
            return named[cls][0]
        if named:  # a pair's other half: the key exists but cannot do this
            raise errors.KeyFunctionNotPermitted()
        raise errors.KeyNotFound(name)

    def _check_password(self, handle: int, attrs: Attrs, password: bytes | None) -> None:
        stored = attrs.get(passwords.PASSWORD)
        if stored is not None:
            passwords.check(self.lib, self.handle, handle, stored, password)

    def _check_free(self, name: str) -> None:
        if not name or name in RESERVED or "/" in name:
            raise errors.KeyNameInvalid()
        if len(name.encode()) > 1024:
            raise errors.KeyNameInvalid()
        if self._named(name):
            raise errors.KeyExists()

    def _settle(self, name: str, mine: list[int]) -> None:
        """After creating ``name``: if another process made a key of that name meanwhile, the
        older stays and ours goes (KeyExists)."""
        for cls in _KEY_CLASSES:
            found = self._found({A.LABEL: name.encode(), A.CLASS: cls})
            if len(found) > 1 and found[0][0] not in mine:
                self._remove(mine)
                raise errors.KeyExists()

    def _remove(self, handles: list[int]) -> None:
        with self.lib.lock:
            rt, session = session_of(self.lib, self.handle)
            for handle in handles:
                objects.remove(rt, session, handle)

    def _info(self, name: str) -> KeyInfo:
        _, attrs, public = self._key(name)
        return KeyInfo(name, attrs, public)

    # -- keys ---------------------------------------------------------------------------------
    def names(self) -> list[str]:
        labels: set[str] = set()
        for cls in _KEY_CLASSES:
            for _, attrs in self._found({A.CLASS: cls}):
                label = bytes(attrs.get(A.LABEL, b"")).decode("utf-8", "replace")
                if label and label not in RESERVED:
                    labels.add(label)
        return sorted(labels)

    def key(self, name: str, password: bytes | None = None) -> KeyInfo:
        handle, attrs, _ = self._key(name)
        self._check_password(handle, attrs, password)
        return self._info(name)

    def _core_attrs(self, password: bytes | None) -> Attrs:
        if password is None:
            return {}
        return {V.PASSWORD: passwords.hash_password(password, self.lib.runtime.config.kdf_cost)}

    @staticmethod
    def _named_template(template: Attrs, name: str, ident: bytes, private: bool) -> Attrs:
        out = {**template, A.LABEL: name.encode(), A.TOKEN: True, A.ID: template.get(A.ID, ident)}
        if private:
            out.setdefault(A.PRIVATE, True)
        return out

    def generate(
        self,
        name: str,
        mechanism: Mechanism,
        *,
        public: Attrs,
        private: Attrs,
        password: bytes | None = None,
        policy: Mapping[str, Any] | None = None,
    ) -> KeyInfo:
        """A key pair called ``name`` (templates as decoded PKCS#11 attributes); ``policy``: its
        Smart Key Attributes (a ``PolicyDto`` as JSON values), on the private key."""
        self._check_free(name)
        if mechanism.type == _DSA_KEY_PAIR_GEN and A.PRIME_BITS in public and A.PRIME not in public:
            public = self._with_dsa_domain(public)
        ident = private.get(A.ID) or public.get(A.ID) or os.urandom(8).hex().encode()
        pub_t = self._named_template(public, name, ident, False)
        priv_t = self._named_template(private, name, ident, True)
        core = {**self._core_attrs(password), **self._policy_attrs(policy)}
        handles = keys.generate_key_pair(self.lib, self.handle, mechanism, pub_t, priv_t, core_attrs=core)
        self._settle(name, list(handles))
        return self._info(name)

    def _with_dsa_domain(self, public: Attrs) -> Attrs:
        """A DSA key pair asked for by size (CKA_PRIME_BITS, what a TSB client gives) gets its
        domain made first, as python-pkcs11's generate_keypair(KeyType.DSA, bits) does:
        CKM_DSA_KEY_PAIR_GEN takes the domain (PRIME, SUBPRIME, BASE), not a size (3.0, 2.2)."""
        template: Attrs = {
            A.CLASS: ObjectClass.DOMAIN_PARAMETERS,
            A.TOKEN: False,
            A.PRIME_BITS: public[A.PRIME_BITS],
        }
        handle = keys.generate_key(self.lib, self.handle, Mechanism(_DSA_PARAMETER_GEN), template)
        try:
            with self.lib.lock:
                rt, session = session_of(self.lib, self.handle)
                domain = objects.attrs_of(rt, session, rt.handles.get(handle))
                values: Attrs = {a: domain[a] for a in (A.PRIME, A.SUBPRIME, A.BASE)}
        finally:
            self._remove([handle])
        return {**{a: v for a, v in public.items() if a != A.PRIME_BITS}, **values}

    def generate_secret(
        self,
        name: str,
        mechanism: Mechanism,
        template: Attrs,
        *,
        password: bytes | None = None,
        policy: Mapping[str, Any] | None = None,
    ) -> KeyInfo:
        if policy is not None:
            raise errors.PolicyInvalid("only asymmetric keys take a policy")
        self._check_free(name)
        wanted = self._named_template(template, name, os.urandom(8).hex().encode(), True)
        handle = keys.generate_key(
            self.lib, self.handle, mechanism, wanted, core_attrs=self._core_attrs(password)
        )
        self._settle(name, [handle])
        return self._info(name)

    def import_key(
        self,
        name: str,
        *,
        private_pkcs8: bytes | None = None,
        spki: bytes | None = None,
        secret: bytes | None = None,
        key_type: int | None = None,
        template: Attrs,
        public_template: Attrs | None = None,
        password: bytes | None = None,
        policy: Mapping[str, Any] | None = None,
    ) -> KeyInfo:
        """A key from its material: a PKCS#8 private key (its public key is made too), a lone
        public key (SPKI DER), or a secret key's value; ``key_type`` (CKK_*) names the type. The
        imported key is not CKA_LOCAL: its value has been outside the token. ``policy``: Smart
        Key Attributes of an imported private key."""
        if key_type is None or sum(x is not None for x in (private_pkcs8, spki, secret)) == 0:
            raise errors.TemplateIncomplete()
        if policy is not None and (private_pkcs8 is None or secret is not None):
            raise errors.PolicyInvalid("only asymmetric keys take a policy")
        self._check_free(name)
        ident = template.get(A.ID) or os.urandom(8).hex().encode()
        core = {**self._core_attrs(password), **self._policy_attrs(policy)}
        made: list[int] = []
        try:
            if secret is not None:
                attrs = {**template, A.CLASS: _SECRET, A.KEY_TYPE: key_type, A.VALUE: secret}
                made.append(self._create(self._named_template(attrs, name, ident, True), core))
            if private_pkcs8 is not None:
                material = keytypes.import_private(private_pkcs8, key_type)
                attrs = {**template, A.CLASS: _PRIVATE, A.KEY_TYPE: key_type, **material}
                made.append(self._create(self._named_template(attrs, name, ident, True), core))
                if spki is None:
                    with self.lib.lock:
                        rt, session = session_of(self.lib, self.handle)
                        spki = bytes(
                            objects.attrs_of(rt, session, rt.handles.get(made[-1]))[A.PUBLIC_KEY_INFO]
                        )
            if spki is not None:
                spec = keytypes.find(int(_PUBLIC), key_type)
                if spec is None or spec.import_public is None:
                    raise errors.KeyTypeInconsistent()
                attrs = {
                    **(public_template or {}),
                    A.CLASS: _PUBLIC,
                    A.KEY_TYPE: key_type,
                    **spec.import_public(spki),
                }
                made.append(self._create(self._named_template(attrs, name, ident, False), {}))
        except BaseException:
            self._remove(made)
            raise
        self._settle(name, made)
        return self._info(name)

    def _create(self, template: Attrs, core: Attrs) -> int:
        return objects.create(self.lib, self.handle, template, core_attrs=core)

    def destroy(self, name: str, password: bytes | None = None) -> None:
        """The key's objects (and a certificate of the same name) go, all or none."""
        handle, attrs, _ = self._key(name)
        self._check_password(handle, attrs, password)
        named = self._named(name, (*_KEY_CLASSES, ObjectClass.CERTIFICATE))
        for _, obj in named.values():
            factory.check_destroy(obj)
        for handle, _ in named.values():
            objects.destroy(self.lib, self.handle, handle)
        passwords.forget(attrs.get(passwords.PASSWORD, b""))
        self.requests.cancel_for_key(name)

    def change_password(self, name: str, password: bytes | None, new_password: bytes | None) -> None:
        """Set, change or (with ``new_password`` None) remove a key's password; the key must be
        modifiable (CKA_MODIFIABLE), and the old password is needed if there is one."""
        handle, attrs, _ = self._key(name)
        self._check_password(handle, attrs, password)
        if attrs.get(A.MODIFIABLE) is False:
            raise errors.ActionProhibited()
        changes: Attrs = {passwords.FAILURES: 0}
        if new_password is not None:
            changes[passwords.PASSWORD] = passwords.hash_password(
                new_password, self.lib.runtime.config.kdf_cost
            )
        named = self._named(name, (_SECRET, _PRIVATE))
        with self.lib.lock:
            rt, session = session_of(self.lib, self.handle)
            for obj_handle, _ in named.values():
                ref = rt.handles.get(obj_handle)
                gone = (passwords.PASSWORD, passwords.FAILURES) if new_password is None else ()
                objects.rewrite(rt, session, ref, changes if new_password is not None else {}, remove=gone)
        passwords.forget(attrs.get(passwords.PASSWORD, b""))

    def export(self, name: str, password: bytes | None = None) -> Exported:
        """The key's material in clear; AttributeSensitive unless it is extractable and not
        sensitive (the attribute rules, as for C_GetAttributeValue)."""
        handle, attrs, public = self._key(name)
        self._check_password(handle, attrs, password)
        spki = attrs.get(A.PUBLIC_KEY_INFO) or (public or {}).get(A.PUBLIC_KEY_INFO) or None
        if attrs[A.CLASS] == _SECRET:
            return Exported(None, None, bytes(factory.read(attrs, A.VALUE)))
        if attrs[A.CLASS] == _PRIVATE:
            # The private value must be readable (extractable, not sensitive), or nothing leaves.
            factory.read(attrs, A.VALUE if A.VALUE in attrs else A.PRIVATE_EXPONENT)
            return Exported(keytypes.export_private(attrs), bytes(spki) if spki else None, None)
        return Exported(None, bytes(spki) if spki else None, None)

    # -- operations ---------------------------------------------------------------------------
    def _run(
        self,
        name: str,
        kind: OpKind,
        mechanism: Mechanism,
        password: bytes | None,
        authorization: Authorization | None = None,
    ) -> Any:
        handle = self._object_for(name, kind)
        return operations.run_once(self.lib, self.handle, kind, mechanism, handle, password, authorization)

    def _use(
        self,
        name: str,
        kind: OpKind,
        op: Op,
        mechanism: Mechanism,
        data: bytes,
        password: bytes | None,
        approvals: Presented | None,
    ) -> bytes:
        """Run a private-key operation on exactly ``data``: the bytes the approvals were checked for."""

        def run(authorization: Authorization | None) -> bytes:
            return bytes(self._run(name, kind, mechanism, password, authorization).run(data))

        return self.requests.authorized(op, name, data, approvals, run)

    def sign(
        self,
        name: str,
        mechanism: Mechanism,
        data: bytes,
        *,
        password: bytes | None = None,
        approvals: Presented | None = None,
    ) -> bytes:
        return self._use(name, OpKind.SIGN, Op.SIGN, mechanism, data, password, approvals)

    def verify(self, name: str, mechanism: Mechanism, data: bytes, signature: bytes) -> bool:
        context = self._run(name, OpKind.VERIFY, mechanism, None)
        try:
            context.verify(data, signature)
        except (errors.SignatureInvalid, errors.SignatureLenRange):
            return False
        return True

    def encrypt(
        self, name: str, mechanism: Mechanism, data: bytes, *, password: bytes | None = None
    ) -> bytes:
        return bytes(self._run(name, OpKind.ENCRYPT, mechanism, password).run(data))

    def decrypt(
        self,
        name: str,
        mechanism: Mechanism,
        data: bytes,
        *,
        password: bytes | None = None,
        approvals: Presented | None = None,
    ) -> bytes:
        return self._use(name, OpKind.DECRYPT, Op.DECRYPT, mechanism, data, password, approvals)

    def wrap(
        self,
        wrapping_name: str,
        key_name: str,
        mechanism: Mechanism,
        *,
        wrapping_password: bytes | None = None,
        key_password: bytes | None = None,
    ) -> bytes:
        wrapping = self._object_for(wrapping_name, OpKind.ENCRYPT)  # the public half or the secret
        handle, attrs, _ = self._key(key_name)
        self._check_password(handle, attrs, key_password)
        with self.lib.lock:
            rt, session = session_of(self.lib, self.handle)
            wrapping_attrs = objects.attrs_of(rt, session, rt.handles.get(wrapping))
        self._check_password(wrapping, wrapping_attrs, wrapping_password)
        return keys.wrap_key(self.lib, self.handle, mechanism, wrapping, handle, authorized=True)

    def unwrap(
        self,
        unwrapping_name: str,
        mechanism: Mechanism,
        wrapped: bytes,
        new_name: str,
        template: Attrs,
        *,
        password: bytes | None = None,
        new_password: bytes | None = None,
        policy: Mapping[str, Any] | None = None,
        approvals: Presented | None = None,
    ) -> KeyInfo:
        """Unwrap a key into a new one called ``new_name`` (``template`` names its class and
        type, as C_UnwrapKey's does). An unwrapped private key gets no public half: its SPKI
        (CKA_PUBLIC_KEY_INFO) is on it. ``policy``: the new key's Smart Key Attributes;
        ``approvals``: for an unwrapping key with a policy."""
        unwrapping = self._object_for(unwrapping_name, OpKind.DECRYPT)
        with self.lib.lock:
            rt, session = session_of(self.lib, self.handle)
            unwrapping_attrs = objects.attrs_of(rt, session, rt.handles.get(unwrapping))
        self._check_password(unwrapping, unwrapping_attrs, password)
        if policy is not None and template.get(A.CLASS) != _PRIVATE:
            raise errors.PolicyInvalid("only asymmetric keys take a policy")
        self._check_free(new_name)
        wanted = self._named_template(template, new_name, os.urandom(8).hex().encode(), True)
        core = {**self._core_attrs(new_password), **self._policy_attrs(policy)}

        def run(authorization: Authorization | None) -> int:
            return keys.unwrap_key(
                self.lib,
                self.handle,
                mechanism,
                unwrapping,
                wrapped,
                wanted,
                core_attrs=core,
                authorized=True,
                authorization=authorization,
            )

        handle = self.requests.authorized(Op.UNWRAP, unwrapping_name, wrapped, approvals, run)
        self._settle(new_name, [handle])
        return self._info(new_name)

    def random(self, length: int) -> bytes:
        if not 0 <= length <= 1 << 20:
            raise errors.DataLenRange()
        return random.generate_random(self.lib, self.handle, length)

    def statistics(self) -> dict[str, int]:
        """Counts of the partition's keys by class, and of all its objects."""
        counts = {"secretKeys": 0, "privateKeys": 0, "publicKeys": 0, "certificates": 0, "objects": 0}
        names = {
            _SECRET: "secretKeys",
            _PRIVATE: "privateKeys",
            _PUBLIC: "publicKeys",
            ObjectClass.CERTIFICATE: "certificates",
        }
        for _, attrs in self._found({}):
            counts["objects"] += 1
            name = names.get(attrs.get(A.CLASS, -1))
            if name is not None:
                counts[name] += 1
        return counts

    # -- attestation and certificates (core.attestation, core.certificates) -----------------
    def attest(self, name: str, password: bytes | None = None) -> attestation.Attestation:
        return attestation.attest(self, self.key(name, password))

    def key_info(self, name: str) -> KeyInfo:
        """The key's public facts, without its password: for the modules built on a partition."""
        return self._info(name)

    def check_password(self, name: str, password: bytes | None) -> tuple[int, Attrs]:
        handle, attrs, _ = self._key(name)
        self._check_password(handle, attrs, password)
        return handle, attrs
