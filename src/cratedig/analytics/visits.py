"""Visits (sessions), how often users visit, and user segments by visit frequency.

How a visit is found
--------------------
Each user's events are ordered by time (at equal times ``visit`` events first, then
by ``event_id``). A **new visit starts** at an event when

1. it is the user's first event, or
2. more than ``gap_minutes`` (``Settings.session_gap_minutes``, 30 by default)
   passed since the user's previous event of any type, or
3. it is an explicit ``visit`` event.

So a site that logs a ``visit`` when a listener arrives gets one visit per ``visit``
event (the plays after it belong to it), and an idle gap still splits a long stretch
without ``visit`` events; a ``visit`` event that comes after an idle gap starts just
one visit, not two. The ``session_id`` column is not used. A row with ``count > 1`` is
still one event in time. A visit belongs to the UTC day and week it starts in.

The ordering and the start/end flags are SQL window functions (``ROW_NUMBER``,
``LAG``, ``LEAD`` over one window), identical on SQLite and PostgreSQL; only each
visit's first and last events leave the database, and polars pairs them into visits.

Segments
--------
Over the 28 days that end at ``as_of`` (the last event in the store by default):

* **daily**: visited on at least 20 of the 28 days (about 5 days a week);
* **weekly**: not daily, and visited in at least 3 of the 4 weeks (7-day blocks
  counted back from ``as_of``);
* **occasional**: visited at least once in the 28 days, but neither of the above;
* **lapsed**: visited before, but not in the 28 days.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import polars as pl
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Engine,
    case,
    cast,
    func,
    literal_column,
    or_,
    select,
)

from cratedig.analytics._sql import DAY_MS, WEEK_MS, events, read_frame, week_number
from cratedig.events import EventType
from cratedig.exceptions import ValidationError
from cratedig.store.reads import latest_event_ms

SEGMENTS: tuple[str, ...] = ("daily", "weekly", "occasional", "lapsed")


@dataclass(frozen=True)
class SegmentRules:
    """Thresholds of the visit-frequency segments (see the module docstring)."""

    window_days: int = 28
    daily_min_days: int = 20
    weekly_min_weeks: int = 3

    def __post_init__(self) -> None:
        if self.window_days < 7 or self.window_days % 7:
            raise ValidationError("window_days", self.window_days, "a multiple of 7, >= 7")


VISITS_SCHEMA = {
    "user_id": pl.String,
    "visit_no": pl.Int64,
    "start_ms": pl.Int64,
    "end_ms": pl.Int64,
    "n_events": pl.Int64,
}


def visits_frame(
    engine: Engine,
    gap_minutes: float = 30.0,
    user_id: str | None = None,
    event_types: Collection[str] | None = None,
) -> pl.DataFrame:
    """Every visit of every user (or of one user), from events of the given types
    (all types by default; the report passes those that carry times of day).

    Returns
    -------
    polars.DataFrame
        ``user_id, visit_no (1, 2, ...), start_ms, end_ms, n_events``, ordered by user
        and visit.
    """
    if gap_minutes <= 0:
        raise ValidationError("gap_minutes", gap_minutes, "a number of minutes > 0")
    gap_ms = round(gap_minutes * 60_000)
    gap: ColumnElement[Any] = literal_column(str(gap_ms))
    is_visit = case((events.c.event_type == EventType.VISIT.value, 1), else_=0)
    window: dict[str, Any] = {
        "partition_by": events.c.user_id,
        "order_by": (events.c.occurred_at_ms, 1 - is_visit, events.c.event_id),
    }
    # One window pass: each event learns its neighbours; only the first and last event
    # of each visit leave the database, and polars pairs them up.
    base = select(
        events.c.user_id,
        events.c.occurred_at_ms,
        is_visit.label("is_visit"),
        func.row_number().over(**window).label("rn"),
        func.lag(events.c.occurred_at_ms).over(**window).label("prev_ms"),
        func.lead(events.c.occurred_at_ms).over(**window).label("next_ms"),
        func.lead(is_visit).over(**window).label("next_is_visit"),
    )
    if user_id is not None:
        base = base.where(events.c.user_id == user_id)
    if event_types is not None:
        base = base.where(events.c.event_type.in_(sorted(event_types)))
    ordered = base.subquery("ordered")
    starts = or_(
        ordered.c.prev_ms.is_(None),
        ordered.c.is_visit == 1,
        ordered.c.occurred_at_ms - ordered.c.prev_ms > gap,
    )
    ends = or_(
        ordered.c.next_ms.is_(None),
        ordered.c.next_is_visit == 1,
        ordered.c.next_ms - ordered.c.occurred_at_ms > gap,
    )
    stmt = select(
        ordered.c.user_id,
        ordered.c.occurred_at_ms,
        cast(ordered.c.rn, BigInteger).label("rn"),
        case((starts, 1), else_=0).label("starts"),
        case((ends, 1), else_=0).label("ends"),
    ).where(or_(starts, ends))
    with engine.connect() as conn:
        bounds = read_frame(
            conn,
            stmt,
            {
                "user_id": pl.String,
                "occurred_at_ms": pl.Int64,
                "rn": pl.Int64,
                "starts": pl.Int64,
                "ends": pl.Int64,
            },
        ).sort("user_id", "rn")
    # Visit k of a user starts at its k-th start row and ends at its k-th end row.
    first = bounds.filter(pl.col("starts") == 1).select(
        "user_id",
        pl.col("occurred_at_ms").alias("start_ms"),
        pl.col("rn").alias("start_rn"),
        pl.int_range(1, pl.len() + 1).over("user_id").cast(pl.Int64).alias("visit_no"),
    )
    last = bounds.filter(pl.col("ends") == 1).select(
        "user_id",
        pl.col("occurred_at_ms").alias("end_ms"),
        pl.col("rn").alias("end_rn"),
        pl.int_range(1, pl.len() + 1).over("user_id").cast(pl.Int64).alias("visit_no"),
    )
    return (
        first.join(last, on=["user_id", "visit_no"], how="inner")
        .select(
            "user_id",
            "visit_no",
            "start_ms",
            "end_ms",
            (pl.col("end_rn") - pl.col("start_rn") + 1).alias("n_events"),
        )
        .cast(VISITS_SCHEMA)  # type: ignore[arg-type]
        .sort("user_id", "visit_no")
    )


def with_buckets(visits: pl.DataFrame) -> pl.DataFrame:
    """Add the UTC ``day`` and Monday-based ``week`` numbers each visit starts in."""
    return visits.with_columns(
        (pl.col("start_ms") // DAY_MS).alias("day"),
        week_number("start_ms").alias("week"),
    )


def visits_per_user_day(visits: pl.DataFrame) -> pl.DataFrame:
    """``user_id, day, visits``: how many visits each user started on each UTC day."""
    return (
        with_buckets(visits)
        .group_by("user_id", "day")
        .agg(pl.len().cast(pl.Int64).alias("visits"))
        .sort("user_id", "day")
    )


def visits_per_user_week(visits: pl.DataFrame) -> pl.DataFrame:
    """``user_id, week, visits``: how many visits each user started in each week."""
    return (
        with_buckets(visits)
        .group_by("user_id", "week")
        .agg(pl.len().cast(pl.Int64).alias("visits"))
        .sort("user_id", "week")
    )


def visit_frequency(visits: pl.DataFrame, as_of_ms: int | None = None) -> pl.DataFrame:
    """Per user: visits, active days, first and last visit, and visits per day and week.

    The rate is over the time the user has been observed, from their first visit to
    ``as_of`` (the last visit in ``visits`` by default), at least one day for the
    daily rate and at least one week for the weekly rate.
    """
    if as_of_ms is None:
        as_of_ms = int(visits["end_ms"].max()) if visits.height else 0  # type: ignore[arg-type]
    span = (pl.lit(as_of_ms) - pl.col("first_ms")).cast(pl.Float64)
    return (
        with_buckets(visits)
        .group_by("user_id")
        .agg(
            pl.len().cast(pl.Int64).alias("visits"),
            pl.col("day").n_unique().cast(pl.Int64).alias("active_days"),
            pl.col("start_ms").min().alias("first_ms"),
            pl.col("end_ms").max().alias("last_ms"),
            pl.col("n_events").mean().alias("events_per_visit"),
        )
        .with_columns(
            (pl.col("visits") / pl.max_horizontal(span / DAY_MS, pl.lit(1.0))).alias(
                "visits_per_day"
            ),
            (pl.col("visits") / pl.max_horizontal(span / WEEK_MS, pl.lit(1.0))).alias(
                "visits_per_week"
            ),
        )
        .sort("user_id")
    )


def segment_users(
    visits: pl.DataFrame, as_of_ms: int | None = None, rules: SegmentRules | None = None
) -> pl.DataFrame:
    """``user_id, days_in_window, weeks_in_window, segment`` for every user with a visit.

    See the module docstring for the rules. ``as_of`` defaults to the last visit's end.
    """
    rules = rules or SegmentRules()
    if as_of_ms is None:
        as_of_ms = int(visits["end_ms"].max()) if visits.height else 0  # type: ignore[arg-type]
    window_start = as_of_ms - rules.window_days * DAY_MS
    n_weeks = rules.window_days // 7
    recent = (
        visits.filter((pl.col("start_ms") > window_start) & (pl.col("start_ms") <= as_of_ms))
        .with_columns(
            (pl.col("start_ms") // DAY_MS).alias("day"),
            ((as_of_ms - pl.col("start_ms")) // WEEK_MS).clip(0, n_weeks - 1).alias("block"),
        )
        .group_by("user_id")
        .agg(
            pl.col("day").n_unique().cast(pl.Int64).alias("days_in_window"),
            pl.col("block").n_unique().cast(pl.Int64).alias("weeks_in_window"),
        )
    )
    users = visits.select("user_id").unique()
    return (
        users.join(recent, on="user_id", how="left")
        .with_columns(pl.col("days_in_window", "weeks_in_window").fill_null(0))
        .with_columns(
            pl.when(pl.col("days_in_window") >= rules.daily_min_days)
            .then(pl.lit("daily"))
            .when(pl.col("weeks_in_window") >= rules.weekly_min_weeks)
            .then(pl.lit("weekly"))
            .when(pl.col("days_in_window") > 0)
            .then(pl.lit("occasional"))
            .otherwise(pl.lit("lapsed"))
            .alias("segment")
        )
        .sort("user_id")
    )


def segment_counts(segments: pl.DataFrame) -> dict[str, int]:
    """How many users fall in each segment (every segment present, zeros included)."""
    counts = dict(segments.group_by("segment").len().iter_rows())
    return {name: int(counts.get(name, 0)) for name in SEGMENTS}


@dataclass(frozen=True)
class VisitAnalysis:
    """The visits section: the frames behind the plots and the headline figures."""

    visits: pl.DataFrame
    frequency: pl.DataFrame
    per_user_day: pl.DataFrame
    segments: pl.DataFrame
    summary: dict[str, Any]


def analyse_visits(
    engine: Engine,
    gap_minutes: float = 30.0,
    rules: SegmentRules | None = None,
    event_types: Collection[str] | None = None,
    as_of_ms: int | None = None,
) -> VisitAnalysis:
    """Find the visits and compute rates, distributions and segments.

    ``as_of_ms`` is when the analysis is made: by default the last event in the store
    (a caller that knows it already, like the report, saves the query).
    """
    rules = rules or SegmentRules()
    visits = visits_frame(engine, gap_minutes, event_types=event_types)
    as_of = as_of_ms
    if as_of is None:
        with engine.connect() as conn:
            as_of = latest_event_ms(conn)
    as_of = 0 if as_of is None else as_of
    freq = visit_frequency(visits, as_of)
    per_day = visits_per_user_day(visits)
    segments = segment_users(visits, as_of, rules)
    summary: dict[str, Any] = {
        "visits": int(visits.height),
        "users_with_visits": int(freq.height),
        "gap_minutes": gap_minutes,
        "as_of_ms": as_of,
        "segment_rules": {
            "window_days": rules.window_days,
            "daily_min_days": rules.daily_min_days,
            "weekly_min_weeks": rules.weekly_min_weeks,
        },
        "segments": segment_counts(segments),
    }
    if visits.height:
        minutes = (visits["end_ms"] - visits["start_ms"]) / 60_000
        summary.update(
            median_visits_per_week=_num(freq["visits_per_week"].median()),
            mean_visits_per_week=_num(freq["visits_per_week"].mean()),
            median_visits_per_active_day=_num(per_day["visits"].median()),
            median_visit_minutes=_num(minutes.median()),
            mean_events_per_visit=_num(visits["n_events"].mean()),
            visits_per_week_quantiles=_quantiles(freq["visits_per_week"]),
            visits_per_day_quantiles=_quantiles(freq["visits_per_day"]),
            visits_per_active_day_counts={
                int(n): int(users)
                for n, users in per_day.group_by("visits").len().sort("visits").iter_rows()
            },
        )
    return VisitAnalysis(visits, freq, per_day, segments, summary)


def _quantiles(series: pl.Series) -> dict[str, float]:
    """The 10th, 25th, 50th, 75th and 90th percentiles of a series."""
    return {f"p{q}": _num(series.quantile(q / 100)) for q in (10, 25, 50, 75, 90)}


def _num(value: Any) -> float:
    return round(float(value), 4)
