"""DTOs of the "Service Information" tag and the random route (TSB.md 3.2, 3.6)."""

from __future__ import annotations

from pydantic import Field

from softhsm_py.rest.models.common import TsbResponse


class VersionInfoDto(TsbResponse):
    version: str = Field(serialization_alias="Version", alias="Version")


class LicenseInformationDto(TsbResponse):
    clientFlags: list[str]


class KeyStoreStatisticsDto(TsbResponse):
    keyStoreStatistics: str


class HsmLogDto(TsbResponse):
    log: str


class GenerateRandomDto(TsbResponse):
    random: str


class ReasonBasedExceptionDto(TsbResponse):
    """Every error body."""

    errorCode: int
    reason: str
    message: str
