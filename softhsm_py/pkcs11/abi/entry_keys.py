"""Entries of key management (PKCS#11 3.0, 5.14, and 3.2's C_EncapsulateKey / C_DecapsulateKey,
C_WrapKeyAuthenticated / C_UnwrapKeyAuthenticated): one def per C_* function."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from softhsm_py import errors
from softhsm_py.core.runtime import Library
from softhsm_py.core.tokens import session_of
from softhsm_py.pkcs11.abi.entries import Chapter, Out, entry, mechanism_in, not_supported
from softhsm_py.pkcs11.abi.marshal import Marshal

if TYPE_CHECKING:
    from softhsm_py.pkcs11 import keys
else:
    keys = Chapter("keys", globals())


@entry
def C_GenerateKey(
    lib: Library, m: Marshal, hSession: int, pMechanism: Any, pTemplate: Any, ulCount: int, phKey: Any
) -> None:
    m.require(phKey)
    mech = mechanism_in(m, pMechanism)
    phKey[0] = keys.generate_key(lib, hSession, mech, m.template_in(pTemplate, ulCount))


@entry
def C_GenerateKeyPair(
    lib: Library,
    m: Marshal,
    hSession: int,
    pMechanism: Any,
    pPublicKeyTemplate: Any,
    ulPublicKeyAttributeCount: int,
    pPrivateKeyTemplate: Any,
    ulPrivateKeyAttributeCount: int,
    phPublicKey: Any,
    phPrivateKey: Any,
) -> None:
    m.require(phPublicKey)
    m.require(phPrivateKey)
    mech = mechanism_in(m, pMechanism)
    public = m.template_in(pPublicKeyTemplate, ulPublicKeyAttributeCount)
    private = m.template_in(pPrivateKeyTemplate, ulPrivateKeyAttributeCount)
    phPublicKey[0], phPrivateKey[0] = keys.generate_key_pair(lib, hSession, mech, public, private)


@entry
def C_WrapKey(
    lib: Library,
    m: Marshal,
    hSession: int,
    pMechanism: Any,
    hWrappingKey: int,
    hKey: int,
    pWrappedKey: Any,
    pulWrappedKeyLen: Any,
) -> None:
    m.require(pulWrappedKeyLen)
    mech = mechanism_in(m, pMechanism)
    keys.wrap_key(lib, hSession, mech, hWrappingKey, hKey, Out(m, pWrappedKey, pulWrappedKeyLen))


@entry
def C_UnwrapKey(
    lib: Library,
    m: Marshal,
    hSession: int,
    pMechanism: Any,
    hUnwrappingKey: int,
    pWrappedKey: Any,
    ulWrappedKeyLen: int,
    pTemplate: Any,
    ulAttributeCount: int,
    phKey: Any,
) -> None:
    m.require(phKey)
    mech = mechanism_in(m, pMechanism)
    wrapped = m.bytes_in(pWrappedKey, ulWrappedKeyLen)
    template = m.template_in(pTemplate, ulAttributeCount)
    phKey[0] = keys.unwrap_key(lib, hSession, mech, hUnwrappingKey, wrapped, template)


@entry
def C_DeriveKey(
    lib: Library,
    m: Marshal,
    hSession: int,
    pMechanism: Any,
    hBaseKey: int,
    pTemplate: Any,
    ulAttributeCount: int,
    phKey: Any,
) -> None:
    m.require(phKey)
    mech = mechanism_in(m, pMechanism)
    phKey[0] = keys.derive_key(lib, hSession, mech, hBaseKey, m.template_in(pTemplate, ulAttributeCount))


# -- 3.2 -------------------------------------------------------------------------------------------
@entry
def C_EncapsulateKey(
    lib: Library,
    m: Marshal,
    hSession: int,
    pMechanism: Any,
    hPublicKey: int,
    pTemplate: Any,
    ulAttributeCount: int,
    pCiphertext: Any,
    pulCiphertextLen: Any,
    phKey: Any,
) -> None:
    m.require(pulCiphertextLen)
    mech = mechanism_in(m, pMechanism)
    template = m.template_in(pTemplate, ulAttributeCount)
    if pCiphertext != m.NULL:
        m.require(phKey)  # a size query makes no key: phKey may be anything then
    made = keys.encapsulate_key(
        lib, hSession, mech, hPublicKey, template, Out(m, pCiphertext, pulCiphertextLen)
    )
    if made is not None:
        phKey[0] = made


@entry
def C_DecapsulateKey(
    lib: Library,
    m: Marshal,
    hSession: int,
    pMechanism: Any,
    hPrivateKey: int,
    pTemplate: Any,
    ulAttributeCount: int,
    pCiphertext: Any,
    ulCiphertextLen: int,
    phKey: Any,
) -> None:
    m.require(phKey)
    mech = mechanism_in(m, pMechanism)
    template = m.template_in(pTemplate, ulAttributeCount)
    m.require(pCiphertext)
    ciphertext = m.bytes_in(pCiphertext, ulCiphertextLen)
    phKey[0] = keys.decapsulate_key(lib, hSession, mech, hPrivateKey, template, ciphertext)


def _not_supported(lib: Library, hSession: int) -> None:
    with lib.lock:
        session_of(lib, hSession)
    raise errors.FunctionNotSupported()


@not_supported
def C_WrapKeyAuthenticated(
    lib: Library,
    m: Marshal,
    hSession: int,
    pMechanism: Any,
    hWrappingKey: int,
    hKey: int,
    pAssociatedData: Any,
    ulAssociatedDataLen: int,
    pWrappedKey: Any,
    pulWrappedKeyLen: Any,
) -> None:
    # AEAD key wrapping with the GCM / CCM message parameters: not offered (README).
    _not_supported(lib, hSession)


@not_supported
def C_UnwrapKeyAuthenticated(
    lib: Library,
    m: Marshal,
    hSession: int,
    pMechanism: Any,
    hUnwrappingKey: int,
    pWrappedKey: Any,
    ulWrappedKeyLen: int,
    pTemplate: Any,
    ulAttributeCount: int,
    pAssociatedData: Any,
    ulAssociatedDataLen: int,
    phKey: Any,
) -> None:
    _not_supported(lib, hSession)
