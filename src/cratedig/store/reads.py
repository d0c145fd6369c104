"""Small read queries shared by the packages that read the store."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from sqlalchemy import Connection, Engine, Table, func, select

from cratedig.clock import now_ms
from cratedig.store.schema import user_events

#: Ids per ``IN (...)`` query: well under SQLite's and PostgreSQL's parameter limits.
IN_BATCH = 900


def id_batches(ids: Sequence[str]) -> Iterator[Sequence[str]]:
    """``ids`` in slices small enough for one ``IN (...)`` query each."""
    for start in range(0, len(ids), IN_BATCH):
        yield ids[start : start + IN_BATCH]


def latest_event_ms(conn: Connection, *, not_after_ms: int | None = None) -> int | None:
    """The time of the last event in the store, never later than the wall clock.

    ``None`` when there are no events. An event stored with a time in the future
    (before imports checked for it, or within the future tolerance) does not move this
    past ``not_after_ms`` (default: :func:`cratedig.clock.now_ms`): it is the "as of"
    time of analyses and the snapshot time of trained versions, and a snapshot in the
    future would make every later event look older than the version.
    """
    value = conn.execute(select(func.max(user_events.c.occurred_at_ms))).scalar()
    if value is None:
        return None
    limit = now_ms() if not_after_ms is None else not_after_ms
    return min(int(value), limit)


def table_counts(engine: Engine, tables: Iterable[Table]) -> dict[str, int]:
    """Rows in each table, by table name."""
    with engine.connect() as conn:
        return {
            t.name: int(conn.execute(select(func.count()).select_from(t)).scalar_one())
            for t in tables
        }
