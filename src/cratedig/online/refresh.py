"""``cratedig online refresh``: rebuild the online rollups from the stored rows.

A refresh replaces whole days: it deletes the rollup rows from its first day on and
writes them again in one transaction, so running it twice gives the same rows, and a
late or out-of-order event is picked up by the next refresh whose range covers the
days it changes. An incremental refresh (``days_back``) recomputes the impression days
that events of the last ``days_back`` days can change: those within the attribution
window or the 7-day return window before them. ``full`` recomputes everything.

Every refresh also remembers what it worked out (:mod:`cratedig.online.memory`,
``docs/online.md`` "Incremental state"); an incremental refresh whose range the memory
covers reads only the events and lists stored since the last refresh (and the days of
any stored late) and takes the rest from it. Its ``online_user_daily`` rows are
written only where they changed.
"""

from __future__ import annotations

import functools
import math
import os
import socket
import time
import uuid
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass
from typing import Any

import polars as pl
from sqlalchemy import Connection, Engine

from cratedig import clock
from cratedig.exceptions import StoreError
from cratedig.online import _reader, _sql, _state_sql, _write_sql
from cratedig.online import memory as memory_rows
from cratedig.online._sql import DAY_MS
from cratedig.online._state_sql import Remembered, RememberedLists
from cratedig.online.attribution import is_sourced, lists_frame
from cratedig.online.metrics import (
    KEY,
    RETURN_DAYS,
    USER_KEY,
    daily,
)
from cratedig.online.parts import by_user, measure, pieces, summed
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
#: measured one after the other, so the working frames are a part's size (at 10M
#: events, parts of 625K peaked at 1.48 GB against 1.52 GB for 1.25M, and ran faster)
PART_EVENTS = 625_000
#: The memory a refresh leaves holds the events stamped this long before it, so the
#: lists served just before (stored up to a second or so later) are all read by then.
SETTLE_MS = 15 * 60_000


@dataclass(frozen=True)
class RefreshResult:
    """What a refresh did: ``events_read`` and ``impressions_read`` are the rows it
    read from the store's tables, ``impressions_remembered`` the lists it took from the
    memory of the last refresh (``reused_state``)."""

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
    impressions_remembered: int = 0

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


def _lists_elsewhere(engine: Engine, events: pl.DataFrame, lists: pl.DataFrame) -> set[str]:
    """The stored lists cited by ``events`` that are not in ``lists`` (served before the
    range recomputed)."""
    sources = (
        events.lazy()
        .select(pl.col("source").filter(is_sourced()).unique().cast(pl.String))
        .collect()
        .to_series()
    )
    known = lists.get_column("list_id").cast(pl.String).implode()
    missing = sources.filter(~sources.is_in(known))
    return _sql.existing_list_ids(engine, missing.to_list()) if missing.len() else set()


