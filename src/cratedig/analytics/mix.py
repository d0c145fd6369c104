"""The event mix, listening time, and follow churn over time.

Counts respect the ``count`` column: a row with ``count = 7`` stands for seven
events. Listening time is ``sum(duration_ms * count)`` over ``play_track`` rows that
have a duration (a row with ``count > 1`` stands for that many plays of that length),
in hours. Follow churn counts ``follow_artist`` and ``unfollow_artist`` events per
Monday-based UTC week.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import polars as pl
from sqlalchemy import BigInteger, Engine, cast, func, select

from cratedig.analytics._sql import HOUR_MS, events, read_frame, week_index, week_start_date
from cratedig.events import EventType


def event_mix(engine: Engine) -> pl.DataFrame:
    """``event_type, rows, events, share`` (share of all events), most frequent first."""
    stmt = select(
        events.c.event_type,
        func.count().label("rows"),
        cast(func.sum(events.c["count"]), BigInteger).label("events"),
    ).group_by(events.c.event_type)
    with engine.connect() as conn:
        frame = read_frame(conn, stmt, _MIX_SCHEMA)
    return _with_shares(frame)


_MIX_SCHEMA = {"event_type": pl.String, "rows": pl.Int64, "events": pl.Int64}


def mix_frame(rows: Mapping[str, int], counts: Mapping[str, int]) -> pl.DataFrame:
    """:func:`event_mix` from per-type rows and event counts already measured
    (:class:`cratedig.analytics.coverage.Coverage`'s ``rows`` and ``events``)."""
    frame = pl.DataFrame(
        {
            "event_type": list(rows),
            "rows": [int(rows[t]) for t in rows],
            "events": [int(counts.get(t, 0)) for t in rows],
        },
        schema=_MIX_SCHEMA,
    )
    return _with_shares(frame)


def _with_shares(frame: pl.DataFrame) -> pl.DataFrame:
    total = frame["events"].sum()
    return frame.with_columns(
        (pl.col("events") / total if total else pl.lit(0.0)).alias("share")
    ).sort(["events", "event_type"], descending=[True, False])


def listening_time(engine: Engine) -> dict[str, Any]:
    """Plays and listening hours.

    Returns
    -------
    dict
        ``plays`` (``sum(count)``), ``plays_with_duration``, ``plays_without_duration``
        and ``listening_hours`` (``sum(duration_ms * count) / 3.6e6``).
    """
    plays = events.c.event_type == EventType.PLAY_TRACK.value
    with_duration = events.c.duration_ms.is_not(None)
    stmt = select(
        func.coalesce(func.sum(events.c["count"]), 0).label("plays"),
        func.coalesce(func.sum(events.c["count"]).filter(with_duration), 0).label(
            "plays_with_duration"
        ),
        func.coalesce(
            func.sum(cast(events.c.duration_ms, BigInteger) * events.c["count"]).filter(
                with_duration
            ),
            0,
        ).label("duration_ms"),
    ).where(plays)
    with engine.connect() as conn:
        row = conn.execute(stmt).one()
    total, timed, duration = (int(v) for v in row)
    return {
        "plays": total,
        "plays_with_duration": timed,
        "plays_without_duration": total - timed,
        "listening_hours": round(duration / HOUR_MS, 3),
    }


def follow_churn(engine: Engine, event_types: Collection[str] | None = None) -> pl.DataFrame:
    """``week_start (date), follows, unfollows, net`` per week with any of them.

    ``event_types`` limits the types considered (for stores whose follow events are
    not dated to the day); by default both follow types are used.
    """
    wanted = {EventType.FOLLOW_ARTIST.value, EventType.UNFOLLOW_ARTIST.value}
    if event_types is not None:
        wanted &= set(event_types)
    week = week_index(events.c.occurred_at_ms)
    stmt = (
        select(
            week.label("week"),
            events.c.event_type,
            cast(func.sum(events.c["count"]), BigInteger).label("events"),
        )
        .where(events.c.event_type.in_(sorted(wanted)))
        .group_by(week, events.c.event_type)
    )
    with engine.connect() as conn:
        frame = read_frame(
            conn, stmt, {"week": pl.Int64, "event_type": pl.String, "events": pl.Int64}
        )
    if frame.height == 0:
        return pl.DataFrame(
            schema={
                "week_start": pl.Date,
                "follows": pl.Int64,
                "unfollows": pl.Int64,
                "net": pl.Int64,
            }
        )
    wide = frame.pivot(on="event_type", index="week", values="events")
    for name in (EventType.FOLLOW_ARTIST.value, EventType.UNFOLLOW_ARTIST.value):
        if name not in wide.columns:
            wide = wide.with_columns(pl.lit(0, pl.Int64).alias(name))
    return (
        wide.select(
            week_start_date("week").alias("week_start"),
            pl.col(EventType.FOLLOW_ARTIST.value).fill_null(0).cast(pl.Int64).alias("follows"),
            pl.col(EventType.UNFOLLOW_ARTIST.value).fill_null(0).cast(pl.Int64).alias("unfollows"),
        )
        .with_columns((pl.col("follows") - pl.col("unfollows")).alias("net"))
        .sort("week_start")
    )
