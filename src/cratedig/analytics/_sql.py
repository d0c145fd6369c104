"""Portable SQL building blocks shared by the analytics modules.

Times in the store are integer milliseconds since the epoch, UTC. Every bucket here is
computed in SQL with integer arithmetic that means the same on SQLite and PostgreSQL,
and every result is read into a :mod:`polars` frame (never looped over row by row).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl
from sqlalchemy import Connection, case, literal_column
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.expression import Selectable

from cratedig.store import schema

HOUR_MS = 3_600_000
DAY_MS = 86_400_000
WEEK_MS = 7 * DAY_MS
#: 1970-01-01 was a Thursday; shifting by 3 days makes weeks start on Monday.
WEEK_SHIFT_MS = 3 * DAY_MS

events = schema.user_events


def floor_div(expr: ColumnElement[Any], divisor: int) -> ColumnElement[Any]:
    """``floor(expr / divisor)`` for integers, identical on SQLite and PostgreSQL.

    Both databases truncate integer division towards zero, which puts times before
    1970 (negative milliseconds, e.g. bogus years in old datasets) in the wrong bucket.
    ``expr - ((expr % d) + d) % d`` is an exact multiple of ``d`` below ``expr``.
    """
    d: ColumnElement[Any] = literal_column(str(int(divisor)))
    remainder = ((expr.op("%", precedence=8)(d)) + d).op("%", precedence=8)(d)
    return (expr - remainder).op("/", precedence=8)(d)


def day_index(expr: ColumnElement[Any]) -> ColumnElement[Any]:
    """The UTC day number (days since 1970-01-01) of a millisecond time."""
    return floor_div(expr, DAY_MS)


def week_index(expr: ColumnElement[Any]) -> ColumnElement[Any]:
    """The week number of a millisecond time; weeks start on Monday 00:00 UTC.

    Week ``w`` starts at ``w * WEEK_MS - WEEK_SHIFT_MS`` (see :func:`week_start_ms`).
    """
    return floor_div(expr + literal_column(str(WEEK_SHIFT_MS)), WEEK_MS)


def week_start_ms(week: int) -> int:
    """The first millisecond (a Monday, 00:00 UTC) of week number ``week``."""
    return week * WEEK_MS - WEEK_SHIFT_MS


def at_midnight() -> ColumnElement[Any]:
    """1 for an event exactly at midnight UTC (a date without a time of day), else 0."""
    return case((events.c.occurred_at_ms.op("%")(literal_column(str(DAY_MS))) == 0, 1), else_=0)


def has_times_of_day(midnight_rows: int, rows: int) -> bool:
    """Whether rows carry times of day: fewer than half of them fall on midnight UTC."""
    return rows > 0 and midnight_rows * 2 < rows


def week_number(col: str) -> pl.Expr:
    """:func:`week_index` in polars: the week number of a millisecond time column."""
    return (pl.col(col) + WEEK_SHIFT_MS) // WEEK_MS


def week_start_date(col: str) -> pl.Expr:
    """The Monday (a polars ``Date``) that starts each week number of a column."""
    return ((pl.col(col) * WEEK_MS - WEEK_SHIFT_MS) // DAY_MS).cast(pl.Int32).cast(pl.Date)


def read_frame(
    conn: Connection, stmt: Selectable, schema_: Mapping[str, Any] | None = None
) -> pl.DataFrame:
    """Run a statement and read its result into a polars frame.

    Parameters
    ----------
    schema_
        Column name -> polars dtype. Empty results (and all-NULL columns) otherwise
        come back with the ``Null`` type; these columns are cast to the given types.
    """
    frame = pl.read_database(stmt, conn)
    if schema_:
        frame = frame.with_columns(
            [pl.col(name).cast(dtype) for name, dtype in schema_.items() if name in frame.columns]
        )
    return frame
