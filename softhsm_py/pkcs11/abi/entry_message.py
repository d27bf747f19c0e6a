"""Entries of the message-based functions of PKCS#11 3.0 (5.9, 5.11, 5.14, 5.15): one def per C_*
function; each unpacks its arguments and calls ``pkcs11.messages``. A message's parameter is
parsed when the chapter has found the operation, whose mechanism says its layout
(``mechparams.parse_message_param``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from softhsm_py.constants import END_OF_MESSAGE
from softhsm_py.core.runtime import Library
from softhsm_py.core.session import OpKind
from softhsm_py.pkcs11.abi.entries import Chapter, Out, data_in, entry, mechanism_in
from softhsm_py.pkcs11.abi.marshal import Marshal

if TYPE_CHECKING:
    from softhsm_py.pkcs11 import messages
    from softhsm_py.pkcs11.messages import ParamIn
else:
    messages = Chapter("messages", globals())

ENCRYPT, DECRYPT = OpKind.MESSAGE_ENCRYPT, OpKind.MESSAGE_DECRYPT
SIGN, VERIFY = OpKind.MESSAGE_SIGN, OpKind.MESSAGE_VERIFY


def param_in(m: Marshal, pParameter: Any, ulParameterLen: int) -> ParamIn:
    def parse(mechanism: int) -> tuple[Any, Any]:
        from softhsm_py.pkcs11.abi.mechparams import parse_message_param

        return parse_message_param(m.ffi, mechanism, pParameter, ulParameterLen)

    return parse


# -- message-based encryption (5.9) ----------------------------------------------------------------
@entry
def C_MessageEncryptInit(lib: Library, m: Marshal, hSession: int, pMechanism: Any, hKey: int) -> None:
    if not pMechanism:  # 3.0: terminate the active operation
        return messages.cancel(lib, hSession, ENCRYPT)
    messages.init(lib, hSession, ENCRYPT, mechanism_in(m, pMechanism, message=True), hKey)


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
    messages.crypt_message(
        lib,
        hSession,
        ENCRYPT,
        param_in(m, pParameter, ulParameterLen),
        data_in(m, pAssociatedData, ulAssociatedDataLen),
        data_in(m, pPlaintext, ulPlaintextLen),
        Out(m, pCiphertext, pulCiphertextLen),
    )


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
    messages.crypt_message_begin(
        lib,
        hSession,
        ENCRYPT,
        param_in(m, pParameter, ulParameterLen),
        data_in(m, pAssociatedData, ulAssociatedDataLen),
    )


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
    messages.crypt_message_next(
        lib,
        hSession,
        ENCRYPT,
        param_in(m, pParameter, ulParameterLen),
        data_in(m, pPlaintextPart, ulPlaintextPartLen),
        Out(m, pCiphertextPart, pulCiphertextPartLen),
        bool(flags & END_OF_MESSAGE),
    )


@entry
def C_MessageEncryptFinal(lib: Library, m: Marshal, hSession: int) -> None:
    messages.final(lib, hSession, ENCRYPT)


# -- message-based decryption (5.11) ---------------------------------------------------------------
@entry
def C_MessageDecryptInit(lib: Library, m: Marshal, hSession: int, pMechanism: Any, hKey: int) -> None:
    if not pMechanism:  # 3.0: terminate the active operation
        return messages.cancel(lib, hSession, DECRYPT)
    messages.init(lib, hSession, DECRYPT, mechanism_in(m, pMechanism, message=True), hKey)


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
    messages.crypt_message(
        lib,
        hSession,
        DECRYPT,
        param_in(m, pParameter, ulParameterLen),
        data_in(m, pAssociatedData, ulAssociatedDataLen),
        data_in(m, pCiphertext, ulCiphertextLen),
        Out(m, pPlaintext, pulPlaintextLen),
    )


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
    messages.crypt_message_begin(
        lib,
        hSession,
        DECRYPT,
        param_in(m, pParameter, ulParameterLen),
        data_in(m, pAssociatedData, ulAssociatedDataLen),
    )


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
    messages.crypt_message_next(
        lib,
        hSession,
        DECRYPT,
        param_in(m, pParameter, ulParameterLen),
        data_in(m, pCiphertextPart, ulCiphertextPartLen),
        Out(m, pPlaintextPart, pulPlaintextPartLen),
        bool(flags & END_OF_MESSAGE),
    )


@entry
def C_MessageDecryptFinal(lib: Library, m: Marshal, hSession: int) -> None:
    messages.final(lib, hSession, DECRYPT)


# -- message-based signing and MACing (5.14) -------------------------------------------------------
@entry
def C_MessageSignInit(lib: Library, m: Marshal, hSession: int, pMechanism: Any, hKey: int) -> None:
    if not pMechanism:  # 3.0: terminate the active operation
        return messages.cancel(lib, hSession, SIGN)
    messages.init(lib, hSession, SIGN, mechanism_in(m, pMechanism, message=True), hKey)


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
    messages.sign_message(
        lib,
        hSession,
        param_in(m, pParameter, ulParameterLen),
        data_in(m, pData, ulDataLen),
        Out(m, pSignature, pulSignatureLen),
    )


@entry
def C_SignMessageBegin(lib: Library, m: Marshal, hSession: int, pParameter: Any, ulParameterLen: int) -> None:
    messages.sign_message_begin(lib, hSession, SIGN, param_in(m, pParameter, ulParameterLen))


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
    # A NULL pulSignatureLen: more parts follow (3.0, 5.14 C_SignMessageNext).
    out = None if not pulSignatureLen else Out(m, pSignature, pulSignatureLen)
    messages.sign_message_next(lib, hSession, data_in(m, pData, ulDataLen), out)


@entry
def C_MessageSignFinal(lib: Library, m: Marshal, hSession: int) -> None:
    messages.final(lib, hSession, SIGN)


# -- message-based verification (5.15) -------------------------------------------------------------
@entry
def C_MessageVerifyInit(lib: Library, m: Marshal, hSession: int, pMechanism: Any, hKey: int) -> None:
    if not pMechanism:  # 3.0: terminate the active operation
        return messages.cancel(lib, hSession, VERIFY)
    messages.init(lib, hSession, VERIFY, mechanism_in(m, pMechanism, message=True), hKey)


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
    messages.verify_message(
        lib,
        hSession,
        param_in(m, pParameter, ulParameterLen),
        data_in(m, pData, ulDataLen),
        data_in(m, pSignature, ulSignatureLen),
    )


@entry
def C_VerifyMessageBegin(
    lib: Library, m: Marshal, hSession: int, pParameter: Any, ulParameterLen: int
) -> None:
    messages.sign_message_begin(lib, hSession, VERIFY, param_in(m, pParameter, ulParameterLen))


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
    # A NULL pSignature: more parts follow (3.0, 5.15 C_VerifyMessageNext).
    signature = None if not pSignature else data_in(m, pSignature, ulSignatureLen)
    messages.verify_message_next(lib, hSession, data_in(m, pData, ulDataLen), signature)


@entry
def C_MessageVerifyFinal(lib: Library, m: Marshal, hSession: int) -> None:
    messages.final(lib, hSession, VERIFY)
