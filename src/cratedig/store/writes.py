"""Dialect-aware bulk writes: insert-or-ignore and upsert, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Table
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
