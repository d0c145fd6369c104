"""Cross-worker invalidation of the in-process per-user cache.

With Redis every worker shares one cache, and posting events deletes the entries.
With the in-process cache each worker has its own copy: the worker that stores the
events drops its entries and writes the users to ``cache_invalidations`` in the
events' own transaction (:meth:`CacheSync.record`); every other worker polls that
table (:meth:`CacheSync.sync`) before it serves a list.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable

from sqlalchemy import Connection, Engine

from cratedig.clock import now_ms
from cratedig.serving.cache import UserCache
from cratedig.store.invalidations import (
    invalidations_since,
    prune_invalidations,
    record_invalidations,
)

#: How often a worker with an in-process cache polls other workers' invalidations.
SYNC_SECONDS = 0.25
#: How far back each poll looks again, so that rows committed late are not missed.
SYNC_OVERLAP_MS = 5_000
#: How long invalidation rows are kept.
KEEP_MS = 600_000


class CacheSync:
    """Keeps one worker's in-process cache in step with the other workers' writes."""

    def __init__(self, engine: Engine, user_cache: UserCache) -> None:
        self.engine = engine
        self.user_cache = user_cache
        self._lock = threading.Lock()
        self._synced_at = 0.0  # monotonic time of the last poll
        self._seen_ms = now_ms()  # invalidations older than this are applied
        self._applied: dict[str, int] = {}
        self._pruned_at = 0.0

    @property
    def needed(self) -> bool:
        """Whether the cache is per worker (Redis needs no sync)."""
        return self.user_cache.backend == "memory"

    def record(self, conn: Connection, user_ids: Iterable[str]) -> None:
        """Write users to ``cache_invalidations`` for the other workers."""
        if self.needed:
            record_invalidations(conn, user_ids, now_ms())

    def sync(self) -> None:
        """Apply other workers' invalidations (at most every ``SYNC_SECONDS``)."""
        if not self.needed:
            return
        now = time.monotonic()
        if now - self._synced_at < SYNC_SECONDS or not self._lock.acquire(blocking=False):
            return
        try:
            self._synced_at = now
            with self.engine.connect() as conn:
                rows = invalidations_since(conn, self._seen_ms - SYNC_OVERLAP_MS)
            stale = [u for u, at in rows if self._applied.get(u, -1) < at]
            self.user_cache.invalidate(stale)
            for u, at in rows:
                self._applied[u] = max(at, self._applied.get(u, -1))
                self._seen_ms = max(self._seen_ms, at)
            self._prune(now)
        finally:
            self._lock.release()

    def _prune(self, now: float) -> None:
        if now - self._pruned_at < 60.0:
            return
        self._pruned_at = now
        horizon = now_ms() - KEEP_MS
        self._applied = {
            u: at for u, at in self._applied.items() if at >= horizon - SYNC_OVERLAP_MS
        }
        with self.engine.begin() as conn:
            prune_invalidations(conn, horizon)
