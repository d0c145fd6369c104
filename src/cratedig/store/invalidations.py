"""The ``cache_invalidations`` table: users whose cached lists other workers must drop.

Written in the transaction of the events that made the lists stale; polled by every
worker with an in-process cache (:mod:`cratedig.serving.cache_sync`).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, delete, select

from cratedig.store.schema import cache_invalidations
from cratedig.store.writes import upsert_rows


def record_invalidations(conn: Connection, user_ids: Iterable[str], at_ms: int) -> None:
    """Mark users' cached lists stale as of ``at_ms``.

    A later mark replaces an earlier one; a mark at or before the stored one becomes
    the stored one + 1 ms. Every mark thus moves the user's time forward, and a worker
    that applied the stored mark (it re-drops a user only for a later time) still sees
    a second write to the same user within one millisecond, from another worker.
    """
    upsert_rows(
        conn,
        cache_invalidations,
        ("user_id", "invalidated_at_ms"),
        [(u, at_ms) for u in sorted(set(user_ids))],
        ("invalidated_at_ms",),
        advancing=("invalidated_at_ms",),
    )


def invalidations_since(conn: Connection, since_ms: int) -> list[tuple[str, int]]:
    """``(user_id, invalidated_at_ms)`` of every mark at or after ``since_ms``."""
    query = select(cache_invalidations.c.user_id, cache_invalidations.c.invalidated_at_ms).where(
        cache_invalidations.c.invalidated_at_ms >= since_ms
    )
    return [(u, int(at)) for u, at in conn.execute(query)]


def prune_invalidations(conn: Connection, before_ms: int) -> int:
    """Delete the marks older than ``before_ms``; how many were deleted."""
    stmt = delete(cache_invalidations).where(cache_invalidations.c.invalidated_at_ms < before_ms)
    return int(conn.execute(stmt).rowcount or 0)
