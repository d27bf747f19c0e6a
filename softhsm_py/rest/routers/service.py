"""Tag "Service Information" (versionInfo, licenseInfo, keystore statistics, HSM log) and the
random route (TSB.md 3.2, 3.6)."""

from __future__ import annotations

import functools
from importlib import metadata
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request

from softhsm_py.rest.binding import BoundPartition
from softhsm_py.rest.errors import BusinessReason, TsbError
from softhsm_py.rest.models.common import b64encode
from softhsm_py.rest.models.service import (
    GenerateRandomDto,
    HsmLogDto,
    KeyStoreStatisticsDto,
    LicenseInformationDto,
    VersionInfoDto,
)
from softhsm_py.rest.routers.common import ERRORS

router = APIRouter(tags=["Service Information"], responses=ERRORS)
random_router = APIRouter(tags=["Synchronous Key Operations"], responses=ERRORS)

#: the TSB API level these routes follow (TSB.md: release 2.2.0)
TSB_API_VERSION = "2.2.0"
MAX_RANDOM = 65536
LOG_TAIL = 64 * 1024


@functools.cache
def package_version() -> str:
    try:
        return metadata.version("softhsm-py")
    except metadata.PackageNotFoundError:
        return "0"


@router.get("/v1/versionInfo", operation_id="getVersionInfo", response_model=VersionInfoDto)
def version_info() -> Any:
    # SemVer build metadata keeps "2.2.0" first for clients that compare versions
    return VersionInfoDto(Version=f"{TSB_API_VERSION}+softhsm-py.{package_version()}")


@router.get("/v1/licenseInfo", operation_id="getLicenseInfo", response_model=LicenseInformationDto)
def license_info() -> Any:
    # REST_API only: TSB_ENGINE (the approval workflow) comes with the multi-authorization issue
    return LicenseInformationDto(clientFlags=["REST_API"])


@router.get(
    "/v1/keystore/statistics",
    operation_id="getKeyStoreStatistics",
    response_model=KeyStoreStatisticsDto,
)
def keystore_statistics(partition: BoundPartition) -> Any:
    stats = partition.statistics()
    text = ", ".join(f"{key}={value}" for key, value in sorted(stats.items()))
    return KeyStoreStatisticsDto(keyStoreStatistics=f"partition={partition.label}, {text}")


@router.get("/v1/hsm/log", operation_id="getHsmLog", response_model=HsmLogDto)
def hsm_log(request: Request) -> Any:
    """The tail of softhsm-py's own log file (``log_file`` in the configuration), which never
    holds PINs, passwords or key material; empty when logging goes to stderr, and when the
    service serves several partitions: the file is shared, and one tenant's log lines (slots,
    key names in paths, client addresses) are not another's to read."""
    from softhsm_py.config import load_config

    if len(request.app.state.settings.partitions) > 1:
        return HsmLogDto(log="")
    path = load_config().log_file
    if path is None:
        return HsmLogDto(log="")
    try:
        with open(path, "rb") as handle:
            handle.seek(0, 2)
            size = handle.tell()
            handle.seek(max(0, size - LOG_TAIL))
            tail = handle.read()
    except OSError:
        return HsmLogDto(log="")
    return HsmLogDto(log=tail.decode("utf-8", "replace"))


@random_router.get(
    "/v1/generateRandom/{length}",
    operation_id="generateRandom",
    response_model=GenerateRandomDto,
    summary="Random bytes from the partition's generator",
)
def generate_random(
    length: Annotated[int, Path(description="number of bytes")], partition: BoundPartition
) -> Any:
    if not 1 <= length <= MAX_RANDOM:
        raise TsbError(BusinessReason.INVALID_NUMBER_RANGE, f"length must be between 1 and {MAX_RANDOM}")
    return GenerateRandomDto(random=b64encode(partition.random(length)))
