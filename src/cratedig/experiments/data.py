"""The adapter between the store and the analysis: per-user numbers of an experiment.

Everything the report computes comes from two functions, so that the source of the
numbers can change without touching the statistics:

* :func:`load_data` returns an :class:`ExperimentData`: one row per user x UTC day x
  variant with the day's numerators and denominators (``items`` shown, ``clicks``
  (clicked items), ``follows``, ``listening_ms``, ``rating_sum``/``ratings``,
  ``visits``, ``subscribes``), each user's first exposure, and each user's pre-period
  values;
* :func:`user_metric` turns it into one row per user: ``numerator``, ``denominator``
  and the pre-period ``pre_numerator``/``pre_denominator`` of one metric, up to a day.

The items shown, clicked items and list ratings come from the online measurement's
per-user-per-day rollup ``online_user_daily`` (impression day x user x list type x
model version x variant, written by ``cratedig online refresh``; read through
:mod:`cratedig.experiments._sql`) when it is up to date, else from the raw tables
(:mod:`cratedig.store.experiments`): the experiment's impressions (``variant =
"<experiment>:<arm>"``), the events joined to them by ``source = list_id`` and the
ratings of those lists. The two agree on the same rows (a test checks it), with one
exception: a ``recommendation_click`` sent without a ``source`` is credited by the
rollup to the last list that showed its artist (view-through), and by the raw reader to
no list. Everything else is read raw (the rollup holds no equivalent): the first
exposure (its time orders a user's lists), follows and listening led by the lists
(``source = list_id``), and each exposed user's visits and subscriptions from any
source.

A user belongs to the variant of their first list in the experiment; exposure (and
every count) starts there. The experiment covers whole UTC days, from the start's day
to the stop's (or ``until_ms``'s); the pre-period is the ``pre_days`` days before.

Metrics
-------
``ctr``           clicked items / items shown (ratio; delta method): the item CTR of
                  ``docs/online.md`` (distinct list positions clicked)
``follow_through`` follows led by the lists / items shown (ratio)
``listening``     listening time (ms) of plays led by the lists, per user (mean)
``rating``        sum of list ratings / ratings, users who rated (ratio)
``retention``     share of users with a visit on a later day than their first list
``subscription``  share of users who subscribed on or after their first list
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import polars as pl
from sqlalchemy import Engine

from cratedig.clock import now_ms
from cratedig.exceptions import ValidationError
from cratedig.experiments import _sql as rollup_sql
from cratedig.experiments.spec import Experiment
from cratedig.store import experiments as sql

DAY_MS = sql.DAY_MS
COUNTS = (
    "items",
    "clicks",
    "follows",
    "listening_ms",
    "rating_sum",
    "ratings",
    "visits",
    "subscribes",
)
_EVENT_COLUMN = {
    "recommendation_click": "clicks",
    "follow_artist": "follows",
    "play_track": "listening_ms",
    "visit": "visits",
    "subscribe": "subscribes",
}


@dataclass(frozen=True)
class MetricKind:
    """How a metric is tested: ``ratio`` (delta method), ``proportion`` (z-test)."""

    kind: Literal["ratio", "proportion"]
    label: str
    higher_is_better: bool = True


METRICS: dict[str, MetricKind] = {
    "ctr": MetricKind("ratio", "CTR"),
    "follow_through": MetricKind("ratio", "follow-through"),
    "listening": MetricKind("ratio", "listening time"),
    "rating": MetricKind("ratio", "rating"),
    "retention": MetricKind("proportion", "retention"),
    "subscription": MetricKind("proportion", "subscription"),
}


@dataclass(frozen=True)
class ExperimentData:
    """An experiment's per-user-per-day numbers.

    Attributes
    ----------
    daily
        ``user_id, variant, day`` and :data:`COUNTS`, days since the epoch (UTC).
    first
        ``user_id, variant, first_day``: each exposed user's arm and first list's day.
    pre
        ``user_id`` and :data:`COUNTS` summed over the pre-period.
    start_day, end_day
        The first and last day of the experiment's data.
    source
        Where the items shown, clicks and ratings came from: ``online`` (the rollup
        ``online_user_daily``) or ``raw`` (impressions joined to events and feedback).
    """

    daily: pl.DataFrame
    first: pl.DataFrame
    pre: pl.DataFrame
    start_day: int
    end_day: int
    source: str = "raw"


def _frame(rows: list[Any], schema: dict[str, Any]) -> pl.DataFrame:
    return pl.DataFrame([tuple(r) for r in rows], schema=schema, orient="row")


def _counts_by(keys: list[str], frame: pl.DataFrame) -> pl.DataFrame:
    for col in COUNTS:
        if col not in frame.columns:
            frame = frame.with_columns(pl.lit(0.0).alias(col))
    return frame.group_by(keys).agg([pl.col(c).cast(pl.Float64).sum() for c in COUNTS])


Source = Literal["auto", "online", "raw"]


def _use_rollups(
    engine: Engine, source: Source, start_day: int, end_ms: int, until_given: bool
) -> tuple[bool, int]:
    """Whether to read the online rollups, and the period's end.

    ``auto`` reads them when the last online refresh ran at or after ``end_ms`` (its
    rows cover the whole period), or, for a running experiment analysed "now", when it
    covers at least one whole day since the start: the period then ends with the last
    whole day before that refresh (a daily snapshot, as the rollups are).
    """
    if source != "auto":
        return source == "online", end_ms
    with engine.connect() as conn:
        refreshed = rollup_sql.last_refresh_ms(conn)
    if refreshed is None:
        return False, end_ms
    if refreshed >= end_ms:
        return True, end_ms
    last_whole_day = refreshed // DAY_MS - 1
    if not until_given and last_whole_day >= start_day:
        return True, (last_whole_day + 1) * DAY_MS - 1
    return False, end_ms


def _clicked_items(rows: list[Any]) -> pl.DataFrame:
    """``user_id, day, clicks``: distinct (list, artist of the list) clicked through."""
    s, i = pl.Utf8, pl.Int64
    schema = {"user_id": s, "variant": s, "day": i, "list_id": s, "artist_ids": s, "artist_id": s}
    frame = _frame(rows, schema).with_columns(
        pl.col("artist_ids").str.json_decode(pl.List(pl.String))
    )
    return (
        frame.filter(pl.col("artist_ids").list.contains(pl.col("artist_id")))
        .group_by("user_id", "day")
        .agg(pl.len().cast(pl.Float64).alias("clicks"))
    )


def load_data(
    engine: Engine,
    exp: Experiment,
    until_ms: int | None = None,
    pre_days: int = 14,
    source: Source = "auto",
) -> ExperimentData:
    """Read an experiment's per-user-per-day numbers from the store.

    The experiment covers whole UTC days: the lists shown from the start's day to the
    day of ``until_ms`` (default: the stop, or now); the pre-period is the
    ``pre_days`` days before the start's day.

    Parameters
    ----------
    source
        Where items shown, clicked items and ratings come from: ``online``, the online
        rollup ``online_user_daily``; ``raw``, the impressions joined to the events and
        feedback; ``auto`` (default), the rollup when the last ``cratedig online
        refresh`` ran after the period's end, else the raw tables; for a running
        experiment (no ``until_ms``) the rollup up to the last whole day it covers
        when it covers one. Both give the same numbers on the same rows (see the
        module docstring for the one exception).
    """
    if exp.started_at_ms is None:
        raise ValidationError("state", exp.state, "an experiment that has started")
    end_ms = int(until_ms or exp.stopped_at_ms or now_ms())
    start_day = int(exp.started_at_ms) // DAY_MS
    online, end_ms = _use_rollups(
        engine, source, start_day, end_ms, bool(until_ms or exp.stopped_at_ms)
    )
    end_day = end_ms // DAY_MS
    start, end = start_day * DAY_MS, (end_day + 1) * DAY_MS
    pre_start = start - pre_days * DAY_MS
    labels, lists = list(exp.labels), list(exp.list_types)
    with engine.connect() as conn:
        shown = sql.daily_impressions(conn, labels, lists, start, end)
        led = sql.daily_list_events(conn, labels, lists, start, end)
        own = sql.daily_user_events(conn, labels, lists, start, end, pre_start)
        before = sql.pre_period(conn, labels, lists, start, end, pre_start, items=not online)
        if online:
            counts = rollup_sql.user_day_counts(conn, labels, lists, start_day, end_day)
            users = sorted({r[0] for r in shown})
            pre_counts = rollup_sql.pre_counts(conn, users, lists, start_day - pre_days, start_day)
        else:
            rated = sql.daily_ratings(conn, labels, lists, start, end)
            clicked = sql.clicked_lists(conn, labels, lists, start, end)
            pre_clicked = sql.clicked_lists(
                conn, None, lists, pre_start, start, (labels, start, end)
            )
    s, i, f = pl.Utf8, pl.Int64, pl.Float64
    imp = _frame(
        shown, {"user_id": s, "variant": s, "day": i, "first_ms": i, "lists": i, "items": f}
    )
    first = (
        imp.sort("first_ms")
        .group_by("user_id", maintain_order=True)
        .agg(pl.col("variant").first(), pl.col("day").min().alias("first_day"))
    )
    ev = _frame(led, {"user_id": s, "variant": s, "day": i, "type": s, "n": f, "ms": f})
    ev = ev.with_columns(
        pl.when(pl.col("type") == "play_track")
        .then(pl.col("ms"))
        .otherwise(pl.col("n"))
        .alias("v"),
        pl.col("type").replace_strict(_EVENT_COLUMN, default="other").alias("col"),
    )
    parts = []
    for col in ("follows", "listening_ms"):
        part = ev.filter(pl.col("col") == col).select("user_id", "day", pl.col("v").alias(col))
        parts.append(part)
    rollup_schema = {"rating_sum": f, "ratings": f}
    if online:
        rollup = _frame(counts, {"user_id": s, "variant": s, "day": i, "items": f, "clicks": f,
                                 **rollup_schema})  # fmt: skip
        parts.append(rollup.drop("variant"))
    else:
        parts.append(imp.select("user_id", "day", "items"))
        parts.append(_clicked_items(clicked))
        rt = _frame(rated, {"user_id": s, "variant": s, "day": i, **rollup_schema})
        parts.append(rt.select("user_id", "day", "rating_sum", "ratings"))
    own_f = _frame(own, {"user_id": s, "day": i, "type": s, "n": f})
    in_period = own_f.filter(pl.col("day") >= start_day)
    for col in ("visits", "subscribes"):
        etype = "visit" if col == "visits" else "subscribe"
        parts.append(
            in_period.filter(pl.col("type") == etype).select(
                "user_id", "day", pl.col("n").alias(col)
            )
        )
    daily = _counts_by(["user_id", "day"], pl.concat(parts, how="diagonal"))
    daily = daily.join(first.select("user_id", "variant"), on="user_id", how="inner")
    pre_f = _frame(before, {"user_id": s, "type": s, "items": f, "n": f, "ms": f})
    pre_parts = []
    if online:
        pre_rollup = _frame(pre_counts, {"user_id": s, "items": f, "clicks": f, **rollup_schema})
        pre_parts.append(pre_rollup.select("user_id", "items", "clicks"))
    else:
        pre_parts.append(pre_f.filter(pl.col("type") == "items").select("user_id", "items"))
        pre_parts.append(_clicked_items(pre_clicked).select("user_id", "clicks"))
    for etype, col in _EVENT_COLUMN.items():
        if col in ("visits", "subscribes"):
            rows = own_f.filter((pl.col("day") < start_day) & (pl.col("type") == etype))
            pre_parts.append(rows.select("user_id", pl.col("n").alias(col)))
        elif col != "clicks":
            value = pl.col("ms") if etype == "play_track" else pl.col("n")
            rows = pre_f.filter(pl.col("type") == etype)
            pre_parts.append(rows.select("user_id", value.alias(col)))
    pre = _counts_by(["user_id"], pl.concat(pre_parts, how="diagonal"))
    return ExperimentData(daily, first, pre, start_day, end_day, "online" if online else "raw")


def user_metric(data: ExperimentData, metric: str, through_day: int | None = None) -> pl.DataFrame:
    """One row per exposed user: ``user_id, variant, numerator, denominator,
    pre_numerator, pre_denominator`` of ``metric`` up to ``through_day`` (inclusive).

    Raises
    ------
    ValidationError
        For an unknown metric.
    """
    if metric not in METRICS:
        raise ValidationError("metric", metric, "one of " + ", ".join(METRICS))
    last = data.end_day if through_day is None else through_day
    users = data.first.filter(pl.col("first_day") <= last)
    days = data.daily.filter(pl.col("day") <= last)
    after = days.join(users.select("user_id", "first_day"), on="user_id").filter(
        pl.col("day") >= pl.col("first_day")
    )
    later = after.filter(pl.col("day") > pl.col("first_day"))
    sums = _counts_by(["user_id"], after.drop("variant", "day", "first_day"))
    frame = users.join(sums, on="user_id", how="left").join(
        data.pre.rename({c: f"pre_{c}" for c in COUNTS}), on="user_id", how="left"
    )
    revisits = later.group_by("user_id").agg(pl.col("visits").sum().alias("later_visits"))
    frame = frame.join(revisits, on="user_id", how="left").fill_null(0.0)
    num, den, pre_num, pre_den = {
        "ctr": ("clicks", "items", "pre_clicks", "pre_items"),
        "follow_through": ("follows", "items", "pre_follows", "pre_items"),
        "listening": ("listening_ms", None, "pre_listening_ms", None),
        "rating": ("rating_sum", "ratings", "pre_rating_sum", "pre_ratings"),
        "retention": ("later_visits", None, "pre_visits", None),
        "subscription": ("subscribes", None, "pre_subscribes", None),
    }[metric]
    out = frame.select(
        "user_id",
        "variant",
        pl.col(num).alias("numerator"),
        (pl.col(den) if den else pl.lit(1.0)).alias("denominator"),
        pl.col(pre_num).alias("pre_numerator"),
        (pl.col(pre_den) if pre_den else pl.lit(1.0)).alias("pre_denominator"),
    )
    if METRICS[metric].kind == "proportion":
        out = out.with_columns(
            (pl.col("numerator") > 0).cast(pl.Float64).alias("numerator"),
            (pl.col("pre_numerator") > 0).cast(pl.Float64).alias("pre_numerator"),
        )
    if metric == "rating":  # only users who rated
        out = out.filter(pl.col("denominator") > 0)
    return out.sort("user_id")
