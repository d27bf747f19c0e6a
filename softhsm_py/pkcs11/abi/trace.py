"""Call tracing: every PKCS#11 call, decoded, one line each (``trace_file`` or ``$SOFTHSM_PY_TRACE``).

A line reads like pkcs11-spy's log, condensed::

    2025-01-02T03:04:05.678901Z pid=4242 tid=4243 C_SignInit(hSession=1, pMechanism=CKM_ECDSA,
    hKey=2) = CKR_OK 31.2us

(one line in the file).

Arguments are decoded from what the entry itself read through the marshal (``TracingMarshal``
records templates, attribute types and answers as it hands them over), from the integer
arguments, and, once the call is done, from the handles and lengths it wrote back. The only read of
caller memory of the trace's own is the CK_MECHANISM header (type and parameter length, never the
parameter), after the NULL check the entry makes too. Never written: PINs or their lengths, data,
key material, mechanism parameters, attribute values other than a short list of public facts
(class, key type, flags, sizes, label, ID, curve): any other attribute shows only its length.

``softhsm-py trace-summary`` (``cli/trace_summary.py``) reads these lines back.
"""

from __future__ import annotations

import inspect
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from softhsm_py.constants import Attribute, ObjectClass, ReturnValue, UserType
from softhsm_py.log import get_logger
from softhsm_py.logfiles import open_append
from softhsm_py.pkcs11.abi.marshal import Marshal

log = get_logger()

# Never shown, not even as a length: PINs and their lengths.
HIDDEN = frozenset({"pPin", "ulPinLen", "pOldPin", "ulOldLen", "pNewPin", "ulNewLen"})
TEMPLATES = ("pTemplate", "pPublicKeyTemplate", "pPrivateKeyTemplate")
MAX_TEXT = 64

A = Attribute
_BOOLS = frozenset(
    {
        A.TOKEN, A.PRIVATE, A.MODIFIABLE, A.COPYABLE, A.DESTROYABLE, A.SENSITIVE, A.EXTRACTABLE,
        A.ENCRYPT, A.DECRYPT, A.WRAP, A.UNWRAP, A.SIGN, A.SIGN_RECOVER, A.VERIFY, A.VERIFY_RECOVER,
        A.DERIVE, A.LOCAL, A.ALWAYS_SENSITIVE, A.NEVER_EXTRACTABLE, A.ALWAYS_AUTHENTICATE,
        A.TRUSTED, A.WRAP_WITH_TRUSTED,
    }
)  # fmt: skip
_NUMBERS = frozenset({A.VALUE_LEN, A.MODULUS_BITS})
_TEXTS = frozenset({A.LABEL, A.APPLICATION})
_HEX = frozenset({A.ID, A.EC_PARAMS, A.PUBLIC_EXPONENT})


def _enum_name(enum: Any, prefix: str, value: int) -> str:
    try:
        return f"{prefix}{enum(value).name}"
    except ValueError:
        return f"0x{value:x}"


def rv_name(rv: int) -> str:
    return _enum_name(ReturnValue, "CKR_", rv)


def mechanism_name(value: int) -> str:
    from softhsm_py.constants_mechanisms import Mechanism

    return _enum_name(Mechanism, "CKM_", value)


def _named_ulong(kind: int, value: int) -> str:
    from softhsm_py.constants_more import CertificateType, KeyType

    if kind == A.CLASS:
        return _enum_name(ObjectClass, "CKO_", value)
    if kind == A.KEY_TYPE:
        return _enum_name(KeyType, "CKK_", value)
    if kind == A.CERTIFICATE_TYPE:
        return _enum_name(CertificateType, "CKC_", value)
    if kind == A.KEY_GEN_MECHANISM:
        return mechanism_name(value)
    return str(value)


def _text(raw: bytes) -> str:
    text = raw[:MAX_TEXT].decode("utf-8", "backslashreplace")
    text = text.replace("\\", "\\\\").replace('"', '\\"')
    text = "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in text)
    return f'"{text}"' + ("..." if len(raw) > MAX_TEXT else "")


