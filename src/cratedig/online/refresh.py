"""``cratedig online refresh``: rebuild the online rollups from the stored rows.

A refresh replaces whole days: it deletes the rollup rows from its first day on and
writes them again in one transaction, so running it twice gives the same rows, and a
late or out-of-order event is picked up by the next refresh whose range covers the
days it changes. An incremental refresh (``days_back``) recomputes the impression days
that events of the last ``days_back`` days can change: those within the attribution
window or the 7-day return window before them. ``full`` recomputes everything.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import Any

import polars as pl
from sqlalchemy import Engine

from cratedig.online import _sql
from cratedig.online._sql import DAY_MS
from cratedig.online.attribution import attribute, items_frame, lists_frame
from cratedig.online.metrics import RETURN_DAYS, daily, event_daily, position_daily, user_daily
from cratedig.store.schema.rollups import (
    online_artist_tail,
    online_daily,
    online_event_daily,
    online_position_daily,
    online_user_daily,
)

#: Share of the played artists (the most played) that make the short head; the rest
#: is the long tail (the 20/80 split of Celma, *Music Recommendation and Discovery*,
#: 2010, ch. 4; Abdollahpouri et al., "Managing Popularity Bias", RecSys 2017).
HEAD_SHARE = 0.2
DEFAULT_DAYS_BACK = 3


@dataclass(frozen=True)
class RefreshResult:
    """What a refresh did."""

    full: bool
    from_day: int | None
    user_rows: int
    daily_rows: int
    position_rows: int
    event_days: int
    events_read: int
    impressions_read: int
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def long_tail_split(plays: pl.DataFrame) -> pl.DataFrame:
    """``artist_id``, ``plays``, ``is_long_tail`` from plays per artist.

    The head is the ``ceil(HEAD_SHARE * n)`` most played of the ``n`` played artists
    (ties broken by artist id); every other artist, and any artist never played, is
    in the long tail.
    """
    ranked = plays.filter(pl.col("plays") > 0).sort(
        ["plays", "artist_id"], descending=[True, False]
    )
    head = math.ceil(HEAD_SHARE * ranked.height)
    return ranked.with_columns(
        (pl.int_range(pl.len()) >= head).cast(pl.Int64).alias("is_long_tail")
    )


def _long_tail(engine: Engine, events: pl.DataFrame | None, now_ms: int) -> pl.DataFrame:
    """The long-tail artists: recomputed from ``events`` (a full refresh) or read."""
    if events is None:
        stored = _sql.read_long_tail(engine)
        if not stored.is_empty():
            return stored
        split = long_tail_split(_sql.read_play_counts(engine))
    else:
        split = long_tail_split(
            events.filter(
                (pl.col("event_type") == "play_track") & pl.col("artist_id").is_not_null()
            )
            .group_by("artist_id")
            .agg(pl.len().cast(pl.Int64).alias("plays"))
        )
    with engine.begin() as conn:
        _sql.replace_rows(
            conn,
            online_artist_tail,
            split.with_columns(pl.lit(now_ms).alias("computed_at_ms")),
            None,
        )
    return split


def _newness(
    engine: Engine,
    attributed: pl.DataFrame,
    events: pl.DataFrame,
    events_from_ms: int | None,
) -> pl.DataFrame:
    """``eid``, ``is_new``, ``first_follow`` for the credited play and follow events."""
    credited = attributed.filter(
        pl.col("mode").is_in(["click", "view"])
        & pl.col("position").is_not_null()
        & pl.col("event_type").is_in(["play_track", "follow_artist"])
    ).select("eid", "user_id", "artist_id", "event_type", "occurred_at_ms", "shown_at_ms")
    pairs = credited.select("user_id", "artist_id").unique()
    known = events.filter(pl.col("artist_id").is_not_null()).join(
        pairs, on=["user_id", "artist_id"], how="semi"
    )
    first_any = known.group_by("user_id", "artist_id").agg(
        pl.col("occurred_at_ms").min().alias("first_ms")
    )
    first_follow = (
        known.filter(pl.col("event_type") == "follow_artist")
        .group_by("user_id", "artist_id")
        .agg(pl.col("occurred_at_ms").min().alias("first_follow_ms"))
    )
    out = credited.join(first_any, on=["user_id", "artist_id"], how="left").join(
        first_follow, on=["user_id", "artist_id"], how="left"
    )
    out = out.with_columns(
        (pl.col("first_ms").is_null() | (pl.col("first_ms") >= pl.col("shown_at_ms"))).alias(
            "is_new"
        ),
        (
            pl.col("first_follow_ms").is_null()
            | (pl.col("first_follow_ms") >= pl.col("occurred_at_ms"))
        ).alias("first_follow"),
    )
    if events_from_ms is not None:  # history before the loaded events: index probes
        seen = _categorical(
            _sql.pairs_seen_before(engine, pairs, events_from_ms), "user_id", "artist_id"
        ).with_columns(pl.lit(True).alias("seen"))
        followed = _categorical(
            _sql.pairs_seen_before(
                engine,
                credited.filter(pl.col("event_type") == "follow_artist")
                .select("user_id", "artist_id")
                .unique(),
                events_from_ms,
                "follow_artist",
            ),
            "user_id",
            "artist_id",
        ).with_columns(pl.lit(True).alias("followed"))
        out = (
            out.join(seen, on=["user_id", "artist_id"], how="left")
            .join(followed, on=["user_id", "artist_id"], how="left")
            .with_columns(
                (pl.col("is_new") & pl.col("seen").is_null()).alias("is_new"),
                (pl.col("first_follow") & pl.col("followed").is_null()).alias("first_follow"),
            )
        )
    return out.select("eid", "is_new", "first_follow")


def _categorical(frame: pl.DataFrame, *columns: str) -> pl.DataFrame:
    return frame.with_columns([pl.col(c).cast(pl.Categorical) for c in columns])


def refresh(
    engine: Engine,
    *,
    days_back: int = DEFAULT_DAYS_BACK,
    full: bool = False,
    window_days: int = 7,
    now_ms: int | None = None,
) -> RefreshResult:
    """Recompute the online rollups (see the module docstring).

    Parameters
    ----------
    days_back
        Days of events (before ``now_ms``) whose effects are recomputed.
    full
        Recompute every day instead.
    window_days
        The attribution window (``Settings.online_attribution_days``).
    now_ms
        The current time (defaults to the clock; tests and benchmarks pass one).
    """
    started = time.perf_counter()
    now_ms = int(time.time() * 1000) if now_ms is None else int(now_ms)
    window_ms = window_days * DAY_MS
    if full:
        from_day: int | None = None
        load_from_ms: int | None = None
    else:
        from_day = now_ms // DAY_MS - days_back - max(window_days, RETURN_DAYS)
        load_from_ms = (from_day - window_days - 1) * DAY_MS
    impressions = _sql.read_impressions(engine, load_from_ms)
    events = _sql.read_events(engine, load_from_ms)
    feedback = _sql.read_feedback(engine, load_from_ms)
    # ids as categoricals: u32 codes over one dictionary, so joins and group-bys
    # hash integers and each distinct string is held once (a third of the memory)
    events = _categorical(events, "user_id", "event_type", "artist_id", "source")
    impressions = _categorical(
        impressions, "list_id", "user_id", "list_type", "model_version", "variant"
    )
    feedback = _categorical(feedback, "user_id", "list_id", "artist_id", "kind")
    lists = lists_frame(impressions)
    items = items_frame(lists)
    sourced = events.filter(
        pl.col("source").is_not_null() & ~pl.col("source").is_in(["organic", ""])
    )
    missing = (
        sourced.join(lists.select("list_id"), left_on="source", right_on="list_id", how="anti")
        .get_column("source")
        .unique()
        .to_list()
    )
    elsewhere = _sql.existing_list_ids(engine, missing) if (missing and not full) else set()
    attributed = attribute(events, lists, items, window_ms, elsewhere)
    head = _long_tail(engine, events if full else None, now_ms).filter(pl.col("is_long_tail") == 0)
    newness = _newness(engine, attributed, events, load_from_ms)
    visit_days = (
        events.filter(pl.col("event_type") == "visit")
        .select("user_id", (pl.col("occurred_at_ms") // DAY_MS).cast(pl.Int32).alias("vday"))
        .unique()
    )
    users = user_daily(lists, items, attributed, feedback, newness, head, visit_days)
    days = daily(users)
    positions = position_daily(items, attributed, feedback)
    per_event_day = event_daily(attributed)
    if from_day is not None:
        keep = pl.col("day") >= from_day
        users, days = users.filter(keep), days.filter(keep)
        positions, per_event_day = positions.filter(keep), per_event_day.filter(keep)
    with engine.begin() as conn:
        _sql.replace_rows(conn, online_user_daily, users, from_day)
        _sql.replace_rows(conn, online_daily, days, from_day)
        _sql.replace_rows(conn, online_position_daily, positions, from_day)
        _sql.replace_rows(conn, online_event_daily, per_event_day, from_day)
        result = RefreshResult(
            full=full,
            from_day=from_day,
            user_rows=users.height,
            daily_rows=days.height,
            position_rows=positions.height,
            event_days=per_event_day.height,
            events_read=events.height,
            impressions_read=impressions.height,
            seconds=round(time.perf_counter() - started, 3),
        )
        _sql.write_last_refresh(conn, {**result.as_dict(), "now_ms": now_ms})
    return result
