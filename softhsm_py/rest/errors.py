"""The one place an exception becomes a TSB error body ``{errorCode, reason, message}``.

Three sources, three tables:

- ``TsbError`` raised by this front end (bad wire input it checked itself, an algorithm it cannot
  map, a feature not yet offered) carries its ``BusinessReason`` and HTTP status;
- ``softhsm_py.errors`` exceptions raised by the core (one class per CKR plus the partition's own)
  map through ``CORE_ERRORS``, looked up along the exception's MRO by class name;
- FastAPI's request validation errors: a body that is not JSON or does not bind to the DTO
  (unknown property, wrong JSON type, unknown enum name) is 621 "invalid JSON", as Jackson's
  binding failure is on the TSB; a constraint the bound value breaks (missing, empty, bad base64)
  is 600 "input validation failed", as Bean Validation's is.

Anything else is a bug: 500/701, logged with its type and place only (the message might hold
caller data). No response ever carries a traceback, a password or key material: messages are
fixed strings or name the field at fault, never its value.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from enum import Enum
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("softhsm_py.rest")


class BusinessReason(Enum):
    """The TSB's ``BusinessReason`` rows this front end answers with: (reason key, errorCode)."""

    NOT_IMPLEMENTED = ("res.error.not.implemented", 101)
    OPERATION_UNREACHABLE = ("res.error.operation.unreachable", 102)
    SECURITY_NOT_ALLOWED = ("res.error.security.not.allowed", 400)
    MISSING_APPROVAL = ("res.error.missing.approval", 401)
    INVALID_SIGNATURE = ("res.error.input.invalid.signature", 403)
    TIMESTAMP_OFF = ("res.error.input.timestamp.off", 404)
    TIMESTAMP_SIGNER_NOT_ALLOWED = ("res.error.timestamp.signer.not.allowed", 405)
    MISSING_ACCESS_TOKEN = ("res.error.missing.access.token", 406)
    DECRYPT_FAILED = ("res.error.decrypt.failed", 410)
    INVALID_CERTIFICATE_REQUEST = ("res.error.invalid.certificate.request", 411)
    INVALID_ONE_TIME_PASSWORD = ("res.error.invalid.onetimepassword", 412)
    INVALID_VALUE_FOR_ENUM = ("res.error.invalid.value.for.enum", 501)
    INPUT_VALIDATION_FAILED = ("res.error.input.validation.failed", 600)
    UNSUPPORTED_APPROVER_KEY_TYPE = ("res.error.unsupported.approver.key.type", 601)
    UNSUPPORTED_KEYSIZE = ("res.error.input.keysize", 603)
    KEY_ATTRIBUTES_INVALID = ("res.error.key.attributes.invalid", 606)
    ALGORITHM_NOT_SUPPORTED_BY_KEY = ("res.error.algorithm.not.supported.by.key", 607)
    KEY_ALREADY_EXISTING = ("res.error.key.already.existing", 608)
    INVALID_KEY_NAME = ("res.error.invalid.key.name", 610)
    UNSUPPORTED_OPERATION = ("res.error.unsupported.operation", 611)
    INVALID_PAYLOAD = ("res.error.invalid.payload", 612)
    INVALID_KEY_TYPE = ("res.error.invalid.key.type", 613)
    OPERATION_FORBIDDEN_FOR_KEY = ("res.error.operation.forbidden.for.key", 614)
    INVALID_ACCESS_TOKEN = ("res.error.invalid.access.token", 617)
    INSUFFICIENT_LOGIN_INFORMATION = ("res.error.insufficient.login.information", 618)
    INVALID_NUMBER_RANGE = ("res.error.invalid.number.range", 619)
    KEY_PASSWORD_MISMATCH = ("res.error.key.password.mismatch", 620)
    INVALID_JSON = ("res.error.invalid.json", 621)
    INVALID_TAGLENGTH = ("res.error.key.invalid.tagLength", 624)
    INVALID_KEY_FORMAT = ("res.error.key.invalid.encoding", 625)
    INVALID_CERTIFICATE_FORMAT = ("res.error.certificate.invalid.encoding", 626)
    INVALID_CSR_FORMAT = ("res.error.csr.invalid.format", 628)
    UNSUPPORTED_CIPHER = ("res.error.unsupported.cipher", 629)
    INVALID_API_KEY = ("res.error.invalid.api.key", 631)
    APPROVER_ALREADY_EXISTING = ("res.error.approver.already.existing", 632)
    KEY_NOT_EXISTENT = ("res.error.key.not.existent", 650)
    REQUEST_NOT_EXISTENT = ("res.error.request.not.existent", 651)
    TASK_NOT_EXISTENT = ("res.error.task.not.existent", 652)
    APPROVER_NOT_EXISTENT = ("res.error.approver.not.existent", 654)
    IN_HSM = ("res.error.in.hsm", 701)

    @property
    def key(self) -> str:
        return self.value[0]

    @property
    def code(self) -> int:
        return self.value[1]


