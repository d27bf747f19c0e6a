"""The one loader for known-answer files.

Our files (``tests/vectors/data``) are NIST-style: ``Name = hex-or-text`` lines, a blank line
between cases, ``#`` comments. ``cases(name)`` gives them as pytest params; ``external(path)``
finds a file of the optional ``cryptography_vectors`` package (tests skip without it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

DATA = Path(__file__).resolve().parents[1] / "vectors" / "data"


def parse(text: str) -> list[dict[str, str]]:
    records: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#"):
            continue
        if not line:
            if current:
                records.append(current)
                current = {}
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ValueError(f"not a 'key = value' line: {line!r}")
        current[key.strip()] = value.strip()
    if current:
        records.append(current)
    return records


def load(name: str) -> list[dict[str, str]]:
    return parse((DATA / name).read_text())


def cases(name: str) -> list[Any]:
    """pytest.param per record, id'd by file and position, for ``@pytest.mark.parametrize``."""
    return [pytest.param(r, id=f"{Path(name).stem}-{i}") for i, r in enumerate(load(name))]


def h(value: str) -> bytes:
    return bytes.fromhex(value)


def external(relpath: str) -> Path:
    """A file of cryptography_vectors (same major as cryptography); skip when not installed."""
    vectors = pytest.importorskip("cryptography_vectors")
    path = Path(vectors.__file__).parent / relpath
    if not path.exists():
        pytest.skip(f"{relpath} not in this cryptography_vectors")
    return path


def parse_cavp(text: str) -> list[dict[str, str]]:
    """CAVP .rsp files: [section] lines apply to the cases below; a repeated key starts a case."""
    records: list[dict[str, str]] = []
    current: dict[str, str] = {}
    section: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            key, _, value = line.strip("[]").partition("=")
            section[key.strip()] = value.strip()
            continue
        key, _, value = line.partition("=")
        key = key.strip()
        if key in current:
            records.append({**section, **current})
            current = {}
        current[key] = value.strip()
    if current:
        records.append({**section, **current})
    return records


def kat_records(path: Path, limit: int | None = None) -> list[dict[str, str]]:
    """The first ``limit`` records of a NIST/ACVP-style ``.rsp`` file whose records start with
    ``count = N`` and have no blank line between them (cryptography_vectors' ML-KEM / ML-DSA)."""
    out: list[dict[str, str]] = []
    current: dict[str, str] = {}
    with path.open() as lines:
        for raw in lines:
            key, sep, value = raw.strip().partition(" = ")
            if not sep:
                continue
            if key == "count" and current:
                out.append(current)
                current = {}
                if limit is not None and len(out) >= limit:
                    return out
            current[key] = value
    if current and (limit is None or len(out) < limit):
        out.append(current)
    return out


def cavp_records(text: str) -> list[dict[str, str]]:
    """The records of a CAVP .rsp file whose records start at COUNT, each with the [key=value]
    headers of its own section (``parse_cavp`` gives a section's last record the next section's
    headers there). Indented lines (traces of intermediate values) are skipped."""
    records: list[dict[str, str]] = []
    section: dict[str, str] = {}
    current: dict[str, str] = {}
    for raw in text.splitlines():
        if raw.startswith(("\t", " ")):
            continue
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            if current:
                records.append({**section, **current})
                current = {}
            key, _, value = line.strip("[]").partition("=")
            section[key.strip()] = value.strip()
            continue
        key, _, value = (part.strip() for part in line.partition("="))
        if key == "COUNT" and current:
            records.append({**section, **current})
            current = {}
        current[key] = value
    if current:
        records.append({**section, **current})
    return records
