"""Dialect-aware bulk writes: insert-or-ignore and upsert, on SQLite and PostgreSQL."""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
from sqlalchemy import Connection, Engine, Table
from sqlalchemy.dialects import postgresql, sqlite


def _insert(conn: Connection, table: Table) -> Any:
    name = conn.dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"dialect {name!r} is not supported; expected sqlite or postgresql")


def insert_ignore(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> int:
    """Insert rows, skipping those whose primary key is already stored.

    Returns
    -------
    int
        How many rows were really inserted (the rest were duplicates).
    """
    if not rows:
        return 0
    pk = next(iter(table.primary_key.columns))
    stmt = _insert(conn, table).on_conflict_do_nothing().returning(pk)
    return len(conn.execute(stmt, list(rows)).all())


def upsert(
    conn: Connection,
    table: Table,
    rows: Sequence[dict[str, Any]],
    update_columns: Sequence[str] | None = None,
) -> int:
    """Insert rows, replacing the given columns of rows whose primary key exists.

    Parameters
    ----------
    update_columns
        Columns to overwrite on conflict; defaults to every column in the rows
        that is not part of the primary key.

    Returns
    -------
    int
        How many rows were written (inserted or updated).
    """
    if not rows:
        return 0
    keys = [c.name for c in table.primary_key.columns]
    if update_columns is None:
        update_columns = [c for c in rows[0] if c not in keys]
    stmt = _insert(conn, table)
    if update_columns:
        stmt = stmt.on_conflict_do_update(
            index_elements=keys,
            set_={c: getattr(stmt.excluded, c) for c in update_columns},
        )
    else:
        stmt = stmt.on_conflict_do_nothing()
    result = conn.execute(stmt, list(rows))
    return int(result.rowcount or 0) if result.rowcount and result.rowcount > 0 else len(rows)


def insert_ignore_arrow(conn: Connection, table: Table, data: pa.Table) -> int:
    """Insert the rows of an Arrow table fast, skipping rows whose key is already stored.

    The same result as :func:`insert_ignore` (rows that conflict on any unique key are
    skipped), written with the fastest plain means of each database: one prepared
    ``INSERT ... ON CONFLICT DO NOTHING`` run by ``executemany`` on SQLite; on
    PostgreSQL, ``COPY`` into a temporary staging table and one ``INSERT ... SELECT ...
    ON CONFLICT DO NOTHING``. Runs inside the connection's current transaction.

    Parameters
    ----------
    data
        Columns named as the table's; columns not given take their defaults.

    Returns
    -------
    int
        How many rows were really inserted.
    """
    if data.num_rows == 0:
        return 0
    names = list(data.column_names)
    columns = ", ".join(_quote(n) for n in names)
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        if conn.dialect.name == "sqlite":
            sql = _insert_sql(table, names, "?", "DO NOTHING")
            inserted = 0
            # Slices keep the Python objects of only 10,000 rows alive at a time.
            for start in range(0, data.num_rows, 10_000):
                part = data.slice(start, 10_000)
                cursor.executemany(sql, zip(*(c.to_pylist() for c in part.columns), strict=True))
                inserted += int(cursor.rowcount)
            return inserted
        if conn.dialect.name == "postgresql":
            stage = _quote("cratedig_stage_" + table.name)
            cursor.execute(
                f"CREATE TEMPORARY TABLE IF NOT EXISTS {stage} "
                f"(LIKE {_quote(table.name)} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
            )
            cursor.execute(f"TRUNCATE {stage}")
            buffer = io.BytesIO()
            # CSV from Arrow: strings are quoted (so "" stays ""), nulls are bare (NULL).
            pacsv.write_csv(data, buffer, pacsv.WriteOptions(include_header=False))
            with cursor.copy(f"COPY {stage} ({columns}) FROM STDIN WITH (FORMAT csv)") as copy:
                copy.write(buffer.getbuffer())
            cursor.execute(
                f"INSERT INTO {_quote(table.name)} ({columns}) SELECT {columns} FROM {stage} "
                "ON CONFLICT DO NOTHING"
            )
            inserted = int(cursor.rowcount)
            cursor.execute(f"TRUNCATE {stage}")
            return inserted
    finally:
        cursor.close()
    raise NotImplementedError(
        f"dialect {conn.dialect.name!r} is not supported; expected sqlite or postgresql"
    )


def insert_ignore_chunked(
    engine: Engine,
    table: Table,
    data: pa.Table,
    chunk_rows: int,
    on_chunk: Callable[[int], None] | None = None,
) -> int:
    """:func:`insert_ignore_arrow` in slices of ``chunk_rows`` rows, one transaction each.

    ``on_chunk(n)`` is called after each committed slice of ``n`` rows (progress).

    Returns
    -------
    int
        How many rows were really inserted.
    """
    inserted = 0
    for start in range(0, data.num_rows, chunk_rows):
        part = data.slice(start, chunk_rows)
        with engine.begin() as conn:
            inserted += insert_ignore_arrow(conn, table, part)
        if on_chunk is not None:
            on_chunk(part.num_rows)
    return inserted


def insert_ignore_rows(
    conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> int:
    """Insert plain tuples (values in ``columns`` order), skipping rows already stored.

    The fastest path for a few hundred rows built in Python (API batches): one
    prepared ``INSERT ... ON CONFLICT DO NOTHING`` by ``executemany`` on SQLite, with no
    Arrow round trip; PostgreSQL goes through :func:`insert_ignore_arrow` (``COPY``).

    Returns
    -------
    int
        How many rows were really inserted.
    """
    if not rows:
        return 0
    if conn.dialect.name != "sqlite":
        data = pa.Table.from_pylist([dict(zip(columns, row, strict=True)) for row in rows])
        return insert_ignore_arrow(conn, table, data)
    return _executemany(conn, _insert_sql(table, columns, "?", "DO NOTHING"), rows)


def upsert_rows(
    conn: Connection,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
    update_columns: Sequence[str],
    advancing: Sequence[str] = (),
) -> None:
    """Insert plain tuples, overwriting ``update_columns`` where the key exists.

    A prepared ``INSERT ... ON CONFLICT (key) DO UPDATE`` run by ``executemany``: for
    the few hundred rows of an API request, SQLAlchemy's per-row parameter handling
    cost more than the statement itself. A column of ``advancing`` (integers) only
    moves forward: where the stored value is at or after the new one, it becomes the
    stored value + 1, so every update of a row changes it.
    """
    if not rows:
        return
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    keys = ", ".join(_quote(c.name) for c in table.primary_key.columns)

    def assign(column: str) -> str:
        new, old = f"excluded.{_quote(column)}", f"{_quote(table.name)}.{_quote(column)}"
        if column in advancing:
            return f"{_quote(column)} = CASE WHEN {new} > {old} THEN {new} ELSE {old} + 1 END"
        return f"{_quote(column)} = {new}"

    sets = ", ".join(assign(c) for c in update_columns)
    _executemany(conn, _insert_sql(table, columns, mark, f"({keys}) DO UPDATE SET {sets}"), rows)


def _insert_sql(table: Table, columns: Sequence[str], mark: str, on_conflict: str) -> str:
    """``INSERT INTO table (columns) VALUES (marks) ON CONFLICT <on_conflict>``."""
    return (
        f"INSERT INTO {_quote(table.name)} ({', '.join(_quote(c) for c in columns)}) "
        f"VALUES ({', '.join(mark for _ in columns)}) ON CONFLICT {on_conflict}"
    )


def _executemany(conn: Connection, sql: str, rows: Sequence[tuple[Any, ...]]) -> int:
    """Run ``sql`` for every row on the driver's own cursor; the rows it changed."""
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(sql, rows)
        return int(cursor.rowcount)
    finally:
        cursor.close()


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
