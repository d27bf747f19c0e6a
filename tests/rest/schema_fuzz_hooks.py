"""schemathesis hooks for tests/rest/test_schema_fuzz.py (loaded by the schemathesis process through
``SCHEMATHESIS_HOOKS``): generated bodies name the keys the test made, so that the fuzzing reaches
the routes' work instead of stopping at "key not found", and one check says what may answer 5xx."""

from __future__ import annotations

import json
import os
import random
from typing import Any

import schemathesis

NAMES = os.environ.get("FUZZ_KEY_NAMES", "nope").split(",")
KEY_FIELDS = frozenset(
    {
        "label", "signKeyName", "decryptKeyName", "encryptKeyName", "keyName", "wrapKeyName",
        "unwrapKeyName", "keyToBeWrapped", "modifyKeyName", "blockKeyName", "unblockKeyName",
    }
)  # fmt: skip
PASSWORDS = frozenset({"password", "keyPassword", "newPassword", "wrapKeyPassword", "unwrapKeyPassword"})
_rng = random.Random(int(os.environ.get("FUZZ_SEED", "1")))


def _name_keys(obj: Any) -> None:
    if isinstance(obj, dict):
        for k, v in list(obj.items()):
            if k in KEY_FIELDS and _rng.random() < 0.9:
                obj[k] = _rng.choice(NAMES)
            elif k in PASSWORDS and _rng.random() < 0.5:
                obj[k] = None  # the keys have none: let most requests past the password check
            else:
                _name_keys(v)
    elif isinstance(obj, list):
        for v in obj:
            _name_keys(v)


@schemathesis.hook
def map_body(ctx: Any, body: Any) -> Any:
    _name_keys(body)
    return body


@schemathesis.hook
def map_path_parameters(ctx: Any, parameters: Any) -> Any:
    if parameters and "keyName" in parameters and _rng.random() < 0.9:
        parameters["keyName"] = _rng.choice(NAMES)
    return parameters


@schemathesis.check
def no_server_errors(ctx: Any, response: Any, case: Any) -> None:
    """Nothing a caller sends makes a 5xx, but the TSB's "not implemented" (501, errorCode 101)."""
    if response.status_code < 500:
        return
    try:
        body = json.loads(response.text)
    except ValueError:
        body = None
    if response.status_code == 501 and isinstance(body, dict) and body.get("errorCode") == 101:
        return
    raise AssertionError(f"server error {response.status_code}: {response.text[:300]}")
