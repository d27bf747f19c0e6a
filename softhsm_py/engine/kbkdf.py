"""NIST SP 800-108 key-based KDFs in the three modes PKCS#11 3.0 offers (2.42): counter,
feedback and double pipeline, over any PRF the caller supplies (HMAC, CMAC).

PKCS#11 describes the PRF input as an ordered list of data fields, which this module feeds in
order on every iteration:

  ITERATION   counter mode: the counter i in the given format; feedback mode: K(i-1) (K(0) = the
              IV); double pipeline: A(i)
  COUNTER     feedback and double pipeline only: the optional counter i
  DKM_LENGTH  L, the length of the derived keying material, in the given format
  BYTE_ARRAY  the bytes (label, separator, context, ...)

Several keys may be derived at once; each takes whole PRF outputs ("segments") of the key stream,
so no two keys share bytes of one PRF output (PKCS#11 3.0). A field list that breaks the spec's
rules for its mode is MechanismParamInvalid. Plain values only: no cryptography here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from softhsm_py import errors
from softhsm_py.constants import DkmLengthMethod, PrfDataType

ITERATION, COUNTER = PrfDataType.ITERATION_VARIABLE, PrfDataType.OPTIONAL_COUNTER
DKM_LENGTH, BYTE_ARRAY = PrfDataType.DKM_LENGTH, PrfDataType.BYTE_ARRAY
SUM_OF_KEYS, SUM_OF_SEGMENTS = DkmLengthMethod.SUM_OF_KEYS, DkmLengthMethod.SUM_OF_SEGMENTS
COUNTER_MODE, FEEDBACK_MODE, PIPELINE_MODE = "counter", "feedback", "pipeline"
COUNTER_WIDTHS = frozenset({8, 16, 24, 32})
DKM_WIDTHS = frozenset(range(8, 65, 8))
MAX_KEY_LEN = (1 << 32) - 1


class CounterFormat:
    """CK_SP800_108_COUNTER_FORMAT (read-only by convention)."""

    __slots__ = ("bits", "little_endian")

    def __init__(self, little_endian: bool, bits: int) -> None:
        self.little_endian, self.bits = little_endian, bits


class DkmFormat:
    """CK_SP800_108_DKM_LENGTH_FORMAT."""

    __slots__ = ("bits", "little_endian", "method")

    def __init__(self, method: int, little_endian: bool, bits: int) -> None:
        self.method, self.little_endian, self.bits = method, little_endian, bits


# One data field: (type, value). ITERATION: CounterFormat (counter mode) or None; COUNTER:
# CounterFormat; DKM_LENGTH: DkmFormat; BYTE_ARRAY: bytes.
Field = tuple[int, Any]


class Mac(Protocol):
    def update(self, data: bytes) -> None: ...
    def finalize(self) -> bytes: ...


def _encode(value: int, bits: int, little_endian: bool) -> bytes:
    # Wider values are cut to the field, as NSS and kryoptic do (only L can overflow it).
    return (value % (1 << bits)).to_bytes(bits // 8, "little" if little_endian else "big")


def _check(mode: str, fields: Sequence[Field]) -> int:
    """Validate the field list for ``mode``; return r, the width of the counter in bits."""
    counts: dict[int, int] = {ITERATION: 0, COUNTER: 0, DKM_LENGTH: 0}
    r = 32
    for kind, value in fields:
        if kind == BYTE_ARRAY:
            if not isinstance(value, bytes):
                raise errors.MechanismParamInvalid()
            continue
        if kind not in counts:
            raise errors.MechanismParamInvalid()
        counts[kind] += 1
        if kind == DKM_LENGTH:
            if not isinstance(value, DkmFormat) or value.bits not in DKM_WIDTHS:
                raise errors.MechanismParamInvalid()
            if value.method not in (SUM_OF_KEYS, SUM_OF_SEGMENTS):
                raise errors.MechanismParamInvalid()
            continue
        counter_mode_iteration = kind == ITERATION and mode == COUNTER_MODE
        if kind == COUNTER or counter_mode_iteration:
            if not isinstance(value, CounterFormat) or value.bits not in COUNTER_WIDTHS:
                raise errors.MechanismParamInvalid()
            r = value.bits
        elif value is not None:  # the chaining value of feedback / pipeline mode has no format
            raise errors.MechanismParamInvalid()
    if counts[ITERATION] != 1 or counts[DKM_LENGTH] > 1 or counts[COUNTER] > 1:
        raise errors.MechanismParamInvalid()
    if mode == COUNTER_MODE and counts[COUNTER]:
        raise errors.MechanismParamInvalid()  # counter mode's counter is the iteration variable
    return r


def derive(
    mode: str,
    new_prf: Callable[[], Mac],
    prf_len: int,
    fields: Sequence[Field],
    key_lengths: Sequence[int],
    iv: bytes = b"",
) -> list[bytes]:
    """The value of each key (of ``key_lengths`` bytes) derived with the PRF ``new_prf`` makes."""
    if mode not in (COUNTER_MODE, FEEDBACK_MODE, PIPELINE_MODE):
        raise errors.MechanismInvalid()
    r = _check(mode, fields)
    if not key_lengths or any(not 0 < n <= MAX_KEY_LEN for n in key_lengths):
        raise errors.KeySizeRange()
    segments = [-(-n // prf_len) for n in key_lengths]  # PRF outputs per key, rounded up
    n = sum(segments)
    if n >= 1 << r:
        raise errors.MechanismParamInvalid()  # SP 800-108: n <= 2^r - 1
    bits_of = {SUM_OF_KEYS: 8 * sum(key_lengths), SUM_OF_SEGMENTS: 8 * n * prf_len}

    def run(i: int, chained: bytes, skip_counter: bool = False) -> bytes:
        prf = new_prf()
        for kind, value in fields:
            if kind == BYTE_ARRAY:
                prf.update(value)
            elif kind == ITERATION:
                prf.update(_encode(i, value.bits, value.little_endian) if mode == COUNTER_MODE else chained)
            elif kind == COUNTER:
                if not skip_counter:
                    prf.update(_encode(i, value.bits, value.little_endian))
            else:
                prf.update(_encode(bits_of[value.method], value.bits, value.little_endian))
        return prf.finalize()

    stream: list[bytes] = []
    if mode == COUNTER_MODE:
        stream = [run(i, b"") for i in range(1, n + 1)]
    elif mode == FEEDBACK_MODE:
        k = bytes(iv)
        for i in range(1, n + 1):
            k = run(i, k)
            stream.append(k)
    else:  # double pipeline: A(0) is the fixed input (the fields without A and the counter)
        a = b""
        for i in range(1, n + 1):
            if i == 1:
                a = run(i, b"", skip_counter=True)
            else:
                prf = new_prf()
                prf.update(a)
                a = prf.finalize()
            stream.append(run(i, a))
    out, pos = [], 0
    for length, count in zip(key_lengths, segments, strict=True):
        out.append(b"".join(stream[pos : pos + count])[:length])
        pos += count
    return out
