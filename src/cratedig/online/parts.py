"""Measuring the store one part of its users at a time, with the incremental memory.

Everything measured is a function of one user's rows: a list credits only events of
its user, and an event citing another user's list is ``unknown_list`` whichever part
holds that list. So the users are split into parts (by the categorical code of their
id) that are measured one after the other and add up to the whole store, and the
working frames are a part's size.

An incremental refresh may re-use the **memory** of the previous refresh
(:class:`cratedig.online._state_sql.Remembered`, stored in ``online_memory``): the
attributed events of the lists it recomputes that happened before the events it reads,
and the visit days and attribution outcomes before them. A list is credited only by
events at or after it was served, and whether an artist was new to the user (a follow
the first) depends only on events before it, so events read later change none of the
remembered rows.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import polars as pl
from sqlalchemy import Engine

from cratedig.online._sql import DAY_MS
from cratedig.online._state_sql import (
    Remembered,
)
from cratedig.online.attribution import (
    CREDITED_COLUMNS,
    attribute,
    items_frame,
    lists_frame,
)
from cratedig.online.metrics import position_daily, user_daily, visit_days
from cratedig.online.newness import newness

#: the columns of an event that newness reads
HISTORY_COLUMNS = ["user_id", "artist_id", "occurred_at_ms", "event_type"]


@dataclass(frozen=True)
class Measured:
    """What :func:`measure` found for one part: ``online_user_daily`` rows, position
    counts, event-day outcomes (with ``settled``: of events before the settled time),
    and the rows to remember of the events it read before the settled time: the
    attributed events (with ``impression_id``, ``list_day`` and ``day``, of the event)
    and the visits (``user_id``, ``day``)."""

    users: pl.DataFrame
    positions: pl.DataFrame
    outcomes: pl.DataFrame
    credit: pl.DataFrame
    visits: pl.DataFrame


def by_user(pieces: list[pl.DataFrame], n_parts: int) -> dict[int, pl.DataFrame]:
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


def pieces(frame: pl.DataFrame, rows: int = 500_000) -> list[pl.DataFrame]:
    """``frame`` as slices of ``rows`` (views of its chunks)."""
    return [frame.slice(start, rows) for start in range(0, max(frame.height, 1), rows)]


def measure(
    engine: Engine,
    events: pl.DataFrame,
    impressions: pl.DataFrame,
    feedback: pl.DataFrame,
    head: pl.DataFrame,
    window_ms: int,
    elsewhere: Collection[str],
    load_from_ms: int | None,
    memory: Callable[[], Remembered | None],
    remember_from_day: int,
    settled_ms: int,
) -> Measured:
    """Measure the users of one part: their ``events`` (from ``load_from_ms`` on) and
    ``impressions``, the ``feedback`` on their lists (any feedback may be passed), and
    what ``memory()`` holds of their lists (called once the events are attributed, so
    that a background read of the memory has that time). The rows to remember are
    those of the events before ``settled_ms`` and the lists served from
    ``remember_from_day`` on."""
    lists = lists_frame(impressions.drop("day"))
    del impressions
    items = items_frame(lists)
    found = attribute(events, lists, items, window_ms, elsewhere, settled_ms)
    remembered = memory()  # called late: it may wait for the background read
    old = None
    history = events.select(HISTORY_COLUMNS)
    if remembered is not None and remembered.credit is not None:
        old = remembered.credit.join(
            lists.select("impression_id", "li", "user_id"), on="impression_id", how="inner"
        )
        # remembered events are history too: a pair they show to be known needs no probe
        history = pl.concat([history, old.select(HISTORY_COLUMNS)])
    credited = found.credited
    every = credited if old is None else pl.concat([credited, old.select(CREDITED_COLUMNS)])
    fb = feedback.join(lists.select("list_id", "li"), on="list_id", how="inner")
    # the position curve needs no newness: worked out while the history is probed
    # (polars and the SQLite driver both release the GIL)
    with ThreadPoolExecutor(1) as pool:
        positions = pool.submit(position_daily, lists, items, every, fb)
        new = newness(engine, credited, lists, history, load_from_ms)
        del history
        visits = visit_days(events)
        li = credited.get_column("li")
        remember = credited.select(
            lists.get_column("impression_id").gather(li),
            lists.get_column("day").gather(li).alias("list_day"),
            (pl.col("occurred_at_ms") // DAY_MS).cast(pl.Int32).alias("day"),
            *CREDITED_COLUMNS[1:6],
            "position",
            new.get_column("is_new").fill_null(False).cast(pl.Int64),
            new.get_column("first_follow").fill_null(False).cast(pl.Int64),
        ).filter(
            (pl.col("list_day") >= remember_from_day) & (pl.col("occurred_at_ms") < settled_ms)
        )
        remember_visits = (
            visit_days(events.filter(pl.col("occurred_at_ms") < settled_ms))
            .filter(pl.col("vday") >= remember_from_day)
            .rename({"vday": "day"})
        )
        del events
        if old is not None:
            new = pl.concat([new, old.select(pl.col("is_new", "first_follow").cast(pl.Boolean))])
        if remembered is not None and remembered.visits is not None:
            visits = pl.concat([visits, remembered.visits]).unique()
        users = user_daily(lists, items, every, fb, new, head, visits)
        return Measured(
            users=users,
            positions=positions.result(),
            outcomes=found.outcomes,
            credit=remember,
            visits=remember_visits,
        )


def summed(frames: list[pl.DataFrame], key: list[str]) -> pl.DataFrame:
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
