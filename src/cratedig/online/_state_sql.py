"""The SQL of the incremental refresh's memory (``online_credit``, ``online_visit_day``
and the ``online_state`` key ``credit_cache``; ``docs/online.md``, "Incremental state").

``credit_cache`` is JSON ``{"from_day", "until_ms", "window_days"}``: the tables hold
every attributed event of the lists served from ``from_day`` on, and the visit days
from ``from_day`` on, as of the refresh at ``until_ms`` with that attribution window.
"""

from __future__ import annotations

import json
from typing import Any

import polars as pl
from sqlalchemy import Connection, Engine, delete, or_, select, text

from cratedig.online._sql import CAT, DAY_MS, read_state
from cratedig.online._write_sql import insert_rows, write_state
from cratedig.store.schema.rollups import (
    online_credit,
    online_event_daily,
    online_visit_day,
)

KEY = "credit_cache"

CREDIT_SCHEMA = {
    "impression_id": pl.Int64,
    "occurred_at_ms": pl.Int64,
    "event_type": CAT,
    "artist_id": CAT,
    "duration_ms": pl.Int64,
    "mode": pl.String,
    "position": pl.Int32,
    "is_new": pl.Int64,
    "first_follow": pl.Int64,
}
VISIT_SCHEMA = {"user_id": CAT, "vday": pl.Int32}


def read_cache(engine: Engine) -> dict[str, Any] | None:
    """The stored ``credit_cache`` range (``None`` when there is none)."""
    value = read_state(engine, KEY)
    return None if value is None else dict(json.loads(value))


def late_cut(engine: Engine, from_day: int, cut_day: int) -> int:
    """The first day in ``[from_day, cut_day)`` whose stored events are not the ones
    the rollups counted (``online_event_daily.events``): events stamped that day
    arrived late, after the refresh that counted the day. ``cut_day`` when there is
    none.

    An incremental refresh reads the events from the returned day on (and the memory
    only before it), so late events within its range are attributed as in a refresh
    without memory; one index range count (``ix_events_time``) finds them.
    """
    if cut_day <= from_day:
        return cut_day
    with engine.connect() as conn:
        stored: dict[int, int] = {
            int(day): int(n)
            for day, n in conn.execute(
                text(
                    f"SELECT CAST(occurred_at_ms / {DAY_MS} AS INTEGER) AS day, COUNT(*)"
                    " FROM user_events WHERE occurred_at_ms >= :lo AND occurred_at_ms < :hi"
                    " GROUP BY 1"
                ),
                {"lo": from_day * DAY_MS, "hi": cut_day * DAY_MS},
            )
        }
        t = online_event_daily.c
        counted: dict[int, int] = {
            int(day): int(n)
            for day, n in conn.execute(
                select(t.day, t.events).where(t.day >= from_day, t.day < cut_day)
            )
        }
    for day in range(from_day, cut_day):
        if stored.get(day, 0) != counted.get(day, 0):
            return day
    return cut_day


def credit_sql(from_day: int, until_day: int) -> str:
    """The cached attributed events of lists served from ``from_day`` on that happened
    before ``until_day`` (NULL artist and position read as ``''`` and 0)."""
    return (
        "SELECT impression_id, occurred_at_ms, event_type,"
        " COALESCE(artist_id, '') AS artist_id, duration_ms, mode,"
        " COALESCE(position, 0) AS position, is_new, first_follow FROM online_credit"
        f" WHERE list_day >= {int(from_day)} AND event_day < {int(until_day)}"
    )


def visit_sql(from_day: int, until_day: int) -> str:
    """The cached visit days in ``[from_day, until_day)``."""
    return (
        "SELECT user_id, day AS vday FROM online_visit_day"
        f" WHERE day >= {int(from_day)} AND day < {int(until_day)}"
    )


def cached_credit(frame: pl.DataFrame) -> pl.DataFrame:
    """The rows of :func:`credit_sql` with their NULLs back."""
    return frame.with_columns(
        pl.when(pl.col("artist_id") != "").then(pl.col("artist_id")).alias("artist_id"),
        pl.when(pl.col("position") > 0).then(pl.col("position")).alias("position"),
    )


def write_cache(
    conn: Connection,
    credit: pl.DataFrame,
    visits: pl.DataFrame,
    from_day: int,
    replace_from_day: int | None,
    until_ms: int,
    window_days: int,
) -> None:
    """Store the memory of a refresh that computed ``credit`` (columns of
    ``online_credit``) and ``visits`` (``user_id``, ``day``).

    With ``replace_from_day`` (an incremental refresh that used the memory) only the
    rows of events from that day on are replaced and those of lists (visits) before
    ``from_day`` dropped; otherwise everything is replaced.
    """
    c, v = online_credit.c, online_visit_day.c
    if replace_from_day is None:
        conn.execute(delete(online_credit))
        conn.execute(delete(online_visit_day))
    else:
        conn.execute(
            delete(online_credit).where(or_(c.list_day < from_day, c.event_day >= replace_from_day))
        )
        conn.execute(
            delete(online_visit_day).where(or_(v.day < from_day, v.day >= replace_from_day))
        )
    if not credit.is_empty():
        insert_rows(conn, online_credit, credit)
    if not visits.is_empty():
        insert_rows(conn, online_visit_day, visits)
    write_state(conn, KEY, {"from_day": from_day, "until_ms": until_ms, "window_days": window_days})
