"""The TSB's five API-key roles and which routes each opens (SD authentication.md, copied to
``shared/tsb/fixtures/docs-authentication.md``; TSB.md 7).

``ROUTE_ROLES`` is the one table. Patterns are Spring's, matched against the request path as the
TSB's Spring Security matches it: ``*`` is any text inside one segment, ``/**`` any number of
further segments (none included). The first row that matches decides; a path no row matches is
refused (404) after authentication, so a new router without a row here fails closed rather than
open. Rows cover every TSB route, including the request, approval and approver routes the
multi-authorization routers serve: those routers need no authentication code of their own.
"""

from __future__ import annotations

import re
from enum import Enum


class Role(Enum):
    """An API-key role, by the TSB's configuration name."""

    KEY_MANAGEMENT = "keyManagementToken"
    KEY_OPERATION = "keyOperationToken"
    APPROVER = "approverToken"
    SERVICE = "serviceToken"
    APPROVER_KEY_MANAGEMENT = "approverKeyManagementToken"


ALL_ROLES = frozenset(Role)
ROLE_NAMES = {role.value: role for role in Role}

_KM = frozenset({Role.KEY_MANAGEMENT})
_KO = frozenset({Role.KEY_OPERATION})
_AP = frozenset({Role.APPROVER})
_SV = frozenset({Role.SERVICE})
_AKM = frozenset({Role.APPROVER_KEY_MANAGEMENT})
#: no authentication at all: the API description and its viewer, as the TSB serves them
PUBLIC: frozenset[Role] = frozenset()

#: (pattern, roles that open it); an empty set: public
ROUTE_ROLES: tuple[tuple[str, frozenset[Role]], ...] = (
    # the API description (springdoc's paths)
    ("/v3/api-docs", PUBLIC),
    ("/v3/api-docs/**", PUBLIC),
    ("/swagger-ui.html", PUBLIC),
    ("/swagger-ui/**", PUBLIC),
    # keyManagementToken
    ("/v1/key/**", _KM),
    ("/v1/importedKey", _KM),
    ("/v1/derivedKey", _KM),
    ("/v1/dataObject/**", _KM),
    ("/v1/attestation/**", _KM),
    ("/v1/modify", _KM),
    ("/v1/synchronousModify", _KM),
    # keyOperationToken
    ("/v1/certificate/**", _KO),
    ("/v1/synchronousUnwrap", _KO),
    ("/v1/synchronousUnblock", _KO),
    ("/v1/synchronousSign", _KO),
    ("/v1/synchronousFileDecrypt", _KO),
    ("/v1/synchronousDecrypt", _KO),
    ("/v1/synchronousBlock", _KO),
    ("/v1/synchronousHmac", _KO),
    ("/v1/verifyHmac", _KO),  # softhsm-py's own HMAC check (the TSB verifies HMACs on /v1/verify)
    ("/v1/fileEncrypt", _KO),
    ("/v1/wrap", _KO),
    ("/v1/verify", _KO),
    ("/v1/encrypt", _KO),
    ("/v1/createRfcTimestamp", _KO),
    # the docs list it under keyOperationToken; tsb-client-go's GenerateRandom sends the
    # serviceToken: either opens it (README "Departures")
    ("/v1/generateRandom/**", _KO | _SV),
    ("/v1/unwrap", _KO),
    ("/v1/unblock", _KO),
    ("/v1/sign", _KO),
    ("/v1/decrypt", _KO),
    ("/v1/block", _KO),
    ("/v1/request/**", _KO),
    ("/v1/filteredRequests", _KO),
    # approverToken
    ("/v1/filtered*ApprovalTask", _AP),
    ("/v1/approval", _AP),
    ("/v1/task/**", _AP),
    ("/v1/approver/onboard", _AP),
    # serviceToken
    ("/v1/versionInfo", _SV),
    ("/v1/licenseInfo", _SV),
    ("/v1/keystore/statistics", _SV),
    ("/v1/hsm/log/**", _SV),
    # approverKeyManagementToken
    ("/v1/approverManagement/**", _AKM),
)


def _compile(pattern: str) -> re.Pattern[str]:
    out = []
    rest = pattern
    tail = rest.endswith("/**")
    if tail:
        rest = rest[: -len("/**")]
    for part in re.split(r"(\*)", rest):
        out.append("[^/]*" if part == "*" else re.escape(part))
    return re.compile("".join(out) + ("(?:/.*)?" if tail else ""))


_COMPILED = tuple((_compile(pattern), pattern, roles) for pattern, roles in ROUTE_ROLES)


def route_roles(path: str) -> tuple[str, frozenset[Role]] | None:
    """(pattern, roles) of the first row matching ``path``; None when no row does."""
    for regex, pattern, roles in _COMPILED:
        if regex.fullmatch(path):
            return pattern, roles
    return None


def parse_roles(names: object, where: str) -> frozenset[Role]:
    """Role names (a list of strings) -> roles; ValueError naming ``where`` for anything else."""
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ValueError(f"{where} must be a list of role names")
    unknown = sorted(n for n in names if n not in ROLE_NAMES)
    if unknown:
        raise ValueError(f"{where}: unknown role(s) {', '.join(unknown)} (known: {', '.join(ROLE_NAMES)})")
    return frozenset(ROLE_NAMES[n] for n in names)
