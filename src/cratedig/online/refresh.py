"""``cratedig online refresh``: rebuild the online rollups from the stored rows.

A refresh replaces whole days: it deletes the rollup rows from its first day on and
writes them again in one transaction, so running it twice gives the same rows, and a
late or out-of-order event is picked up by the next refresh whose range covers the
days it changes. An incremental refresh (``days_back``) recomputes the impression days
that events of the last ``days_back`` days can change: those within the attribution
window or the 7-day return window before them. ``full`` recomputes everything.

Every refresh also remembers what it attributed (:mod:`cratedig.online.parts`,
``docs/online.md`` "Incremental state"); an incremental refresh whose range the memory
covers reads only the events of its last ``days_back`` days and takes the rest from
it. Its ``online_user_daily`` rows are written only where they changed.
"""

from __future__ import annotations

import functools
import math
import os
import socket
import time
import uuid
from collections.abc import Collection
from dataclasses import asdict, dataclass
from typing import Any

import polars as pl
from sqlalchemy import Connection, Engine

from cratedig import clock
from cratedig.exceptions import StoreError
from cratedig.online import _sql, _state_sql, _write_sql
from cratedig.online._sql import DAY_MS
from cratedig.online.attribution import is_sourced, lists_frame
from cratedig.online.metrics import (
    KEY,
    RETURN_DAYS,
    USER_KEY,
    daily,
)
from cratedig.online.parts import Memory, by_user, measure, pieces, summed
from cratedig.store import scheduler as leases
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
#: The lease (a ``scheduler_leases`` row) a refresh holds while it runs.
LEASE_NAME = "online-refresh"
#: How long a refresh's lease lasts (a refresh killed midway blocks others this long).
LEASE_TTL_MS = 10 * 60_000
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
    reused_state: bool
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
        _write_sql.replace_rows(
            conn,
            online_artist_tail,
            split.with_columns(pl.lit(now_ms).alias("computed_at_ms")),
            None,
        )
    return split


class RefreshBusyError(StoreError):
    """Another refresh holds the store's refresh lease."""


def refresh(
    engine: Engine,
    *,
    days_back: int = DEFAULT_DAYS_BACK,
    full: bool = False,
    window_days: int = 7,
    now_ms: int | None = None,
) -> RefreshResult:
    """Recompute the online rollups (see the module docstring).

    One refresh at a time acts on a store: it holds the lease :data:`LEASE_NAME` (the
    scheduler's lease table) while it runs, and its writes commit only while it still
    holds it. A refresh killed midway leaves the lease until it expires
    (:data:`LEASE_TTL_MS`).

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

    Raises
    ------
    RefreshBusyError
        When another refresh holds the lease, or this one lost it.
    """
    holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    if leases.acquire_lease(engine, LEASE_NAME, holder, LEASE_TTL_MS, clock.now_ms()) is None:
        lease = leases.read_lease(engine, LEASE_NAME)
        other = "another refresh" if lease is None else f"another refresh ({lease.holder})"
        until = "" if lease is None else f" for up to {_minutes(lease.expires_at_ms)} more minutes"
        raise RefreshBusyError(
            f"{other} holds this store's online refresh lease{until}; "
            "wait for it to finish, then refresh again"
        )
    try:
        return _refresh(engine, holder, days_back, full, window_days, now_ms)
    finally:
        leases.release_lease(engine, LEASE_NAME, holder, clock.now_ms())


