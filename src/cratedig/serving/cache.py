"""Caches of the service: per-user lists (in-process or Redis) and immutable data.

Two kinds of things are cached:

* **per-user lists** (a user's personalised recommendations). Their keys carry the
  model version, so promoting a version invalidates them all; a user's entries are
  dropped when that user's events or feedback arrive. The pages keep the listener's
  own part here too (:meth:`cratedig.serving.page_views.PageReads.user_extras`).
  They live in Redis when ``Settings.redis_url`` is set (shared by every worker),
  else in process.
* **immutable data** (a version's similar-artist lists, cold-start lists): keyed by
  version, never stale, always in process (:class:`LocalLRU`).

With the in-process backend and several gunicorn workers, the worker that receives
a user's events (or feedback) drops its entries at once and records the user in the store's
``cache_invalidations`` table, which every worker polls every 0.25 s
(:meth:`cratedig.serving.service.Service.sync_cache`); entries also expire after
``ttl_seconds`` (60 s by default).

When Redis fails, the cache turns itself off for ``retry_seconds`` and every lookup
is a miss: the service keeps serving from the store.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from contextvars import ContextVar
from typing import Any, Protocol

log = logging.getLogger(__name__)

#: Users' Redis hashes read in this block of :meth:`RedisUserCache.batched`.
_BATCH: ContextVar[dict[str, dict[bytes, bytes]] | None] = ContextVar(
    "cratedig_user_cache_batch", default=None
)


class LocalLRU:
    """A small thread-safe LRU map with an optional time-to-live per entry.

    Hand-written (about 40 lines) because ``functools.lru_cache`` cannot drop one
    key or expire entries, and this is on every request's path.
    """

    def __init__(self, max_entries: int = 10_000, ttl_seconds: float | None = None) -> None:
        self.max_entries = max_entries
        self.ttl_seconds = ttl_seconds
        self._data: OrderedDict[Any, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any | None:
        """The value of a key, or ``None`` when absent or expired."""
        with self._lock:
            entry = self._data.get(key)
            if entry is None:
                return None
            stored_at, value = entry
            if self.ttl_seconds is not None and time.monotonic() - stored_at > self.ttl_seconds:
                del self._data[key]
                return None
            self._data.move_to_end(key)
            return value

    def set(self, key: Any, value: Any) -> None:
        """Store a value, evicting the least recently used entries beyond the bound."""
        with self._lock:
            self._data[key] = (time.monotonic(), value)
            self._data.move_to_end(key)
            while len(self._data) > self.max_entries:
                self._data.popitem(last=False)

    def pop(self, key: Any) -> None:
        """Drop one key (no error when absent)."""
        with self._lock:
            self._data.pop(key, None)

    def clear(self) -> None:
        """Drop every entry."""
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        return len(self._data)


class UserCache(Protocol):
    """Per-user cache of JSON-ready values."""

    backend: str

    def get(self, user_id: str, field: str) -> Any | None: ...

    def set(self, user_id: str, field: str, value: Any) -> None: ...

    def invalidate(self, user_ids: Iterable[str]) -> None: ...

    def healthy(self) -> bool: ...

    def batched(self) -> AbstractContextManager[None]: ...


class MemoryUserCache:
    """Per-user cache in this process (the default)."""

    backend = "memory"

    def __init__(self, max_users: int = 50_000, ttl_seconds: float = 60.0) -> None:
        self._lru = LocalLRU(max_users, ttl_seconds)

    def get(self, user_id: str, field: str) -> Any | None:
        entry = self._lru.get(user_id)
        return None if entry is None else entry.get(field)

    def set(self, user_id: str, field: str, value: Any) -> None:
        entry = self._lru.get(user_id)
        entry = dict(entry) if entry is not None else {}
        entry[field] = value
        self._lru.set(user_id, entry)

    def invalidate(self, user_ids: Iterable[str]) -> None:
        for user_id in user_ids:
            self._lru.pop(user_id)

    def healthy(self) -> bool:
        return True

    def batched(self) -> AbstractContextManager[None]:
        """Nothing to batch in process (see :meth:`RedisUserCache.batched`)."""
        return nullcontext()


class RedisUserCache:
    """Per-user cache in Redis: one hash per user, one field per (version, list, k).

    Parameters
    ----------
    url
        The Redis URL.
    ttl_seconds
        Expiry of a user's hash, which bounds staleness if an invalidation was missed
        while Redis was unreachable.
    retry_seconds
        After a Redis error, how long to skip Redis before trying again.
    timeout_seconds
        Socket connect and read timeout.
    """

    backend = "redis"

    def __init__(
        self,
        url: str,
        ttl_seconds: int = 600,
        retry_seconds: float = 5.0,
        timeout_seconds: float = 0.25,
        prefix: str = "cratedig:u:",
    ) -> None:
        import redis

        self._redis = redis.Redis.from_url(
            url,
            socket_timeout=timeout_seconds,
            socket_connect_timeout=timeout_seconds,
            health_check_interval=0,
        )
        self.ttl_seconds = ttl_seconds
        self.retry_seconds = retry_seconds
        self.prefix = prefix
        self._down_until = 0.0

    def _available(self) -> bool:
        return time.monotonic() >= self._down_until

    def _failed(self, exc: Exception) -> None:
        log.warning("Redis cache unavailable (%s); serving from the store", exc)
        self._down_until = time.monotonic() + self.retry_seconds

    def get(self, user_id: str, field: str) -> Any | None:
        if not self._available():
            return None
        batch = _BATCH.get()
        try:
            if batch is None:
                raw = self._redis.hget(self.prefix + user_id, field)
            else:
                fields = batch.get(user_id)
                if fields is None:
                    got: dict[bytes, bytes] = self._redis.hgetall(self.prefix + user_id)  # type: ignore[assignment]
                    fields = batch[user_id] = got
                raw = fields.get(field.encode())
        except Exception as exc:
            self._failed(exc)
            return None
        return None if raw is None else json.loads(raw)

    @contextmanager
    def batched(self) -> Iterator[None]:
        """Within the block, a user's first lookup reads their whole hash (``HGETALL``)
        and their later lookups are answered from it.

        For one request that reads several of a user's entries: the home page reads
        both lists and the listener's own part in one round trip instead of three.
        Writes and invalidations in the block update what it read; other workers'
        writes meanwhile are seen by the next request, as if this one had read them all
        at its first lookup.
        """
        token = _BATCH.set({})
        try:
            yield
        finally:
            _BATCH.reset(token)

    def set(self, user_id: str, field: str, value: Any) -> None:
        if not self._available():
            return
        key = self.prefix + user_id
        raw = json.dumps(value, separators=(",", ":"))
        try:
            pipe = self._redis.pipeline(transaction=False)
            pipe.hset(key, field, raw)
            pipe.expire(key, self.ttl_seconds)
            pipe.execute()
        except Exception as exc:
            self._failed(exc)
            return
        batch = _BATCH.get()
        if batch is not None and user_id in batch:
            batch[user_id][field.encode()] = raw.encode()

    def invalidate(self, user_ids: Iterable[str]) -> None:
        user_ids = list(user_ids)
        batch = _BATCH.get()
        if batch is not None:
            for user_id in user_ids:
                batch.pop(user_id, None)
        keys = [self.prefix + u for u in user_ids]
        if not keys:
            return
        # Tried even while marked down: a missed invalidation is worse than a slow one.
        try:
            self._redis.delete(*keys)
        except Exception as exc:
            self._failed(exc)

    def healthy(self) -> bool:
        try:
            return bool(self._redis.ping())
        except Exception:
            return False


def make_user_cache(redis_url: str | None, ttl_seconds: float = 60.0) -> UserCache:
    """The per-user cache: Redis when a URL is given, else in process."""
    if redis_url:
        return RedisUserCache(redis_url)
    return MemoryUserCache(ttl_seconds=ttl_seconds)
