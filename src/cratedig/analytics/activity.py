"""Active users over time, and the listening-hours heat map in listeners' local time.

An **active user** on a day (week, month) did at least one event of the given types
on that UTC day (Monday-based week, calendar month). The distinct ``(user, day)``
pairs are computed in SQL; days, weeks and months are counted from them in polars.

The **heat map** counts events (``sum(count)``, plays by default) by hour of day and
day of week in each user's own time zone (``users.timezone``; UTC when unknown or not
a valid IANA name). SQL sums events per ``(time zone, 15-minute UTC slot)`` — 15
minutes so that zones offset by :30 or :45 convert exactly — and polars converts
each time zone's slots to local time.
"""

from __future__ import annotations

from collections.abc import Collection

import polars as pl
from sqlalchemy import Engine, func, select

from cratedig.analytics._sql import day_index, events, floor_div, read_frame
from cratedig.analytics.coverage import known_timezones
from cratedig.store import schema

SLOT_MS = 15 * 60_000
WEEKDAYS: tuple[str, ...] = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def user_days(engine: Engine, event_types: Collection[str] | None = None) -> pl.DataFrame:
    """The distinct ``user_id, day`` pairs (UTC day numbers) with at least one event."""
    day = day_index(events.c.occurred_at_ms)
    stmt = select(events.c.user_id, day.label("day")).group_by(events.c.user_id, day)
    if event_types is not None:
        stmt = stmt.where(events.c.event_type.in_(sorted(event_types)))
    with engine.connect() as conn:
        return read_frame(conn, stmt, {"user_id": pl.String, "day": pl.Int64})


def trim_outlier_days(days: pl.DataFrame, margin_days: int = 365) -> tuple[pl.DataFrame, int]:
    """Drop stray dates far from the bulk of the activity, for readable charts.

    A ``(user, day)`` pair is dropped when its day lies more than ``margin_days``
    before the 0.1st percentile or after the 99.9th percentile of all days (e.g. the
    handful of bogus 1956 dates in the Last.fm 2K tag log).

    Returns
    -------
    (kept, dropped)
        The kept pairs, and how many pairs were dropped.
    """
    if days.height == 0:
        return days, 0
    low = days["day"].quantile(0.001, interpolation="lower")
    high = days["day"].quantile(0.999, interpolation="higher")
    assert low is not None and high is not None
    kept = days.filter(pl.col("day").is_between(low - margin_days, high + margin_days))
    return kept, days.height - kept.height


def _dated(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(pl.col("day").cast(pl.Int32).cast(pl.Date).alias("date"))


def daily_active_users(days: pl.DataFrame) -> pl.DataFrame:
    """``date, users``: distinct active users per UTC day (days without any are absent)."""
    return (
        _dated(days).group_by("date").agg(pl.col("user_id").n_unique().alias("users")).sort("date")
    )


def weekly_active_users(days: pl.DataFrame) -> pl.DataFrame:
    """``week_start, users``: distinct active users per week (weeks start on Monday)."""
    return (
        _dated(days)
        .with_columns(pl.col("date").dt.truncate("1w").alias("week_start"))
        .group_by("week_start")
        .agg(pl.col("user_id").n_unique().alias("users"))
        .sort("week_start")
    )


def monthly_active_users(days: pl.DataFrame) -> pl.DataFrame:
    """``month_start, users``: distinct active users per calendar month (UTC)."""
    return (
        _dated(days)
        .with_columns(pl.col("date").dt.truncate("1mo").alias("month_start"))
        .group_by("month_start")
        .agg(pl.col("user_id").n_unique().alias("users"))
        .sort("month_start")
    )


def listening_heatmap(
    engine: Engine, event_types: Collection[str] = ("play_track",)
) -> pl.DataFrame:
    """Events by local weekday and hour: ``weekday (0=Mon..6=Sun), hour (0..23), events``.

    Always 7 x 24 rows (zeros included), ordered by weekday then hour.
    """
    slot = floor_div(events.c.occurred_at_ms, SLOT_MS)
    stmt = (
        select(
            schema.users.c.timezone,
            slot.label("slot"),
            func.sum(events.c["count"]).label("events"),
        )
        .select_from(events.outerjoin(schema.users, schema.users.c.user_id == events.c.user_id))
        .where(events.c.event_type.in_(sorted(event_types)))
        .group_by(schema.users.c.timezone, slot)
    )
    with engine.connect() as conn:
        slots = read_frame(
            conn, stmt, {"timezone": pl.String, "slot": pl.Int64, "events": pl.Int64}
        )
    valid = sorted(known_timezones())
    slots = slots.with_columns(
        pl.when(pl.col("timezone").is_in(valid))
        .then(pl.col("timezone"))
        .otherwise(pl.lit("UTC"))
        .alias("timezone"),
        (pl.col("slot") * SLOT_MS).cast(pl.Datetime("ms", "UTC")).alias("utc"),
    )
    parts = []
    for zone in slots["timezone"].unique().to_list():  # one pass per time zone, not per row
        local = slots.filter(pl.col("timezone") == zone).with_columns(
            pl.col("utc").dt.convert_time_zone(zone).alias("local")
        )
        parts.append(
            local.select(
                (pl.col("local").dt.weekday() - 1).cast(pl.Int64).alias("weekday"),
                pl.col("local").dt.hour().cast(pl.Int64).alias("hour"),
                pl.col("events"),
            )
        )
    grid = pl.DataFrame(
        {"weekday": [d for d in range(7) for _ in range(24)], "hour": list(range(24)) * 7},
        schema={"weekday": pl.Int64, "hour": pl.Int64},
    )
    if not parts:
        return grid.with_columns(pl.lit(0, pl.Int64).alias("events"))
    counts = pl.concat(parts).group_by("weekday", "hour").agg(pl.col("events").sum())
    return (
        grid.join(counts, on=["weekday", "hour"], how="left")
        .with_columns(pl.col("events").fill_null(0).cast(pl.Int64))
        .sort("weekday", "hour")
    )


def heatmap_matrix(heatmap: pl.DataFrame) -> list[list[int]]:
    """The heat map as 7 rows (Mon..Sun) of 24 hourly counts."""
    values = heatmap.sort("weekday", "hour")["events"].to_list()
    return [values[d * 24 : (d + 1) * 24] for d in range(7)]
