"""The ``softhsm-py`` command: manage tokens and find the module without a PKCS#11 host.

It drives the same API the module's entry points use, in this process. PINs come from an option,
an environment variable (``--so-pin-env``/``--pin-env``) or a prompt; they are never echoed or logged.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
import sysconfig
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from softhsm_py import errors
from softhsm_py.config import ConfigError, load_config, render
from softhsm_py.constants import SessionFlag, TokenFlag, UserType
from softhsm_py.core import sessions, tokens
from softhsm_py.core.runtime import Library
from softhsm_py.pkcs11 import general, slots


class CliError(Exception):
    """A user error: printed as one line, exit status 1."""


def module_path() -> Path:
    """The built PKCS#11 library inside the installed package."""
    here = Path(__file__).resolve().parent.parent  # the package: softhsm_py/cli/ -> softhsm_py/
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
    exact = here / f"_native{suffix}"
    if exact.is_file():
        return exact
    found = sorted(here.glob("_native*.so"))
    if not found:
        raise CliError("the module is not built: run 'pip install .' (or 'python build.py' in a checkout)")
    return found[0]


@contextmanager
def running() -> Iterator[Library]:
    lib = Library()
    try:
        general.initialize(lib, None)
    except errors.GeneralError:
        # initialize logged the reason; repeat it here where the user is looking
        try:
            load_config()
        except ConfigError as exc:
            raise CliError(str(exc)) from None
        raise
    try:
        yield lib
    finally:
        general.finalize(lib)


def read_pin(value: str | None, env: str | None, prompt: str) -> bytes:
    if value is not None:
        return value.encode()
    if env is not None:
        if env not in os.environ:
            raise CliError(f"environment variable {env} is not set")
        return os.environ[env].encode()
    if not sys.stdin.isatty():
        raise CliError(
            f"{prompt} needed: give it as an option, through an environment variable or a terminal"
        )
    return getpass.getpass(f"{prompt}: ").encode()


def cmd_module_path(args: argparse.Namespace) -> None:
    print(module_path())


def cmd_show_config(args: argparse.Namespace) -> None:
    from softhsm_py.rest import config as rest_config

    try:
        config = load_config()
        rest = rest_config.render(rest_config.load(config))
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    print(render(config), end="")
    print(rest, end="")


def cmd_init_token(args: argparse.Namespace) -> None:
    so_pin = read_pin(args.so_pin, args.so_pin_env, "SO PIN")
    user_pin = None
    if args.pin is not None or args.pin_env is not None:
        user_pin = read_pin(args.pin, args.pin_env, "user PIN")
    label = args.label.encode()
    if len(label) > 32:
        raise CliError("the label is longer than 32 bytes")
    with running() as lib:
        slot_id = args.slot if args.slot is not None else slots.get_slot_list(lib, True)[-1]
        slots.init_token(lib, slot_id, so_pin, label.ljust(32, b" "))
        if user_pin is not None:
            handle = sessions.open_session(lib, slot_id, SessionFlag.SERIAL_SESSION | SessionFlag.RW_SESSION)
            sessions.login(lib, handle, UserType.SO, so_pin)
            tokens.init_pin(lib, handle, user_pin)
            sessions.close_session(lib, handle)
        info = slots.get_token_info(lib, slot_id)
    print(f"initialised token '{info.label}' (serial {info.serial}) in slot {slot_id}")


def _flag_names(flags: int) -> str:
    shown = [flag.name.lower() for flag in TokenFlag if flag.name and flags & flag and flag.bit_count() == 1]
    return ", ".join(n for n in shown if n)


def cmd_list_slots(args: argparse.Namespace) -> None:
    with running() as lib:
        for slot_id in slots.get_slot_list(lib, True):
            info = slots.get_token_info(lib, slot_id)
            if info.flags & TokenFlag.TOKEN_INITIALIZED:
                print(
                    f"slot {slot_id}: token '{info.label}' serial {info.serial} [{_flag_names(info.flags)}]"
                )
            else:
                print(f"slot {slot_id}: (empty: C_InitToken here creates a new token)")


def cmd_delete_token(args: argparse.Namespace) -> None:
    so_pin = read_pin(args.so_pin, args.so_pin_env, "SO PIN")
    with running() as lib:
        tokens.delete_token(lib, args.slot, so_pin)
    print(f"deleted the token in slot {args.slot}")


