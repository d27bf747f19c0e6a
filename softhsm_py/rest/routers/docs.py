"""OpenAPI at ``/v3/api-docs`` and Swagger UI at ``/swagger-ui/index.html``, where springdoc puts
them on the TSB. The UI's files come from the installed ``fastapi-offline`` package (Swagger UI 5,
which renders OpenAPI 3.1): nothing is fetched from a CDN, the machines are offline."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse

router = APIRouter(include_in_schema=False)

ASSETS = {
    "swagger-ui-bundle.js": "application/javascript",
    "swagger-ui.css": "text/css",
    "favicon.png": "image/png",
}

INDEX = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<title>softhsm-py TSB API - Swagger UI</title>
<link rel="stylesheet" type="text/css" href="swagger-ui.css">
<link rel="icon" type="image/png" href="favicon.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="swagger-ui-bundle.js" charset="UTF-8"></script>
<script>
window.onload = function () {
  window.ui = SwaggerUIBundle({
    url: %s,
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    validatorUrl: null
  });
};
</script>
</body>
</html>
"""


def assets_dir() -> Path:
    return Path(str(resources.files("fastapi_offline") / "static"))


@router.get("/v3/api-docs")
def api_docs(request: Request) -> JSONResponse:
    return JSONResponse(request.app.openapi())


@router.get("/v3/api-docs/swagger-config")
def swagger_config() -> dict[str, Any]:
    return {"configUrl": "/v3/api-docs/swagger-config", "url": "/v3/api-docs", "validatorUrl": ""}


@router.get("/swagger-ui/index.html")
def swagger_index() -> HTMLResponse:
    return HTMLResponse(INDEX % json.dumps("/v3/api-docs"))


@router.get("/swagger-ui.html")
@router.get("/swagger-ui/")
@router.get("/swagger-ui")
def swagger_redirect() -> RedirectResponse:
    return RedirectResponse("/swagger-ui/index.html", status_code=302)


@router.get("/swagger-ui/{asset}")
def swagger_asset(asset: str) -> FileResponse:
    media = ASSETS.get(asset)
    if media is None:
        from starlette.exceptions import HTTPException

        raise HTTPException(status_code=404)
    return FileResponse(assets_dir() / asset, media_type=media)
