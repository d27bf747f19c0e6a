"""Entries of key management (PKCS#11 3.0, 5.14): one def per C_* function."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from softhsm_py.core.runtime import Library
from softhsm_py.pkcs11.abi.entries import Chapter, Out, entry, mechanism_in
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
