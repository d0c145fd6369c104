"""The SQL of online measurement: the queries the refresh reads, the probes of the
history, and the reads behind the summary.

Frames are read by :mod:`cratedig.online._reader` (connectorx, with ids as
categoricals); the rollups are written by :mod:`cratedig.online._write_sql`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import polars as pl
from sqlalchemy import (
    BigInteger,
    Engine,
    Table,
    cast,
    func,
    select,
    text,
)

from cratedig.online._reader import CAT, read_soon, read_sql
from cratedig.online._write_sql import load_rows
from cratedig.store.schema import impressions

DAY_MS = 86_400_000
#: ids per ``IN (...)`` query (SQLite's bound-parameter limit is 32766)
ID_BATCH = 5_000

IMPRESSION_SCHEMA = {
    "impression_id": pl.Int64,
    "list_id": CAT,
    "user_id": CAT,
    "list_type": CAT,
    "model_version": CAT,
    "variant": CAT,
    "artist_ids": pl.String,
    "n_items": pl.Int64,
    "shown_at_ms": pl.Int64,
}
EVENT_SCHEMA = {
    "user_id": CAT,
    "event_type": CAT,
    "occurred_at_ms": pl.Int64,
    "artist_id": CAT,
    "duration_ms": pl.Int64,
    "source": CAT,
}
FEEDBACK_SCHEMA = {
    "user_id": CAT,
    "list_id": CAT,
    "artist_id": CAT,
    "kind": CAT,
    "value": pl.Int64,
    "created_at_ms": pl.Int64,
}


def _nulls(frame: pl.DataFrame, *columns: str) -> pl.DataFrame:
    """Turn the ``''`` that queries wrote for NULL strings back into nulls."""
    return frame.with_columns(
        [pl.when(pl.col(c) == "").then(None).otherwise(pl.col(c)).alias(c) for c in columns]
    )


def _since(
    table: str, column: str, since_ms: int | None, sqlite: bool, rowid: str, index: str
) -> str:
    """The ``WHERE`` clause keeping the rows of ``table`` from ``since_ms`` on (by
    ``column``); on SQLite, the rows from the first ``rowid`` of such a row (found on
    ``index``) to the end, read in rowid order."""
    if since_ms is None:
        return ""
    where = f" WHERE {column} >= {int(since_ms)}"
    if not sqlite:
        return where
    return (
        f" WHERE {rowid} >= (SELECT COALESCE(MIN({rowid}), 0) FROM {table}"
        f" INDEXED BY {index}{where}) AND +{column} >= {int(since_ms)}"
    )


def _impressions_sql(
    since_ms: int | None, sqlite: bool = False, after_id: int | None = None
) -> str:
    """The impressions served from ``since_ms`` on (with ``after_id``: only those
    stored after that ``impression_id``, a range of the primary key).

    On SQLite (where ``impression_id`` is the rowid, growing with serving time when
    lists are stored as they are served) the table is read from the first id of such a
    list, found by a scan of the narrow ``ix_impressions_user_time``, instead of whole:
    the rows carry their artist lists and there is no index by time alone.
    """
    columns = (
        "SELECT impression_id, list_id, user_id, list_type,"
        " COALESCE(model_version, '') AS model_version, COALESCE(variant, '') AS variant,"
        " artist_ids, n_items, shown_at_ms FROM impressions"
    )
    if after_id is not None:
        since = "" if since_ms is None else f" AND shown_at_ms >= {int(since_ms)}"
        return f"{columns} WHERE impression_id > {int(after_id)}{since}"
    where = _since(
        "impressions", "shown_at_ms", since_ms, sqlite, "impression_id", "ix_impressions_user_time"
    )
    return columns + where


def count_lists(engine: Engine, since_ms: int, until_id: int) -> int:
    """How many impressions served from ``since_ms`` on have an id up to ``until_id``
    (on SQLite a scan of the narrow ``ix_impressions_user_time``, not of the rows)."""
    hint = " INDEXED BY ix_impressions_user_time" if engine.dialect.name == "sqlite" else ""
    sql = (
        f"SELECT COUNT(*) FROM impressions{hint}"
        " WHERE shown_at_ms >= :since AND impression_id <= :until"
    )
    with engine.connect() as conn:
        return int(conn.execute(text(sql), {"since": since_ms, "until": until_id}).scalar_one())


def _events_sql(since_ms: int | None, sqlite: bool = False, until_ms: int | None = None) -> str:
    """The events from ``since_ms`` on (and before ``until_ms``).

    On SQLite the table is read in rowid order from the first rowid of such an event
    (found on ``ix_events_time``) to the end, keeping the rows from ``since_ms`` on:
    a sequential read of the tail when events are stored roughly in time order, and
    never worse than one pass over the table otherwise; fetching each row through
    the time index costs a random page read per row.
    """
    where = _since("user_events", "occurred_at_ms", since_ms, sqlite, "rowid", "ix_events_time")
    if until_ms is not None:
        plus = "+" if sqlite else ""  # on SQLite: not a second range on the index
        where += (" AND" if where else " WHERE") + f" {plus}occurred_at_ms < {int(until_ms)}"
    return (
        "SELECT user_id, event_type, occurred_at_ms, COALESCE(artist_id, '') AS artist_id,"
        " COALESCE(duration_ms, 0) AS duration_ms, COALESCE(source, 'organic') AS source"
        " FROM user_events"
    ) + where


def _feedback_sql(since_ms: int | None) -> str:
    """Feedback on the lists served at or after ``since_ms`` (whenever it was given).

    One probe of the unique ``ix_impressions_list`` per feedback row (feedback is far
    rarer than impressions): ``list_id IN (SELECT ... WHERE shown_at_ms >= ...)`` read
    every impression, there being no index by time alone (0.4 s at 1M impressions).
    """
    lists = (
        ""
        if since_ms is None
        else " AND EXISTS (SELECT 1 FROM impressions i WHERE i.list_id = f.list_id"
        f" AND i.shown_at_ms >= {int(since_ms)})"
    )
    return (
        "SELECT f.user_id, f.list_id, COALESCE(f.artist_id, '') AS artist_id, f.kind,"
        " f.value, f.created_at_ms FROM feedback f WHERE f.list_id IS NOT NULL" + lists
    )


def read_lists(
    engine: Engine,
    since_ms: int | None,
    extra: Sequence[tuple[str, Mapping[str, Any]]] = (),
    after_id: int | None = None,
) -> list[Callable[[], pl.DataFrame]]:
    """Impressions served from ``since_ms`` on (stored after ``after_id``), the
    feedback on the lists served from ``since_ms`` on, and the ``extra`` queries'
    frames, read in the background (:func:`read_soon`, in that order; ids as
    categoricals, NULL artists of feedback back as nulls)."""
    impressions_sql = _impressions_sql(since_ms, engine.dialect.name == "sqlite", after_id)
    imps, fb, *rest = read_soon(
        engine,
        [(impressions_sql, IMPRESSION_SCHEMA), (_feedback_sql(since_ms), FEEDBACK_SCHEMA), *extra],
    )
    return [imps, lambda: _nulls(fb(), "artist_id"), *rest]


def read_events(
    engine: Engine, since_ms: int | None, until_ms: int | None = None
) -> Callable[[], pl.DataFrame]:
    """The events from ``since_ms`` on (and before ``until_ms``), read in the background
    (:func:`read_soon`; ids as categoricals, NULL artists back as nulls)."""
    sql = _events_sql(since_ms, engine.dialect.name == "sqlite", until_ms)
    (events,) = read_soon(engine, [(sql, EVENT_SCHEMA)])
    return lambda: _nulls(events(), "artist_id")


def read_play_counts(engine: Engine) -> pl.DataFrame:
    """Plays per artist over every stored event (for the long-tail split)."""
    sql = (
        "SELECT artist_id, COUNT(*) AS plays FROM user_events "
        "WHERE event_type = 'play_track' AND artist_id IS NOT NULL GROUP BY artist_id"
    )
    return read_sql(engine, sql, {"artist_id": pl.String, "plays": pl.Int64})


def _batches(values: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(values), ID_BATCH):
        yield values[start : start + ID_BATCH]


def existing_list_ids(engine: Engine, list_ids: Sequence[str]) -> set[str]:
    """Which of ``list_ids`` name a stored impression."""
    found: set[str] = set()
    with engine.connect() as conn:
        for chunk in _batches(list_ids):
            found.update(
                conn.execute(
                    select(impressions.c.list_id).where(impressions.c.list_id.in_(chunk))
                ).scalars()
            )
    return found


def pairs_seen_before(
    engine: Engine, pairs: pl.DataFrame, event_type: str | None = None
) -> pl.DataFrame:
    """The rows (``user_id``, ``artist_id``, ``before_ms``) of ``pairs`` whose user has
    an event (of ``event_type``) for the artist before ``before_ms``.

    One index probe per row (``ix_events_user_artist_time``) through a temporary
    table, so the cost follows the number of pairs, not the size of the history.
    """
    schema = {"user_id": pl.String, "artist_id": pl.String, "before_ms": pl.Int64}
    out = pl.DataFrame(schema=schema)
    if pairs.is_empty():
        return out
    mark = "%s" if engine.dialect.name == "postgresql" else "?"
    type_clause = "" if event_type is None else f" AND e.event_type = {mark}"
    # in index order: the probes then walk the index instead of jumping about it
    ordered = pairs.select(
        pl.col("user_id").cast(pl.String).alias("u"),
        pl.col("artist_id").cast(pl.String).alias("a"),
        pl.col("before_ms").alias("t"),
    ).sort("u", "a")
    with engine.begin() as conn:
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        cursor.execute(
            "CREATE TEMPORARY TABLE tmp_online_pairs (u VARCHAR(128), a VARCHAR(128), t BIGINT)"
        )
        try:
            load_rows(conn, "tmp_online_pairs", [ordered])
            if engine.dialect.name == "postgresql":
                cursor.execute("ANALYZE tmp_online_pairs")
            cursor.execute(
                "SELECT p.u, p.a, p.t FROM tmp_online_pairs p WHERE EXISTS ("
                "SELECT 1 FROM user_events e WHERE e.user_id = p.u AND e.artist_id = p.a"
                f" AND e.occurred_at_ms < p.t{type_clause})",
                () if event_type is None else (event_type,),
            )
            found = cursor.fetchall()
        finally:
            cursor.execute("DROP TABLE tmp_online_pairs")
    if not found:
        return out
    return pl.DataFrame(found, schema=schema, orient="row")


def rollup_sums(
    engine: Engine,
    table: Table,
    since_day: int | None,
    until_day: int | None,
    group_by: Sequence[str],
    counts: Sequence[str],
) -> pl.DataFrame:
    """``SUM`` of ``counts`` of a rollup table per ``group_by``, days in range."""
    keys = [table.c[name] for name in group_by]
    # CAST: PostgreSQL sums BIGINT into NUMERIC (Decimal in Python)
    stmt = select(*keys, *[cast(func.sum(table.c[c]), BigInteger).label(c) for c in counts])
    if since_day is not None:
        stmt = stmt.where(table.c.day >= since_day)
    if until_day is not None:
        stmt = stmt.where(table.c.day <= until_day)
    if keys:
        stmt = stmt.group_by(*keys).order_by(*keys)
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    schema = {name: pl.Int64 if name in ("day", "position") else pl.String for name in group_by}
    schema.update(dict.fromkeys(counts, pl.Int64))
    frame = pl.DataFrame(rows, schema=schema, orient="row")
    if not group_by and frame.height == 1 and frame.row(0)[0] is None:
        return pl.DataFrame(schema=schema)  # SUM over no rows
    return frame.with_columns([pl.col(c).fill_null(0) for c in counts])


def read_state(engine: Engine, key: str) -> str | None:
    """A value of ``online_state``."""
    from cratedig.store.schema.rollups import online_state

    with engine.connect() as conn:
        return conn.execute(
            select(online_state.c.value).where(online_state.c.key == key)
        ).scalar_one_or_none()


def read_long_tail(engine: Engine) -> pl.DataFrame:
    """The stored long-tail split: ``artist_id, is_long_tail``."""
    from cratedig.store.schema.rollups import online_artist_tail

    t = online_artist_tail.c
    with engine.connect() as conn:
        rows = conn.execute(select(t.artist_id, t.is_long_tail)).all()
    return pl.DataFrame(
        rows, schema={"artist_id": pl.String, "is_long_tail": pl.Int64}, orient="row"
    )
