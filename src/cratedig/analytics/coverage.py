"""What the data in a store can support: time resolution per event type, durations,
countries, time zones and signup times.

Datasets differ: a site's own log has every event to the millisecond; the Last.fm
HetRec 2K export has only aggregated play counts (no play times) and tag events dated
to the month. Each analysis asks this module which event types it may use, and the
report says plainly what it cannot show and why.

Time resolution of an event type
--------------------------------
Computed from its rows (``occurred_at_ms``):

* ``time``: fewer than half the rows fall exactly on midnight UTC, so times of day
  are real (visits, heat maps, daily activity all work);
* ``day``: dated to the day (daily and weekly activity work, visits do not);
* ``month``: at least half the rows fall on the 1st of a month: dated to the month
  (monthly activity only);
* ``none``: every row has the same timestamp (a snapshot, e.g. aggregated play
  counts): no analysis over time.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any
from zoneinfo import available_timezones

import polars as pl
from sqlalchemy import BigInteger, Engine, cast, distinct, func, select

from cratedig.analytics._sql import (
    at_midnight,
    day_index,
    events,
    has_times_of_day,
    read_frame,
)
from cratedig.store import schema

RESOLUTIONS: tuple[str, ...] = ("time", "day", "month", "none")
_RANK = {name: i for i, name in enumerate(RESOLUTIONS)}


@dataclass
class Coverage:
    """What a store's data supports (see the module docstring).

    Attributes
    ----------
    resolution
        Event type -> ``"time" | "day" | "month" | "none"``.
    rows, events
        Event type -> stored rows, and events they stand for (``sum(count)``).
    """

    n_users: int = 0
    n_users_with_events: int = 0
    n_artists: int = 0
    n_event_rows: int = 0
    first_ms: int | None = None
    last_ms: int | None = None
    resolution: dict[str, str] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    events: dict[str, int] = field(default_factory=dict)
    plays_with_duration: int = 0
    users_with_country: int = 0
    users_with_valid_timezone: int = 0
    users_with_signup: int = 0

    def types_at_least(self, resolution: str) -> list[str]:
        """The event types dated at least as finely as ``resolution``."""
        return sorted(t for t, r in self.resolution.items() if _RANK[r] <= _RANK[resolution])

    @property
    def has_times(self) -> bool:
        """Whether any event type carries times of day (visits, heat map)."""
        return bool(self.types_at_least("time"))

    @property
    def has_days(self) -> bool:
        """Whether any event type is dated to the day (daily/weekly activity)."""
        return bool(self.types_at_least("day"))

    @property
    def has_months(self) -> bool:
        """Whether any event type is dated at least to the month."""
        return bool(self.types_at_least("month"))

    def as_dict(self) -> dict[str, Any]:
        """The coverage as plain JSON-ready data."""
        return asdict(self)


def known_timezones() -> set[str]:
    """Every IANA time zone name known to this machine."""
    return set(available_timezones()) | {"UTC"}


def measure_coverage(engine: Engine) -> Coverage:
    """Measure what the store's data supports (a few aggregate SQL queries)."""
    cov = Coverage()
    users = schema.users
    # one scan: per (event type, UTC day); per-type figures are summed in polars
    midnight = at_midnight()
    day = day_index(events.c.occurred_at_ms)
    per_day = select(
        events.c.event_type,
        day.label("day"),
        func.count().label("rows"),
        cast(func.sum(events.c["count"]), BigInteger).label("events"),
        cast(func.sum(midnight), BigInteger).label("midnight_rows"),
        func.min(events.c.occurred_at_ms).label("first_ms"),
        func.max(events.c.occurred_at_ms).label("last_ms"),
    ).group_by(events.c.event_type, day)
    with engine.connect() as conn:
        days = read_frame(
            conn,
            per_day,
            {
                "event_type": pl.String,
                "day": pl.Int64,
                "rows": pl.Int64,
                "events": pl.Int64,
                "midnight_rows": pl.Int64,
                "first_ms": pl.Int64,
                "last_ms": pl.Int64,
            },
        )
        cov.n_users = int(conn.execute(select(func.count()).select_from(users)).scalar() or 0)
        cov.n_users_with_events = int(
            conn.execute(select(func.count(distinct(events.c.user_id)))).scalar() or 0
        )
        cov.n_artists = int(
            conn.execute(select(func.count()).select_from(schema.artists)).scalar() or 0
        )
        cov.plays_with_duration = int(
            conn.execute(
                select(func.count()).where(
                    events.c.event_type == "play_track", events.c.duration_ms.is_not(None)
                )
            ).scalar()
            or 0
        )
        cov.users_with_country = int(
            conn.execute(
                select(func.count()).where(users.c.country.is_not(None), users.c.country != "")
            ).scalar()
            or 0
        )
        cov.users_with_signup = int(
            conn.execute(select(func.count()).where(users.c.signup_at_ms.is_not(None))).scalar()
            or 0
        )
        zones = read_frame(
            conn,
            select(users.c.timezone, func.count().label("n"))
            .where(users.c.timezone.is_not(None))
            .group_by(users.c.timezone),
            {"timezone": pl.String, "n": pl.Int64},
        )
    valid = known_timezones()
    cov.users_with_valid_timezone = int(
        zones.filter(pl.col("timezone").is_in(sorted(valid)))["n"].sum()
    )
    if days.height == 0:
        return cov
    types = (
        days.with_columns((pl.col("day").cast(pl.Int32).cast(pl.Date).dt.day() == 1).alias("first"))
        .group_by("event_type")
        .agg(
            pl.col("rows").sum(),
            pl.col("events").sum(),
            pl.col("midnight_rows").sum(),
            pl.col("first_ms").min(),
            pl.col("last_ms").max(),
            (pl.col("rows") * pl.col("first")).sum().alias("first_rows"),
        )
        .sort("event_type")
    )
    cov.n_event_rows = int(types["rows"].sum())
    cov.first_ms = int(types["first_ms"].min())  # type: ignore[arg-type]
    cov.last_ms = int(types["last_ms"].max())  # type: ignore[arg-type]
    for row in types.iter_rows(named=True):  # one row per event type, not per event
        rows = int(row["rows"])
        if row["first_ms"] == row["last_ms"] and rows > 1:
            resolution = "none"
        elif has_times_of_day(int(row["midnight_rows"]), rows):
            resolution = "time"
        elif int(row["first_rows"] or 0) * 2 < rows:
            resolution = "day"
        else:
            resolution = "month"
        cov.resolution[row["event_type"]] = resolution
        cov.rows[row["event_type"]] = rows
        cov.events[row["event_type"]] = int(row["events"] or 0)
    return cov