def _joined(
    first: Callable[[], pl.DataFrame], then: Callable[[], pl.DataFrame]
) -> Callable[[], pl.DataFrame]:
    """The frames of two background reads, one after the other."""
    return lambda: pl.concat([first(), then()])


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
    reused = False  # whether the memory of the last refresh is used
    state = None
    if full:
        # remembered for the incremental refreshes of the default range that follow
        remember_from_day = now_day - DEFAULT_DAYS_BACK - reach
    else:
        # impression days whose rows events of the last days_back days can change
        from_day = remember_from_day = now_day - days_back - reach
        state = memory_rows.covering_memory(engine, from_day, window_days)
    # the lists (and an incremental refresh's stored user rows, read to write only the
    # changed ones) are read while the range of events to read is worked out
    extra = [] if from_day is None else [_write_sql.rows_sql(online_user_daily, from_day)]
    since_ms = None if from_day is None else from_day * DAY_MS
    # with the memory, only the lists stored since are read, the others remembered
    after_id = None if state is None else int(state["max_impression_id"])
    read_lists = _sql.read_lists(engine, since_ms, extra, after_id)
    read_held = (
        (lambda: None)
        if after_id is None
        else _reader.later(_state_sql.read_lists_memory, engine, from_day)
    )
    read_events = None
    remembered: Callable[[], Remembered | None] = lambda: None  # noqa: E731
    if from_day is not None:
        # event days whose every candidate list is read
        event_from_day = from_day + window_days
        load_from_ms = from_day * DAY_MS
        if state is not None:  # the memory is used before the first row it lacks
            settled = int(state["settled_ms"])
            # read from the memory's settled time, as almost always, while the check
            # for late rows runs (0.7 s of counts on PostgreSQL at 10M events)
            read_events = _sql.read_events(engine, settled)
            counted = _state_sql.read_outcomes(engine, from_day, settled // DAY_MS)
            held_before = _reader.later(_state_sql.read_memory, engine, from_day, settled, counted)
            load_from_ms = _state_sql.late_from(engine, from_day, state, counted)
            if load_from_ms < settled:  # late rows: their days are read again
                read_events = _joined(_sql.read_events(engine, load_from_ms, settled), read_events)
            remembered = memory_rows.before(held_before, load_from_ms)
            reused = True
            # as before the memory: a late day before from_day + window is counted
            # again with the lists from from_day (docs/online.md)
            event_from_day = load_from_ms // DAY_MS
        else:
            read_events = _sql.read_events(engine, load_from_ms)
    # what the next refresh may take from the memory: events stamped before this time
    # (lists are stored up to a second after they are served; SETTLE_MS leaves room)
    settled_ms = max(now_ms - SETTLE_MS, load_from_ms or 0)
    memory = functools.cache(remembered)

    read, feedback = read_lists[0](), read_lists[1]()
    held: RememberedLists | None = read_held()
    lists = lists_frame(read if held is None else memory_rows.with_held_lists(held, read))
    max_impression_id = max(
        int(read.get_column("impression_id").max() or 0),  # type: ignore[arg-type]
        after_id or 0,
    )
    impressions_read = read.height
    # the lists to remember (decoded at the end, so that the parts hold no more)
    read = read.filter(pl.col("shown_at_ms") >= remember_from_day * DAY_MS)
    # a full refresh reads all the lists, then all the events (read at once, the two
    # raised its peak memory by some 400 MB for 1 s of 17)
    events = (read_events or _sql.read_events(engine, load_from_ms))()
    elsewhere: Collection[str] = set() if full else _lists_elsewhere(engine, events, lists)
    head = (
        _long_tail(engine, events if full else None, now_ms)
        .filter(pl.col("is_long_tail") == 0)
        .select(pl.col("artist_id").cast(pl.Categorical))
    )
    events_read, impressions_remembered = events.height, lists.height - impressions_read
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
                settled_ms,
            )
        )
    users = pl.concat([p.users for p in parts])
    days = daily(users)
    positions = summed([p.positions for p in parts], [*KEY, "position"])
    replace_from = load_from_ms // DAY_MS if reused and load_from_ms is not None else None
    to_remember, per_event_day = memory_rows.to_remember(
        parts,
        memory_rows.remembered_lists(read, held, remember_from_day),
        memory(),
        replace_from,
        remember_from_day,
    )
    del parts, read
    if from_day is not None:
        keep = pl.col("day") >= from_day
        users, days, positions = users.filter(keep), days.filter(keep), positions.filter(keep)
    if event_from_day is not None:
        per_event_day = per_event_day.filter(pl.col("day") >= event_from_day)
    with engine.begin() as conn:
        _fence(conn, holder)
        # the memory first, and let go of it: the user rows are the peak of a full one
        _state_sql.write_memory(
            conn,
            to_remember,
            remember_from_day,
            {
                "until_ms": now_ms,
                "settled_ms": settled_ms,
                "window_days": window_days,
                "max_impression_id": max_impression_id,
            },
        )
        to_remember.clear()
        if from_day is None:  # in key order: appended to the table's B-tree
            _write_sql.replace_rows(conn, online_user_daily, users, from_day, order=USER_KEY)
        else:
            _write_sql.update_rows(conn, online_user_daily, users, read_lists[2](), USER_KEY)
        _write_sql.replace_rows(conn, online_daily, days, from_day)
        _write_sql.replace_rows(conn, online_position_daily, positions, from_day)
        _write_sql.replace_rows(conn, online_event_daily, per_event_day, event_from_day)
        result = RefreshResult(
            full=full,
            from_day=from_day,
            user_rows=users.height,
            daily_rows=days.height,
            position_rows=positions.height,
            event_days=per_event_day.height,
            reused_state=reused,
            events_read=events_read,
            impressions_read=impressions_read,
            seconds=round(time.perf_counter() - started, 3),
            impressions_remembered=impressions_remembered,
        )
        _write_sql.write_last_refresh(
            conn, {**result.as_dict(), "now_ms": now_ms, "refresh_id": uuid.uuid4().hex}
        )
    return result
