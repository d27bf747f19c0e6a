"""Entries of encryption, decryption, digests, signatures and the dual functions (PKCS#11 3.0,
5.8-5.13) and 3.2's C_VerifySignature*: one def per C_* function; each unpacks its arguments and
calls ``pkcs11.crypto``. An ``*Init`` with a NULL mechanism terminates the session's active
operation of its kind (3.0)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from softhsm_py.core.runtime import Library
from softhsm_py.core.session import OpKind
from softhsm_py.pkcs11.abi.entries import Chapter, Out, data_in, entry, mechanism_in
from softhsm_py.pkcs11.abi.marshal import Marshal

if TYPE_CHECKING:
    from softhsm_py.pkcs11 import crypto
else:
    crypto = Chapter("crypto", globals())

ENCRYPT, DECRYPT, DIGEST = OpKind.ENCRYPT, OpKind.DECRYPT, OpKind.DIGEST
SIGN, VERIFY = OpKind.SIGN, OpKind.VERIFY
SIGN_RECOVER, VERIFY_RECOVER = OpKind.SIGN_RECOVER, OpKind.VERIFY_RECOVER


# -- encryption (5.8) ---------------------------------------------------------------------------------
@entry
def C_EncryptInit(lib: Library, m: Marshal, hSession: int, pMechanism: Any, hKey: int) -> None:
    if not pMechanism:  # 3.0: terminate the active operation
        return crypto.cancel(lib, hSession, ENCRYPT)
    crypto.operation_init(lib, hSession, ENCRYPT, mechanism_in(m, pMechanism), hKey)


@entry
def C_Encrypt(
    lib: Library,
    m: Marshal,
    hSession: int,
    pData: Any,
    ulDataLen: int,
    pEncryptedData: Any,
    pulEncryptedDataLen: Any,
) -> None:
    crypto.single(
        lib, hSession, ENCRYPT, data_in(m, pData, ulDataLen), Out(m, pEncryptedData, pulEncryptedDataLen)
    )


@entry
def C_EncryptUpdate(
    lib: Library,
    m: Marshal,
    hSession: int,
    pPart: Any,
    ulPartLen: int,
    pEncryptedPart: Any,
    pulEncryptedPartLen: Any,
) -> None:
    crypto.update(
        lib, hSession, ENCRYPT, data_in(m, pPart, ulPartLen), Out(m, pEncryptedPart, pulEncryptedPartLen)
    )


@entry
def C_EncryptFinal(
    lib: Library, m: Marshal, hSession: int, pLastEncryptedPart: Any, pulLastEncryptedPartLen: Any
) -> None:
    crypto.final(lib, hSession, ENCRYPT, Out(m, pLastEncryptedPart, pulLastEncryptedPartLen))


# -- decryption (5.9) ---------------------------------------------------------------------------------
@entry
def C_DecryptInit(lib: Library, m: Marshal, hSession: int, pMechanism: Any, hKey: int) -> None:
    if not pMechanism:  # 3.0: terminate the active operation
        return crypto.cancel(lib, hSession, DECRYPT)
    crypto.operation_init(lib, hSession, DECRYPT, mechanism_in(m, pMechanism), hKey)


@entry
def C_Decrypt(
    lib: Library,
    m: Marshal,
    hSession: int,
    pEncryptedData: Any,
    ulEncryptedDataLen: int,
    pData: Any,
    pulDataLen: Any,
) -> None:
    crypto.single(
        lib, hSession, DECRYPT, data_in(m, pEncryptedData, ulEncryptedDataLen), Out(m, pData, pulDataLen)
    )


@entry
def C_DecryptUpdate(
    lib: Library,
    m: Marshal,
    hSession: int,
    pEncryptedPart: Any,
    ulEncryptedPartLen: int,
    pPart: Any,
    pulPartLen: Any,
) -> None:
    crypto.update(
        lib, hSession, DECRYPT, data_in(m, pEncryptedPart, ulEncryptedPartLen), Out(m, pPart, pulPartLen)
    )


@entry
def C_DecryptFinal(lib: Library, m: Marshal, hSession: int, pLastPart: Any, pulLastPartLen: Any) -> None:
    crypto.final(lib, hSession, DECRYPT, Out(m, pLastPart, pulLastPartLen))


# -- message digesting (5.10) -------------------------------------------------------------------------
@entry
def C_DigestInit(lib: Library, m: Marshal, hSession: int, pMechanism: Any) -> None:
    if not pMechanism:  # 3.0: terminate the active operation
        return crypto.cancel(lib, hSession, DIGEST)
    crypto.digest_init(lib, hSession, mechanism_in(m, pMechanism))


@entry
def C_Digest(
    lib: Library, m: Marshal, hSession: int, pData: Any, ulDataLen: int, pDigest: Any, pulDigestLen: Any
) -> None:
    crypto.single(lib, hSession, DIGEST, data_in(m, pData, ulDataLen), Out(m, pDigest, pulDigestLen))


@entry
def C_DigestUpdate(lib: Library, m: Marshal, hSession: int, pPart: Any, ulPartLen: int) -> None:
    crypto.update(lib, hSession, DIGEST, data_in(m, pPart, ulPartLen), None)


@entry
def C_DigestKey(lib: Library, m: Marshal, hSession: int, hKey: int) -> None:
    crypto.digest_key(lib, hSession, hKey)


@entry
def C_DigestFinal(lib: Library, m: Marshal, hSession: int, pDigest: Any, pulDigestLen: Any) -> None:
    crypto.final(lib, hSession, DIGEST, Out(m, pDigest, pulDigestLen))


# -- signing and MACing (5.11) ------------------------------------------------------------------------
@entry
def C_SignInit(lib: Library, m: Marshal, hSession: int, pMechanism: Any, hKey: int) -> None:
    if not pMechanism:  # 3.0: terminate the active operation
        return crypto.cancel(lib, hSession, SIGN)
    crypto.operation_init(lib, hSession, SIGN, mechanism_in(m, pMechanism), hKey)


@entry
def C_Sign(
    lib: Library, m: Marshal, hSession: int, pData: Any, ulDataLen: int, pSignature: Any, pulSignatureLen: Any
) -> None:
    crypto.single(lib, hSession, SIGN, data_in(m, pData, ulDataLen), Out(m, pSignature, pulSignatureLen))


@entry
def C_SignUpdate(lib: Library, m: Marshal, hSession: int, pPart: Any, ulPartLen: int) -> None:
    crypto.update(lib, hSession, SIGN, data_in(m, pPart, ulPartLen), None)


@entry
def C_SignFinal(lib: Library, m: Marshal, hSession: int, pSignature: Any, pulSignatureLen: Any) -> None:
    crypto.final(lib, hSession, SIGN, Out(m, pSignature, pulSignatureLen))


@entry
def C_SignRecoverInit(lib: Library, m: Marshal, hSession: int, pMechanism: Any, hKey: int) -> None:
    if not pMechanism:  # 3.0: terminate the active operation
        return crypto.cancel(lib, hSession, SIGN_RECOVER)
    crypto.operation_init(lib, hSession, SIGN_RECOVER, mechanism_in(m, pMechanism), hKey)


@entry
def C_SignRecover(
    lib: Library, m: Marshal, hSession: int, pData: Any, ulDataLen: int, pSignature: Any, pulSignatureLen: Any
) -> None:
    crypto.single(
        lib, hSession, SIGN_RECOVER, data_in(m, pData, ulDataLen), Out(m, pSignature, pulSignatureLen)
    )


# -- verifying signatures and MACs (5.12) -------------------------------------------------------------
@entry
def C_VerifyInit(lib: Library, m: Marshal, hSession: int, pMechanism: Any, hKey: int) -> None:
    if not pMechanism:  # 3.0: terminate the active operation
        return crypto.cancel(lib, hSession, VERIFY)
    crypto.operation_init(lib, hSession, VERIFY, mechanism_in(m, pMechanism), hKey)


@entry
def C_Verify(
    lib: Library, m: Marshal, hSession: int, pData: Any, ulDataLen: int, pSignature: Any, ulSignatureLen: int
) -> None:
    crypto.verify(lib, hSession, data_in(m, pData, ulDataLen), data_in(m, pSignature, ulSignatureLen))


@entry
def C_VerifyUpdate(lib: Library, m: Marshal, hSession: int, pPart: Any, ulPartLen: int) -> None:
    crypto.update(lib, hSession, VERIFY, data_in(m, pPart, ulPartLen), None)


@entry
def C_VerifyFinal(lib: Library, m: Marshal, hSession: int, pSignature: Any, ulSignatureLen: int) -> None:
    crypto.verify_final(lib, hSession, data_in(m, pSignature, ulSignatureLen))


@entry
def C_VerifyRecoverInit(lib: Library, m: Marshal, hSession: int, pMechanism: Any, hKey: int) -> None:
    if not pMechanism:  # 3.0: terminate the active operation
        return crypto.cancel(lib, hSession, VERIFY_RECOVER)
    crypto.operation_init(lib, hSession, VERIFY_RECOVER, mechanism_in(m, pMechanism), hKey)


@entry
def C_VerifyRecover(
    lib: Library, m: Marshal, hSession: int, pSignature: Any, ulSignatureLen: int, pData: Any, pulDataLen: Any
) -> None:
    crypto.single(
        lib, hSession, VERIFY_RECOVER, data_in(m, pSignature, ulSignatureLen), Out(m, pData, pulDataLen)
    )


# -- 3.2: verifying with the signature given first (5.15) ------------------------------------------
@entry
def C_VerifySignatureInit(
    lib: Library, m: Marshal, hSession: int, pMechanism: Any, hKey: int, pSignature: Any, ulSignatureLen: int
) -> None:
    mech = None if not pMechanism else mechanism_in(m, pMechanism)
    signature = m.bytes_in(pSignature, ulSignatureLen) if mech is not None else b""
    crypto.verify_signature_init(lib, hSession, mech, hKey, signature)


@entry
def C_VerifySignature(lib: Library, m: Marshal, hSession: int, pData: Any, ulDataLen: int) -> None:
    crypto.verify_signature(lib, hSession, data_in(m, pData, ulDataLen))


@entry
def C_VerifySignatureUpdate(lib: Library, m: Marshal, hSession: int, pPart: Any, ulPartLen: int) -> None:
    crypto.verify_signature_update(lib, hSession, data_in(m, pPart, ulPartLen))


@entry
def C_VerifySignatureFinal(lib: Library, m: Marshal, hSession: int) -> None:
    crypto.verify_signature_final(lib, hSession)


# -- dual-function cryptographic functions (5.13) -----------------------------------------------------
@entry
def C_DigestEncryptUpdate(
    lib: Library,
    m: Marshal,
    hSession: int,
    pPart: Any,
    ulPartLen: int,
    pEncryptedPart: Any,
    pulEncryptedPartLen: Any,
) -> None:
    crypto.dual_update(
        lib,
        hSession,
        DIGEST,
        ENCRYPT,
        data_in(m, pPart, ulPartLen),
        Out(m, pEncryptedPart, pulEncryptedPartLen),
    )


@entry
def C_DecryptDigestUpdate(
    lib: Library,
    m: Marshal,
    hSession: int,
    pEncryptedPart: Any,
    ulEncryptedPartLen: int,
    pPart: Any,
    pulPartLen: Any,
) -> None:
    crypto.dual_update(
        lib,
        hSession,
        DECRYPT,
        DIGEST,
        data_in(m, pEncryptedPart, ulEncryptedPartLen),
        Out(m, pPart, pulPartLen),
    )


@entry
def C_SignEncryptUpdate(
    lib: Library,
    m: Marshal,
    hSession: int,
    pPart: Any,
    ulPartLen: int,
    pEncryptedPart: Any,
    pulEncryptedPartLen: Any,
) -> None:
    crypto.dual_update(
        lib,
        hSession,
        SIGN,
        ENCRYPT,
        data_in(m, pPart, ulPartLen),
        Out(m, pEncryptedPart, pulEncryptedPartLen),
    )


@entry
def C_DecryptVerifyUpdate(
    lib: Library,
    m: Marshal,
    hSession: int,
    pEncryptedPart: Any,
    ulEncryptedPartLen: int,
    pPart: Any,
    pulPartLen: Any,
) -> None:
    crypto.dual_update(
        lib,
        hSession,
        DECRYPT,
        VERIFY,
        data_in(m, pEncryptedPart, ulEncryptedPartLen),
        Out(m, pPart, pulPartLen),
    )
