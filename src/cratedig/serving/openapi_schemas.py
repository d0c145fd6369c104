"""The components (schemas) of the API's OpenAPI document (:mod:`cratedig.serving.openapi`).

Every limit and rule comes from the constants the validators use.
"""

from __future__ import annotations

from typing import Any

from cratedig.events import (
    ARTISTLESS_EVENTS,
    EVENT_TYPES,
    MAX_COUNT,
    MAX_DURATION_MS,
    REQUIRED_FIELDS,
)
from cratedig.fields import MAX_ID_LENGTH, MAX_TAG_LENGTH, MAX_TIMESTAMP_MS
from cratedig.ingest.feedback import MAX_RATING, MIN_RATING, THUMBS
from cratedig.serving.lists import LIST_TYPES

# at most MAX_ID_LENGTH characters, at least one not blank, no NUL (PostgreSQL cannot store it)
ID = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_ID_LENGTH,
    # \s of JSON Schema (ECMA 262) lacks \x1c-\x1f and \x85, which Python strips as space
    "pattern": "^[^\\x00]*[^\\x00\\s\\x1c-\\x1f\\x85][^\\x00]*$",
}


def _event_schema() -> dict[str, Any]:
    """The Event schema: the fields, their limits and each type's required fields."""
    needs = "; ".join(
        f"{event_type} needs {', '.join(fields)}" for event_type, fields in REQUIRED_FIELDS.items()
    )
    return {
        "type": "object",
        "description": "artist_id may be left out for "
        + " and ".join(sorted(ARTISTLESS_EVENTS))
        + f", and for track events of a known track_id; {needs}.",
        "required": ["user_id", "event_type", "occurred_at", "artist_id"],
        "allOf": [
            {
                "if": {"properties": {"event_type": {"const": str(event_type)}}},
                "then": {"required": list(fields)},
            }
            for event_type, fields in REQUIRED_FIELDS.items()
        ],
        "properties": {
            "event_id": {**ID, "description": "Idempotency key (derived when absent)."},
            "user_id": ID,
            "event_type": {"type": "string", "enum": list(EVENT_TYPES)},
            "occurred_at": {
                "description": "ISO 8601 time (naive = UTC) or epoch seconds/milliseconds; "
                "a time later than now plus `future_tolerance_seconds` (default one day) is "
                "refused with a 400.",
                "oneOf": [
                    {"type": "string", "format": "date-time"},
                    {"type": "integer", "minimum": 0, "maximum": MAX_TIMESTAMP_MS},
                ],
            },
            "artist_id": ID,
            "track_id": ID,
            "duration_ms": {"type": "integer", "minimum": 0, "maximum": MAX_DURATION_MS},
            "count": {"type": "integer", "minimum": 0, "maximum": MAX_COUNT},
            "tag": {**ID, "maxLength": MAX_TAG_LENGTH},
            "session_id": ID,
            "source": {
                **ID,
                "description": "`organic` or the `list_id` of the list that led here.",
            },
        },
    }


#: Query parameters of the online-metrics endpoint.
DATE = {"type": "string", "format": "date"}
_GROUP = "(day|list_type|model_version|variant)"
GROUP_BY = {"type": "string", "pattern": f"^{_GROUP}(,{_GROUP})*$"}

SCHEMAS: dict[str, Any] = {
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
            "variant": {"type": ["string", "null"]},
            "cold_start": {"type": "boolean"},
            "fallback": {
                "type": ["string", "null"],
                "enum": ["country", "cluster", "global", None],
                "description": "For a cold-start user, what the list was drawn from.",
            },
            "personalised": {"type": "boolean"},
            "placement": {
                "type": "string",
                "enum": ["first", "last", "off"],
                "description": "Hidden Gems only: where to show the list, above May Like "
                "(`first`), below it (`last`, the default) or not at all (`off`; no items). "
                "Set by an experiment arm's `gems=` option.",
            },
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
    "Event": _event_schema(),
    "Session": {
        "type": "object",
        "required": ["user_id", "token", "cookie", "max_age_seconds"],
        "properties": {
            "user_id": {"type": "string"},
            "token": {"type": "string", "description": "Send as X-UI-Token, or set as cookie."},
            "cookie": {"type": "string", "const": "cratedig_session"},
            "max_age_seconds": {"type": "integer"},
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
        "description": "A thumb on an artist of a list, or a 1-5 rating of a list. A "
        "list_id must name a list served to user_id (else 404, field list_id), and a "
        "thumb with a list_id an artist of that list (else 400, field artist_id).",
        "oneOf": [
            {
                "type": "object",
                "required": ["user_id", "artist_id", "thumb"],
                "additionalProperties": False,
                "properties": {
                    "user_id": ID,
                    "list_id": ID,
                    "artist_id": ID,
                    "thumb": {"enum": list(THUMBS)},
                },
            },
            {
                "type": "object",
                "required": ["user_id", "list_id", "rating"],
                "additionalProperties": False,
                "properties": {
                    "user_id": ID,
                    "list_id": ID,
                    "artist_id": ID,
                    "rating": {"type": "integer", "minimum": MIN_RATING, "maximum": MAX_RATING},
                },
            },
        ],
    },
}
