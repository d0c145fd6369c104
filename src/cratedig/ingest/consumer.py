"""The stream consumer behind ``cratedig consume``: entries in, events stored, entries out.

One :class:`StreamConsumer` is one member of the stream's consumer group. Each step it

1. finishes the entries it already holds (a consumer restarted under its old name);
2. takes over entries another consumer left pending for ``claim_idle_ms``
   (``XAUTOCLAIM``: that consumer died or hangs);
3. reads new entries (``XREADGROUP``), blocking up to ``block_ms``;

and stores their events through the one validated write path,
:func:`cratedig.ingest.write_path.store_events` (``event_id`` is the idempotency key, so
an entry stored twice, by a consumer that died after its commit and before its
``XACK``, adds nothing the second time), quarantines what the write path refused (a
conflict with a stored event; a foreign entry), and only then acknowledges the entries
(``XACK``). Several consumers share the work: the group hands each entry to one of them.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
from sqlalchemy import Connection, Engine

from cratedig.clock import now_ms
from cratedig.fields import FUTURE_TOLERANCE_MS
from cratedig.ingest.chunk_import import ChunkImporter
from cratedig.ingest.readers import Chunk
from cratedig.ingest.stream import Entry, EventStream
from cratedig.ingest.write_path import MAX_BATCH
from cratedig.store.engine import write_lock

#: Quarantine lines of stream events: the entry's time (ms) times this, plus the
#: event's position in the entry.
LINE_FACTOR = 10_000
#: How long one importer (its id caches and time limit) serves.
IMPORTER_SECONDS = 60.0
#: How many latency samples (one per entry) the statistics keep.
LATENCY_WINDOW = 200_000


_TEXT = (
    "event_id",
    "user_id",
    "event_type",
    "artist_id",
    "track_id",
    "tag",
    "session_id",
    "source",
)
_WHOLE = ("occurred_at_ms", "duration_ms", "count")
#: The typed columns of the rows the service writes (as a Parquet import has them).
STREAM_SCHEMA = pa.schema(
    [(name, pa.string()) for name in _TEXT] + [(name, pa.int64()) for name in _WHOLE]
)
_INT64 = (-(2**63), 2**63 - 1)


def _plain(raw: Any) -> bool:
    """Whether ``raw`` has the canonical shape (known fields; text as str, numbers as
    int64), so that it fits :data:`STREAM_SCHEMA` without any conversion."""
    if not isinstance(raw, dict):
        return False
    for key, value in raw.items():
        if value is None:
            continue
        if key in _TEXT:
            if not isinstance(value, str):
                return False
        elif key in _WHOLE:
            if type(value) is not int or not _INT64[0] <= value <= _INT64[1]:
                return False
        else:
            return False
    return True


def stream_chunk(rows: Iterable[tuple[int, Any]]) -> Chunk:
    """A chunk of the importer from ``(line, raw row)`` pairs: plain rows as a typed
    record batch, the others as rows for ``validate_event``."""
    plain: list[dict[str, Any]] = []
    lines: list[int] = []
    other: list[tuple[int, Any]] = []
    for line, raw in rows:
        if _plain(raw):
            plain.append(raw)
            lines.append(line)
        else:
            other.append((line, raw))
    batch = pa.RecordBatch.from_pylist(plain, schema=STREAM_SCHEMA) if plain else None
    return Chunk(
        batch=batch,
        lines=np.array(lines, dtype=np.int64) if plain else None,
        rows=other or None,
    )


def quarantine_source(stream_name: str) -> str:
    """The quarantine ``source`` of events refused by the consumers of a stream."""
    return f"stream:{stream_name}"


@dataclass
class ConsumerStats:
    """What one consumer did: counts, and event-to-store latencies per entry
    (``(added_ms, latency_ms, events)``: when the stream took the entry, how long until
    its events were committed, and how many they were)."""

    entries: int = 0
    events: int = 0
    stored: int = 0
    duplicates: int = 0
    conflicts: int = 0
    rejected: int = 0
    claimed: int = 0
    trimmed: int = 0
    started: float = field(default_factory=time.monotonic)
    latencies: deque[tuple[int, int, int]] = field(
        default_factory=lambda: deque(maxlen=LATENCY_WINDOW), repr=False
    )

    def latency_ms(self, q: float) -> float | None:
        """The ``q``-quantile (0..1) of event-to-store latency, weighted by events."""
        if not self.latencies:
            return None
        lat = np.array(self.latencies, dtype=np.int64)
        order = np.argsort(lat[:, 1], kind="stable")
        weights = np.cumsum(lat[order, 2])
        k = int(np.searchsorted(weights, q * weights[-1]))
        return float(lat[order[min(k, len(order) - 1)], 1])

    def as_dict(self, with_latencies: bool = False) -> dict[str, Any]:
        """Counts, rate and latency quantiles (and the raw samples when asked)."""
        seconds = max(time.monotonic() - self.started, 1e-9)
        out: dict[str, Any] = {
            "entries": self.entries,
            "events": self.events,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "conflicts": self.conflicts,
            "rejected": self.rejected,
            "claimed_entries": self.claimed,
            "trimmed_entries": self.trimmed,
            "seconds": round(seconds, 3),
            "events_per_s": round(self.events / seconds, 1),
            "latency_p50_ms": self.latency_ms(0.5),
            "latency_p95_ms": self.latency_ms(0.95),
        }
        if with_latencies:
            out["latencies_ms"] = [list(x) for x in self.latencies]
        return out


class StreamConsumer:
    """One consumer of the event stream's group.

    Parameters
    ----------
    engine, stream
        The store, and the stream (its consumer group is the stream's ``group``).
    name
        This consumer's name in the group (unique per running consumer).
    count, block_ms
        Entries read per step, and how long a read waits for new ones.
    claim_idle_ms
        Entries pending this long with another consumer are taken over.
    in_transaction, after_store
        Called with the stored events' users: inside their transaction (cache
        invalidations for other workers) and after it (shared cache entries).
    future_tolerance_ms
        As for the API (an event validated then is valid later too).
    """

    def __init__(
        self,
        engine: Engine,
        stream: EventStream,
        name: str,
        *,
        count: int = 20,
        block_ms: int = 1000,
        claim_idle_ms: int = 60_000,
        in_transaction: Callable[[Connection, set[str]], None] | None = None,
        after_store: Callable[[set[str]], None] | None = None,
        future_tolerance_ms: int = FUTURE_TOLERANCE_MS,
    ) -> None:
        self.engine = engine
        self.stream = stream
        self.name = name
        self.count = count
        self.block_ms = block_ms
        self.claim_idle_ms = claim_idle_ms
        self.in_transaction = in_transaction
        self.after_store = after_store
        self.future_tolerance_ms = future_tolerance_ms
        self.stats = ConsumerStats()
        self._own_done = False
        self._claimed_at = 0.0
        self._stopping = False
        self._importer_made: tuple[float, ChunkImporter] | None = None

    @property
    def claim_every_s(self) -> float:
        """How often pending entries are scanned for takeover."""
        return min(5.0, max(0.05, self.claim_idle_ms / 2000))

    def stop(self) -> None:
        """Finish the current step, then return from :meth:`run` (the SIGTERM handler)."""
        self._stopping = True

    def step(self) -> int:
        """One round (own pending, takeover, new entries); how many entries it handled."""
        handled = 0
        if not self._own_done:
            own = getattr(self.stream, "pending_of", None)
            entries = own(self.name, self.count) if own is not None else []
            if entries:
                return self.handle(entries)
            self._own_done = True
        now = time.monotonic()
        if now - self._claimed_at >= self.claim_every_s:
            self._claimed_at = now
            claimed = self.stream.claim(self.name, self.claim_idle_ms, self.count)
            if claimed:
                self.stats.claimed += len(claimed)
                handled += self.handle(claimed)
        if self._stopping:
            return handled
        entries = self.stream.read(self.name, self.count, 0 if handled else self.block_ms)
        return handled + self.handle(entries)

    def handle(self, entries: Sequence[Entry]) -> int:
        """Store the events of ``entries`` (quarantining refused ones in the same
        transaction), then ``XACK`` them."""
        if not entries:
            return 0
        flat = [(e, pos, raw) for e in entries for pos, raw in enumerate(e.events)]
        for start in range(0, len(flat), MAX_BATCH):
            self._store(flat[start : start + MAX_BATCH])
        self.stream.ack([e.entry_id for e in entries])
        done = now_ms()
        for e in entries:
            self.stats.latencies.append((e.added_ms, done - e.added_ms, len(e.events)))
        self.stats.entries += len(entries)
        self.stats.events += len(flat)
        return len(entries)

    def _importer(self) -> ChunkImporter:
        """The importer, renewed every :data:`IMPORTER_SECONDS`: it caches the ids it
        knows, and fixes its "not later than" limit when it is made."""
        now = time.monotonic()
        if self._importer_made is None or now - self._importer_made[0] > IMPORTER_SECONDS:
            importer = ChunkImporter(
                "events", quarantine_source(self.stream.name), False, self.future_tolerance_ms
            )
            self._importer_made = (now, importer)
        return self._importer_made[1]

    def _store(self, part: Sequence[tuple[Entry, int, Any]]) -> None:
        """One transaction of the file importer's write path
        (:class:`~cratedig.ingest.chunk_import.ChunkImporter`): the rows of the
        canonical shape the service writes go through the vectorised validation, any
        other row through ``validate_event``; the same rules either way."""
        chunk = stream_chunk((e.added_ms * LINE_FACTOR + pos, raw) for e, pos, raw in part)
        importer = self._importer()
        prepared = importer.prepare(chunk)  # validation needs no lock
        users = {
            raw["user_id"]
            for _, _, raw in part
            if isinstance(raw, dict) and isinstance(raw.get("user_id"), str)
        }
        with write_lock(self.engine), self.engine.begin() as conn:
            outcome = importer.import_chunk(conn, chunk, prepared)
            if outcome.accepted and self.in_transaction is not None:
                self.in_transaction(conn, users)
        if outcome.accepted and self.after_store is not None:
            self.after_store(users)
        self.stats.stored += outcome.accepted
        self.stats.duplicates += outcome.duplicates
        self.stats.conflicts += outcome.conflicts
        self.stats.rejected += len(outcome.bad) - outcome.conflicts

    def run(
        self,
        log: Callable[[str], None] | None = None,
        log_every_s: float = 10.0,
        trim_every_s: float = 5.0,
        idle_exit_s: float | None = None,
    ) -> ConsumerStats:
        """Consume until :meth:`stop` (or, with ``idle_exit_s``, until nothing came for
        that long); log progress every ``log_every_s``; trim acknowledged entries every
        ``trim_every_s``."""
        logged = trimmed = idle_since = time.monotonic()
        while not self._stopping:
            handled = self.step()
            now = time.monotonic()
            if handled:
                idle_since = now
            elif idle_exit_s is not None and now - idle_since >= idle_exit_s:
                break
            if now - trimmed >= trim_every_s:
                trimmed = now
                self.stats.trimmed += self.stream.trim()
            if log is not None and now - logged >= log_every_s:
                logged = now
                log(self.progress_line())
        self.stats.trimmed += self.stream.trim()
        return self.stats

    def progress_line(self) -> str:
        """One line: what this consumer did and the group's lag."""
        s = self.stats.as_dict()
        lag = self.stream.lag()
        oldest = lag.oldest_pending_age_s
        return (
            f"consume {self.name}: {s['events']:,} events in {s['entries']:,} entries "
            f"(stored {s['stored']:,}, duplicates {s['duplicates']:,}, conflicts "
            f"{s['conflicts']:,}, rejected {s['rejected']:,}; claimed {s['claimed_entries']:,} "
            f"entries), {s['events_per_s']:,.0f} events/s, p95 latency "
            f"{_ms(s['latency_p95_ms'])}; lag: {lag.length:,} entries in the stream, "
            f"{_count(lag.undelivered)} undelivered, {lag.pending:,} pending"
            + (f" (oldest {oldest:.1f} s)" if oldest is not None else "")
        )


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f} ms"


def _count(value: int | None) -> str:
    return "?" if value is None else f"{value:,}"
