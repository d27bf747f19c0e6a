"""The REST service's credentials, made on the command line (README "Authentication"):

    softhsm-py api-key [--role ROLE --partition LABEL --id ID]   # a new key and its hash
    softhsm-py api-key --stdin                                    # the hash of a key on stdin
    softhsm-py token --key issuer.key --partition demo [--role ROLE ...]   # a signed JWT
    softhsm-py client-cert --ca-dir ca/ --name billing                    # a CA and a client cert

Keys are printed once and stored nowhere; the configuration takes only their hashes. Only
argparse at import: the service's modules load when a command runs.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from pathlib import Path

Add = Callable[[str, Callable[[argparse.Namespace], None], str], argparse.ArgumentParser]

ROLE_CHOICES = (
    "keyManagementToken",
    "keyOperationToken",
    "approverToken",
    "serviceToken",
    "approverKeyManagementToken",
)
CERT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
CLIENT_CERT_DAYS = 365
CA_DAYS = 3650


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def cmd_api_key(args: argparse.Namespace) -> None:
    from softhsm_py.cli.main import CliError
    from softhsm_py.rest.auth import apikeys

    if args.stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        try:
            print(f"hash = {_q(apikeys.hash_key(line))}")
        except ValueError as exc:
            raise CliError(str(exc)) from None
        return
    key = apikeys.new_key()
    key_hash = apikeys.hash_key(key)
    print(f"key = {_q(key)}    # for the client (X-API-KEY): shown once, stored nowhere")
    print(f"hash = {_q(key_hash)}    # for [rest.api_keys]")
    if args.role:
        cells = [f"hash = {_q(key_hash)}"]
        if args.id:
            cells.append(f"id = {_q(args.id)}")
        if args.partition:
            cells.append(f"partition = {_q(args.partition)}")
        print(f"{args.role} = [{{ {', '.join(cells)} }}]")


def cmd_token(args: argparse.Namespace) -> None:
    from softhsm_py.cli.main import CliError
    from softhsm_py.config import ConfigError, load_config
    from softhsm_py.rest import config as rest_config
    from softhsm_py.rest.auth import bearer
    from softhsm_py.rest.auth.roles import ROLE_NAMES

    issuer, audience = args.issuer, args.audience
    partition_claim, roles_claim = "partition", "roles"
    try:
        jwt_settings = rest_config.load(load_config()).auth.jwt
    except ConfigError:
        jwt_settings = None  # the token may be for another service: the options say it all
    if jwt_settings is not None:
        issuer = issuer or jwt_settings.issuer
        audience = audience or jwt_settings.audience
        partition_claim, roles_claim = jwt_settings.partition_claim, jwt_settings.roles_claim
    if not issuer or not audience:
        raise CliError("--issuer and --audience are needed (no [rest.jwt] in the configuration)")
    if not 1 <= args.lifetime <= 366 * 86400:
        raise CliError("--lifetime must be from 1 second to a year")
    try:
        key_pem = Path(args.key).read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read {args.key} ({exc.strerror or type(exc).__name__})") from None
    try:
        token = bearer.issue(
            key_pem,
            issuer=issuer,
            audience=audience,
            subject=args.subject,
            partition=args.partition,
            roles=[ROLE_NAMES[r] for r in args.role] if args.role else None,
            lifetime=args.lifetime,
            kid=args.kid,
            partition_claim=partition_claim,
            roles_claim=roles_claim,
        )
    except ValueError as exc:
        raise CliError(str(exc)) from None
    print(token)


def _write_private(path: Path, data: bytes) -> None:
    from softhsm_py.rest.tls import write_private

    write_private(path, data)


def cmd_client_cert(args: argparse.Namespace) -> None:
    from softhsm_py.cli.main import CliError
    from softhsm_py.engine import x509
    from softhsm_py.rest.auth.clientcert import fingerprint

    if not 1 <= args.days <= CA_DAYS:
        raise CliError(f"--days must be from 1 to {CA_DAYS}")
    if not CERT_NAME.fullmatch(args.name):
        raise CliError("--name is 1 to 64 letters, digits, '.', '_' or '-' (it names the files too)")
    ca_dir = Path(args.ca_dir)
    ca_cert_path, ca_key_path = ca_dir / "ca.crt", ca_dir / "ca.key"
    if not ca_cert_path.exists():
        ca_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        cert_pem, key_pem = x509.client_ca("softhsm-py client CA", CA_DAYS)
        _write_private(ca_key_path, key_pem)
        ca_cert_path.write_bytes(cert_pem)
        print(f"made a client CA: {ca_cert_path} (its key: {ca_key_path})")
    out = Path(args.out or ca_dir)
    out.mkdir(parents=True, exist_ok=True)
    try:
        cert_pem, key_pem = x509.client_certificate(
            ca_cert_path.read_bytes(), ca_key_path.read_bytes(), args.name, args.days
        )
    except (OSError, ValueError) as exc:
        why = getattr(exc, "strerror", None) or str(exc)
        raise CliError(f"cannot use the CA in {ca_dir}: {why}") from None
    cert_path, key_path = out / f"{args.name}.crt", out / f"{args.name}.key"
    _write_private(key_path, key_pem)
    cert_path.write_bytes(cert_pem)
    der = x509.pem_certificate_der(cert_pem)
    print(f"client certificate: {cert_path} (its key: {key_path})")
    print("# for [rest.mtls] (ca_bundle = " + _q(str(ca_cert_path.resolve())) + "):")
    print("[[rest.mtls.clients]]")
    print(f"fingerprint = {_q(fingerprint(der))}    # or: subject = {_q(x509.subject_text(der))}")
    print('partition = "CHANGE-ME"')


def add_commands(add: Add) -> None:
    sp = add("api-key", cmd_api_key, "make an API key for the REST service and print it with its hash")
    sp.add_argument("--stdin", action="store_true", help="hash the key read from stdin instead")
    sp.add_argument("--role", choices=ROLE_CHOICES, help="also print its [rest.api_keys] line")
    sp.add_argument("--partition", help="with --role: the partition the key is bound to")
    sp.add_argument("--id", help="with --role: its name in the audit log")
    sp = add("token", cmd_token, "issue a JWT bearer token for the REST service (tests, local use)")
    sp.add_argument("--key", required=True, help="PEM private key (RSA >= 2048, P-256 or Ed25519)")
    sp.add_argument("--partition", required=True, help="the partition the token opens")
    sp.add_argument("--subject", default="softhsm-py-cli", help="the sub claim (default: softhsm-py-cli)")
    sp.add_argument("--role", action="append", choices=ROLE_CHOICES, help="a role (repeat; none: all)")
    sp.add_argument("--lifetime", type=int, default=3600, help="seconds until it expires (default 3600)")
    sp.add_argument("--issuer", help="the iss claim (default: [rest.jwt] issuer)")
    sp.add_argument("--audience", help="the aud claim (default: [rest.jwt] audience)")
    sp.add_argument("--kid", help="the key id header (for a JWKS with several keys)")
    sp = add("client-cert", cmd_client_cert, "make a mutual-TLS client certificate (and its CA if missing)")
    sp.add_argument("--ca-dir", required=True, help="directory of ca.crt and ca.key (made if missing)")
    sp.add_argument("--name", required=True, help="the certificate's common name and file name")
    sp.add_argument("--out", help="where to write NAME.crt and NAME.key (default: --ca-dir)")
    sp.add_argument("--days", type=int, default=CLIENT_CERT_DAYS, help="validity (default 365)")
