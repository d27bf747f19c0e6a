"""``softhsm-py approver``: a command-line approver for multi-authorization (Smart Key Attributes),
for tests and demos. It speaks only the TSB REST API (never the store): it makes an approver key,
lists the approver's tasks, approves or rejects them, and signs a token for ``signedApprovals``.

    softhsm-py approver keygen --out alice.pem              # prints the public key for a policy
    softhsm-py approver tasks   --url URL --key alice.pem    # the approver's open tasks
    softhsm-py approver approve --url URL --key alice.pem TASK_ID... | --all [--request ID]
    softhsm-py approver reject  --url URL --key alice.pem TASK_ID
    softhsm-py approver sign    --key alice.pem TOKEN_BASE64 # one signedApprovals entry

An approver named by certificate in a policy gives ``--certificate CERT.pem``; a service with
API keys takes ``--api-key`` (or ``$SOFTHSM_PY_API_KEY``); TLS is verified against ``--cacert``
(the service's self-signed certificate) unless ``--insecure``. The private key never leaves this
process: the service sees signatures only.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

Add = Callable[[str, Callable[[argparse.Namespace], None], str], argparse.ArgumentParser]
KINDS = {
    "sign": "Sign",
    "decrypt": "Decrypt",
    "unwrap": "UnwrapKey",
    "block": "BlockKey",
    "unblock": "UnblockKey",
    "modify": "ModifyKey",
    "all": "All",
}


def _error(message: str) -> Exception:
    from softhsm_py.cli.main import CliError  # main imports this module: import late

    return CliError(message)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class Identity:
    """The approver: its private key and how policies name it (public key or certificate)."""

    def __init__(self, key_path: str, certificate_path: str | None) -> None:
        from softhsm_py.engine import signatures

        try:
            self.key, self.spki = signatures.load_approver_key(Path(key_path).read_bytes())
        except (OSError, ValueError) as exc:
            raise _error(f"cannot read the approver key {key_path}: {exc}") from None
        self.family = signatures.family(self.spki)
        self.certificate: bytes | None = None
        if certificate_path is not None:
            self.certificate = _certificate(certificate_path)
            if signatures.certificate_key(self.certificate)[0] != signatures.canonical_spki(self.spki):
                raise _error("the certificate is not the approver key's")

    @property
    def digest(self) -> str:
        return "EdDSA" if self.family.startswith("Ed") else "SHA-256"

    def sign(self, data: bytes) -> bytes:
        from softhsm_py.engine import signatures

        return signatures.approver_sign(self.key, data, "SHA-256")

    def who(self) -> dict[str, str]:
        if self.certificate is not None:
            return {"approverCertificate": _b64(self.certificate)}
        return {"approverPublicKey": _b64(self.spki)}

    def proof(self) -> dict[str, Any]:
        import datetime

        timestamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")
        return {
            "timestamp": timestamp,
            "timestampSignature": _b64(self.sign(timestamp.encode())),
            "timestampDigestAlgorithm": self.digest,
            **self.who(),
        }


def _certificate(path: str) -> bytes:
    from softhsm_py.engine import signatures

    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise _error(f"cannot read {path}: {exc.strerror}") from None
    try:
        return signatures.certificate_der(data)
    except ValueError:
        raise _error(f"{path} is not a certificate (PEM or DER)") from None


class Client:
    """A minimal TSB client on urllib: JSON in, JSON out, the TSB's error body as a message."""

    def __init__(self, args: argparse.Namespace) -> None:
        import ssl  # here, not at module start: every softhsm-py command builds this parser

        if not args.url:
            raise _error("--url (or $SOFTHSM_PY_URL) names the service")
        self.url = args.url.rstrip("/")
        self.api_key = args.api_key or os.environ.get("SOFTHSM_PY_API_KEY")
        if args.insecure:
            self.context = ssl.create_default_context()
            self.context.check_hostname = False
            self.context.verify_mode = ssl.CERT_NONE  # the user asked for it
        else:
            self.context = ssl.create_default_context(cafile=args.cacert)

    def call(self, method: str, path: str, body: Any = None) -> Any:
        import urllib.error
        import urllib.request

        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if self.api_key:
            request.add_header("X-API-KEY", self.api_key)
        try:
            with urllib.request.urlopen(request, context=self.context, timeout=60) as response:
                text = response.read()
        except urllib.error.HTTPError as exc:
            try:
                detail = json.loads(exc.read())
                message = f"{detail.get('errorCode')} {detail.get('message')}"
            except ValueError:
                message = exc.reason
            raise _error(f"{method} {path}: HTTP {exc.code}: {message}") from None
        except urllib.error.URLError as exc:
            raise _error(f"{method} {path}: {exc.reason}") from None
        return json.loads(text) if text else None


def _tasks(
    client: Client, me: Identity, kind: str, request_id: str | None, level: int
) -> list[dict[str, Any]]:
    body = {**me.proof(), "detailLevel": f"level{level}"}
    if request_id:
        body["requestId"] = request_id
    found = client.call("POST", f"/v1/filtered{KINDS[kind]}ApprovalTask", body)
    return list(found.get("tasks", []))


def cmd_keygen(args: argparse.Namespace) -> None:
    from softhsm_py.engine import signatures

    out = Path(args.out)
    if out.exists():
        raise _error(f"{out} exists: not overwritten")
    pem, spki = signatures.new_approver_key(args.type)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    print(json.dumps({"type": "public_key", "name": args.name or out.stem, "value": _b64(spki)}))