def _minutes(expires_at_ms: int) -> int:
    return max(1, -(-(expires_at_ms - clock.now_ms()) // 60_000))


def _fence(conn: Connection, holder: str) -> None:
    """Renew the lease in the writing transaction (it locks the lease row), or raise."""
    if not leases.renew_lease(conn, LEASE_NAME, holder, LEASE_TTL_MS, clock.now_ms()):
        raise RefreshBusyError(
            f"this refresh lost the store's online refresh lease ({LEASE_TTL_MS // 60_000} "
            "minutes passed, and another refresh took it); nothing was written"
        )


def _refresh(
    engine: Engine,
    holder: str,
    days_back: int,
    full: bool,
    window_days: int,
    now_ms: int | None,
) -> RefreshResult:
    started = time.perf_counter()
    now_ms = int(time.time() * 1000) if now_ms is None else int(now_ms)
    window_ms = window_days * DAY_MS
    reach = max(window_days, RETURN_DAYS)
    now_day = now_ms // DAY_MS
    from_day: int | None = None  # the first impression day recomputed
    event_from_day: int | None = None  # the first event day recomputed
    load_from_ms: int | None = None  # the events read start here
    cut_day: int | None = None  # set when the memory of the last refresh is used
    if full:
        # remembered for the incremental refreshes of the default range that follow
        remember_from_day = now_day - DEFAULT_DAYS_BACK - reach
    else:
        # impression days whose rows events of the last days_back days can change
        from_day = remember_from_day = now_day - days_back - reach
        cut_day = now_day - days_back
        state = _state_sql.read_cache(engine)
        if not (
            state is not None
            and state["window_days"] == window_days
            and state["from_day"] <= from_day
            and state["until_ms"] >= cut_day * DAY_MS
        ):
            cut_day = None
        else:  # events that arrived late for days the memory holds are read again
            cut_day = _state_sql.late_cut(engine, from_day, cut_day)
        # event days whose outcome is recomputed: their candidate lists are all loaded
        event_from_day = from_day + window_days if cut_day is None else cut_day
        load_from_ms = (from_day if cut_day is None else cut_day) * DAY_MS
    # an incremental refresh reads the user rows it recomputes (to write only the
    # changed ones) and, when it uses it, the memory of the last refresh
    extra = [] if from_day is None else [_write_sql.rows_sql(online_user_daily, from_day)]
    if cut_day is not None and from_day is not None:
        extra += [
            (_state_sql.credit_sql(from_day, cut_day), _state_sql.CREDIT_SCHEMA),
            (_state_sql.visit_sql(from_day, cut_day), _state_sql.VISIT_SCHEMA),
        ]
    impressions, events, feedback, later = _sql.read_inputs(
        engine, None if from_day is None else from_day * DAY_MS, load_from_ms, extra
    )

    @functools.cache
    def memory() -> Memory | None:  # waits for the background read
        if cut_day is None:
            return None
        _, credit, visits = later()
        return Memory(_state_sql.cached_credit(credit), visits)

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
    split = pieces(events)
    del events
    event_parts = by_user(split, n_parts)
    split = pieces(lists.drop("li"))
    del lists
    list_parts = by_user(split, n_parts)
    parts = []
    for part in range(n_parts):
        parts.append(
            measure(
                engine,
                event_parts.pop(part),
                list_parts.pop(part),
                feedback,
                head,
                window_ms,
                elsewhere,
                load_from_ms,
                memory,
                remember_from_day,
            )
        )
    users = pl.concat([p.users for p in parts])
    days = daily(users)
    positions = summed([p.positions for p in parts], [*KEY, "position"])
    per_event_day = summed([p.outcomes for p in parts], ["day"])
    credit = pl.concat([p.credit for p in parts])
    visits = pl.concat([p.visits for p in parts])
    del parts
    if from_day is not None:
        keep = pl.col("day") >= from_day
        users, days, positions = users.filter(keep), days.filter(keep), positions.filter(keep)
    if event_from_day is not None:
        per_event_day = per_event_day.filter(pl.col("day") >= event_from_day)
    with engine.begin() as conn:
        _fence(conn, holder)
        if from_day is None:  # in key order: appended to the table's B-tree
            _write_sql.replace_rows(conn, online_user_daily, users.sort(USER_KEY), from_day)
        else:
            _write_sql.update_rows(conn, online_user_daily, users, later()[0], USER_KEY)
        _write_sql.replace_rows(conn, online_daily, days, from_day)
        _write_sql.replace_rows(conn, online_position_daily, positions, from_day)
        _write_sql.replace_rows(conn, online_event_daily, per_event_day, event_from_day)
        _state_sql.write_cache(
            conn, credit, visits, remember_from_day, cut_day, now_ms, window_days
        )
        result = RefreshResult(
            full=full,
            from_day=from_day,
            user_rows=users.height,
            daily_rows=days.height,
            position_rows=positions.height,
            event_days=per_event_day.height,
            reused_state=cut_day is not None,
            events_read=events_read,
            impressions_read=impressions_read,
            seconds=round(time.perf_counter() - started, 3),
        )
        _write_sql.write_last_refresh(
            conn, {**result.as_dict(), "now_ms": now_ms, "refresh_id": uuid.uuid4().hex}
        )
    return result
