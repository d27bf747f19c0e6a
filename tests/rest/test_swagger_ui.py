"""The Swagger UI page, rendered by a real headless Chromium against a real server (dev mode:
plain HTTP on loopback), shows the TSB's tags and routes. Everything it loads comes from the
server itself: the machines are offline."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import Server, start_server

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def dev_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(tmp_path_factory.mktemp("swagger"), dev=True)
    try:
        yield server
    finally:
        server.stop()


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("CI needs Debian's chromium (scripts/setup-rest.sh)")
        pytest.skip("needs Debian's chromium (scripts/setup-rest.sh)")
    profile = tmp_path / "profile"
    profile.mkdir()
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=20000", *args],
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_swagger_ui_renders_the_routes(dev_server: Server, tmp_path: Path) -> None:
    url = f"{dev_server.url}/swagger-ui/index.html"
    proc = chromium(tmp_path, "--dump-dom", url)
    dom = proc.stdout
    assert proc.returncode == 0, proc.stderr[-2000:]
    # rendered by Swagger UI's JavaScript from /v3/api-docs, not present in the static HTML
    assert 'class="swagger-ui' in dom, dom[:2000]
    for tag in ("Keys", "Synchronous Key Operations", "Certificate", "Service Information"):
        assert f'data-tag="{tag}"' in dom, tag
    for path in (
        "/v1/key",
        "/v1/synchronousSign",
        "/v1/encrypt",
        "/v1/generateRandom/{length}",
        "/v1/versionInfo",
    ):
        assert f'data-path="{path}"' in dom, path
    for operation in ("createKey", "synchronousSign", "getKeyAttestationAsFileDownload"):
        assert operation in dom, operation


def test_swagger_ui_screenshot(dev_server: Server, tmp_path: Path) -> None:
    shot = tmp_path / "swagger.png"
    proc = chromium(
        tmp_path, "--window-size=1280,2000", f"--screenshot={shot}", f"{dev_server.url}/swagger-ui/index.html"
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000


def test_openapi_document(dev_server: Server) -> None:
    with dev_server.client() as c:
        spec = c.get("/v3/api-docs").json()
        config = c.get("/v3/api-docs/swagger-config").json()
        redirect = c.get("/swagger-ui.html", follow_redirects=False)
    assert config["url"] == "/v3/api-docs"
    assert redirect.status_code == 302 and redirect.headers["location"] == "/swagger-ui/index.html"
    ops = {
        op["operationId"]: (method.upper(), path)
        for path, item in spec["paths"].items()
        for method, op in item.items()
    }
    assert ops["createKey"] == ("POST", "/v1/key")
    assert ops["getKeyAttributesWithKeyPassword"] == ("POST", "/v1/key/attributes")
    assert ops["synchronousSign"] == ("POST", "/v1/synchronousSign")
    assert ops["verifySignature"] == ("POST", "/v1/verify")
    assert ops["synchronousUnwrap"] == ("POST", "/v1/synchronousUnwrap")
    assert ops["getHsmLog"] == ("GET", "/v1/hsm/log")
    schemas = spec["components"]["schemas"]
    for name in (
        "CreateKeyDto",
        "SignedKeyAttributesDto",
        "SignedSynchronousSignRequestDto",
        "EncryptRequestDto",
    ):
        assert name in schemas
    assert schemas["CreateKeyDto"]["additionalProperties"] is False
