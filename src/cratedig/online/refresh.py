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
from collections.abc import Collection
from dataclasses import asdict, dataclass
from typing import Any

import polars as pl
from sqlalchemy import Engine

from cratedig.online import _sql
from cratedig.online._sql import DAY_MS
from cratedig.online.attribution import attribute, is_sourced, items_frame, lists_frame
from cratedig.online.metrics import (
    KEY,
    RETURN_DAYS,
    USER_KEY,
    daily,
    position_daily,
    user_daily,
    visit_days,
)
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
#: events per part: the store's users are split into parts of about this many events,
#: measured one after the other, so the working frames are a part's size
PART_EVENTS = 1_250_000


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
            events.lazy()
            .filter((pl.col("event_type") == "play_track") & pl.col("artist_id").is_not_null())
            .group_by("artist_id")
            .agg(pl.len().cast(pl.Int64).alias("plays"))
            .collect()
        )
    with engine.begin() as conn:
        _sql.replace_rows(
            conn,
            online_artist_tail,
            split.with_columns(pl.lit(now_ms).alias("computed_at_ms")),
            None,
        )
    return split


def _by_user(pieces: list[pl.DataFrame], n_parts: int) -> dict[int, pl.DataFrame]:
    """The rows of ``pieces`` split into ``n_parts`` by the categorical code of their
    ``user_id`` (every part present, possibly empty).

    ``pieces`` is emptied as it is split, so that each piece can be freed once split:
    the rows are held about once, not twice.
    """
    empty = pieces[0].clear()
    if n_parts == 1:
        return {0: pl.concat(pieces) if len(pieces) > 1 else pieces.pop()}
    out: dict[int, list[pl.DataFrame]] = {k: [] for k in range(n_parts)}
    part = (pl.col("user_id").to_physical() % n_parts).alias("_part")
    pieces.reverse()
    while pieces:
        split = pieces.pop().with_columns(part).partition_by("_part", as_dict=True)
        for (k,), frame in split.items():
            out[int(k)].append(frame.drop("_part"))
    return {k: pl.concat(frames) if frames else empty for k, frames in out.items()}


def _pieces(frame: pl.DataFrame, rows: int = 500_000) -> list[pl.DataFrame]:
    """``frame`` as slices of ``rows`` (views of its chunks)."""
    return [frame.slice(start, rows) for start in range(0, max(frame.height, 1), rows)]


def _measure(
    engine: Engine,
    events: pl.DataFrame,
    impressions: pl.DataFrame,
    feedback: pl.DataFrame,
    head: pl.DataFrame,
    window_ms: int,
    elsewhere: Collection[str],
    load_from_ms: int | None,
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """The ``online_user_daily`` rows, position counts and event-day outcomes of the
    users of one part (their events and lists; ``feedback`` on any list, of which the
    feedback on their lists is used).

    Everything measured is a function of one user's rows (a list credits only events
    of its user; an event citing another user's list is ``unknown_list`` whichever
    part holds that list), so parts add up to the whole store.
    """
    lists = lists_frame(impressions.drop("day"))
    del impressions
    items = items_frame(lists)
    found = attribute(events, lists, items, window_ms, elsewhere)
    new = newness(engine, found.credited, lists, events, load_from_ms)
    visits = visit_days(events)
    del events
    fb = feedback.join(lists.select("list_id", "li"), on="list_id", how="inner")
    users = user_daily(lists, items, found.credited, fb, new, head, visits)
    positions = position_daily(lists, items, found.credited, fb)
    return users, positions, found.outcomes


def _summed(frames: list[pl.DataFrame], key: list[str]) -> pl.DataFrame:
    """Parts' counts added up per ``key`` (their other columns)."""
    if len(frames) == 1:
        return frames[0]
    stacked = pl.concat(frames)
    counts = [c for c in stacked.columns if c not in key]
    return (
        stacked.group_by(key)
        .agg([pl.col(c).sum() for c in counts])
        .select(stacked.columns)
        .sort(key)
    )


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
    elsewhere: Collection[str] = set()
    if not full:  # stored lists cited by events that were served before the range
        sources = (
            events.lazy()
            .select(pl.col("source").filter(is_sourced()).unique().cast(pl.String))
            .collect()
            .to_series()
        )
        known = lists.get_column("list_id").cast(pl.String).implode()
        missing = sources.filter(~sources.is_in(known))
        if missing.len():
            elsewhere = _sql.existing_list_ids(engine, missing.to_list())
    head = (
        _long_tail(engine, events if full else None, now_ms)
        .filter(pl.col("is_long_tail") == 0)
        .select(pl.col("artist_id").cast(pl.Categorical))
    )
    events_read, impressions_read = events.height, lists.height
    n_parts = max(1, -(-events_read // PART_EVENTS))
    pieces = _pieces(events)
    del events
    event_parts = _by_user(pieces, n_parts)
    pieces = _pieces(lists.drop("li"))
    del lists
    list_parts = _by_user(pieces, n_parts)
    parts = []
    for part in range(n_parts):
        parts.append(
            _measure(
                engine,
                event_parts.pop(part),
                list_parts.pop(part),
                feedback,
                head,
                window_ms,
                elsewhere,
                load_from_ms,
            )
        )
    users = pl.concat([p[0] for p in parts]).sort(USER_KEY)
    days = daily(users)
    positions = _summed([p[1] for p in parts], [*KEY, "position"])
    per_event_day = _summed([p[2] for p in parts], ["day"])
    del parts
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
            impressions_read=impressions_read,
            seconds=round(time.perf_counter() - started, 3),
        )
        _sql.write_last_refresh(
            conn, {**result.as_dict(), "now_ms": now_ms, "refresh_id": uuid.uuid4().hex}
        )
    return result