class TsbError(Exception):
    """An error this front end raises itself. ``message`` must not hold secrets."""

    def __init__(
        self,
        reason: BusinessReason,
        message: str,
        status: int = 400,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.status = status
        self.headers = dict(headers) if headers else None


def unsupported(what: str, *, cipher: bool = False) -> TsbError:
    """The TSB knows the algorithm; softhsm-py does not offer it (README: "What is not offered")."""
    reason = BusinessReason.UNSUPPORTED_CIPHER if cipher else BusinessReason.UNSUPPORTED_OPERATION
    return TsbError(reason, f"{what} is not supported by softhsm-py", 400)


def invalid(message: str) -> TsbError:
    return TsbError(BusinessReason.INPUT_VALIDATION_FAILED, message, 400)


def not_implemented(what: str) -> TsbError:
    return TsbError(BusinessReason.NOT_IMPLEMENTED, f"{what} is not implemented yet", 501)


R = BusinessReason

#: core exception class name -> (HTTP status, reason, message). Looked up along the MRO, so a
#: subclass inherits its base's row. Messages are the CKR name, as the TSB passes the HSM's on.
CORE_ERRORS: dict[str, tuple[int, BusinessReason, str]] = {
    # the partition's own
    "KeyNotFound": (404, R.KEY_NOT_EXISTENT, "Key not found"),
    "KeyExists": (400, R.KEY_ALREADY_EXISTING, "A key with this name already exists"),
    "KeyNameInvalid": (400, R.INVALID_KEY_NAME, "Invalid key name"),
    "KeyNameAmbiguous": (400, R.INVALID_KEY_NAME, "Several keys of the partition have this name"),
    "KeyPasswordIncorrect": (400, R.KEY_PASSWORD_MISMATCH, "Key password mismatch"),
    "KeyPasswordLocked": (403, R.SECURITY_NOT_ALLOWED, "Key password locked after too many failures"),
    # Smart Key Attributes (core.ska): before the rows of their base classes on the MRO
    "ApprovalRequired": (403, R.MISSING_APPROVAL, "The key's policy requires approvals for this operation"),
    "ApprovalInvalid": (
        403,
        R.INVALID_SIGNATURE,
        "An approval does not verify for this key, operation and payload",
    ),
    "KeyBlocked": (400, R.OPERATION_FORBIDDEN_FOR_KEY, "The key is blocked"),
    "NoPolicy": (400, R.OPERATION_FORBIDDEN_FOR_KEY, "The key has no Smart Key Attributes"),
    "PolicyInvalid": (400, R.INPUT_VALIDATION_FAILED, "Invalid policy"),
    "RequestNotFound": (404, R.REQUEST_NOT_EXISTENT, "Request not found"),
    "RequestFinished": (400, R.OPERATION_FORBIDDEN_FOR_KEY, "The request is no longer pending"),
    "TaskNotFound": (404, R.TASK_NOT_EXISTENT, "Task not found"),
    "ApproverNotFound": (404, R.APPROVER_NOT_EXISTENT, "Approver not found"),
    "ApproverExists": (400, R.APPROVER_ALREADY_EXISTING, "The approver exists already"),
    "OneTimeCodeInvalid": (401, R.INVALID_ONE_TIME_PASSWORD, "Invalid one-time code"),
    "ApproverUnauthenticated": (401, R.INVALID_SIGNATURE, "The timestamp signature does not verify"),
    "TimestampOff": (401, R.TIMESTAMP_OFF, "The timestamp is not within the allowed clock skew"),
    # usage refused by the key's attributes: the caller's doing, so 4xx (the TSB answers 500/701
    # "KEY_FUNCTION_NOT_PERMITTED"; README "Departures")
    "KeyFunctionNotPermitted": (400, R.OPERATION_FORBIDDEN_FOR_KEY, "KEY_FUNCTION_NOT_PERMITTED"),
    "KeyUnextractable": (400, R.OPERATION_FORBIDDEN_FOR_KEY, "KEY_UNEXTRACTABLE"),
    "AttributeSensitive": (400, R.OPERATION_FORBIDDEN_FOR_KEY, "ATTRIBUTE_SENSITIVE"),
    "KeyNotWrappable": (400, R.OPERATION_FORBIDDEN_FOR_KEY, "KEY_NOT_WRAPPABLE"),
    "ActionProhibited": (400, R.OPERATION_FORBIDDEN_FOR_KEY, "ACTION_PROHIBITED"),
    "AttributeReadOnly": (400, R.OPERATION_FORBIDDEN_FOR_KEY, "ATTRIBUTE_READ_ONLY"),
    # algorithm and key do not fit, or the engine lacks the mechanism
    "MechanismInvalid": (400, R.UNSUPPORTED_OPERATION, "MECHANISM_INVALID"),
    "KeyTypeInconsistent": (400, R.ALGORITHM_NOT_SUPPORTED_BY_KEY, "KEY_TYPE_INCONSISTENT"),
    "WrappingKeyTypeInconsistent": (400, R.ALGORITHM_NOT_SUPPORTED_BY_KEY, "WRAPPING_KEY_TYPE_INCONSISTENT"),
    "UnwrappingKeyTypeInconsistent": (
        400,
        R.ALGORITHM_NOT_SUPPORTED_BY_KEY,
        "UNWRAPPING_KEY_TYPE_INCONSISTENT",
    ),
    "CurveNotSupported": (400, R.UNSUPPORTED_OPERATION, "CURVE_NOT_SUPPORTED"),
    "ParameterSetNotSupported": (400, R.UNSUPPORTED_OPERATION, "PARAMETER_SET_NOT_SUPPORTED"),
    "DomainParamsInvalid": (400, R.KEY_ATTRIBUTES_INVALID, "DOMAIN_PARAMS_INVALID"),
    "KeySizeRange": (400, R.UNSUPPORTED_KEYSIZE, "KEY_SIZE_RANGE"),
    "WrappingKeySizeRange": (400, R.UNSUPPORTED_KEYSIZE, "WRAPPING_KEY_SIZE_RANGE"),
    "UnwrappingKeySizeRange": (400, R.UNSUPPORTED_KEYSIZE, "UNWRAPPING_KEY_SIZE_RANGE"),
    "MechanismParamInvalid": (400, R.INPUT_VALIDATION_FAILED, "MECHANISM_PARAM_INVALID"),
    # templates built from the request's attributes
    "TemplateInconsistent": (400, R.KEY_ATTRIBUTES_INVALID, "TEMPLATE_INCONSISTENT"),
    "TemplateIncomplete": (400, R.KEY_ATTRIBUTES_INVALID, "TEMPLATE_INCOMPLETE"),
    "AttributeValueInvalid": (400, R.KEY_ATTRIBUTES_INVALID, "ATTRIBUTE_VALUE_INVALID"),
    "AttributeTypeInvalid": (400, R.KEY_ATTRIBUTES_INVALID, "ATTRIBUTE_TYPE_INVALID"),
    # the caller's data
    "DataInvalid": (400, R.INVALID_PAYLOAD, "DATA_INVALID"),
    "DataLenRange": (400, R.INVALID_PAYLOAD, "DATA_LEN_RANGE"),
    "EncryptedDataInvalid": (400, R.DECRYPT_FAILED, "ENCRYPTED_DATA_INVALID"),
    "EncryptedDataLenRange": (400, R.DECRYPT_FAILED, "ENCRYPTED_DATA_LEN_RANGE"),
    "AeadDecryptFailed": (400, R.DECRYPT_FAILED, "AEAD_DECRYPT_FAILED"),
    "WrappedKeyInvalid": (400, R.INVALID_PAYLOAD, "WRAPPED_KEY_INVALID"),
    "WrappedKeyLenRange": (400, R.INVALID_PAYLOAD, "WRAPPED_KEY_LEN_RANGE"),
    "SignatureInvalid": (400, R.INVALID_SIGNATURE, "SIGNATURE_INVALID"),
    "SignatureLenRange": (400, R.INVALID_SIGNATURE, "SIGNATURE_LEN_RANGE"),
    "PublicKeyInvalid": (400, R.INVALID_KEY_FORMAT, "PUBLIC_KEY_INVALID"),
    "ArgumentsBad": (400, R.INPUT_VALIDATION_FAILED, "ARGUMENTS_BAD"),
    # the service's own login or store: not the caller's fault
    "PKCS11Error": (500, R.IN_HSM, "GENERAL_ERROR"),
}


def _core_row(exc: BaseException) -> tuple[int, BusinessReason, str] | None:
    for cls in type(exc).__mro__:
        row = CORE_ERRORS.get(cls.__name__)
        if row is not None:
            if cls.__name__ == "PKCS11Error":
                rv = getattr(exc, "rv", None)
                name = getattr(rv, "name", "GENERAL_ERROR")
                return (row[0], row[1], str(name))
            key_name = getattr(exc, "name", None)
            if cls.__name__ == "KeyNotFound" and isinstance(key_name, str):
                return (row[0], row[1], f"Key with name {key_name} not found")  # the TSB's message
            detail = getattr(exc, "detail", None)
            if cls.__name__ == "PolicyInvalid" and isinstance(detail, str) and detail:
                return (row[0], row[1], f"Invalid policy: {detail}")  # names the field, never a value
            return row
    return None


def body(reason: BusinessReason, message: str) -> dict[str, Any]:
    return {"errorCode": reason.code, "reason": reason.key, "message": message}


def response(
    status: int, reason: BusinessReason, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(body(reason, message), status_code=status, headers=headers)


def tsb_response(exc: TsbError) -> JSONResponse:
    return response(exc.status, exc.reason, exc.message, exc.headers)


# ------------------------------------------------------------------------------ validation

#: pydantic error types that mean "the JSON does not bind to the DTO" (Jackson's failures)
_BINDING = frozenset(
    {
        "json_invalid",
        "json_type",
        "extra_forbidden",
        "model_type",
        "model_attributes_type",
        "dict_type",
        "list_type",
        "string_type",
        "bool_type",
        "bool_parsing",
        "int_type",
        "int_parsing",
        "int_from_float",
        "float_type",
        "float_parsing",
        "enum",
        "literal_error",
        "union_tag_invalid",
        "bytes_type",
    }
)


def _field(loc: Sequence[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body",)]
    return ".".join(parts) or "body"


def validation_reason(errors: Sequence[Mapping[str, Any]]) -> tuple[BusinessReason, str]:
    """Reason and message for pydantic errors: names the fields, never their values."""
    if not errors:
        return R.INPUT_VALIDATION_FAILED, "Input validation failed"
    # JSON null where an object or value is required is Bean Validation's @NotNull (600), not a
    # binding failure: Jackson binds null fine
    binding = [e for e in errors if e.get("type") in _BINDING and e.get("input", ...) is not None]
    chosen = binding or list(errors)
    first = chosen[0]
    where = _field(first.get("loc", ()))
    kind = str(first.get("type"))
    if kind == "json_invalid":
        return R.INVALID_JSON, "The request body is not valid JSON"
    if kind == "missing" and tuple(first.get("loc", ())) == ("body",):
        return R.INVALID_JSON, "The request body is missing"
    if binding:
        if kind == "extra_forbidden":
            return R.INVALID_JSON, f"Unrecognized field '{where}'"
        return R.INVALID_JSON, f"Cannot deserialize field '{where}' ({kind})"
    if kind == "missing" or first.get("input", ...) is None:
        return R.INPUT_VALIDATION_FAILED, f"Field '{where}' must not be null"
    # our own validators raise ValueError with a fixed text; pydantic prefixes "Value error, "
    text = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
    return R.INPUT_VALIDATION_FAILED, f"Field '{where}': {text}"


# ------------------------------------------------------------------------------ handlers


async def _on_tsb(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, TsbError)
    return tsb_response(exc)


async def _on_validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    reason, message = validation_reason(exc.errors())
    return response(400, reason, message)


async def _on_http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        return response(404, R.OPERATION_UNREACHABLE, "No such route")
    if exc.status_code == 405:
        return response(405, R.OPERATION_UNREACHABLE, "Method not allowed on this route")
    if exc.status_code == 413:
        return response(413, R.INPUT_VALIDATION_FAILED, "Request body too large")
    return response(exc.status_code, R.INPUT_VALIDATION_FAILED, "Bad request")


async def _on_core(request: Request, exc: Exception) -> Response:
    row = _core_row(exc)
    if row is None:  # not a PKCS11Error: treat as a bug
        return _bug(exc)
    status, reason, message = row
    if status >= 500:
        log.error("partition error %s on %s", message, request.url.path)
    return response(status, reason, message)


def _bug(exc: BaseException) -> JSONResponse:
    tb = exc.__traceback__
    where = "?"
    while tb is not None:
        where = f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}"
        tb = tb.tb_next
    # type and place only: the message could hold caller data
    log.error("internal error %s at %s", type(exc).__name__, where)
    return response(500, R.IN_HSM, "Internal error")


def install(app: FastAPI) -> None:
    from softhsm_py.errors import PKCS11Error

    handler = Callable[[Request, Exception], Awaitable[Response]]
    handlers: dict[Any, handler] = {
        TsbError: _on_tsb,
        RequestValidationError: _on_validation,
        StarletteHTTPException: _on_http,
        PKCS11Error: _on_core,
    }
    for exc_class, fn in handlers.items():
        app.add_exception_handler(exc_class, fn)
    app.add_middleware(CatchAll)


class CatchAll:
    """Outermost net (inside Starlette's ServerErrorMiddleware, which would log the exception's
    message and re-raise): a ``TsbError`` raised outside the routes (the authentication
    middleware's refusals) becomes its body, any other exception no handler took becomes 500/701,
    logged by type and place only. Also caps the request body (``MAX_BODY``) before anything
    parses it."""

    MAX_BODY = 16 * 1024 * 1024

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False
        seen = 0

        async def counted_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.MAX_BODY:
                    raise _TooLarge()
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        for name, value in scope.get("headers", ()):
            if name == b"content-length" and value.isdigit() and int(value) > self.MAX_BODY:
                await response(413, R.INPUT_VALIDATION_FAILED, "Request body too large")(scope, receive, send)
                return
        try:
            await self.app(scope, counted_receive, tracked_send)
        except _TooLarge:
            if not started:
                await response(413, R.INPUT_VALIDATION_FAILED, "Request body too large")(scope, receive, send)
        except TsbError as exc:
            if not started:
                await tsb_response(exc)(scope, receive, send)
        except Exception as exc:
            if not started:
                await _bug(exc)(scope, receive, send)
            else:
                _bug(exc)


class _TooLarge(Exception):
    pass
