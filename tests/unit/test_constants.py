"""softhsm_py.constants against the tests' own transcription of the PKCS#11 3.0 specification
(support.constants): every name the tests know has the same value in the package. The ABI tests
use the transcription, so a wrong value in either one fails here, not as a puzzle elsewhere."""

from __future__ import annotations

from enum import Enum

import pytest

import softhsm_py.constants as package
import support.constants as spec

OWN = {
    name
    for name, value in vars(spec).items()
    if isinstance(value, type) and issubclass(value, Enum) and value.__module__ == spec.__name__
}
SHARED = sorted(name for name in OWN if hasattr(package, name))


def test_the_enums_shared_are_the_3_0_ones() -> None:
    """Only the 3.2 and NSS enums have no namesake in the package (it is a 3.0 module)."""
    assert OWN - set(SHARED) == {"Attribute32", "NssAttribute", "NssObjectClass", "NssTrust"}


@pytest.mark.parametrize("name", SHARED)
def test_same_names_same_values(name: str) -> None:
    ours, theirs = getattr(spec, name), getattr(package, name)
    wrong = {
        member.name: (int(member), int(theirs[member.name]) if member.name in theirs.__members__ else None)
        for member in ours
        if member.name not in theirs.__members__ or int(theirs[member.name]) != int(member)
    }
    assert not wrong, f"{name}: (spec, package) {wrong}"


def test_module_level_values() -> None:
    assert spec.UNAVAILABLE_INFORMATION == package.UNAVAILABLE_INFORMATION
    assert spec.DONT_BLOCK == package.DONT_BLOCK
