"""Retention cohorts by signup week.

A user's **cohort** is the Monday-based UTC week of ``users.signup_at_ms``; when that is
missing, the week of the user's first event (the report says how many users this
applies to). Users active in ``user_events`` but absent from ``users`` also get their
first-activity week. A user is **active in week k** of their cohort when they did any
event (of the given types) in the cohort's week plus ``k``. Activity before signup is
ignored. Week ``k`` of a cohort is reported only when the data cover that week (from
the week of the first event to the week of the last); other cells are null, not zero:
users who signed up before the data begin are not counted as inactive in weeks the
data do not show.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import polars as pl
from sqlalchemy import Engine, select

from cratedig.analytics._sql import events, read_frame, week_index, week_start_date
from cratedig.store import schema


@dataclass(frozen=True)
class Retention:
    """The retention table and where the cohorts came from.

    Attributes
    ----------
    table
        ``cohort_start (date), cohort_size, week (k), active, share``; ``active`` and
        ``share`` are null for weeks the data do not reach.
    users_by_signup, users_by_first_activity
        How many users got their cohort from the signup time, and from their first
        activity (signup time missing).
    """

    table: pl.DataFrame
    users_by_signup: int
    users_by_first_activity: int


def retention(
    engine: Engine, max_weeks: int = 12, event_types: Collection[str] | None = None
) -> Retention:
    """Share of each signup-week cohort active in week 0, 1, ..., ``max_weeks``."""
    week = week_index(events.c.occurred_at_ms)
    activity_stmt = select(events.c.user_id, week.label("week")).group_by(events.c.user_id, week)
    if event_types is not None:
        activity_stmt = activity_stmt.where(events.c.event_type.in_(sorted(event_types)))
    signup_week = week_index(schema.users.c.signup_at_ms)
    users_stmt = select(schema.users.c.user_id, signup_week.label("signup_week"))
    with engine.connect() as conn:
        activity = read_frame(conn, activity_stmt, {"user_id": pl.String, "week": pl.Int64})
        users = read_frame(conn, users_stmt, {"user_id": pl.String, "signup_week": pl.Int64})
    empty = pl.DataFrame(
        schema={
            "cohort_start": pl.Date,
            "cohort_size": pl.Int64,
            "week": pl.Int64,
            "active": pl.Int64,
            "share": pl.Float64,
        }
    )
    if activity.height == 0:
        return Retention(empty, 0, 0)
    first_week = int(activity["week"].min())  # type: ignore[arg-type]
    last_week = int(activity["week"].max())  # type: ignore[arg-type]
    first = activity.group_by("user_id").agg(pl.col("week").min().alias("first_week"))
    cohorts = (
        users.join(first, on="user_id", how="full", coalesce=True)
        .with_columns(
            pl.col("signup_week").is_not_null().alias("by_signup"),
            pl.coalesce("signup_week", "first_week").alias("cohort"),
        )
        .filter(pl.col("cohort").is_not_null() & (pl.col("cohort") <= last_week))
    )
    sizes = cohorts.group_by("cohort").agg(pl.len().cast(pl.Int64).alias("cohort_size"))
    active = (
        activity.join(cohorts.select("user_id", "cohort"), on="user_id")
        .with_columns((pl.col("week") - pl.col("cohort")).alias("k"))
        .filter((pl.col("k") >= 0) & (pl.col("k") <= max_weeks))
        .group_by("cohort", "k")
        .agg(pl.col("user_id").n_unique().cast(pl.Int64).alias("active"))
    )
    grid = sizes.join(
        pl.DataFrame({"k": list(range(max_weeks + 1))}, schema={"k": pl.Int64}), how="cross"
    )
    table = (
        grid.join(active, on=["cohort", "k"], how="left")
        .with_columns(
            pl.when((pl.col("cohort") + pl.col("k")).is_between(first_week, last_week))
            .then(pl.col("active").fill_null(0))
            .otherwise(None)
            .alias("active")
        )
        .with_columns((pl.col("active") / pl.col("cohort_size")).alias("share"))
        .select(
            week_start_date("cohort").alias("cohort_start"),
            "cohort_size",
            pl.col("k").alias("week"),
            "active",
            "share",
        )
        .sort("cohort_start", "week")
    )
    by_signup = int(cohorts["by_signup"].sum())
    return Retention(table, by_signup, int(cohorts.height) - by_signup)
