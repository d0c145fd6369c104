"""Small read queries shared by the packages that read the store."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from sqlalchemy import Connection, Engine, Table, func, select

from cratedig.store.schema import user_events

#: Ids per ``IN (...)`` query: well under SQLite's and PostgreSQL's parameter limits.
IN_BATCH = 900


def id_batches(ids: Sequence[str]) -> Iterator[Sequence[str]]:
    """``ids`` in slices small enough for one ``IN (...)`` query each."""
    for start in range(0, len(ids), IN_BATCH):
        yield ids[start : start + IN_BATCH]


def latest_event_ms(conn: Connection) -> int | None:
    """The time of the last event in the store (``None`` when there are none)."""
    value = conn.execute(select(func.max(user_events.c.occurred_at_ms))).scalar()
    return None if value is None else int(value)


def table_counts(engine: Engine, tables: Iterable[Table]) -> dict[str, int]:
    """Rows in each table, by table name."""
    with engine.connect() as conn:
        return {
            t.name: int(conn.execute(select(func.count()).select_from(t)).scalar_one())
            for t in tables
        }
