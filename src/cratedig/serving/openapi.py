"""The OpenAPI 3 description of the JSON API (served at ``/api/v1/openapi.json``).

Written by hand (a dict) rather than generated: the API is small, and a generator
would add a dependency and decorators to every view for little gain.
"""

from __future__ import annotations

from typing import Any

from cratedig import __version__
from cratedig.events import EVENT_TYPES, MAX_ID_LENGTH
from cratedig.serving.event_writes import MAX_BATCH
from cratedig.serving.service import LIST_TYPES, MAX_K

_ERROR = {"$ref": "#/components/schemas/Error"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    words = {
        400: "Invalid input (the field is named)",
        401: "Missing or wrong X-API-Key",
        404: "Unknown id",
        413: "Too many events in one request",
        415: "The body is not JSON",
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

# at most MAX_ID_LENGTH characters, at least one not blank, no NUL (PostgreSQL cannot store it)
_ID = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_ID_LENGTH,
    "pattern": "^[^\\x00]*[^\\x00\\s][^\\x00]*$",
}

_DATE = {"type": "string", "format": "date"}
_GROUP = "(day|list_type|model_version|variant)"
_GROUP_BY = {"type": "string", "pattern": f"^{_GROUP}(,{_GROUP})*$"}

_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message", "status"],
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "field": {"type": ["string", "null"]},
                    "status": {"type": "integer"},
                },
            }
        },
    },
    "Item": {
        "type": "object",
        "required": ["position", "artist_id", "score", "explanation"],
        "properties": {
            "position": {"type": "integer", "minimum": 1},
            "artist_id": {"type": "string"},
            "name": {"type": ["string", "null"]},
            "score": {"type": "number"},
            "explanation": {"type": "string"},
        },
    },
    "RecommendationList": {
        "type": "object",
        "required": ["user_id", "list", "list_id", "model_version", "cold_start", "items"],
        "properties": {
            "user_id": {"type": "string"},
            "list": {"type": "string", "enum": list(LIST_TYPES)},
            "list_id": {
                "type": "string",
                "description": "Send it as the `source` of events caused by this list.",
            },
            "model_version": {"type": "string"},
            "cold_start": {"type": "boolean"},
            "fallback": {
                "type": ["string", "null"],
                "enum": ["country", "cluster", "global", None],
                "description": "For a cold-start user, what the list was drawn from.",
            },
            "personalised": {"type": "boolean"},
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/Item"}},
        },
    },
    "SimilarList": {
        "type": "object",
        "required": ["artist_id", "list_id", "model_version", "items"],
        "properties": {
            "artist_id": {"type": "string"},
            "name": {"type": ["string", "null"]},
            "list_id": {"type": "string"},
            "model_version": {"type": "string"},
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/Item"}},
        },
    },
    "Artist": {
        "type": "object",
        "required": ["artist_id", "tags", "tracks", "listeners"],
        "properties": {
            "artist_id": {"type": "string"},
            "name": {"type": ["string", "null"]},
            "tags": {"type": "array", "items": {"type": "string"}},
            "listeners": {"type": "integer"},
            "tracks": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "track_id": {"type": "string"},
                        "title": {"type": ["string", "null"]},
                        "duration_ms": {"type": ["integer", "null"]},
                    },
                },
            },
        },
    },
    "OnlineMetrics": {
        "type": "object",
        "required": ["totals", "groups", "by_day", "positions", "attribution"],
        "properties": {
            "since": {"type": ["string", "null"]},
            "until": {"type": ["string", "null"]},
            "group_by": {"type": "array", "items": {"type": "string"}},
            "totals": {"type": "object"},
            "groups": {"type": "array", "items": {"type": "object"}},
            "by_day": {"type": "array", "items": {"type": "object"}},
            "positions": {"type": "array", "items": {"type": "object"}},
            "attribution": {"type": "object"},
            "last_refresh": {"type": ["object", "null"]},
        },
    },
    "Profile": {
        "type": "object",
        "required": ["user_id", "event_counts", "top_artists", "following"],
        "properties": {
            "user_id": {"type": "string"},
            "country": {"type": ["string", "null"]},
            "city": {"type": ["string", "null"]},
            "timezone": {"type": ["string", "null"]},
            "signup_at_ms": {"type": ["integer", "null"]},
            "event_counts": {"type": "object", "additionalProperties": {"type": "integer"}},
            "top_artists": {"type": "array", "items": {"type": "object"}},
            "following": {"type": "array", "items": {"type": "object"}},
        },
    },
    "Event": {
        "type": "object",
        "description": "artist_id may be left out for visit and subscribe, and for track "
        "events of a known track_id; tag_artist needs a tag.",
        "required": ["user_id", "event_type", "occurred_at", "artist_id"],
        "if": {"properties": {"event_type": {"const": "tag_artist"}}},
        "then": {"required": ["tag"]},
        "properties": {
            "event_id": {**_ID, "description": "Idempotency key (derived when absent)."},
            "user_id": _ID,
            "event_type": {"type": "string", "enum": list(EVENT_TYPES)},
            "occurred_at": {
                "description": "ISO 8601 time (naive = UTC) or epoch seconds/milliseconds.",
                "oneOf": [
                    {"type": "string", "format": "date-time"},
                    {"type": "integer", "minimum": 0, "maximum": 4102444800000},
                ],
            },
            "artist_id": _ID,
            "track_id": _ID,
            "duration_ms": {"type": "integer", "minimum": 0, "maximum": 10**10},
            "count": {"type": "integer", "minimum": 0, "maximum": 1_000_000},
            "tag": {**_ID, "maxLength": 256},
            "session_id": _ID,
            "source": {
                **_ID,
                "description": "`organic` or the `list_id` of the list that led here.",
            },
        },
    },
    "EventsResult": {
        "type": "object",
        "required": ["accepted", "duplicates", "rejected", "errors"],
        "properties": {
            "accepted": {"type": "integer"},
            "duplicates": {"type": "integer"},
            "rejected": {"type": "integer"},
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["index", "code", "field", "message"],
                    "properties": {
                        "index": {"type": "integer"},
                        "code": {"type": "string"},
                        "field": {"type": "string"},
                        "message": {"type": "string"},
                    },
                },
            },
        },
    },
    "Feedback": {
        "description": "A thumb on an artist of a list, or a 1-5 rating of a list.",
        "oneOf": [
            {
                "type": "object",
                "required": ["user_id", "artist_id", "thumb"],
                "additionalProperties": False,
                "properties": {
                    "user_id": _ID,
                    "list_id": _ID,
                    "artist_id": _ID,
                    "thumb": {"enum": ["up", "down", 1, -1]},
                },
            },
            {
                "type": "object",
                "required": ["user_id", "list_id", "rating"],
                "additionalProperties": False,
                "properties": {
                    "user_id": _ID,
                    "list_id": _ID,
                    "artist_id": _ID,
                    "rating": {"type": "integer", "minimum": 1, "maximum": 5},
                },
            },
        ],
    },
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
    return {"name": name, "in": "path", "required": True, "schema": _ID}


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
            "schemas": _SCHEMAS,
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
                [400, 401, 503],
            ),
            "/artists/{artist_id}/similar": _get(
                "Artists whose fans also like this one",
                "SimilarList",
                [
                    _path_param("artist_id"),
                    _K,
                    {"name": "user_id", "in": "query", "required": False, "schema": _ID},
                ],
                [400, 401, 404, 503],
            ),
            "/artists/{artist_id}": _get(
                "An artist with tags and tracks",
                "Artist",
                [_path_param("artist_id")],
                [400, 401, 404],
            ),
            "/users/{user_id}/profile": _get(
                "A user's details, activity and follows",
                "Profile",
                [_path_param("user_id")],
                [400, 401, 404],
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
                        **_errors(400, 401, 413, 415),
                    },
                }
            },
            "/feedback": {
                "post": {
                    "summary": "Thumbs up/down on an artist of a list, or rate a list 1-5",
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
                        **_errors(400, 401, 415),
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
                        ("since", _DATE, "First impression day, YYYY-MM-DD (inclusive)."),
                        ("until", _DATE, "Last impression day, YYYY-MM-DD (inclusive)."),
                        (
                            "group_by",
                            _GROUP_BY,
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
                    "responses": {"200": _json({"type": "object"}, "OK"), **_errors(401)},
                }
            },
            "/health": {
                "get": {
                    "summary": "Store, cache and served model version",
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
