"""The OpenAPI 3 description of the pages and their write endpoints (``/ui/*``),
served at ``/ui/openapi.json``: a second document beside the JSON API's, so that the
fuzzer (tests/serving/test_schemathesis.py) covers every route of the app.

Pages answer HTML; their errors are the JSON envelope (or an HTML page when the
browser prefers HTML). ``docs/security.md`` explains the credentials named here.
"""

from __future__ import annotations

from typing import Any

from cratedig import __version__
from cratedig.serving.openapi_schemas import ID, SCHEMAS

_ERROR = {"$ref": "#/components/schemas/Error"}
_WORDS = {
    400: "Invalid input (the field is named)",
    401: "A read credential is required (read_requires_key; /admin once keys exist)",
    403: "No valid page session (X-UI-Token) for this user",
    404: "Unknown id",
    409: "The event_id is stored with other content (a conflict)",
    413: "The body is over max_request_bytes",
    415: "The body is not JSON",
    429: "Rate-limited (Retry-After says when to retry)",
    503: "No model version is served yet",
}


def _error(status: int) -> dict[str, Any]:
    return {
        "description": _WORDS[status],
        "content": {"application/json": {"schema": _ERROR}, "text/html": {"schema": {}}},
    }


def _page(summary: str, params: list[dict[str, Any]], errors: list[int]) -> dict[str, Any]:
    return {
        "get": {
            "summary": summary,
            "parameters": params,
            "responses": {
                "200": {
                    "description": "The page",
                    "content": {"text/html": {"schema": {"type": "string"}}},
                },
                **{str(s): _error(s) for s in errors},
            },
        }
    }


def _ui_post(
    summary: str, schema: dict[str, Any], errors: tuple[int, ...] = (400, 403, 409, 413, 415, 429)
) -> dict[str, Any]:
    return {
        "post": {
            "summary": summary,
            "security": [{"pageSession": []}],
            "requestBody": {"required": True, "content": {"application/json": {"schema": schema}}},
            "responses": {
                "201": {
                    "description": "Stored",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                },
                **{str(s): _error(s) for s in errors},
            },
        }
    }


def pages_spec() -> dict[str, Any]:
    """The OpenAPI 3.1 document of the pages and ``/ui/*``."""
    path_id = {"in": "path", "required": True, "schema": ID}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "cratedig pages",
            "version": __version__,
            "description": "HTML pages and the JSON endpoints their buttons post to. Page "
            "writes need X-UI-Token: a page session for the posted user_id.",
        },
        "servers": [{"url": "/"}],
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "pageSession": {"type": "apiKey", "in": "header", "name": "X-UI-Token"},
                "apiKeyBasic": {"type": "http", "scheme": "basic"},
            },
        },
        "paths": {
            "/": _page("Choose a listener", [], [401]),
            "/users/{user_id}": _page(
                "A listener's home: both lists",
                [{"name": "user_id", **path_id}],
                [400, 401, 429, 503],
            ),
            "/artists/{artist_id}": _page(
                "An artist: tracks, follow, fans also like",
                [
                    {"name": "artist_id", **path_id},
                    {"name": "user", "in": "query", "required": False, "schema": ID},
                    {"name": "src", "in": "query", "required": False, "schema": ID},
                ],
                [400, 401, 404, 429, 503],
            ),
            "/admin": _page("Model versions (API key once keys exist)", [], [401, 429]),
            "/admin/report": _page("The analytics report", [], [401, 404, 429]),
            "/admin/online": _page("Online metrics from the rollups", [], [401, 429]),
            "/admin/quality": _page("Data quality findings and decisions", [], [401, 429]),
            "/admin/experiments": _page("Experiments and their live state", [], [401, 429]),
            "/ui/events": _ui_post(
                "Store one event for the session's user", {"$ref": "#/components/schemas/Event"}
            ),
            "/ui/feedback": _ui_post(
                "A thumb or a rating from the session's user",
                {"$ref": "#/components/schemas/Feedback"},
                (400, 403, 404, 413, 415, 429),  # 404: no such list served to the user
            ),
            "/ui/openapi.json": {
                "get": {
                    "summary": "This document",
                    "responses": {
                        "200": {
                            "description": "OK",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        }
                    },
                }
            },
        },
    }
