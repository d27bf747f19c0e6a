"""Key management (PKCS#11 3.0, 5.14, and what every front end does with keys): generate a key or
a key pair, wrap, unwrap and derive; encapsulate and decapsulate (3.2, 5.18).

Mechanisms compute key material; the object factory turns template + material into the new
object, with the same rules as every other object; ``lifecycle.store_new`` stores it (a key
pair in one transaction, outside the library lock). Keys used here pass the gate like any operation's key.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from softhsm_py import errors
from softhsm_py.constants import Attribute, HkdfSaltType, ObjectClass
from softhsm_py.core import events, gate, keytypes
from softhsm_py.core.mechanism import Mechanism
from softhsm_py.core.objects import factory
from softhsm_py.core.objects.lifecycle import actor, store_new
from softhsm_py.core.runtime import Library
from softhsm_py.core.session import OpKind
from softhsm_py.core.ska.approvals import Authorization
from softhsm_py.core.tokens import session_of
from softhsm_py.mechanisms import registry
from softhsm_py.mechanisms.params import HkdfParams, KeyHandle

Attrs = dict[int, Any]


def _merge(template: Attrs, required: Attrs | None) -> Attrs:
    """A key's CKA_UNWRAP_TEMPLATE / CKA_DERIVE_TEMPLATE applies to the new key: the caller's
    template may repeat its values but not contradict them (3.0, 4.8 and 5.14)."""
    if not required:
        return template
    for kind, value in required.items():
        if kind in template and template[kind] != value:
            raise errors.TemplateInconsistent()
    return {**template, **required}


def generate_key(
    lib: Library, handle: int, mechanism: Mechanism, wanted: Attrs, *, core_attrs: Attrs | None = None
) -> int:
    """``core_attrs`` (here and below): attributes only the core sets on the new key (a key
    password's hash), past the attribute rules that keep them from every template."""
    with lib.lock:
        _, session = session_of(lib, handle)
    impl = registry.lookup(mechanism.type)
    material = impl.generate_key(mechanism.type, mechanism.param, wanted)
    # Hosts may leave CKA_CLASS out (Java sends CKA_CLASS-less templates, GnuTLS and NSS too):
    # the function says what it makes; a template naming another class stays inconsistent.
    material.setdefault(Attribute.CLASS, ObjectClass.SECRET_KEY)
    material.update(core_attrs or {})
    attrs = factory.build(
        wanted, factory.Origin.GENERATE, actor(session), material=material, mechanism=mechanism.type
    )
    return store_new(lib, handle, [attrs], "generate")[0]


def generate_key_pair(
    lib: Library,
    handle: int,
    mechanism: Mechanism,
    pub_t: Attrs,
    priv_t: Attrs,
    *,
    core_attrs: Attrs | None = None,
) -> tuple[int, int]:
    with lib.lock:
        _, session = session_of(lib, handle)
    impl = registry.lookup(mechanism.type)
    # The halves of a pair share CKA_ID (hosts pair keys and certificates by it) when one
    # template names it.
    for one, other in ((pub_t, priv_t), (priv_t, pub_t)):
        if Attribute.ID in one and Attribute.ID not in other:
            other[Attribute.ID] = one[Attribute.ID]
    # Generation is the slow part (RSA): outside the library lock.
    pub_m, priv_m = impl.generate_key_pair(mechanism.type, mechanism.param, pub_t, priv_t)
    pub_m.setdefault(Attribute.CLASS, ObjectClass.PUBLIC_KEY)
    priv_m.setdefault(Attribute.CLASS, ObjectClass.PRIVATE_KEY)
    priv_m.update(core_attrs or {})
    who = actor(session)
    pub = factory.build(pub_t, factory.Origin.GENERATE, who, material=pub_m, mechanism=mechanism.type)
    priv = factory.build(priv_t, factory.Origin.GENERATE, who, material=priv_m, mechanism=mechanism.type)
    pub_handle, priv_handle = store_new(lib, handle, [pub, priv], "generate_pair")
    return pub_handle, priv_handle


def _key_bytes(attrs: Attrs) -> bytes:
    """What C_WrapKey encrypts: a secret key's value, a private key's PKCS#8 encoding."""
    cls = attrs.get(Attribute.CLASS)
    if cls == ObjectClass.SECRET_KEY:
        return bytes(attrs[Attribute.VALUE])
    if cls == ObjectClass.PRIVATE_KEY:
        return keytypes.export_private(attrs)
    raise errors.KeyNotWrappable()


def wrap_key(
    lib: Library,
    handle: int,
    mechanism: Mechanism,
    wrapping_handle: int,
    key_handle: int,
    *,
    authorized: bool = False,
) -> bytes:
    """``authorized``: the caller checked both keys' passwords (core.partition); otherwise a key
    that asks for a context login is refused (``gate.check_unattended``)."""
    with lib.lock:
        rt, session = session_of(lib, handle)
        impl = registry.lookup(mechanism.type)
        try:
            wrapping = gate.usable_key(
                rt, session, wrapping_handle, gate.WRAP, mechanism.type, impl.key_types
            )
        except errors.KeyHandleInvalid:
            raise errors.WrappingKeyHandleInvalid() from None
        except errors.KeyTypeInconsistent:
            raise errors.WrappingKeyTypeInconsistent() from None
        key = gate.usable_key(rt, session, key_handle, None, None)
        if not authorized:
            gate.check_unattended(wrapping)
            gate.check_unattended(key)
        gate.check_wrappable(key, wrapping)
        plain = _key_bytes(key.attrs)
        events.key_used(rt, session, wrapping_handle, wrapping.attrs, "wrap", mechanism.type)
        events.key_used(rt, session, key_handle, key.attrs, "export", mechanism.type)
    return impl.wrap(mechanism.type, mechanism.param, wrapping, plain)


def unwrap_key(
    lib: Library,
    handle: int,
    mechanism: Mechanism,
    unwrapping_handle: int,
    wrapped: bytes,
    template: Attrs,
    *,
    core_attrs: Attrs | None = None,
    authorized: bool = False,
    authorization: Authorization | None = None,
) -> int:
    """``authorization``: the approvals for an unwrapping key with a policy (over ``wrapped``)."""
    if authorization is not None and authorization.payload != wrapped:
        raise errors.ApprovalInvalid()  # approvals cover the payload they name, nothing else
    with lib.lock:
        rt, session = session_of(lib, handle)
        impl = registry.lookup(mechanism.type)
        try:
            unwrapping = gate.usable_key(
                rt, session, unwrapping_handle, gate.UNWRAP, mechanism.type, impl.key_types, authorization
            )
        except errors.KeyHandleInvalid:
            raise errors.UnwrappingKeyHandleInvalid() from None
        except errors.KeyTypeInconsistent:
            raise errors.UnwrappingKeyTypeInconsistent() from None
        if not authorized:
            gate.check_unattended(unwrapping)
        wanted = _merge(template, unwrapping.attrs.get(Attribute.UNWRAP_TEMPLATE))
        events.key_used(rt, session, unwrapping_handle, unwrapping.attrs, "unwrap", mechanism.type)
    if Attribute.CLASS not in wanted or Attribute.KEY_TYPE not in wanted:
        raise errors.TemplateIncomplete()  # 3.0, 4.7 footnote 5
    plain = impl.unwrap(mechanism.type, mechanism.param, unwrapping, wrapped)
    if wanted[Attribute.CLASS] == ObjectClass.PRIVATE_KEY:
        material = keytypes.import_private(plain, wanted[Attribute.KEY_TYPE])
    elif wanted[Attribute.CLASS] == ObjectClass.SECRET_KEY:
        material = {Attribute.VALUE: plain}
        if Attribute.VALUE_LEN in wanted and wanted[Attribute.VALUE_LEN] != len(plain):
            raise errors.TemplateInconsistent()
    else:
        raise errors.TemplateInconsistent()
    material.update(core_attrs or {})
    attrs = factory.build(wanted, factory.Origin.UNWRAP, actor(session), material=material)
    return store_new(lib, handle, [attrs], "unwrap")[0]


def _protection(wanted: Attrs, sources: list[Attrs]) -> Attrs:
    """The simple derivations hand their sources' bits to the new key (3.0, 2.43): it is
    sensitive if a source is, unextractable if a source is; otherwise the template decides, and
    where it is silent a single base key's own setting carries over."""
    out = dict(wanted)
    if any(s.get(Attribute.SENSITIVE) is True for s in sources):
        out[Attribute.SENSITIVE] = True
    elif Attribute.SENSITIVE not in out and len(sources) == 1:
        out[Attribute.SENSITIVE] = sources[0].get(Attribute.SENSITIVE) is True
    if any(s.get(Attribute.EXTRACTABLE) is not True for s in sources):
        out[Attribute.EXTRACTABLE] = False
    elif Attribute.EXTRACTABLE not in out and len(sources) == 1:
        out[Attribute.EXTRACTABLE] = True
    return out


def _history(sources: list[Attrs]) -> Attrs:
    """What a derived key's ALWAYS_SENSITIVE / NEVER_EXTRACTABLE follow from: all its keying
    material (the base key, an HKDF salt key, CONCATENATE_BASE_AND_KEY's other key)."""
    return {
        Attribute.ALWAYS_SENSITIVE: all(s.get(Attribute.ALWAYS_SENSITIVE) is True for s in sources),
        Attribute.NEVER_EXTRACTABLE: all(s.get(Attribute.NEVER_EXTRACTABLE) is True for s in sources),
    }


def derive_key(
    lib: Library,
    handle: int,
    mechanism: Mechanism,
    base_handle: int,
    template: Attrs,
    *,
    authorized: bool = False,
) -> int:
    return derive_keys(lib, handle, mechanism, base_handle, template, authorized=authorized)[0]


def derive_keys(
    lib: Library,
    handle: int,
    mechanism: Mechanism,
    base_handle: int,
    template: Attrs,
    *,
    authorized: bool = False,
) -> list[int]:
    """C_DeriveKey: the handle of the new key, then those of the additional keys an SP 800-108
    derivation makes (its CK_DERIVED_KEY templates, in order), all stored in one transaction.
    ``authorized``: as for ``wrap_key``."""
    with lib.lock:
        rt, session = session_of(lib, handle)
        impl = registry.lookup(mechanism.type)
        base = gate.usable_key(rt, session, base_handle, gate.DERIVE, mechanism.type, impl.key_types)
        if not authorized:
            gate.check_unattended(base)
        required = base.attrs.get(Attribute.DERIVE_TEMPLATE)
        wanted = _merge(template, required)
        events.key_used(rt, session, base_handle, base.attrs, "derive", mechanism.type)
        param = mechanism.param
        sources: list[Attrs] = [dict(base.attrs)]
        if isinstance(param, HkdfParams) and param.salt_type == HkdfSaltType.KEY:
            # The salt key is keying material of the derivation, checked as the base key is:
            # without CKA_DERIVE, an extract-only HKDF would make any secret an HMAC oracle.
            salt_key = gate.usable_key(rt, session, param.salt_key_handle, gate.DERIVE, mechanism.type)
            salt_attrs = salt_key.attrs
            if (
                salt_attrs.get(Attribute.CLASS) != ObjectClass.SECRET_KEY
                or salt_attrs.get(Attribute.KEY_TYPE) not in impl.key_types
            ):
                raise errors.MechanismParamInvalid()
            if not authorized:
                gate.check_unattended(salt_key)
            param = dataclasses.replace(param, salt_key_value=bytes(salt_key.attrs[Attribute.VALUE]))
            sources.append(dict(salt_attrs))
        elif isinstance(param, KeyHandle):
            # CONCATENATE_BASE_AND_KEY: the other key is keying material too, checked the same way.
            other = gate.usable_key(rt, session, param.handle, gate.DERIVE, mechanism.type)
            if other.attrs.get(Attribute.CLASS) != ObjectClass.SECRET_KEY:
                raise errors.MechanismParamInvalid()
            if not authorized:
                gate.check_unattended(other)
            protected = other.attrs.get(Attribute.SENSITIVE) is not False or (
                other.attrs.get(Attribute.EXTRACTABLE) is not True
            )
            param = dataclasses.replace(param, value=bytes(other.attrs[Attribute.VALUE]), protected=protected)
            sources.append(dict(other.attrs))
        extra = [_merge(dict(k.template), required) for k in getattr(param, "additional", ())]
    if getattr(impl, "inherits_protection", False):
        wanted = _protection(wanted, sources)
    templates = [wanted, *extra]
    materials = impl.derive_keys(mechanism.type, param, base, templates)
    history = _history(sources)
    objects = []
    for wanted_one, material in zip(templates, materials, strict=True):
        if material.get(Attribute.CLASS) == ObjectClass.DATA:
            wanted_one.pop(Attribute.VALUE_LEN, None)  # HKDF_DATA: the length was for the mechanism
        objects.append(
            factory.build(wanted_one, factory.Origin.DERIVE, actor(session), material=material, base=history)
        )
    return store_new(lib, handle, objects, "derive")


# --- key encapsulation (3.2, 5.18) ---------------------------------------------------------------


def _kem_template(template: Attrs) -> tuple[Attrs, int | None]:
    """The new key's template and the length its CKA_VALUE_LEN asks for: the key a KEM makes is
    a secret key (3.2: "creates a new secret key object"), extractable unless the template says
    otherwise; CKA_VALUE_LEN, which the attribute rules keep from a template here, cuts the
    shared secret to its leftmost bytes (a 128-bit AES key from ML-KEM's 256-bit secret)."""
    wanted = dict(template)
    wanted.setdefault(Attribute.CLASS, ObjectClass.SECRET_KEY)
    if wanted[Attribute.CLASS] != ObjectClass.SECRET_KEY:
        raise errors.TemplateInconsistent()
    if Attribute.KEY_TYPE not in wanted:
        raise errors.TemplateIncomplete()
    wanted.setdefault(Attribute.EXTRACTABLE, True)
    length = wanted.pop(Attribute.VALUE_LEN, None)
    if length is not None and (not isinstance(length, int) or isinstance(length, bool) or length <= 0):
        raise errors.AttributeValueInvalid()
    return wanted, length


def _kem_key(wanted: Attrs, secret: bytes, length: int | None, session: Any) -> Attrs:
    if length is not None:
        if length > len(secret):
            raise errors.TemplateInconsistent()  # more bytes than the KEM shares
        secret = secret[:length]
    return factory.build(
        wanted, factory.Origin.ENCAPSULATE, actor(session), material={Attribute.VALUE: secret}
    )


def ciphertext_len(lib: Library, handle: int, mechanism: Mechanism, public_handle: int) -> int:
    """What C_EncapsulateKey would give (a size query): the gate runs as for the real call."""
    with lib.lock:
        rt, session = session_of(lib, handle)
        impl = registry.lookup(mechanism.type)
        usage = gate.USAGE[OpKind.ENCAPSULATE]
        public = gate.usable_key(rt, session, public_handle, usage, mechanism.type, impl.key_types)
    return impl.ciphertext_len(mechanism.type, mechanism.param, public)


def encapsulate_key(
    lib: Library,
    handle: int,
    mechanism: Mechanism,
    public_handle: int,
    template: Attrs,
    *,
    authorized: bool = False,
) -> tuple[int, bytes]:
    """(the new key's handle, the ciphertext): C_EncapsulateKey. ``authorized`` as for wrap_key."""
    wanted, length = _kem_template(template)
    with lib.lock:
        rt, session = session_of(lib, handle)
        impl = registry.lookup(mechanism.type)
        usage = gate.USAGE[OpKind.ENCAPSULATE]
        public = gate.usable_key(rt, session, public_handle, usage, mechanism.type, impl.key_types)
        if not authorized:
            gate.check_unattended(public)
    secret, ciphertext = impl.encapsulate(mechanism.type, mechanism.param, public)
    attrs = _kem_key(wanted, secret, length, session)
    gate.check_encapsulable(attrs, public)
    return store_new(lib, handle, [attrs], "encapsulate")[0], ciphertext


def decapsulate_key(
    lib: Library,
    handle: int,
    mechanism: Mechanism,
    private_handle: int,
    template: Attrs,
    ciphertext: bytes,
    *,
    authorized: bool = False,
) -> int:
    """C_DecapsulateKey: the key's CKA_DECAPSULATE_TEMPLATE applies to the new key as an
    unwrapping key's CKA_UNWRAP_TEMPLATE does; the key errors are C_UnwrapKey's (3.2, 5.18)."""
    with lib.lock:
        rt, session = session_of(lib, handle)
        impl = registry.lookup(mechanism.type)
        usage = gate.USAGE[OpKind.DECAPSULATE]
        try:
            private = gate.usable_key(rt, session, private_handle, usage, mechanism.type, impl.key_types)
        except errors.KeyHandleInvalid:
            raise errors.UnwrappingKeyHandleInvalid() from None
        except errors.KeyTypeInconsistent:
            raise errors.UnwrappingKeyTypeInconsistent() from None
        if not authorized:
            gate.check_unattended(private)
        merged = _merge(template, private.attrs.get(Attribute.DECAPSULATE_TEMPLATE))
    wanted, length = _kem_template(merged)
    secret = impl.decapsulate(mechanism.type, mechanism.param, private, ciphertext)
    attrs = _kem_key(wanted, secret, length, session)
    return store_new(lib, handle, [attrs], "decapsulate")[0]
