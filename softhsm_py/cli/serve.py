"""``softhsm-py serve``: the TSB-compatible REST service over the configured partitions.

    softhsm-py serve                          # [rest] table of the configuration file
    softhsm-py serve --dev --listen 127.0.0.1:8080 --partition dev   # user PIN in $SOFTHSM_PY_PIN

Only argparse at import: FastAPI and uvicorn load when the command runs, so the rest of the CLI
(and the PKCS#11 path) never pays for them.
"""

from __future__ import annotations

import argparse
import os


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    help_ = "serve the TSB REST API over the configured partitions (see [rest] in the README)"
    sp = sub.add_parser("serve", help=help_, description=help_)
    sp.set_defaults(fn=cmd_serve)
    sp.add_argument(
        "--dev",
        action="store_true",
        help="development mode: one partition, plain HTTP, no authentication, loopback only; "
        "the user PIN comes from $SOFTHSM_PY_PIN",
    )
    sp.add_argument("--listen", metavar="HOST:PORT", help="address to listen on (overrides [rest] listen)")
    sp.add_argument("--partition", metavar="LABEL", help="with --dev: the token to serve")
    sp.add_argument("--workers", type=int, help="worker processes (overrides [rest] workers)")
    sp.add_argument("--plain-http", action="store_true", help="no TLS (only on a loopback address)")
    sp.add_argument("--access-log", action="store_true", help="log every request")
    sp.add_argument(
        "--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"]
    )


def cmd_serve(args: argparse.Namespace) -> None:
    from dataclasses import replace

    from softhsm_py.cli.main import CliError
    from softhsm_py.config import ConfigError, load_config
    from softhsm_py.rest import config as rest_config

    try:
        config = load_config()
        if args.dev:
            if not args.listen or not args.partition:
                raise CliError("--dev needs --listen HOST:PORT and --partition LABEL")
            if rest_config.DEV_PIN_ENV not in os.environ:
                raise CliError(f"--dev reads the user PIN from ${rest_config.DEV_PIN_ENV}, which is not set")
            host, port = rest_config.parse_listen(args.listen, "--listen")
            settings = rest_config.RestSettings(
                host=host,
                port=port,
                workers=args.workers or 1,
                plain_http=True,
                dev=True,
                partitions=(rest_config.PartitionSource(args.partition, pin_env=rest_config.DEV_PIN_ENV),),
            )
        else:
            if args.partition:
                raise CliError("--partition is for --dev; list served partitions in [[rest.partitions]]")
            settings = rest_config.load(config)
            if args.listen:
                host, port = rest_config.parse_listen(args.listen, "--listen")
                settings = replace(settings, host=host, port=port)
            if args.workers:
                settings = replace(settings, workers=args.workers)
            if args.plain_http:
                settings = replace(settings, plain_http=True)
        from softhsm_py.rest.server import serve

        serve(settings, log_level=args.log_level, access_log=args.access_log)
    except ConfigError as exc:
        raise CliError(str(exc)) from None
