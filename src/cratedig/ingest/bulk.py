"""Bulk import of events, users, artists and tracks that loses nothing.

* Every row is validated (events by :func:`cratedig.events.validate_event`, or by the
  vectorised fast path of :mod:`cratedig.ingest.event_batch`, which gives the same
  results); a bad row goes to the ``quarantine`` table with its source, line, reason
  and raw content, and the good rows go in.
* Events are inserted keyed by ``event_id`` (derived from the content when absent), so
  importing a file twice adds nothing the second time: its rows count as duplicates.
  A row whose ``event_id`` is stored with different content is a *conflict*: counted
  apart and quarantined with the fields that differ.
  Quarantined rows are keyed by (source, line), so they are not repeated either.
* Users, artists and tracks are upserted by id: a real record replaces a stub, and a
  stub never overwrites a real record.
* An event about an unknown user or artist creates a stub record (``is_stub``); a track
  event with an unknown ``track_id`` but an ``artist_id`` creates a stub track. With
  ``strict=True`` such rows are quarantined instead.
* Each chunk of rows is one transaction (its events, stubs and quarantined rows
  together): a crash or a kill leaves no half-written chunk, and running the same
  import again completes it with exactly the right totals.

A track event without ``artist_id`` takes the artist of its track from the ``tracks``
table (real tracks only; see :class:`~cratedig.ingest.lookups.TrackArtists`). The
steps shared with the API (artist derivation, references, stubs, insert-or-ignore)
are those of :mod:`cratedig.ingest.write_path`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from queue import Full, Queue
from typing import Any

import pyarrow as pa
from sqlalchemy import Engine

from cratedig.exceptions import ValidationError
from cratedig.fields import FUTURE_TOLERANCE_MS
from cratedig.ingest.chunk_import import ChunkImporter
from cratedig.ingest.readers import (
    Chunk,
    batch_chunks,
    check_chunk_rows,
    detect_format,
    read_chunks,
    records_chunks,
    source_size,
)

KINDS = ("events", "users", "artists", "tracks")
#: How many "line N: reason" strings a report keeps.
MAX_REASONS = 100


@dataclass
class ImportReport:
    """What one import did.

    Attributes
    ----------
    kind, source
        What was imported ("events", "users", "artists", "tracks") and from where.
    accepted
        Good rows newly stored (for users/artists/tracks: new records, stubs replaced).
    duplicates
        Good rows already stored (events with a known ``event_id`` and the same content;
        records that already existed as real records, which are updated in place).
    conflicts
        Events whose ``event_id`` is already stored (or earlier in the file) with
        different content: not stored, quarantined with a reason saying which fields
        differ, and counted here rather than in ``quarantined``.
    quarantined
        Bad rows (all of them, also those already quarantined by an earlier run).
        ``accepted + duplicates + conflicts + quarantined`` is every row read.
    reasons
        The first bad rows as ``"line N: reason"`` (at most ``MAX_REASONS``).
    stubs_created
        Stub users, artists and tracks created for unknown references.
    seconds
        Wall time of the import.
    """

    kind: str
    source: str
    accepted: int = 0
    duplicates: int = 0
    conflicts: int = 0
    quarantined: int = 0
    reasons: list[str] = field(default_factory=list)
    stubs_created: int = 0
    seconds: float = 0.0

    @property
    def rows(self) -> int:
        """Every row read: accepted + duplicates + conflicts + quarantined."""
        return self.accepted + self.duplicates + self.conflicts + self.quarantined

    @property
    def rows_per_second(self) -> float:
        """Rows read per second of wall time."""
        return self.rows / self.seconds if self.seconds > 0 else 0.0


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValidationError("kind", kind, "one of: " + ", ".join(KINDS))


def _check_args(kind: str, chunk_rows: int) -> None:
    _check_kind(kind)
    check_chunk_rows(chunk_rows)


def _run_in_memory(
    engine: Engine,
    kind: str,
    chunks: Iterator[Chunk],
    source: str,
    strict: bool,
    progress: bool,
    total: int | None,
    future_tolerance_ms: int,
) -> ImportReport:
    """:func:`_run` for in-memory data, read in the calling thread (the caller's
    iterator may not be safe to use in another thread)."""
    return _run(
        engine,
        kind,
        chunks,
        source=source,
        strict=strict,
        progress=progress,
        total=total,
        unit="rows",
        threaded=False,
        future_tolerance_ms=future_tolerance_ms,
    )


def _run(
    engine: Engine,
    kind: str,
    chunks: Iterator[Chunk],
    *,
    source: str,
    strict: bool,
    progress: bool,
    total: int | None,
    unit: str,
    threaded: bool,
    future_tolerance_ms: int = FUTURE_TOLERANCE_MS,
) -> ImportReport:
    started = time.perf_counter()
    report = ImportReport(kind=kind, source=source)
    importer = ChunkImporter(
        kind=kind, source=source, strict=strict, future_tolerance_ms=future_tolerance_ms
    )
    bar = _progress_bar(progress)
    with bar or nullcontext():
        task = None
        if bar is not None:
            label = f"import {kind} from {Path(source).name}"
            task = bar.add_task(label, total=total, unit=unit, rows=0)
        pairs = _prefetched(chunks, importer) if threaded else ((c, None) for c in chunks)
        for number, (chunk, prepared) in enumerate(pairs):
            if number == 0:
                check_columns(kind, chunk)  # before any row is written
            with engine.begin() as conn:
                outcome = importer.import_chunk(conn, chunk, prepared)
            report.accepted += outcome.accepted
            report.duplicates += outcome.duplicates
            report.stubs_created += outcome.stubs_created
            report.conflicts += outcome.conflicts
            report.quarantined += len(outcome.bad) - outcome.conflicts
            for bad in outcome.bad:
                if len(report.reasons) >= MAX_REASONS:
                    break
                report.reasons.append(f"line {bad.line}: {bad.reason}")
            if bar is not None and task is not None:
                bar.update(task, completed=chunk.position, rows=report.rows)
    report.seconds = time.perf_counter() - started
    return report


#: The columns an events file must have: each entry is satisfied by any of its names.
REQUIRED_EVENT_COLUMNS: tuple[tuple[str, ...], ...] = (
    ("user_id",),
    ("event_type",),
    ("occurred_at", "occurred_at_ms"),
)


def check_columns(kind: str, chunk: Chunk) -> None:
    """Raise one ValidationError when an events source lacks a required column.

    For CSV and Parquet the columns are the header or schema. For JSON Lines and
    in-memory records, whose keys may vary from row to row, a column counts as missing
    when no row of the first chunk has it (then every row would fail); a column that
    only some rows lack is reported row by row, in the quarantine.
    """
    if kind != "events":
        return
    if chunk.batch is not None:
        names = set(chunk.batch.schema.names)
    elif chunk.rows:
        names = set().union(*(raw.keys() for _, raw in chunk.rows))
    else:
        return  # nothing but unreadable rows: those are quarantined one by one
    for options in REQUIRED_EVENT_COLUMNS:
        if not names.intersection(options):
            wanted = " (or ".join(options) + ")" * (len(options) - 1)
            shown = ", ".join(sorted(map(str, names))[:20]) or "none"
            raise ValidationError(
                options[0],
                "no such column",
                f"a column named {wanted} in every events file (its columns: {shown}); "
                "nothing was imported",
            )


def _prefetched(chunks: Iterator[Chunk], importer: ChunkImporter) -> Iterator[tuple[Chunk, Any]]:
    """Read and prepare the next chunk in a thread while the current one is written.

    Reading (pyarrow) and the vectorised checks release the GIL, as does SQLite while
    it writes, so on two cores the two overlap.
    """
    queue: Queue[Any] = Queue(maxsize=1)
    stop = threading.Event()
    done = object()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                queue.put(item, timeout=0.1)
                return True
            except Full:
                continue
        return False

    def work() -> None:
        try:
            for chunk in chunks:
                if not put((chunk, importer.prepare(chunk))):
                    return
            put(done)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            put(exc)

    thread = threading.Thread(target=work, name="cratedig-import-reader", daemon=True)
    thread.start()
    try:
        while True:
            item = queue.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)


def _progress_bar(enabled: bool) -> Any:
    if not enabled:
        return None
    from rich.progress import (
        BarColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rows]:,} rows", style="cyan"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        transient=False,
    )


def import_records(
    engine: Engine,
    kind: str,
    records: Iterable[tuple[int, Mapping[str, Any]]],
    *,
    source: str,
    strict: bool = False,
    chunk_rows: int = 50_000,
    progress: bool = False,
    total: int | None = None,
    future_tolerance_ms: int = FUTURE_TOLERANCE_MS,
) -> ImportReport:
    """Import in-memory rows, each given as ``(line_number, raw_row)``.

    Parameters
    ----------
    engine
        The store (schema created).
    kind
        "events", "users", "artists" or "tracks".
    records
        ``(line, raw)`` pairs; ``raw`` maps raw column names to values.
    source
        Where the rows came from (recorded with quarantined rows).
    strict
        Quarantine rows that reference unknown users, artists or tracks instead of
        creating stub records for them.
    chunk_rows
        Rows per transaction.
    progress, total
        Show a progress bar; ``total`` is the number of records, when known.
    future_tolerance_ms
        Events later than the start of the import plus this are quarantined (an event
        cannot happen in the future; see :data:`cratedig.fields.FUTURE_TOLERANCE_MS`).
    """
    _check_args(kind, chunk_rows)
    chunks = records_chunks(records, chunk_rows)
    return _run_in_memory(
        engine, kind, chunks, source, strict, progress, total, future_tolerance_ms
    )


def import_batches(
    engine: Engine,
    kind: str,
    batches: Iterable[pa.RecordBatch | pa.Table],
    *,
    source: str,
    strict: bool = False,
    chunk_rows: int = 50_000,
    progress: bool = False,
    total: int | None = None,
    future_tolerance_ms: int = FUTURE_TOLERANCE_MS,
) -> ImportReport:
    """Import in-memory Arrow data (raw column names as for files) with the fast path.

    The same as :func:`import_records`, but events are validated column-wise (much
    faster for millions of rows). Row ``i`` (counted from 0 across all batches) is
    recorded as line ``i + 1``. ``total`` is the number of rows, when known.
    """
    _check_args(kind, chunk_rows)
    chunks = batch_chunks(batches, chunk_rows)
    return _run_in_memory(
        engine, kind, chunks, source, strict, progress, total, future_tolerance_ms
    )


def import_file(
    engine: Engine,
    kind: str,
    path: str | Path,
    *,
    fmt: str | None = None,
    strict: bool = False,
    chunk_rows: int = 50_000,
    progress: bool = False,
    future_tolerance_ms: int = FUTURE_TOLERANCE_MS,
) -> ImportReport:
    """Import a CSV, JSON Lines or Parquet file, streamed in chunks of ``chunk_rows`` rows.

    ``fmt`` is "csv", "jsonl" or "parquet" (default: from the file's extension). The
    report's ``source`` (also recorded with quarantined rows) is the absolute path.
    See :func:`import_records` for the other parameters.
    """
    _check_args(kind, chunk_rows)
    path = Path(path).resolve()
    if not path.is_file():
        raise ValidationError("path", str(path), "an existing file")
    fmt = detect_format(path, fmt)
    return _run(
        engine,
        kind,
        read_chunks(path, fmt, chunk_rows),
        source=str(path),
        strict=strict,
        progress=progress,
        total=source_size(path, fmt),
        unit="rows" if fmt == "parquet" else "bytes",
        threaded=True,
        future_tolerance_ms=future_tolerance_ms,
    )
