"""The incremental refresh's memory, worked out in frames (``docs/online.md``,
"Incremental state"): whether the memory covers a refresh, the lists it holds put
with those read, and what a refresh leaves in it. Its SQL is in
:mod:`cratedig.online._state_sql`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import polars as pl
from sqlalchemy import Engine

from cratedig.online import _state_sql
from cratedig.online._sql import DAY_MS
from cratedig.online._state_sql import (
    CREDIT,
    LISTS,
    OUTCOMES,
    VISITS,
    Remembered,
    RememberedLists,
)
from cratedig.online.attribution import ITEM_SLICE, decoded_artists
from cratedig.online.parts import Measured, summed


def covering_memory(engine: Engine, from_day: int, window_days: int) -> dict[str, Any] | None:
    """The memory's record when an incremental refresh from ``from_day`` can use it: the
    same window, its first day at or before ``from_day``, its settled time at or after
    the start of ``from_day``, and the stored lists of the range those it remembers."""
    state = _state_sql.read_cache(engine)
    if (
        state is not None
        and state["window_days"] == window_days
        and state["from_day"] <= from_day
        and state["settled_ms"] >= from_day * DAY_MS
        and _state_sql.holds_the_stored_lists(engine, from_day, state["max_impression_id"])
    ):
        return state
    return None


def before(
    read: Callable[[], Remembered | None], before_ms: int
) -> Callable[[], Remembered | None]:
    """The memory of a background read, for the events before ``before_ms``."""

    def rows() -> Remembered | None:
        found = read()
        return None if found is None else found.before(before_ms)

    return rows


def with_held_lists(held: RememberedLists, read: pl.DataFrame) -> pl.DataFrame:
    """The lists ``read`` (``IMPRESSION_SCHEMA``) and the remembered ones, with their
    ``artists`` decoded (:func:`cratedig.online.attribution.items_frame` reads either)."""
    if held.lists is None:
        return read
    kept = held.lists.select(
        [pl.lit(None, pl.String).alias(c) if c == "artist_ids" else pl.col(c) for c in read.columns]
        + [pl.col("artists")]
    )
    fresh = read.with_columns(pl.lit(None, kept.schema["artists"]).alias("artists"))
    return pl.concat([kept, fresh])


def remembered_lists(
    read: pl.DataFrame, held: RememberedLists | None, from_day: int
) -> dict[str, tuple[pl.DataFrame, int | None]]:
    """The lists to remember (``write_memory``'s frames) from the lists ``read``
    (``IMPRESSION_SCHEMA``) served from ``from_day`` on, their artists decoded: all of
    them when nothing was remembered, otherwise the days from the first list read on,
    whole (none when no list was read)."""
    columns = [
        pl.exclude("artist_ids"),
        decoded_artists().alias("artists"),
        (pl.col("shown_at_ms") // DAY_MS).cast(pl.Int32).alias("day"),
    ]
    # decoded a slice at a time: the JSON lists of strings are the transient peak
    lists = pl.concat(
        [part.select(columns) for part in read.iter_slices(ITEM_SLICE)]
        or [read.clear().select(columns)]
    )
    if held is None:
        return {LISTS: (lists, None)}
    if lists.is_empty():
        return {}
    first_day = int(lists.get_column("day").min())  # type: ignore[arg-type]
    if held.lists is not None:
        lists = pl.concat([held.lists.filter(pl.col("day") >= first_day), lists])
    return {LISTS: (lists, first_day)}


def with_remembered_day(
    remember: dict[str, pl.DataFrame], earlier: Remembered, load_day: int
) -> dict[str, pl.DataFrame]:
    """The rows to remember (by kind) with what the memory held of the events read no
    more (before the events read start) of the days from ``load_day`` on: the rows of
    a day are stored whole."""
    out = dict(remember)
    if earlier.credit is not None:
        out[CREDIT] = pl.concat(
            [earlier.credit.filter(pl.col("day") >= load_day), remember[CREDIT]]
        )
    if earlier.visits is not None:
        kept = earlier.visits.filter(pl.col("vday") >= load_day).rename({"vday": "day"})
        out[VISITS] = pl.concat([kept, remember[VISITS]]).unique()
    if earlier.outcomes is not None:
        kept = earlier.outcomes.filter(pl.col("day") >= load_day)
        out[OUTCOMES] = summed([kept, remember[OUTCOMES]], ["day"])
    return out


def to_remember(
    parts: list[Measured],
    lists: dict[str, tuple[pl.DataFrame, int | None]],
    earlier: Remembered | None,
    replace_from: int | None,
    remember_from_day: int,
) -> tuple[dict[str, tuple[pl.DataFrame, int | None]], pl.DataFrame]:
    """The memory to write (``write_memory``'s frames: the parts' rows of the events
    before the settled time, with what the memory held of the day the events read start
    on, from ``replace_from``; and ``lists``) and the event-day outcomes of the days
    recomputed (the parts' and, for that first day, the memory's)."""
    outcomes = summed([p.outcomes for p in parts], ["day", "settled"])
    remember = {
        _state_sql.CREDIT: pl.concat([p.credit for p in parts]),
        _state_sql.VISITS: pl.concat([p.visits for p in parts]),
        _state_sql.OUTCOMES: outcomes.filter("settled").drop("settled"),
    }
    if earlier is not None and replace_from is not None:
        remember = with_remembered_day(remember, earlier, replace_from)
    per_event_day = summed(
        [remember[_state_sql.OUTCOMES], outcomes.filter(~pl.col("settled")).drop("settled")],
        ["day"],
    )
    remember[_state_sql.OUTCOMES] = remember[_state_sql.OUTCOMES].filter(
        pl.col("day") >= remember_from_day
    )
    return {
        **{kind: (frame, replace_from) for kind, frame in remember.items()},
        **lists,
    }, per_event_day
