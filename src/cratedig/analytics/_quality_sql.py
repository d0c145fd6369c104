"""The SQL reads of the collection-gap checks (:mod:`cratedig.analytics.gaps`)."""

from __future__ import annotations

from typing import Any

import polars as pl
from sqlalchemy import Connection, and_, func, literal_column, or_, select

from cratedig.analytics._sql import day_index, floor_div, read_frame
from cratedig.store import schema

ev = schema.user_events
_COUNTS = {"day": pl.Int64, "hour": pl.Int64, "n": pl.Float64, "event_type": pl.Utf8}


def event_bounds(conn: Connection) -> tuple[int, int] | None:
    """The UTC day numbers of the first and last event (``None`` without events)."""
    lo, hi = conn.execute(
        select(func.min(ev.c.occurred_at_ms), func.max(ev.c.occurred_at_ms))
    ).one()
    if lo is None:
        return None
    return int(lo) // 86_400_000, int(hi) // 86_400_000


def _in(lo_ms: int, hi_ms: int) -> Any:
    return and_(ev.c.occurred_at_ms >= lo_ms, ev.c.occurred_at_ms < hi_ms)


def daily_counts(conn: Connection, lo_ms: int, hi_ms: int) -> pl.DataFrame:
    """Events per UTC day and event type."""
    day = day_index(ev.c.occurred_at_ms)
    stmt = (
        select(day.label("day"), ev.c.event_type, func.count().label("n"))
        .where(_in(lo_ms, hi_ms))
        .group_by(day, ev.c.event_type)
    )
    return read_frame(conn, stmt, _COUNTS)


def hourly_counts(conn: Connection, lo_ms: int, hi_ms: int) -> pl.DataFrame:
    """Events (all types) per UTC hour number (hours since 1970)."""
    hour = floor_div(ev.c.occurred_at_ms, 3_600_000)
    stmt = (
        select(hour.label("hour"), func.count().label("n")).where(_in(lo_ms, hi_ms)).group_by(hour)
    )
    return read_frame(conn, stmt, _COUNTS)


def daily_totals(conn: Connection, lo_ms: int, hi_ms: int) -> pl.DataFrame:
    """Events (all types) per UTC day."""
    day = day_index(ev.c.occurred_at_ms)
    stmt = select(day.label("day"), func.count().label("n")).where(_in(lo_ms, hi_ms)).group_by(day)
    return read_frame(conn, stmt, _COUNTS)


def daily_quarantined(conn: Connection, lo_ms: int, hi_ms: int) -> pl.DataFrame:
    """Rows quarantined per UTC day of quarantining."""
    q = schema.quarantine.c
    day = day_index(q.created_at_ms)
    stmt = (
        select(day.label("day"), func.count().label("n"))
        .where(q.created_at_ms >= lo_ms, q.created_at_ms < hi_ms)
        .group_by(day)
    )
    return read_frame(conn, stmt, _COUNTS)


def plays_longer_than_track(conn: Connection, lo_ms: int, hi_ms: int, rules: Any) -> pl.DataFrame:
    """Plays per day whose duration exceeds their track's by more than the tolerance."""
    t = schema.tracks.c
    day = day_index(ev.c.occurred_at_ms)
    longer = and_(
        ev.c.duration_ms > t.duration_ms + literal_column(str(int(rules.play_tolerance_ms))),
        ev.c.duration_ms * 100 > t.duration_ms * 105,
    )
    stmt = (
        select(day.label("day"), func.count().label("n"))
        .select_from(ev.join(schema.tracks, t.track_id == ev.c.track_id))
        .where(_in(lo_ms, hi_ms), ev.c.event_type == "play_track", t.duration_ms > 0, longer)
        .group_by(day)
    )
    return read_frame(conn, stmt, _COUNTS)


def events_for_stub_catalogue(conn: Connection, lo_ms: int, hi_ms: int) -> pl.DataFrame:
    """Events per day naming an artist or track that exists only as a stub (it was
    created because an event named it, not by a catalogue import)."""
    a = schema.artists.c
    t = schema.tracks.c
    day = day_index(ev.c.occurred_at_ms)
    stmt = (
        select(day.label("day"), func.count().label("n"))
        .select_from(
            ev.outerjoin(schema.artists, a.artist_id == ev.c.artist_id).outerjoin(
                schema.tracks, t.track_id == ev.c.track_id
            )
        )
        .where(_in(lo_ms, hi_ms), or_(a.is_stub.is_(True), t.is_stub.is_(True)))
        .group_by(day)
    )
    return read_frame(conn, stmt, _COUNTS)
