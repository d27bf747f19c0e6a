"""What every router shares: the documented error responses and the key-name check."""

from __future__ import annotations

from typing import Any

from softhsm_py.rest.auth.audit import note_key
from softhsm_py.rest.errors import invalid, unsupported
from softhsm_py.rest.models.service import ReasonBasedExceptionDto

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ReasonBasedExceptionDto, "description": "Bad request (6xx errorCode)"},
    404: {"model": ReasonBasedExceptionDto, "description": "Key not found (650)"},
    500: {"model": ReasonBasedExceptionDto, "description": "Error in the HSM (701)"},
}

MAX_NAME = 1024


def key_name(name: str) -> str:
    """A key name as the partition takes it. '/' starts a derivation path on the TSB
    (``MyKey/0'/1``): derived keys are not offered."""
    note_key(name)  # the audit log's "which key"
    if not name:
        raise invalid("The key name must not be empty")
    if len(name) > MAX_NAME:
        raise invalid("The key name is too long")
    if "/" in name:
        raise unsupported("Key derivation (a '/' path in the key name)")
    return name