def attribute(kind: int, value: Any) -> str:
    """One template entry: a public fact with its value, anything else with its length only."""
    name = _enum_name(Attribute, "CKA_", kind)
    if isinstance(value, list):  # a template attribute (CKA_WRAP_TEMPLATE, ...)
        return f"{name}={template(value)}"
    raw = bytes(value)
    if kind in _BOOLS and len(raw) == 1:
        return f"{name}={'true' if raw[0] else 'false'}"
    if (kind in _NUMBERS or kind in (A.CLASS, A.KEY_TYPE, A.CERTIFICATE_TYPE, A.KEY_GEN_MECHANISM)) and len(
        raw
    ) == 8:
        return f"{name}={_named_ulong(kind, int.from_bytes(raw, sys.byteorder))}"
    if kind in _TEXTS:
        return f"{name}={_text(raw)}"
    if kind in _HEX and len(raw) <= MAX_TEXT:
        return f"{name}={raw.hex()}"
    return f"{name}({len(raw)})"


def template(entries: Sequence[tuple[int, Any]]) -> str:
    return "[" + ", ".join(attribute(kind, value) for kind, value in entries) + "]"


# ----------------------------------------------------------------------------------- recording


class Record:
    """What the entry of one call handed over through the marshal."""

    __slots__ = ("answers", "templates", "types")

    def __init__(self) -> None:
        self.templates: list[Any] = []  # template_in results, in the order read
        self.types: list[int] | None = None  # types_in (C_GetAttributeValue)
        self.answers: list[str] | None = None  # attributes_out: per entry a length or why not


class _Current(threading.local):
    record: Record | None = None


CURRENT = _Current()


class TracingMarshal(Marshal):
    """The marshal of a traced binding: the same reads and writes, noted in ``CURRENT.record``."""

    def template_in(self, ptr: Any, count: int, depth: int = 0) -> Any:
        out = super().template_in(ptr, count, depth)
        record = CURRENT.record
        if depth == 0 and record is not None:
            record.templates.append(out)
        return out

    def types_in(self, ptr: Any, count: int) -> list[int]:
        out = super().types_in(ptr, count)
        record = CURRENT.record
        if record is not None:
            record.types = out
        return out

    def attributes_out(self, ptr: Any, count: int, answers: Sequence[Any]) -> None:
        record = CURRENT.record
        if record is not None:
            record.answers = [_answer(a) for a in answers]
        super().attributes_out(ptr, count, answers)


def _answer(answer: Any) -> str:
    if isinstance(answer, Exception):
        return getattr(answer, "rv", ReturnValue.GENERAL_ERROR).name.lower()
    return str(len(answer))


# ----------------------------------------------------------------------------------- formatting


class Signature:
    """The parameters of one entry, classified once (at install, not per call)."""

    __slots__ = ("mechanism_at", "name", "params")

    def __init__(self, name: str, fn: Callable[..., None]) -> None:
        self.name = name
        self.params = [p for p in inspect.signature(fn).parameters][2:]  # after (lib, m)
        self.mechanism_at = self.params.index("pMechanism") if "pMechanism" in self.params else None


def peek_mechanism(ffi: Any, ptr: Any) -> tuple[int, int] | None:
    """(type, ulParameterLen) of a caller's CK_MECHANISM; None for NULL. The header only."""
    if ptr == ffi.NULL:
        return None
    mech = ffi.cast("CK_MECHANISM *", ptr)
    return int(mech.mechanism), int(mech.ulParameterLen)


def _written(ffi: Any, ptr: Any) -> str | None:
    """A CK_ULONG the call wrote back through ``ptr`` (the entry checked it was not NULL)."""
    if ptr == ffi.NULL:
        return None
    return str(int(ffi.cast("CK_ULONG *", ptr)[0]))


