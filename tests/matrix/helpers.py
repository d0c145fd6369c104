"""Helpers for the matrix tests: tiny hand-built event tables."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Engine

from cratedig.store import schema
from cratedig.store.writes import insert_ignore

DAY = 86_400_000
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z

_DEFAULTS: dict[str, Any] = {
    "track_id": None,
    "duration_ms": None,
    "count": 1,
    "tag": None,
    "session_id": None,
    "source": "organic",
}


def event(
    user_id: str,
    event_type: str,
    artist_id: str | None,
    at: int,
    event_id: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """One ``user_events`` row; ``event_id`` defaults to a readable unique id."""
    row = dict(_DEFAULTS)
    row.update(
        event_id=event_id or f"{user_id}-{event_type}-{artist_id}-{at}-{sorted(extra.items())}",
        user_id=user_id,
        event_type=event_type,
        artist_id=artist_id,
        occurred_at_ms=at,
    )
    row.update(extra)
    return row


def add_events(engine: Engine, rows: Iterable[Mapping[str, Any]]) -> int:
    """Insert event rows (duplicates by ``event_id`` ignored); returns the inserted count."""
    with engine.begin() as conn:
        return insert_ignore(conn, schema.user_events, [dict(r) for r in rows])


def dense(engagement: Any) -> dict[tuple[str, str], float]:
    """The nonzero entries of an engagement matrix as ``{(user_id, artist_id): value}``."""
    coo = engagement.X.tocoo()
    users, artists = engagement.users.ids, engagement.artists.ids
    return {
        (users[r], artists[c]): float(v) for r, c, v in zip(coo.row, coo.col, coo.data, strict=True)
    }


def pairs(matrix: Any, engagement: Any) -> set[tuple[str, str]]:
    """The stored pairs of a users x artists boolean/sparse matrix, as ids."""
    coo = matrix.tocoo()
    users, artists = engagement.users.ids, engagement.artists.ids
    return {(users[r], artists[c]) for r, c in zip(coo.row, coo.col, strict=True)}
