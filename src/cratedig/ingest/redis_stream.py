"""The event stream on a Redis Stream (redis-py): ``XADD``, ``XREADGROUP``, ``XACK``,
``XAUTOCLAIM`` and ``XTRIM MINID`` (Redis 6.2 or later; 7.0 reports the group's lag)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import redis

from cratedig.ingest.stream import Entry, Lag, StreamUnavailableError, age_seconds, decode_events

#: The field of an entry that holds its events.
FIELD = b"events"
T = TypeVar("T")
#: Errors of a command on a stream or group that was deleted meanwhile.
_GONE = ("NOGROUP", "UNBLOCKED")


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _after(entry_id: str) -> str:
    """The id just after ``entry_id`` (``"5-2"`` -> ``"5-3"``)."""
    ms, _, seq = entry_id.partition("-")
    return f"{ms}-{int(seq or 0) + 1}"


class RedisEventStream:
    """One Redis Stream (``name``) read by one consumer group (``group``).

    Parameters
    ----------
    url
        A redis-py URL, for example ``redis://127.0.0.1:6379/0``.
    name, group
        The stream's key and the consumer group of the ``cratedig consume`` workers
        (created at the stream's start, with the stream, when first needed).
    """

    backend = "redis"

    def __init__(self, url: str, name: str, group: str) -> None:
        self.url = url
        self.name = name
        self.group = group
        self._redis = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=30)
        self._group_ready = False
        self._claim_cursor = "0-0"

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except redis.ResponseError as exc:
            if not any(word in str(exc) for word in _GONE):
                raise
            self._group_ready = False  # the stream (or group) was deleted: make it again
            self.ensure_group()
            return self._call(what, fn)
        except redis.RedisError as exc:
            raise StreamUnavailableError(
                f"event stream {self.name!r} at {self.url}: {what} failed ({exc}); expected a "
                "reachable Redis."
            ) from None

    def ensure_group(self) -> None:
        """Create the stream and the consumer group (from the stream's start) if absent."""
        if self._group_ready:
            return
        try:
            self._redis.xgroup_create(self.name, self.group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        except redis.RedisError as exc:
            raise StreamUnavailableError(
                f"event stream {self.name!r} at {self.url}: creating group {self.group!r} "
                f"failed ({exc}); expected a reachable Redis."
            ) from None
        self._group_ready = True

    def append(self, payloads: Sequence[bytes]) -> list[str]:
        """``XADD`` each payload as one entry, in one pipeline; the ids Redis gave."""

        def run() -> list[Any]:
            pipe = self._redis.pipeline(transaction=False)
            for payload in payloads:
                pipe.xadd(self.name, {FIELD: payload})
            return pipe.execute()

        return [_text(i) for i in self._call("XADD", run)]

    @staticmethod
    def _entries(raw: Sequence[Any]) -> list[Entry]:
        out = []
        for entry_id, fields in raw:
            if fields is None:  # deleted while pending
                continue
            payload = fields.get(FIELD)
            if payload is None:
                events = [{_text(k): _text(v) for k, v in fields.items()}]
            else:
                events = decode_events(payload)
            out.append(Entry(_text(entry_id), events))
        return out

    def read(self, consumer: str, count: int, block_ms: int) -> list[Entry]:
        """``XREADGROUP`` new entries (``>``) for ``consumer``."""
        self.ensure_group()
        reply: Any = self._call(
            "XREADGROUP",
            lambda: self._redis.xreadgroup(
                self.group, consumer, {self.name: ">"}, count=count, block=block_ms or None
            ),
        )
        return self._entries(reply[0][1]) if reply else []  # RESP2: [[name, entries]]

    def pending_of(self, consumer: str, count: int) -> list[Entry]:
        """Entries already delivered to ``consumer`` and not acknowledged (``XREADGROUP 0``):
        what a consumer restarted under the same name finishes first."""
        self.ensure_group()
        reply: Any = self._call(
            "XREADGROUP",
            lambda: self._redis.xreadgroup(self.group, consumer, {self.name: "0"}, count=count),
        )
        return self._entries(reply[0][1]) if reply else []

    def claim(self, consumer: str, min_idle_ms: int, count: int) -> list[Entry]:
        """``XAUTOCLAIM`` one page of entries idle for ``min_idle_ms`` (a cursor goes
        round the pending list over successive calls)."""
        self.ensure_group()
        reply = self._call(
            "XAUTOCLAIM",
            lambda: self._redis.xautoclaim(
                self.name,
                self.group,
                consumer,
                min_idle_time=min_idle_ms,
                start_id=self._claim_cursor,
                count=count,
            ),
        )
        self._claim_cursor = _text(reply[0])
        return self._entries(reply[1])

    def ack(self, entry_ids: Sequence[str]) -> None:
        """``XACK`` the entries."""
        if entry_ids:
            self._call("XACK", lambda: self._redis.xack(self.name, self.group, *entry_ids))

    def trim(self) -> int:
        """``XTRIM MINID``: drop the entries every group has acknowledged."""

        def run() -> int:
            if not self._redis.exists(self.name):
                return 0
            groups = self._redis.xinfo_groups(self.name)
            if not groups:
                return 0
            bounds = []
            for g in groups:
                if int(g["pending"]):
                    bounds.append(_text(self._redis.xpending(self.name, g["name"])["min"]))
                else:
                    bounds.append(_after(_text(g["last-delivered-id"])))
            low = min(bounds, key=lambda i: tuple(int(p) for p in i.split("-")))
            return int(self._redis.xtrim(self.name, minid=low))

        return self._call("XTRIM", run)

    def lag(self) -> Lag:
        """Length, undelivered and pending entries, the oldest pending entry's age, and
        the consumers (``XLEN``, ``XINFO GROUPS``, ``XPENDING``, ``XINFO CONSUMERS``)."""

        def run() -> Lag:
            lag = Lag(self.backend, self.name)
            if not self._redis.exists(self.name):
                return lag
            lag.length = int(self._redis.xlen(self.name))
            groups = [
                g for g in self._redis.xinfo_groups(self.name) if _text(g["name"]) == self.group
            ]
            if not groups:
                lag.undelivered = lag.length
                return lag
            info = groups[0]
            lag.undelivered = None if info.get("lag") is None else int(info["lag"])
            lag.pending = int(info["pending"])
            if lag.pending:
                oldest = _text(self._redis.xpending(self.name, self.group)["min"])
                lag.oldest_pending_age_s = round(age_seconds(int(oldest.split("-")[0])), 3)
            lag.consumers = [
                {
                    "name": _text(c["name"]),
                    "pending": int(c["pending"]),
                    "idle_s": round(int(c["idle"]) / 1000, 3),
                }
                for c in self._redis.xinfo_consumers(self.name, self.group)
            ]
            return lag

        return self._call("XINFO", run)

    def forget_consumer(self, consumer: str) -> None:
        """``XGROUP DELCONSUMER`` (a consumer that stops cleanly holds nothing)."""
        self._call(
            "XGROUP DELCONSUMER",
            lambda: self._redis.xgroup_delconsumer(self.name, self.group, consumer),
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._redis.close()