def coverage_notes(cov: Coverage) -> list[str]:
    """Plain sentences saying what the data cannot show, and why."""
    notes: list[str] = []
    if cov.n_event_rows == 0:
        return ["The store holds no events: there is nothing to analyse."]
    undated = [t for t, r in cov.resolution.items() if r == "none"]
    for t in sorted(undated):
        notes.append(
            f"{t}: all {cov.rows[t]:,} rows (standing for {cov.events[t]:,} events) carry one "
            "and the same timestamp: they are aggregated counts with no times, so they are "
            "left out of every analysis over time."
        )
    monthly = [t for t, r in cov.resolution.items() if r == "month"]
    for t in sorted(monthly):
        notes.append(
            f"{t}: dated to the month only (most rows fall on the 1st): it appears in "
            "monthly activity, not in daily or weekly figures."
        )
    if not cov.has_times:
        notes.append(
            "No event carries a time of day, so visits (sessions), visit frequency, user "
            "segments and the listening-hours heat map cannot be computed."
        )
    if not cov.has_days:
        notes.append(
            "No event is dated to the day, so daily/weekly active users, weekly follow "
            "churn and weekly retention cohorts cannot be computed."
        )
    if cov.rows.get("play_track", 0) and cov.plays_with_duration == 0:
        notes.append(
            "Plays carry no duration, so listening time (hours) cannot be computed; "
            "plays are counted instead."
        )
    if not cov.rows.get("play_track", 0):
        notes.append("There are no play_track events: artist popularity uses no plays.")
    if cov.users_with_country == 0:
        notes.append("No user has a country, so top artists per country cannot be shown.")
    if cov.has_times and cov.users_with_valid_timezone == 0:
        notes.append(
            "No user has a known time zone: the heat map uses UTC, not listeners' local time."
        )
    if cov.has_days and cov.n_users and cov.users_with_signup == 0:
        notes.append("No user has a signup time: retention cohorts use each user's first activity.")
    return notes
