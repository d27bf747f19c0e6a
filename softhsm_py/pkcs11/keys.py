"""Key management (PKCS#11 3.0, 5.14; 3.2, 5.18): the C_* view of ``core.keys``: raw templates
decoded, the wrapped key and a KEM's ciphertext delivered through the output-buffer protocol."""

from __future__ import annotations

from softhsm_py import errors
from softhsm_py.constants import INVALID_HANDLE
from softhsm_py.core import keys
from softhsm_py.core.mechanism import Mechanism
from softhsm_py.core.runtime import Library
from softhsm_py.pkcs11.crypto import Output
from softhsm_py.pkcs11.templates import RawTemplate, decode


def generate_key(lib: Library, handle: int, mechanism: Mechanism, template: RawTemplate) -> int:
    return keys.generate_key(lib, handle, mechanism, decode(template))


def generate_key_pair(
    lib: Library, handle: int, mechanism: Mechanism, public: RawTemplate, private: RawTemplate
) -> tuple[int, int]:
    return keys.generate_key_pair(lib, handle, mechanism, decode(public), decode(private))


def wrap_key(
    lib: Library, handle: int, mechanism: Mechanism, wrapping_handle: int, key_handle: int, out: Output
) -> None:
    out.deliver(keys.wrap_key(lib, handle, mechanism, wrapping_handle, key_handle))


def unwrap_key(
    lib: Library,
    handle: int,
    mechanism: Mechanism,
    unwrapping_handle: int,
    wrapped: bytes,
    template: RawTemplate,
) -> int:
    return keys.unwrap_key(lib, handle, mechanism, unwrapping_handle, wrapped, decode(template))


def derive_key(
    lib: Library, handle: int, mechanism: Mechanism, base_handle: int, template: RawTemplate
) -> int:
    """The new key's handle; an SP 800-108 derivation's additional keys get theirs in their
    CK_DERIVED_KEY.phKey, each CK_INVALID_HANDLE until all keys are made (3.0, SP 800-108)."""
    try:
        slots = [k.slot for k in getattr(mechanism.param, "additional", ())]
    except errors.PKCS11Error:
        slots = []  # a parameter that did not parse: the core reports it
    for slot in slots:
        slot[0] = INVALID_HANDLE
    handles = keys.derive_keys(lib, handle, mechanism, base_handle, decode(template))
    for slot, new in zip(slots, handles[1:], strict=True):
        slot[0] = new
    return handles[0]


def encapsulate_key(
    lib: Library, handle: int, mechanism: Mechanism, public_handle: int, template: RawTemplate, out: Output
) -> int | None:
    """C_EncapsulateKey: the new key's handle, or None for a size query (NULL ciphertext buffer)
    or a short buffer, which make no key (5.2)."""
    wanted = decode(template)
    if out.wants_length():
        out.tell(keys.ciphertext_len(lib, handle, mechanism, public_handle))
        return None
    needed = keys.ciphertext_len(lib, handle, mechanism, public_handle)
    if out.room() < needed:
        out.tell(needed)
        raise errors.BufferTooSmall(needed)
    new_handle, ciphertext = keys.encapsulate_key(lib, handle, mechanism, public_handle, wanted)
    out.deliver(ciphertext)
    return new_handle


def decapsulate_key(
    lib: Library,
    handle: int,
    mechanism: Mechanism,
    private_handle: int,
    template: RawTemplate,
    ciphertext: bytes,
) -> int:
    return keys.decapsulate_key(lib, handle, mechanism, private_handle, decode(template), ciphertext)
