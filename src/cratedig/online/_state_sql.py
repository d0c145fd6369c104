"""The SQL of the incremental refresh's memory (``online_memory`` and the
``online_state`` key ``credit_cache``; ``docs/online.md``, "Incremental state").

``credit_cache`` is JSON ``{"from_day", "until_ms", "settled_ms", "window_days",
"max_impression_id"}``: as of the refresh at ``until_ms`` with that attribution window,
the memory holds what the events stamped before ``settled_ms`` did for the lists served
from ``from_day`` on: their attributed events (kind ``credit``), the users' visit days
(``visits``) and the per-day attribution outcomes of every such event (``outcomes``);
and the lists served from ``from_day`` on that it read (``lists``, their artists
decoded), the newest of them ``max_impression_id``. Each kind's rows of a day are one
Arrow IPC stream (LZ4) in ``online_memory``.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any

import polars as pl
from sqlalchemy import Connection, Engine, delete, func, insert, select, text

from cratedig.online._sql import DAY_MS, count_lists, read_state
from cratedig.online._write_sql import write_state
from cratedig.store.schema import impressions
from cratedig.store.schema.rollups import online_memory

KEY = "credit_cache"
#: the memory's kinds: attributed events, visit days and attribution outcomes, each
#: by the day of the event; the lists read (their artists decoded), by the day the
#: list was served
CREDIT, VISITS, OUTCOMES, LISTS = "credit", "visits", "outcomes", "lists"
#: the keys of a ``credit_cache`` record this code reads (an older record is not used)
RANGE_KEYS = {"from_day", "until_ms", "settled_ms", "window_days", "max_impression_id"}


@dataclass(frozen=True)
class Remembered:
    """The memory's rows for events before ``before_ms`` (``None`` for a kind with no
    rows): ``credit`` (the rows :func:`cratedig.online.parts.measure` remembers, of
    lists from the range's first day), ``visits`` (``user_id``, ``vday``) and
    ``outcomes`` (``online_event_daily`` columns)."""

    credit: pl.DataFrame | None
    visits: pl.DataFrame | None
    outcomes: pl.DataFrame | None

    def before(self, before_ms: int) -> Remembered:
        """The rows of the events before ``before_ms``: a day's start, or the memory's
        ``settled_ms`` (the visits and outcomes of its day are of the events before
        it; at the start of a day that day is left out)."""
        day = pl.col("day") < before_ms / DAY_MS
        return Remembered(
            None
            if self.credit is None
            else self.credit.filter(pl.col("occurred_at_ms") < before_ms),
            None
            if self.visits is None
            else self.visits.filter(pl.col("vday") < before_ms / DAY_MS),
            None if self.outcomes is None else self.outcomes.filter(day),
        )


def read_cache(engine: Engine) -> dict[str, Any] | None:
    """The stored ``credit_cache`` range (``None`` when there is none, or one written
    by an older version of this code)."""
    value = read_state(engine, KEY)
    if value is None:
        return None
    state = dict(json.loads(value))
    return state if state.keys() >= RANGE_KEYS else None


def _blobs(
    engine: Engine, kinds: tuple[str, ...], from_day: int, until_day: int
) -> dict[str, list[pl.DataFrame]]:
    """The memory's frames of ``kinds`` for the days in ``[from_day, until_day]``."""
    m = online_memory.c
    frames: dict[str, list[pl.DataFrame]] = {kind: [] for kind in kinds}
    with engine.connect() as conn:
        for kind, data in conn.execute(
            select(m.kind, m.data)
            .where(m.kind.in_(kinds), m.day >= from_day, m.day <= until_day)
            .order_by(m.kind, m.day)
        ):
            frames[kind].append(pl.read_ipc_stream(io.BytesIO(data)))
    return frames


def _stacked(frames: list[pl.DataFrame]) -> pl.DataFrame | None:
    return pl.concat(frames) if frames else None


def read_outcomes(engine: Engine, from_day: int, until_day: int) -> pl.DataFrame | None:
    """The remembered outcomes of the days in ``[from_day, until_day]``."""
    return _stacked(_blobs(engine, (OUTCOMES,), from_day, until_day)[OUTCOMES])


def late_from(
    engine: Engine, from_day: int, state: dict[str, Any], counted: pl.DataFrame | None
) -> int:
    """Where an incremental refresh that uses the memory starts reading events: at the
    memory's ``settled_ms``, or earlier, at the start of the first day from
    ``from_day`` on with a row the memory does not know of:

    * a day whose stored events before ``settled_ms`` are not the ones the memory
      counted (``counted``, its outcomes): events stamped that day arrived late;
    * the day of a list stored after that refresh read the lists (an
      ``impression_id`` above ``max_impression_id``) but served before ``settled_ms``.

    The memory is then used only before that time, so late rows are attributed as
    in a refresh without memory. An index range count per day (``ix_events_time``)
    and a range of the newest impression ids find them.
    """
    settled = int(state["settled_ms"])
    settled_day = settled // DAY_MS
    events = {} if counted is None else dict(zip(counted["day"], counted["events"], strict=True))
    count = text(
        "SELECT COUNT(*) FROM user_events WHERE occurred_at_ms >= :lo AND occurred_at_ms < :hi"
    )
    late_list = (  # a list served before from_day changes no row recomputed
        select(func.min(impressions.c.shown_at_ms))
        .where(impressions.c.impression_id > int(state["max_impression_id"]))
        .where(impressions.c.shown_at_ms >= from_day * DAY_MS)
        .where(impressions.c.shown_at_ms < settled)
    )
    with engine.connect() as conn:
        # a count per day, not one GROUP BY over the range: SQLite counts an index
        # range without evaluating an expression per row (35 ms against 265 ms, 8 days
        # of 10M events)
        for day in range(from_day, settled_day + 1):
            bounds = {"lo": day * DAY_MS, "hi": min((day + 1) * DAY_MS, settled)}
            if bounds["lo"] >= bounds["hi"]:
                break
            if int(conn.execute(count, bounds).scalar_one()) != events.get(day, 0):
                settled = bounds["lo"]
                break
        first_late_list = conn.execute(late_list).scalar()
    if first_late_list is not None:
        settled = min(settled, int(first_late_list) // DAY_MS * DAY_MS)
    return settled


def read_memory(
    engine: Engine, from_day: int, before_ms: int, outcomes: pl.DataFrame | None
) -> Remembered:
    """The memory's rows for the events before ``before_ms`` of the lists served from
    ``from_day`` on (see :class:`Remembered` and :meth:`Remembered.before`), with its
    ``outcomes`` of those days, as :func:`read_outcomes` read them."""
    frames = _blobs(engine, (CREDIT, VISITS), from_day, before_ms // DAY_MS)
    credit = _stacked(frames[CREDIT])
    visits = _stacked(frames[VISITS])
    return Remembered(
        None if credit is None else credit.filter(pl.col("list_day") >= from_day),
        None if visits is None else visits.rename({"day": "vday"}),
        outcomes,
    ).before(before_ms)


@dataclass(frozen=True)
class RememberedLists:
    """The lists the memory holds, served from a day on and stored up to the memory's
    ``max_impression_id``: the columns of ``IMPRESSION_SCHEMA`` but ``artist_ids``,
    ``artists`` (the decoded ``List(Categorical)``) and ``day`` (``None``: no list)."""

    lists: pl.DataFrame | None


def holds_the_stored_lists(engine: Engine, from_day: int, max_impression_id: int) -> bool:
    """Whether the remembered lists served from ``from_day`` on are as many as the
    stored lists served from then with an id up to ``max_impression_id`` (a count on
    ``ix_impressions_user_time``, and the memory's row counts). When they are not (a
    list removed, or one stored with an id below the newest remembered, as concurrent
    writers may on PostgreSQL), the memory is not used at all: the events it
    attributed may belong to other lists now."""
    m = online_memory.c
    with engine.connect() as conn:
        held = conn.execute(
            select(func.coalesce(func.sum(m.rows), 0)).where(m.kind == LISTS, m.day >= from_day)
        ).scalar_one()
    return int(held) == count_lists(engine, from_day * DAY_MS, max_impression_id)


def read_lists_memory(engine: Engine, from_day: int) -> RememberedLists:
    """The remembered lists served from ``from_day`` on (see :class:`RememberedLists`)."""
    return RememberedLists(_stacked(_blobs(engine, (LISTS,), from_day, 2**31 - 1)[LISTS]))


def _blob(frame: pl.DataFrame) -> bytes:
    out = io.BytesIO()
    frame.write_ipc_stream(out, compression="lz4")
    return out.getvalue()


def write_memory(
    conn: Connection,
    frames: dict[str, tuple[pl.DataFrame, int | None]],
    from_day: int,
    state: dict[str, Any],
) -> None:
    """Store the memory of a refresh: ``frames`` by kind, each a frame with the column
    ``day`` and the first day it replaces (every day of the kind when ``None``; the
    frame holds every row of the days it replaces), and the record ``state``
    (:data:`RANGE_KEYS`, the first day ``from_day``). The days before ``from_day`` are
    dropped (the rows of earlier lists left in the days kept are skipped when read);
    kinds not in ``frames`` keep their other days.
    """
    m = online_memory.c
    conn.execute(delete(online_memory).where(m.day < from_day))
    for kind, (frame, replace_from_day) in frames.items():
        stmt = delete(online_memory).where(m.kind == kind)
        if replace_from_day is not None:
            stmt = stmt.where(m.day >= replace_from_day)
        conn.execute(stmt)
        first = from_day if replace_from_day is None else max(from_day, replace_from_day)
        days = frame.get_column("day").filter(frame.get_column("day") >= first).unique().sort()
        for day in days:  # a day at a time: one day's copy and blob in memory at once
            part = frame.filter(pl.col("day") == day)
            conn.execute(
                insert(online_memory),
                {"kind": kind, "day": int(day), "rows": part.height, "data": _blob(part)},
            )
    write_state(conn, KEY, {**state, "from_day": from_day})
