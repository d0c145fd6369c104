"""Validation of raw users, artists and tracks into store rows.

Raw column names (DESIGN.md): users (``user_id, country, region, city, timezone,
signup_at, age, gender``), artists (``artist_id, name, tags, created_at``; ``tags`` as
``"a|b|c"`` or a list), tracks (``track_id, artist_id, title, duration_ms``).
``signup_at_ms`` / ``created_at_ms`` are accepted in place of ``signup_at`` /
``created_at``. Errors are :class:`~cratedig.exceptions.ValidationError` with the field,
the value and what was expected, as for events.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cratedig.fields import (
    MAX_TAG_LENGTH,
    is_blank,
    parse_timestamp_ms,
    read_text,
    read_whole_number,
    required_text,
)

#: The oldest age accepted for a user.
MAX_AGE = 150
#: The longest free text (artist name, track title) accepted.
MAX_TEXT_LENGTH = 10_000


def _required(raw: Mapping[str, Any], field: str) -> str:
    return required_text(raw, field, f"a non-empty {field.replace('_', ' ')}")


def _optional_time(raw: Mapping[str, Any], field: str) -> int | None:
    name = field if field in raw else field + "_ms"
    value = raw.get(name)
    return None if is_blank(value) else parse_timestamp_ms(value, name)


def validate_user(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A raw user as a row of the ``users`` table (a real record, not a stub)."""
    return {
        "user_id": _required(raw, "user_id"),
        "country": read_text(raw, "country", 64),
        "region": read_text(raw, "region"),
        "city": read_text(raw, "city"),
        "timezone": read_text(raw, "timezone", 64),
        "signup_at_ms": _optional_time(raw, "signup_at"),
        "age": read_whole_number(raw, "age", None, MAX_AGE),
        "gender": read_text(raw, "gender", 16),
        "is_stub": False,
    }


def parse_tags(value: Any) -> list[str]:
    """Tags from ``"a|b|c"`` or a list: stripped, blanks dropped, first occurrence kept."""
    if is_blank(value):
        return []
    items = value if isinstance(value, list | tuple) else str(value).split("|")
    tags: list[str] = []
    for item in items:
        tag = read_text({"tags": item}, "tags", MAX_TAG_LENGTH)
        if tag is not None and tag not in tags:
            tags.append(tag)
    return tags


def validate_artist(raw: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """A raw artist as a row of ``artists`` (a real record) and its tags in order."""
    row = {
        "artist_id": _required(raw, "artist_id"),
        "name": read_text(raw, "name", MAX_TEXT_LENGTH),
        "created_at_ms": _optional_time(raw, "created_at"),
        "is_stub": False,
    }
    return row, parse_tags(raw.get("tags"))


def validate_track(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A raw track as a row of the ``tracks`` table (a real record)."""
    return {
        "track_id": _required(raw, "track_id"),
        "artist_id": _required(raw, "artist_id"),
        "title": read_text(raw, "title", MAX_TEXT_LENGTH),
        "duration_ms": read_whole_number(raw, "duration_ms", None, 2**31 - 1),
        "is_stub": False,
    }