def cmd_list_objects(args: argparse.Namespace) -> None:
    from softhsm_py.cli.listing import list_objects

    pin = None
    if args.pin is not None or args.pin_env is not None:
        pin = read_pin(args.pin, args.pin_env, "user PIN")
    with running() as lib:
        for line in list_objects(lib, args.slot, pin):
            print(line)


def cmd_host_config(args: argparse.Namespace) -> None:
    from softhsm_py.cli.hostconfig import HostConfigError, render

    try:
        print(render(args.host, args.module), end="")
    except HostConfigError as exc:
        raise CliError(str(exc)) from None


def cmd_attestation_root(args: argparse.Namespace) -> None:
    """The installation's attestation root certificate (PEM): what verifiers of key attestations
    trust, as the TSB's verifiers trust Securosys' root."""
    from softhsm_py.core.attestation import root_certificate
    from softhsm_py.engine.x509 import pem

    with running() as lib:
        cert = root_certificate(lib.runtime.config.token_dir)
    sys.stdout.write(pem(cert).decode())


def cmd_trace_summary(args: argparse.Namespace) -> None:
    from softhsm_py.cli.trace_summary import summarize_file

    try:
        sys.stdout.write(summarize_file(Path(args.trace)))
    except OSError as exc:
        raise CliError(f"{args.trace}: {exc.strerror or type(exc).__name__}") from None


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="softhsm-py", description="softhsm-py: a software HSM that speaks PKCS#11"
    )
    sub = p.add_subparsers(dest="command", required=True)

    def add(name: str, fn: Callable[[argparse.Namespace], None], help: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help, description=help)
        sp.set_defaults(fn=fn)
        return sp

    def pin_options(sp: argparse.ArgumentParser, who: str, flag: str) -> None:
        sp.add_argument(f"--{flag}", help=f"the {who} PIN (visible to other users: prefer --{flag}-env)")
        sp.add_argument(
            f"--{flag}-env", metavar="VAR", help=f"read the {who} PIN from this environment variable"
        )

    add("module-path", cmd_module_path, "print the absolute path of the PKCS#11 library")
    add("show-config", cmd_show_config, "print the configuration in effect (SOFTHSM_PY_CONF)")
    sp = add("init-token", cmd_init_token, "initialise a token (the empty slot by default)")
    sp.add_argument("--label", required=True, help="token label, at most 32 bytes")
    sp.add_argument("--slot", type=int, help="slot id (default: the empty slot)")
    pin_options(sp, "SO", "so-pin")
    pin_options(sp, "user", "pin")
    add("list-slots", cmd_list_slots, "list slots and their tokens")
    sp = add("list-objects", cmd_list_objects, "list a token's objects with their pkcs11: URIs")
    sp.add_argument("--slot", type=int, required=True)
    pin_options(sp, "user", "pin")
    from softhsm_py.cli.hostconfig import HOSTS

    sp = add("host-config", cmd_host_config, "print ready-to-use configuration for a PKCS#11 host")
    sp.add_argument("host", choices=sorted(HOSTS))
    sp.add_argument("--module", help="library path to write (default: this installation's)")
    add(
        "attestation-root",
        cmd_attestation_root,
        "print the attestation root certificate (PEM) that key attestations chain to",
    )
    sp = add(
        "trace-summary",
        cmd_trace_summary,
        "summarise a call trace (trace_file): per function, calls, errors and latency percentiles",
    )
    sp.add_argument("trace", help="the trace file")
    sp = add("delete-token", cmd_delete_token, "delete a token and all its objects")
    sp.add_argument("--slot", type=int, required=True)
    pin_options(sp, "SO", "so-pin")
    from softhsm_py.cli import serve  # argparse only; the service loads when the command runs

    serve.add_parser(sub)
    from softhsm_py.cli import auth

    auth.add_commands(add)  # api-key, token, client-cert
    from softhsm_py.cli.backup import add_commands

    add_commands(add, pin_options)  # backup, restore, clone
    from softhsm_py.cli import approver

    approver.add_commands(add)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        args.fn(args)
    except CliError as exc:
        print(f"softhsm-py: {exc}", file=sys.stderr)
        return 1
    except errors.PKCS11Error as exc:
        print(f"softhsm-py: {args.command} failed: CKR_{exc.rv.name}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # e.g. piped into head: not an error worth a traceback
        sys.stderr.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
