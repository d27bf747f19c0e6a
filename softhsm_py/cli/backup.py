"""``softhsm-py backup``, ``restore`` and ``clone``: a partition into a file and back, or from one
store to another (SQLite to PostgreSQL and back). See ``store/backup.py`` for the format.

They work on the store directly (no PKCS#11 session): a backup needs no PIN (it copies sealed
rows), a restore or clone needs the partition's SO PIN (it re-binds the objects to their new slot).
Passphrases and PINs come from an option, an environment variable or a prompt, and are never
echoed or logged.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Callable
from pathlib import Path

from softhsm_py.config import Config, ConfigError, load_config
from softhsm_py.store import SealedStore, SlotTaken, open_store
from softhsm_py.store.backup import DEFAULT_COST, BackupError, clone, make_backup, restore_backup

Add = Callable[[str, Callable[[argparse.Namespace], None], str], argparse.ArgumentParser]
PinOptions = Callable[[argparse.ArgumentParser, str, str], None]


def _cli_error(message: str) -> Exception:
    from softhsm_py.cli.main import CliError  # main imports this module: import late

    return CliError(message)


def _config(path: str | None = None) -> Config:
    try:
        if path is None:
            return load_config()
        return load_config({**os.environ, "SOFTHSM_PY_CONF": path})
    except ConfigError as exc:
        raise _cli_error(str(exc)) from None


def _open(config: Config) -> SealedStore:
    from softhsm_py.log import configure

    configure(config)
    return open_store(config.token_dir, kdf_cost=config.kdf_cost, location=config.store)


def _secret(value: str | None, env: str | None, prompt: str, *, confirm: bool = False) -> bytes:
    if value is not None:
        return value.encode()
    if env is not None:
        if env not in os.environ:
            raise _cli_error(f"environment variable {env} is not set")
        return os.environ[env].encode()
    if not sys.stdin.isatty():
        raise _cli_error(
            f"{prompt} needed: give it as an option, through an environment variable or a terminal"
        )
    first = getpass.getpass(f"{prompt}: ")
    if confirm and getpass.getpass(f"{prompt} (again): ") != first:
        raise _cli_error(f"the two {prompt}s differ")
    return first.encode()


def _passphrase(args: argparse.Namespace, *, confirm: bool = False) -> bytes:
    return _secret(args.passphrase, args.passphrase_env, "backup passphrase", confirm=confirm)


def cmd_backup(args: argparse.Namespace) -> None:
    out = Path(args.out)
    passphrase = _passphrase(args, confirm=True)
    with _open(_config()) as store:
        try:
            data = make_backup(store, args.slot, passphrase, cost=args.kdf_cost)
        except BackupError as exc:
            raise _cli_error(str(exc)) from None
        record = store.token(args.slot)
    try:  # 0600, and never over an existing file
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600)
    except FileExistsError:
        raise _cli_error(f"{out} exists: choose another name") from None
    except OSError as exc:
        raise _cli_error(f"cannot write {out}: {exc.strerror}") from None
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    label = record.label if record is not None else "?"
    print(f"backed up the token '{label}' of slot {args.slot} to {out} ({len(data):,} bytes)")


def cmd_restore(args: argparse.Namespace) -> None:
    try:
        data = Path(args.input).read_bytes()
    except OSError as exc:
        raise _cli_error(f"cannot read {args.input}: {exc.strerror}") from None
    passphrase = _passphrase(args)
    so_pin = _secret(args.so_pin, args.so_pin_env, "SO PIN")
    with _open(_config()) as store:
        try:
            record = restore_backup(store, args.slot, data, passphrase, so_pin)
        except (BackupError, SlotTaken) as exc:
            raise _cli_error(str(exc)) from None
    print(f"restored the token '{record.label}' (serial {record.serial}) into slot {record.slot_id}")


def cmd_clone(args: argparse.Namespace) -> None:
    so_pin = _secret(args.so_pin, args.so_pin_env, "SO PIN")
    target_config = _config(args.to_config)
    with _open(_config()) as source, _open(target_config) as target:
        to_slot = args.slot if args.to_slot is None else args.to_slot
        try:
            record = clone(source, args.slot, target, to_slot, so_pin)
        except (BackupError, SlotTaken) as exc:
            raise _cli_error(str(exc)) from None
    print(
        f"cloned the token '{record.label}' (serial {record.serial}) to slot {to_slot} of {target.location}"
    )


def add_commands(add: Add, pin_options: PinOptions) -> None:
    def passphrase_options(sp: argparse.ArgumentParser) -> None:
        sp.add_argument(
            "--passphrase", help="the backup passphrase (visible to other users: prefer --passphrase-env)"
        )
        sp.add_argument(
            "--passphrase-env", metavar="VAR", help="read the backup passphrase from this variable"
        )

    sp = add(
        "backup", cmd_backup, "write a token's objects and PIN wraps to an encrypted file (one snapshot)"
    )
    sp.add_argument("--slot", type=int, required=True)
    sp.add_argument("--out", required=True, metavar="FILE", help="the backup file to create")
    sp.add_argument(
        "--kdf-cost", type=int, default=DEFAULT_COST, choices=range(15, 23), metavar="15..22",
        help=f"log2 of scrypt's n for the passphrase (default {DEFAULT_COST})",
    )  # fmt: skip
    passphrase_options(sp)
    sp = add("restore", cmd_restore, "restore a backup into an empty slot (needs the token's SO PIN)")
    sp.add_argument("--slot", type=int, required=True, help="the empty slot to restore into")
    sp.add_argument("--in", dest="input", required=True, metavar="FILE", help="the backup file")
    passphrase_options(sp)
    pin_options(sp, "SO", "so-pin")
    sp = add("clone", cmd_clone, "copy a token into an empty slot of another store (needs its SO PIN)")
    sp.add_argument("--slot", type=int, required=True)
    sp.add_argument("--to-config", required=True, metavar="FILE", help="the other store's softhsm-py.toml")
    sp.add_argument("--to-slot", type=int, help="the slot there (default: the same)")
    pin_options(sp, "SO", "so-pin")
