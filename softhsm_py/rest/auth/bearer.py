"""JWT bearer tokens (PyJWT): verified against configured public keys, issued by
``softhsm-py token`` for tests and local use.

The claims (the TSB does not publish its own; README "Authentication"):

- ``sub`` (required): who calls, as the audit log records it;
- ``iss`` and ``aud`` (required): equal to / containing ``[rest.jwt]`` ``issuer`` and ``audience``;
- ``exp`` (required), ``nbf`` and ``iat`` (checked when present), with ``leeway_seconds`` of skew;
- ``partition`` (required; the claim name is ``[rest.jwt] partition_claim``): the label of the
  one partition the caller acts on, one this service serves;
- ``roles`` (optional; ``roles_claim``): a list of the TSB's role names (``keyOperationToken``,
  ...); the caller holds only these (unknown names grant nothing). Absent: every role, so a token
  alone opens its partition as the TSB's partition access token does; API keys, when also
  configured, then split the routes among roles.
- ``jti`` (optional): recorded in the audit log.

Only RS256 (RSA >= 2048 bits), ES256 (P-256) and EdDSA (Ed25519) are accepted, each key bound to
its one algorithm: ``alg: none``, HMAC and any algorithm a key was not made for are refused before
a signature is looked at. Refusals carry a reason for the log, never the token.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from softhsm_py.config import ConfigError
from softhsm_py.rest.auth.roles import ALL_ROLES, ROLE_NAMES, Role

ALGORITHMS = ("EdDSA", "ES256", "RS256")
#: what each algorithm's key must be (JWK kty, crv)
_KEY_KIND = {"EdDSA": ("OKP", "Ed25519"), "ES256": ("EC", "P-256"), "RS256": ("RSA", None)}
MIN_RSA_BITS = 2048
MAX_TOKEN = 8192  # characters; a longer header is refused unread
MAX_SUBJECT = 256


class TokenRefused(Exception):
    """A token that does not open the service; ``reason`` is for the log (no token in it)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class TokenClaims:
    subject: str
    partition: str
    roles: frozenset[Role]
    token_id: str | None = None


@dataclass(frozen=True)
class VerifyingKey:
    kid: str | None
    algorithm: str
    jwk: Mapping[str, Any]  # public JWK


def _b64_bits(value: object) -> int:
    if not isinstance(value, str):
        return 0
    raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    return int.from_bytes(raw, "big").bit_length()


def _check_kind(jwk: Mapping[str, Any], algorithm: str, where: str) -> None:
    kty, crv = _KEY_KIND[algorithm]
    if jwk.get("kty") != kty or (crv is not None and jwk.get("crv") != crv):
        raise ConfigError(f"{where}: an {algorithm} key must be {kty} {crv or ''}".rstrip())
    if "d" in jwk or "p" in jwk:
        raise ConfigError(f"{where} holds a private key: configure the public key only")
    if kty == "RSA" and _b64_bits(jwk.get("n")) < MIN_RSA_BITS:
        raise ConfigError(f"{where}: RSA keys need at least {MIN_RSA_BITS} bits")


def _pem_key(data: bytes, algorithms: Sequence[str], where: str) -> VerifyingKey:
    from jwt.algorithms import get_default_algorithms

    table = get_default_algorithms()
    for algorithm in algorithms:
        try:
            key = table[algorithm].prepare_key(data)
            jwk = table[algorithm].to_jwk(key, as_dict=True)
        except Exception:  # not this algorithm's key type
            continue
        if jwk.get("kty") == "OKP" and jwk.get("crv") != "Ed25519":
            continue
        _check_kind(jwk, algorithm, where)
        return VerifyingKey(None, algorithm, jwk)
    raise ConfigError(f"{where} is not a PEM public key for {', '.join(algorithms)} (RSA, P-256 or Ed25519)")


def _jwks_keys(data: bytes, algorithms: Sequence[str], where: str) -> list[VerifyingKey]:
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ConfigError(f"{where} is neither a PEM public key nor a JWKS (JSON)") from None
    entries = doc.get("keys") if isinstance(doc, dict) else None
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{where}: a JWKS needs a non-empty 'keys' list")
    out = []
    for i, jwk in enumerate(entries):
        at = f"{where} keys[{i}]"
        if not isinstance(jwk, dict):
            raise ConfigError(f"{at} must be an object")
        if jwk.get("use", "sig") != "sig":
            continue
        algorithm = jwk.get("alg") or {"OKP": "EdDSA", "EC": "ES256", "RSA": "RS256"}.get(jwk.get("kty", ""))
        if algorithm not in ALGORITHMS:
            raise ConfigError(f"{at}: only {', '.join(ALGORITHMS)} keys are accepted")
        if algorithm not in algorithms:
            continue
        _check_kind(jwk, algorithm, at)
        kid = jwk.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise ConfigError(f"{at}: 'kid' must be a string")
        try:
            _pyjwk(VerifyingKey(kid, algorithm, jwk))
        except Exception:
            raise ConfigError(f"{at} is not a valid {algorithm} public key") from None
        out.append(VerifyingKey(kid, algorithm, jwk))
    return out


def _pyjwk(key: VerifyingKey) -> Any:
    from jwt import PyJWK

    return PyJWK(dict(key.jwk), key.algorithm)


def load_keys(paths: Iterable[str], algorithms: Sequence[str]) -> list[VerifyingKey]:
    """The verifying keys in ``paths`` (each a PEM public key or a JWKS) usable with ``algorithms``."""
    keys: list[VerifyingKey] = []
    for path in paths:
        where = f"[rest.jwt] keys: {path}"
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise ConfigError(f"{where}: cannot read it ({exc.strerror or type(exc).__name__})") from None
        if b"-----BEGIN" in data:
            keys.append(_pem_key(data, algorithms, where))
        else:
            keys.extend(_jwks_keys(data, algorithms, where))
    if not keys:
        raise ConfigError("[rest.jwt] keys: no key usable with the configured algorithms")
    return keys


