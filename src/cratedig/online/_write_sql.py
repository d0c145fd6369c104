"""Writing the online rollups: whole days replaced, or only the rows that changed.

Rows go through the driver's fastest bulk path: ``executemany`` on SQLite and ``COPY``
of CSV text on PostgreSQL.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Sequence
from typing import Any

import polars as pl
from sqlalchemy import Connection, String, Table, delete, insert

from cratedig.clock import now_ms
from cratedig.online._reader import CAT

#: rows from which replacing a whole rollup table rebuilds its indexes after the load
REBUILD_ROWS = 100_000


def replace_rows(
    conn: Connection,
    table: Table,
    frame: pl.DataFrame,
    from_day: int | None,
    day_column: str = "day",
    order: Sequence[str] = (),
) -> None:
    """Delete the rows of ``table`` from ``from_day`` on (all when ``None``), then
    bulk-insert ``frame`` (its columns named as the table's; in the order of the
    columns ``order`` when given, see :func:`insert_rows`).

    Replacing a whole table of at least :data:`REBUILD_ROWS` rows drops its secondary
    indexes first and builds them after the load (one sort instead of a B-tree insert
    per row); it is all one transaction, so readers never see the table without them.
    """
    stmt = delete(table)
    if from_day is not None:
        stmt = stmt.where(table.c[day_column] >= from_day)
    conn.execute(stmt)
    if frame.is_empty():
        return
    rebuild = list(table.indexes) if from_day is None and frame.height >= REBUILD_ROWS else []
    for index in rebuild:
        index.drop(conn, checkfirst=True)
    insert_rows(conn, table, frame, order)
    for index in rebuild:
        index.create(conn)


def rows_sql(table: Table, from_day: int) -> tuple[str, dict[str, Any]]:
    """The query reading ``table``'s rows from ``from_day`` on (for :func:`update_rows`)
    and its schema (strings as categoricals)."""
    schema = {c.name: CAT if isinstance(c.type, String) else pl.Int64 for c in table.columns}
    names = ", ".join(schema)
    return f"SELECT {names} FROM {table.name} WHERE day >= {int(from_day)}", schema


def update_rows(
    conn: Connection, table: Table, frame: pl.DataFrame, old: pl.DataFrame, key: Sequence[str]
) -> int:
    """Make ``table``'s rows from a day on (``old``, as read by :func:`rows_sql`) those of
    ``frame``: delete the rows that are gone (by ``key``), and write the changed and new
    ones; returns how many rows were written. The same rows as :func:`replace_rows`
    from that day on, but an unchanged row costs no write.

    On SQLite a changed row is updated in place (``INSERT ... ON CONFLICT DO UPDATE``:
    its key, so the key's indexes, stay as they are), where a delete and an insert
    would each touch the table and both its indexes; on PostgreSQL the changed rows'
    keys are deleted and the rows inserted, both in bulk.
    """
    cols = [c.name for c in table.columns]
    frame = frame.select(cols)
    old = old.select([pl.col(c).cast(frame.schema[c]) for c in cols])
    changed = frame.join(old, on=cols, how="anti", nulls_equal=True)
    gone = old.select(key).join(frame.select(key), on=key, how="anti")
    if conn.dialect.name != "postgresql":
        if not gone.is_empty():
            _delete_keys(conn, table, _strings(gone))
        if not changed.is_empty():
            _upsert_sqlite(conn, table, changed.sort(key), key)
        return changed.height
    stale = pl.concat([changed.select(key).join(old.select(key), on=key, how="semi"), gone])
    if not stale.is_empty():
        _delete_keys(conn, table, _strings(stale))
    if not changed.is_empty():
        insert_rows(conn, table, changed.sort(key))
    return changed.height


def _strings(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(pl.col(pl.Categorical).cast(pl.String))


def _upsert_sqlite(conn: Connection, table: Table, frame: pl.DataFrame, key: Sequence[str]) -> None:
    """Insert the rows of ``frame``, updating in place the rows with the same ``key``."""
    cols = frame.columns
    values = [c for c in cols if c not in key]
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    cursor.executemany(
        f"INSERT INTO {table.name} ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})"
        f" ON CONFLICT ({', '.join(key)}) DO UPDATE SET "
        + ", ".join(f"{c} = excluded.{c}" for c in values),
        frame.iter_rows(),
    )


def _delete_keys(conn: Connection, table: Table, keys: pl.DataFrame) -> None:
    """Delete the rows of ``table`` whose key columns (``keys``' columns) are a row of
    ``keys``: one statement per key on SQLite, a ``COPY`` into a temporary table and
    one ``DELETE ... USING`` on PostgreSQL (where a statement per key is a round trip)."""
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    if conn.dialect.name != "postgresql":
        where = " AND ".join(f"{k} = ?" for k in keys.columns)
        cursor.executemany(f"DELETE FROM {table.name} WHERE {where}", keys.iter_rows())
        return
    types = ", ".join(f"{k} {table.c[k].type.compile(dialect=conn.dialect)}" for k in keys.columns)
    cursor.execute(f"CREATE TEMPORARY TABLE tmp_online_keys ({types})")
    try:
        load_rows(conn, "tmp_online_keys", [keys])
        match = " AND ".join(f"t.{k} = s.{k}" for k in keys.columns)
        cursor.execute(f"DELETE FROM {table.name} t USING tmp_online_keys s WHERE {match}")
    finally:
        cursor.execute("DROP TABLE tmp_online_keys")


#: rows gathered at a time when rows are written in another order than the frame's
ORDER_CHUNK = 100_000


def insert_rows(
    conn: Connection, table: Table, frame: pl.DataFrame, order: Sequence[str] = ()
) -> None:
    """Bulk-insert ``frame`` (its columns named as the table's), in the order of the
    columns ``order`` when given: the rows are taken in that order a chunk at a time,
    so that no sorted copy of the whole frame is made."""
    cols = [c.name for c in table.columns]
    frame = frame.select(cols)
    chunks: Iterable[pl.DataFrame] = [frame]
    if order:
        perm = frame.select(pl.arg_sort_by(list(order))).to_series()
        chunks = (
            frame[perm.slice(start, ORDER_CHUNK)] for start in range(0, frame.height, ORDER_CHUNK)
        )
    load_rows(conn, table.name, chunks)


def load_rows(conn: Connection, table_name: str, chunks: Iterable[pl.DataFrame]) -> None:
    """Insert the rows of ``chunks`` (frames whose columns are named as the table's)
    through the driver's fastest bulk path: ``COPY`` of CSV text on PostgreSQL (a
    statement a row would be a round trip each), ``executemany`` on SQLite."""
    chunks = iter(chunks)
    first = next(chunks, None)
    if first is None:
        return
    cols = first.columns
    names = ", ".join(f'"{c}"' for c in cols)
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    if conn.dialect.name == "postgresql":
        with cursor.copy(f"COPY {table_name} ({names}) FROM STDIN WITH (FORMAT csv)") as copy:
            for chunk in itertools.chain([first], chunks):
                # strings quoted, so "" stays an empty string (an unquoted empty field is NULL)
                copy.write(chunk.write_csv(include_header=False, quote_style="non_numeric"))
    else:
        marks = ", ".join("?" for _ in cols)
        cursor.executemany(
            f"INSERT INTO {table_name} ({names}) VALUES ({marks})",
            (row for chunk in itertools.chain([first], chunks) for row in chunk.iter_rows()),
        )


def write_state(conn: Connection, key: str, value: dict[str, Any]) -> None:
    """Set the ``online_state`` value of ``key`` to ``value`` (as JSON)."""
    from cratedig.store.schema.rollups import online_state

    conn.execute(delete(online_state).where(online_state.c.key == key))
    conn.execute(
        insert(online_state).values(key=key, value=json.dumps(value), updated_at_ms=now_ms())
    )


def write_last_refresh(conn: Connection, value: dict[str, Any]) -> None:
    """Record what the last refresh did (``online_state`` key ``last_refresh``)."""
    write_state(conn, "last_refresh", value)
