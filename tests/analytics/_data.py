"""Tiny hand-built stores for the analytics tests."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from cratedig.store import schema
from cratedig.store.writes import insert_ignore

MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR
#: Monday 2025-01-06 00:00 UTC.
MONDAY = int(datetime(2025, 1, 6, tzinfo=UTC).timestamp() * 1000)

_counter = iter(range(10**9))


def ev(
    user: str,
    at_ms: int,
    event_type: str = "play_track",
    artist: str | None = "a1",
    *,
    count: int = 1,
    duration_ms: int | None = None,
) -> dict[str, Any]:
    """One event row for ``user_events`` (a fresh event id each call)."""
    return {
        "event_id": f"e{next(_counter)}",
        "user_id": user,
        "event_type": event_type,
        "occurred_at_ms": at_ms,
        "artist_id": None if event_type in ("visit", "subscribe") else artist,
        "track_id": None,
        "duration_ms": duration_ms,
        "count": count,
        "tag": "rock" if event_type == "tag_artist" else None,
        "session_id": None,
        "source": "organic",
    }


def user(
    user_id: str,
    *,
    country: str | None = None,
    timezone: str | None = None,
    signup_at_ms: int | None = None,
) -> dict[str, Any]:
    """One row for ``users``."""
    return {
        "user_id": user_id,
        "country": country,
        "region": None,
        "city": None,
        "timezone": timezone,
        "signup_at_ms": signup_at_ms,
        "age": None,
        "gender": None,
        "is_stub": False,
    }


def artist(artist_id: str, name: str | None = None) -> dict[str, Any]:
    """One row for ``artists``."""
    return {
        "artist_id": artist_id,
        "name": name or artist_id.upper(),
        "created_at_ms": None,
        "is_stub": False,
    }


def load(
    engine: Engine,
    events: Iterable[dict[str, Any]] = (),
    users: Iterable[dict[str, Any]] = (),
    artists: Iterable[dict[str, Any]] = (),
) -> None:
    """Insert rows into the store with ``insert_ignore``."""
    with engine.begin() as conn:
        insert_ignore(conn, schema.users, list(users))
        insert_ignore(conn, schema.artists, list(artists))
        insert_ignore(conn, schema.user_events, list(events))
