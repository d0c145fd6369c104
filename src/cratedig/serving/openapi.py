"""The OpenAPI 3 description of the JSON API (served at ``/api/v1/openapi.json``).

Written as a dict rather than generated from the views (the API is small, and a
generator would add a dependency and decorators to every view), but every limit and
rule in it comes from the constants the validators use: :mod:`cratedig.events`
(lengths, ranges, the fields each event type needs), the write path's batch size,
the feedback values and the list types.
"""

from __future__ import annotations

from typing import Any

from cratedig import __version__
from cratedig.ingest.feedback import MAX_RATING, MIN_RATING
from cratedig.ingest.write_path import MAX_BATCH
from cratedig.serving.lists import LIST_TYPES
from cratedig.serving.openapi_schemas import DATE, GROUP_BY, ID, SCHEMAS
from cratedig.serving.service import MAX_K

_ERROR = {"$ref": "#/components/schemas/Error"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    words = {
        400: "Invalid input (the field is named)",
        401: "Missing or wrong X-API-Key",
        404: "Unknown id",
        403: "No valid page session for this user",
        413: "Too many events, or a body over max_request_bytes",
        415: "The body is not JSON",
        409: "The event_id is stored with other content (a conflict)",
        429: "Rate-limited (Retry-After says when to retry)",
        503: "No model version is served yet",
    }
    return {str(s): _json(_ERROR, words[s]) for s in statuses}


_K = {
    "name": "k",
    "in": "query",
    "required": False,
    "description": f"How many items (1-{MAX_K}, default 10).",
    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_K, "default": 10},
}


def _get(summary: str, schema: str, params: list[dict[str, Any]], errors: list[int]) -> Any:
    return {
        "get": {
            "summary": summary,
            "parameters": params,
            "responses": {
                "200": _json({"$ref": f"#/components/schemas/{schema}"}, "OK"),
                **_errors(*errors),
            },
        }
    }


def _path_param(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": ID}


def openapi_spec() -> dict[str, Any]:
    """The OpenAPI 3.1 document of the API."""
    events_body = {
        "oneOf": [
            {"$ref": "#/components/schemas/Event"},
            {
                "type": "array",
                "maxItems": MAX_BATCH,
                "items": {"$ref": "#/components/schemas/Event"},
            },
            {
                "type": "object",
                "required": ["events"],
                "properties": {
                    "events": {
                        "type": "array",
                        "maxItems": MAX_BATCH,
                        "items": {"$ref": "#/components/schemas/Event"},
                    }
                },
            },
        ]
    }
    result = {"$ref": "#/components/schemas/EventsResult"}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "cratedig",
            "version": __version__,
            "description": "Artist recommendations: lists, similar artists, events, feedback. "
            'Every error is {"error": {"code", "message", "field", "status"}}.',
        },
        "servers": [{"url": "/api/v1"}],
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}},
        },
        "paths": {
            "/users/{user_id}/recommendations": _get(
                "A user's list; unknown users get the cold-start list",
                "RecommendationList",
                [
                    _path_param("user_id"),
                    {
                        "name": "list",
                        "in": "query",
                        "required": False,
                        "schema": {
                            "type": "string",
                            "enum": list(LIST_TYPES),
                            "default": "may_like",
                        },
                    },
                    _K,
                ],
                [400, 401, 429, 503],
            ),
            "/artists/{artist_id}/similar": _get(
                "Artists whose fans also like this one",
                "SimilarList",
                [
                    _path_param("artist_id"),
                    _K,
                    {"name": "user_id", "in": "query", "required": False, "schema": ID},
                ],
                [400, 401, 404, 429, 503],
            ),
            "/artists/{artist_id}": _get(
                "An artist with tags and tracks",
                "Artist",
                [_path_param("artist_id")],
                [400, 401, 404, 429],
            ),
            "/users/{user_id}/profile": _get(
                "A user's details, activity and follows",
                "Profile",
                [_path_param("user_id")],
                [400, 401, 404, 429],
            ),
            "/events": {
                "post": {
                    "summary": "Store one event or a batch (idempotent by event_id)",
                    "security": [{"apiKey": []}],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": events_body}},
                    },
                    "responses": {
                        "200": _json(result, "Nothing new stored (duplicates or errors)"),
                        "201": _json(result, "Events stored; per-item errors for a batch"),
                        "202": _json(
                            result,
                            "Stream mode (ingest_mode = stream): events validated and queued "
                            "in the event stream; consumers store them",
                        ),
                        # 503: stream mode, the event stream is unreachable
                        "503": _json(_ERROR, "Stream mode: the event stream is unreachable"),
                        # 409: a single event whose event_id is stored with other content
                        **_errors(400, 401, 409, 413, 415, 429),
                    },
                }
            },
            "/feedback": {
                "post": {
                    "summary": "Thumbs up/down on an artist of a list, or rate a list "
                    f"{MIN_RATING}-{MAX_RATING}",
                    "security": [{"apiKey": []}],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/Feedback"}
                            }
                        },
                    },
                    "responses": {
                        "201": _json({"type": "object"}, "Stored"),
                        # 404: list_id names no list served to user_id
                        **_errors(400, 401, 404, 413, 415, 429),
                    },
                }
            },
            "/sessions": {
                "post": {
                    "summary": "A page session for one listener (the site's login sets it "
                    "as the cratedig_session cookie; docs/security.md)",
                    "security": [{"apiKey": []}],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["user_id"],
                                    "properties": {"user_id": ID},
                                }
                            }
                        },
                    },
                    "responses": {
                        "201": _json({"$ref": "#/components/schemas/Session"}, "Issued"),
                        **_errors(400, 401, 413, 415, 429),
                    },
                }
            },
            "/metrics/online": _get(
                "Online metrics (CTR, follow-through, discovery, feedback, retention...) "
                "from the rollups of `cratedig online refresh`",
                "OnlineMetrics",
                [
                    {
                        "name": n,
                        "in": "query",
                        "required": False,
                        "schema": sch,
                        "description": d,
                    }
                    for n, sch, d in (
                        ("since", DATE, "First impression day, YYYY-MM-DD (inclusive)."),
                        ("until", DATE, "Last impression day, YYYY-MM-DD (inclusive)."),
                        (
                            "group_by",
                            GROUP_BY,
                            "Comma-separated subset of day, list_type, "
                            "model_version, variant (default list_type,model_version).",
                        ),
                    )
                ],
                [400, 401],
            ),
            "/models": {
                "get": {
                    "summary": "Model versions with their metrics, newest first",
                    "responses": {
                        "200": _json({"type": "object"}, "OK"),
                        **_errors(401, 429),
                    },
                }
            },
            "/experiments": {
                "get": {
                    "summary": "A/B experiments with their design and state, newest first",
                    "responses": {"200": _json({"type": "object"}, "OK"), **_errors(401)},
                }
            },
            "/experiments/{name}": {
                "get": {
                    "summary": "An experiment's report: SRM, metrics per variant, lifts with "
                    "intervals, CUPED, the always-valid path, power and the decision",
                    "parameters": [_path_param("name")],
                    "responses": {"200": _json({"type": "object"}, "OK"), **_errors(400, 401, 404)},
                }
            },
            "/health": {
                "get": {
                    "summary": "Store, cache, served model version; in stream mode the "
                    "event stream's lag",
                    "responses": {
                        "200": _json({"type": "object"}, "Healthy"),
                        "503": _json({"type": "object"}, "The store is unreachable"),
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "summary": "This document",
                    "responses": {"200": _json({"type": "object"}, "OK")},
                }
            },
        },
    }