def cmd_public_key(args: argparse.Namespace) -> None:
    me = Identity(args.key, args.certificate)
    print(json.dumps({"type": "public_key", "name": Path(args.key).stem, "value": _b64(me.spki)}))


def cmd_tasks(args: argparse.Namespace) -> None:
    me, client = Identity(args.key, args.certificate), Client(args)
    for task in _tasks(client, me, args.kind, args.request, args.level):
        print(json.dumps(task, indent=1 if args.level > 1 else None))


def cmd_approve(args: argparse.Namespace) -> None:
    me, client = Identity(args.key, args.certificate), Client(args)
    tasks = _tasks(client, me, args.kind, args.request, 1)
    wanted = set(args.task)
    chosen = tasks if args.all else [t for t in tasks if t["id"] in wanted]
    missing = wanted - {t["id"] for t in chosen}
    if missing:
        raise _error(f"no open task {', '.join(sorted(missing))} for this approver")
    if not chosen:
        raise _error(
            "no open task for this approver" + (f" on request {args.request}" if args.request else "")
        )
    for task in chosen:
        token = base64.b64decode(task["approvalToBeSigned"])
        body = {
            "id": task["id"],
            "approvalToBeSigned": task["approvalToBeSigned"],
            "signature": _b64(me.sign(token)),
            "approvalDigestAlgorithm": me.digest,
            **me.who(),
        }
        client.call("POST", "/v1/approval", body)
        print(f"approved task {task['id']}")


def cmd_reject(args: argparse.Namespace) -> None:
    me, client = Identity(args.key, args.certificate), Client(args)
    for task_id in args.task:
        client.call("DELETE", "/v1/task", {**me.proof(), "id": task_id})
        print(f"rejected task {task_id}")


def cmd_sign(args: argparse.Namespace) -> None:
    """One ``signedApprovals`` entry (TSB.md 6.6) for a token, offline."""
    from softhsm_py.core.ska import tlv
    from softhsm_py.engine import signatures

    me = Identity(args.key, args.certificate)
    try:
        token = base64.b64decode(args.token, validate=True)
        tlv.parse_approval_token(token)
    except ValueError:
        raise _error("the token is not a base64 approvalToBeSigned") from None
    signature = signatures.with_algorithm(
        me.spki, None if me.family.startswith("Ed") else "SHA-256", me.sign(token)
    )
    blob = tlv.build_signed_approval(
        token, signature, public_key=None if me.certificate else me.spki, certificate=me.certificate
    )
    print(_b64(blob))


def add_commands(add: Add) -> None:
    sp = add(
        "approver",
        lambda args: None,
        "a command-line approver for multi-authorization (Smart Key Attributes)",
    )
    sub = sp.add_subparsers(dest="action", required=True)

    def action(
        name: str,
        fn: Callable[[argparse.Namespace], None],
        help: str,
        *,
        remote: bool = True,
        key: bool = True,
    ) -> argparse.ArgumentParser:
        ap = sub.add_parser(name, help=help, description=help)
        ap.set_defaults(fn=fn)
        if key:
            ap.add_argument("--key", required=True, help="the approver's private key (PEM or DER)")
            ap.add_argument(
                "--certificate", help="the approver's certificate, when policies name it by certificate"
            )
        if remote:
            ap.add_argument(
                "--url", default=os.environ.get("SOFTHSM_PY_URL"), help="the service, https://HOST:PORT"
            )
            ap.add_argument("--cacert", help="trust this certificate (the service's self-signed one)")
            ap.add_argument("--insecure", action="store_true", help="do not verify the service's certificate")
            ap.add_argument("--api-key", help="the approver API key ($SOFTHSM_PY_API_KEY)")
        return ap

    ap = action(
        "keygen", cmd_keygen, "make an approver key; prints its policy entry", remote=False, key=False
    )
    ap.add_argument("--out", required=True, help="where to write the private key (PKCS#8 PEM, mode 0600)")
    ap.add_argument(
        "--type", choices=("ec", "rsa", "ed25519"), default="ec", help="P-256, RSA-2048 or Ed25519"
    )
    ap.add_argument("--name", help="the approver's name in the policy entry")
    action("public-key", cmd_public_key, "print the approver's policy entry", remote=False)
    ap = action("tasks", cmd_tasks, "list the approver's open tasks")
    ap.add_argument("--kind", choices=sorted(KINDS), default="all")
    ap.add_argument("--request", help="only the tasks of this request")
    ap.add_argument("--level", type=int, choices=range(1, 7), default=3, help="detail level (1-6)")
    ap = action("approve", cmd_approve, "approve tasks: sign their approvalToBeSigned")
    ap.add_argument("task", nargs="*", help="task ids")
    ap.add_argument("--all", action="store_true", help="every open task (of --kind, --request)")
    ap.add_argument("--kind", choices=sorted(KINDS), default="all")
    ap.add_argument("--request", help="only the tasks of this request")
    ap = action("reject", cmd_reject, "reject (delete) tasks")
    ap.add_argument("task", nargs="+", help="task ids")
    ap = action("sign", cmd_sign, "sign a token for signedApprovals (offline)", remote=False)
    ap.add_argument("token", help="the approvalToBeSigned, base64")


__all__ = ["add_commands"]
