"""Entries of the message-based functions of PKCS#11 3.0 (5.10, 5.12 and 5.14 of the 3.0 spec):
not implemented. Each checks its session (so a bad handle gets its own code) and answers
CKR_FUNCTION_NOT_SUPPORTED."""

from __future__ import annotations

from typing import Any

from softhsm_py import errors
from softhsm_py.core.runtime import Library
from softhsm_py.core.tokens import session_of
from softhsm_py.pkcs11.abi.entries import ENTRIES, entry
from softhsm_py.pkcs11.abi.marshal import Marshal


def _unsupported(lib: Library, hSession: int) -> None:
    with lib.lock:
        session_of(lib, hSession)
    raise errors.FunctionNotSupported()


@entry
def C_MessageEncryptInit(lib: Library, m: Marshal, hSession: int, pMechanism: Any, hKey: int) -> None:
    _unsupported(lib, hSession)


@entry
def C_EncryptMessage(
    lib: Library,
    m: Marshal,
    hSession: int,
    pParameter: Any,
    ulParameterLen: int,
    pAssociatedData: Any,
    ulAssociatedDataLen: int,
    pPlaintext: Any,
    ulPlaintextLen: int,
    pCiphertext: Any,
    pulCiphertextLen: Any,
) -> None:
    _unsupported(lib, hSession)


@entry
def C_EncryptMessageBegin(
    lib: Library,
    m: Marshal,
    hSession: int,
    pParameter: Any,
    ulParameterLen: int,
    pAssociatedData: Any,
    ulAssociatedDataLen: int,
) -> None:
    _unsupported(lib, hSession)


@entry
def C_EncryptMessageNext(
    lib: Library,
    m: Marshal,
    hSession: int,
    pParameter: Any,
    ulParameterLen: int,
    pPlaintextPart: Any,
    ulPlaintextPartLen: int,
    pCiphertextPart: Any,
    pulCiphertextPartLen: Any,
    flags: int,
) -> None:
    _unsupported(lib, hSession)


@entry
def C_MessageEncryptFinal(lib: Library, m: Marshal, hSession: int) -> None:
    _unsupported(lib, hSession)


@entry
def C_MessageDecryptInit(lib: Library, m: Marshal, hSession: int, pMechanism: Any, hKey: int) -> None:
    _unsupported(lib, hSession)


@entry
def C_DecryptMessage(
    lib: Library,
    m: Marshal,
    hSession: int,
    pParameter: Any,
    ulParameterLen: int,
    pAssociatedData: Any,
    ulAssociatedDataLen: int,
    pCiphertext: Any,
    ulCiphertextLen: int,
    pPlaintext: Any,
    pulPlaintextLen: Any,
) -> None:
    _unsupported(lib, hSession)


@entry
def C_DecryptMessageBegin(
    lib: Library,
    m: Marshal,
    hSession: int,
    pParameter: Any,
    ulParameterLen: int,
    pAssociatedData: Any,
    ulAssociatedDataLen: int,
) -> None:
    _unsupported(lib, hSession)


@entry
def C_DecryptMessageNext(
    lib: Library,
    m: Marshal,
    hSession: int,
    pParameter: Any,
    ulParameterLen: int,
    pCiphertextPart: Any,
    ulCiphertextPartLen: int,
    pPlaintextPart: Any,
    pulPlaintextPartLen: Any,
    flags: int,
) -> None:
    _unsupported(lib, hSession)


@entry
def C_MessageDecryptFinal(lib: Library, m: Marshal, hSession: int) -> None:
    _unsupported(lib, hSession)


@entry
def C_MessageSignInit(lib: Library, m: Marshal, hSession: int, pMechanism: Any, hKey: int) -> None:
    _unsupported(lib, hSession)


@entry
def C_SignMessage(
    lib: Library,
    m: Marshal,
    hSession: int,
    pParameter: Any,
    ulParameterLen: int,
    pData: Any,
    ulDataLen: int,
    pSignature: Any,
    pulSignatureLen: Any,
) -> None:
    _unsupported(lib, hSession)


@entry
def C_SignMessageBegin(lib: Library, m: Marshal, hSession: int, pParameter: Any, ulParameterLen: int) -> None:
    _unsupported(lib, hSession)


@entry
def C_SignMessageNext(
    lib: Library,
    m: Marshal,
    hSession: int,
    pParameter: Any,
    ulParameterLen: int,
    pData: Any,
    ulDataLen: int,
    pSignature: Any,
    pulSignatureLen: Any,
) -> None:
    _unsupported(lib, hSession)


@entry
def C_MessageSignFinal(lib: Library, m: Marshal, hSession: int) -> None:
    _unsupported(lib, hSession)


@entry
def C_MessageVerifyInit(lib: Library, m: Marshal, hSession: int, pMechanism: Any, hKey: int) -> None:
    _unsupported(lib, hSession)


@entry
def C_VerifyMessage(
    lib: Library,
    m: Marshal,
    hSession: int,
    pParameter: Any,
    ulParameterLen: int,
    pData: Any,
    ulDataLen: int,
    pSignature: Any,
    ulSignatureLen: int,
) -> None:
    _unsupported(lib, hSession)


@entry
def C_VerifyMessageBegin(
    lib: Library, m: Marshal, hSession: int, pParameter: Any, ulParameterLen: int
) -> None:
    _unsupported(lib, hSession)


@entry
def C_VerifyMessageNext(
    lib: Library,
    m: Marshal,
    hSession: int,
    pParameter: Any,
    ulParameterLen: int,
    pData: Any,
    ulDataLen: int,
    pSignature: Any,
    ulSignatureLen: int,
) -> None:
    _unsupported(lib, hSession)


@entry
def C_MessageVerifyFinal(lib: Library, m: Marshal, hSession: int) -> None:
    _unsupported(lib, hSession)


# The names of this module's entries: every one answers CKR_FUNCTION_NOT_SUPPORTED (the README says so).
NOT_SUPPORTED = tuple(name for name, fn in ENTRIES.items() if fn.__module__ == __name__)