def arguments(
    ffi: Any, sig: Signature, args: Sequence[Any], record: Record, rv: int, mech: tuple[int, int] | None
) -> str:
    """The decoded argument list of one call."""
    out: list[str] = []
    templates = iter(record.templates)
    done = rv == 0
    sized = done or rv == int(ReturnValue.BUFFER_TOO_SMALL)
    for name, value in zip(sig.params, args, strict=False):
        if name in HIDDEN:
            continue
        if name == "pMechanism":
            if mech is None:
                out.append("pMechanism=NULL")
            else:
                shown = mechanism_name(mech[0])
                out.append(f"pMechanism={shown}" + (f"{{param={mech[1]}}}" if mech[1] else ""))
        elif name in TEMPLATES:
            if sig.name == "C_GetAttributeValue":
                types = record.types or []
                answers = record.answers or ["?"] * len(types)
                shown = ", ".join(
                    f"{_enum_name(Attribute, 'CKA_', t)}({a})" for t, a in zip(types, answers, strict=False)
                )
                out.append(f"{name}=[{shown}]")
            else:
                entries = next(templates, None)
                out.append(f"{name}={template(entries)}" if entries is not None else f"{name}=?")
        elif name == "phObject" and sig.name == "C_FindObjects":  # an array, *pulObjectCount long
            if done and value != ffi.NULL:
                count = int(ffi.cast("CK_ULONG *", args[sig.params.index("pulObjectCount")])[0])
                found = [str(int(value[i])) for i in range(min(count, 16))]
                out.append(f"phObject=[{', '.join(found)}{', ...' if count > 16 else ''}]")
        elif name.startswith("ph"):  # an output handle
            written = _written(ffi, value) if done else None
            if written is not None:
                out.append(f"*{name}={written}")
        elif name.startswith("pul"):  # an output length or count
            written = _written(ffi, value) if sized else None
            out.append(
                f"*{name}={written}" if written is not None else f"{name}=NULL" if value == ffi.NULL else ""
            )
        elif isinstance(value, int):
            out.append(f"{name}={_integer(sig.name, name, value)}")
        elif value == ffi.NULL:
            out.append(f"{name}=NULL")
    return ", ".join(part for part in out if part)


def _integer(function: str, name: str, value: int) -> str:
    if name == "userType":
        return _enum_name(UserType, "CKU_", value)
    if name == "type" and function == "C_GetMechanismInfo":
        return mechanism_name(value)
    if name == "flags":
        return f"0x{value:x}"
    return str(value)


# ----------------------------------------------------------------------------------- the file


class Tracer:
    """Appends trace lines to one file, one ``write`` per line (O_APPEND: processes sharing the
    file never interleave within a line)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = open_append(path)
        self._pid = os.getpid()
        self._broken = False

    def line(self, function: str, args: str, rv: int, ns: int) -> None:
        now = time.time()
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1e6):06d}Z"
        text = (
            f"{stamp} pid={os.getpid()} tid={threading.get_native_id()} {function}({args})"
            f" = {rv_name(rv)} {ns / 1000:.1f}us\n"
        )
        try:
            os.write(self._fd, text.encode("utf-8", "backslashreplace"))
            self._broken = False
        except OSError as exc:
            if not self._broken:  # once per outage
                log.warning("trace file %s: cannot write (%s)", self.path, exc.strerror or type(exc).__name__)
            self._broken = True

    def close(self) -> None:
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)


def traced(tracer: Tracer, ffi: Any, sig: Signature, inner: Callable[..., int]) -> Callable[..., int]:
    """``inner`` (a guarded entry, maybe with faults) with a trace line written per call."""
    perf = time.perf_counter_ns
    at = sig.mechanism_at

    def call(*args: Any) -> int:
        record = CURRENT.record = Record()
        mech = None
        if at is not None:
            try:
                mech = peek_mechanism(ffi, args[at])
            except Exception:  # the entry will say what is wrong with it
                mech = None
        start = perf()
        rv = inner(*args)
        ns = perf() - start
        CURRENT.record = None
        try:
            tracer.line(sig.name, arguments(ffi, sig, args, record, rv, mech), rv, ns)
        except Exception:  # a trace must never fail the call it traces
            log.exception("tracing %s", sig.name)
        return rv

    call.__name__ = sig.name
    return call