class BearerVerifier:
    """Checks a token against the keys and rules of ``[rest.jwt]``."""

    def __init__(
        self,
        keys: Sequence[VerifyingKey],
        *,
        issuer: str,
        audience: str,
        leeway: int,
        partition_claim: str,
        roles_claim: str,
        served: Iterable[str],
    ) -> None:
        self.keys = [(key, _pyjwk(key)) for key in keys]
        self.issuer, self.audience, self.leeway = issuer, audience, leeway
        self.partition_claim, self.roles_claim = partition_claim, roles_claim
        self.served = frozenset(served)

    def verify(self, token: str) -> TokenClaims:
        import jwt

        if not token or len(token) > MAX_TOKEN or token.count(".") != 2:
            raise TokenRefused("not a compact JWS")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise TokenRefused("unreadable header") from None
        algorithm, kid = header.get("alg"), header.get("kid")
        if algorithm not in ALGORITHMS:  # "none", HS256, ...: refused before any key is tried
            raise TokenRefused("algorithm not accepted")
        candidates = [
            (key, pyjwk)
            for key, pyjwk in self.keys
            # a key without an id (a PEM file) may have signed a token of any kid
            if key.algorithm == algorithm and (kid is None or key.kid is None or key.kid == kid)
        ]
        if not candidates:
            raise TokenRefused("no configured key for its algorithm and key id")
        claims: dict[str, Any] | None = None
        for _key, pyjwk in candidates:
            try:
                claims = jwt.decode(
                    token,
                    key=pyjwk,
                    algorithms=[algorithm],
                    audience=self.audience,
                    issuer=self.issuer,
                    leeway=self.leeway,
                    options={"require": ["exp", "iss", "aud", "sub"]},
                )
                break
            except jwt.InvalidSignatureError:
                continue  # another key with this algorithm may have signed it
            except jwt.ExpiredSignatureError:
                raise TokenRefused("expired") from None
            except jwt.ImmatureSignatureError:
                raise TokenRefused("not yet valid (nbf or iat)") from None
            except jwt.InvalidAudienceError:
                raise TokenRefused("wrong audience") from None
            except jwt.InvalidIssuerError:
                raise TokenRefused("wrong issuer") from None
            except jwt.MissingRequiredClaimError as exc:
                raise TokenRefused(f"missing claim {exc.claim}") from None
            except jwt.PyJWTError as exc:
                raise TokenRefused(f"invalid ({type(exc).__name__})") from None
        if claims is None:
            raise TokenRefused("bad signature")
        return self._caller(claims)

    def _caller(self, claims: Mapping[str, Any]) -> TokenClaims:
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject or len(subject) > MAX_SUBJECT:
            raise TokenRefused("'sub' must be a non-empty string")
        partition = claims.get(self.partition_claim)
        if not isinstance(partition, str) or not partition:
            raise TokenRefused(f"missing claim {self.partition_claim}")
        if partition not in self.served:
            raise TokenRefused("names a partition this service does not serve")
        roles = ALL_ROLES
        if self.roles_claim in claims:
            names = claims[self.roles_claim]
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise TokenRefused(f"'{self.roles_claim}' must be a list of role names")
            roles = frozenset(ROLE_NAMES[n] for n in names if n in ROLE_NAMES)
        token_id = claims.get("jti")
        return TokenClaims(subject, partition, roles, token_id if isinstance(token_id, str) else None)


# ------------------------------------------------------------------------------ issuing


def signing_algorithm(key_pem: bytes) -> str:
    """The algorithm a PEM private key signs with (RS256, ES256 or EdDSA); ValueError otherwise."""
    from jwt.algorithms import get_default_algorithms

    table = get_default_algorithms()
    for algorithm in ALGORITHMS:
        try:
            jwk = table[algorithm].to_jwk(table[algorithm].prepare_key(key_pem), as_dict=True)
        except Exception:
            continue
        if "d" not in jwk:
            raise ValueError("the key file holds a public key: a token is signed with the private key")
        kty, crv = _KEY_KIND[algorithm]
        if jwk.get("kty") == kty and (crv is None or jwk.get("crv") == crv):
            if kty == "RSA" and _b64_bits(jwk.get("n")) < MIN_RSA_BITS:
                raise ValueError(f"RSA keys need at least {MIN_RSA_BITS} bits")
            return algorithm
    raise ValueError("the key file is not an unencrypted PEM private key (RSA, P-256 or Ed25519)")


def issue(
    key_pem: bytes,
    *,
    issuer: str,
    audience: str,
    subject: str,
    partition: str,
    roles: Sequence[Role] | None = None,
    lifetime: int = 3600,
    kid: str | None = None,
    partition_claim: str = "partition",
    roles_claim: str = "roles",
    now: float | None = None,
) -> str:
    """A signed token for ``partition`` (``softhsm-py token``)."""
    import secrets

    import jwt

    algorithm = signing_algorithm(key_pem)
    issued = int(time.time() if now is None else now)
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        "iat": issued,
        "nbf": issued,
        "exp": issued + lifetime,
        "jti": secrets.token_hex(8),
        partition_claim: partition,
    }
    if roles is not None:
        claims[roles_claim] = [role.value for role in roles]
    headers = {"kid": kid} if kid else None
    return jwt.encode(claims, key_pem, algorithm=algorithm, headers=headers)
