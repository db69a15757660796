"""The interactive API documentation (/docs), served entirely from this site.

FastAPI's default /docs and /redoc load Swagger UI and ReDoc from a CDN, and nothing may
load from a CDN at run time. Swagger UI's files come from the `fastapi-offline` package
(installed by `uv sync`); the page has no inline script, its start-up script is served
from here too, so the pages' strict Content-Security-Policy holds for /docs as well.
ReDoc is left out: it injects inline styles, which that policy refuses.
"""

import html
import json
from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import FastAPI
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from app.accounts.auth import Public
from app.core.http import ERROR_MEANINGS, ErrorBody

SWAGGER_UI_DIR = Path(fastapi_offline.__file__).parent / "static"
ASSETS_PATH = "/docs/assets"


def _docs_page(title: str) -> str:
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{html.escape(title)} - API documentation</title>
<link rel="stylesheet" href="{ASSETS_PATH}/swagger-ui.css">
<link rel="icon" href="{ASSETS_PATH}/favicon.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{ASSETS_PATH}/swagger-ui-bundle.js"></script>
<script src="/docs/start.js"></script>
</body>
</html>
"""


def _start_script(openapi_url: str) -> str:
    config = {
        "url": openapi_url,
        "dom_id": "#swagger-ui",
        "layout": "BaseLayout",
        "deepLinking": True,
        "showExtensions": True,
        "showCommonExtensions": True,
        # The default validator is a public service: no request leaves this site.
        "validatorUrl": None,
        # Keeps the token across page reloads (in this tab's storage only).
        "persistAuthorization": True,
    }
    return (
        f"window.ui = SwaggerUIBundle(Object.assign({json.dumps(config)}, {{\n"
        "  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset]\n"
        "}));\n"
    )


def install_api_docs(app: FastAPI) -> None:
    """Serve /docs from this site. The app must be created with docs_url=None and
    redoc_url=None so that FastAPI's CDN-based pages are not registered."""
    openapi_url = app.openapi_url or "/openapi.json"
    page = _docs_page(app.title)
    script = _start_script(openapi_url)
    app.mount(ASSETS_PATH, StaticFiles(directory=SWAGGER_UI_DIR), name="api-docs-assets")

    @app.get("/docs", include_in_schema=False, dependencies=[Public])
    def api_docs() -> HTMLResponse:
        return HTMLResponse(page)

    @app.get("/docs/start.js", include_in_schema=False, dependencies=[Public])
    def api_docs_start_script() -> Response:
        return Response(script, media_type="text/javascript")


def document_error_responses(app: FastAPI) -> None:
    """Declare in the schema the errors every API operation may answer, from what it
    takes: signed-in operations 401 and 403, ids in the path 404, a body 400 (unreadable),
    changes 409 (the integrity-error handler answers it for any write). Routes declare
    any others themselves (`responses=error_responses(...)`), and those stay as written."""
    build_schema = app.openapi

    def openapi() -> dict[str, Any]:
        schema = build_schema()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        body_schema = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, definition in body_schema.pop("$defs", {}).items():
            components.setdefault(name, definition)
        components.setdefault("ErrorBody", body_schema)
        for path, operations in schema.get("paths", {}).items():
            if not path.startswith("/api/"):
                continue
            for method, operation in operations.items():
                codes: list[int] = []
                if "requestBody" in operation:
                    codes.append(400)
                if operation.get("security"):
                    codes += [401, 403]
                if any(p.get("in") == "path" for p in operation.get("parameters", [])):
                    codes.append(404)
                if method in {"post", "put", "patch", "delete"}:
                    codes.append(409)
                responses = operation.setdefault("responses", {})
                for code in codes:
                    responses.setdefault(
                        str(code),
                        {
                            "description": ERROR_MEANINGS[code],
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/ErrorBody"}
                                }
                            },
                        },
                    )
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
