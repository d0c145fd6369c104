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
import uuid
from dataclasses import asdict, dataclass
from typing import Any

import polars as pl
from sqlalchemy import Engine

from cratedig.online import _sql
from cratedig.online._sql import DAY_MS
from cratedig.online.attribution import attribute, is_sourced, items_frame, lists_frame
from cratedig.online.metrics import RETURN_DAYS, daily, position_daily, user_daily, visit_days
from cratedig.online.newness import newness
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
    ranked = (
        plays.with_columns(pl.col("artist_id").cast(pl.String))
        .filter(pl.col("plays") > 0)
        .sort(["plays", "artist_id"], descending=[True, False])
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
        event_from_day: int | None = None
        load_from_ms: int | None = None
    else:
        # impression days whose rows events of the last days_back days can change
        from_day = now_ms // DAY_MS - days_back - max(window_days, RETURN_DAYS)
        # event days whose outcome is recomputed: their candidate lists are all loaded
        event_from_day = from_day + window_days
        load_from_ms = from_day * DAY_MS
    impressions, events, feedback = _sql.read_inputs(engine, load_from_ms)
    lists = lists_frame(impressions)
    del impressions
    items = items_frame(lists)
    sources = events.filter(is_sourced()).get_column("source").unique().cast(pl.String)
    missing = sources.filter(~sources.is_in(lists.get_column("list_id").cast(pl.String).implode()))
    elsewhere = (
        _sql.existing_list_ids(engine, missing.to_list()) if (not full and missing.len()) else set()
    )
    found = attribute(events, lists, items, window_ms, elsewhere)
    head = (
        _long_tail(engine, events if full else None, now_ms)
        .filter(pl.col("is_long_tail") == 0)
        .select(pl.col("artist_id").cast(pl.Categorical))
    )
    new = newness(engine, found.credited, lists, events, load_from_ms)
    visits = visit_days(events)
    events_read = events.height
    del events
    fb = feedback.join(lists.select("list_id", "li"), on="list_id", how="inner")
    users = user_daily(lists, items, found.credited, fb, new, head, visits)
    days = daily(users)
    positions = position_daily(lists, items, found.credited, fb)
    per_event_day = found.outcomes
    if from_day is not None:
        keep = pl.col("day") >= from_day
        users, days, positions = users.filter(keep), days.filter(keep), positions.filter(keep)
    if event_from_day is not None:
        per_event_day = per_event_day.filter(pl.col("day") >= event_from_day)
    with engine.begin() as conn:
        _sql.replace_rows(conn, online_user_daily, users, from_day)
        _sql.replace_rows(conn, online_daily, days, from_day)
        _sql.replace_rows(conn, online_position_daily, positions, from_day)
        _sql.replace_rows(conn, online_event_daily, per_event_day, event_from_day)
        result = RefreshResult(
            full=full,
            from_day=from_day,
            user_rows=users.height,
            daily_rows=days.height,
            position_rows=positions.height,
            event_days=per_event_day.height,
            events_read=events_read,
            impressions_read=lists.height,
            seconds=round(time.perf_counter() - started, 3),
        )
        _sql.write_last_refresh(
            conn, {**result.as_dict(), "now_ms": now_ms, "refresh_id": uuid.uuid4().hex}
        )
    return result
