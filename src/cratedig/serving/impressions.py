"""Log every list served (impressions) through a buffered background writer.

Requests only append rows to an in-memory buffer (no thread wake-up per request);
one daemon thread writes them in batches, every ``flush_seconds`` or as soon as
``flush_rows`` rows wait. :meth:`ImpressionWriter.close`
(registered with :mod:`atexit`, and called by the app on teardown) writes what is
left, so a clean shutdown loses nothing. Rows that fail to write are kept and
retried (up to ``max_buffer`` rows).
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import threading
from collections.abc import Sequence

import orjson
from sqlalchemy import Engine

from cratedig.clock import now_ms
from cratedig.store.engine import write_lock
from cratedig.store.schema import impressions

log = logging.getLogger(__name__)

_COLUMNS = (
    "list_id",
    "user_id",
    "list_type",
    "model_version",
    "variant",
    "artist_ids",
    "n_items",
    "shown_at_ms",
    "teams",
)


Row = tuple[str, str, str, str | None, str | None, str, int, int, str | None]


def impression_artists(row: object) -> list[str]:
    """The artists of a stored impression row, in position order (position = index + 1)."""
    return list(json.loads(row.artist_ids))  # type: ignore[attr-defined]


class ImpressionWriter:
    """Buffered, thread-safe writer of impression rows.

    Parameters
    ----------
    engine
        The store.
    flush_rows, flush_seconds
        Write when this many rows are waiting, or every this many seconds.
    max_buffer
        Rows kept for retry when the store fails; older rows beyond it are dropped
        (and counted in :attr:`dropped`).
    """

    def __init__(
        self,
        engine: Engine,
        flush_rows: int = 2000,
        flush_seconds: float = 1.0,
        max_buffer: int = 1_000_000,
    ) -> None:
        self.engine = engine
        self.flush_rows = flush_rows
        self.flush_seconds = flush_seconds
        self.max_buffer = max_buffer
        self.written = 0
        self.dropped = 0
        self._buffer: list[Row] = []
        self._lock = threading.Lock()  # guards _buffer
        self._write_lock = threading.Lock()  # one writer at a time
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False
        atexit.register(self.close)
        os.register_at_fork(after_in_child=self._forked)

    def log(
        self,
        list_id: str,
        user_id: str,
        list_type: str,
        artist_ids: Sequence[str],
        model_version: str | None,
        variant: str | None = None,
        shown_at_ms: int | None = None,
        teams: str | None = None,
    ) -> None:
        """Buffer one served list: one row, its artists in position order.

        ``variant`` is ``"<experiment>:<variant>"`` for a user in an experiment;
        ``teams`` the team (``A``/``B``) of each position of an interleaved list.
        """
        if not artist_ids:
            return
        shown = shown_at_ms if shown_at_ms is not None else now_ms()
        ids = orjson.dumps(list(artist_ids)).decode()
        rows = [
            (
                list_id,
                user_id,
                list_type,
                model_version,
                variant,
                ids,
                len(artist_ids),
                shown,
                teams,
            )
        ]
        if self._closed:
            self._write_or_keep(rows)
            return
        with self._lock:
            self._buffer.extend(rows)
            full = len(self._buffer) >= self.flush_rows
        if full:
            self._wake.set()
        if self._thread is None:  # (``is_alive`` per request cost as much as the rest)
            self._start()

    def pending(self, list_id: str) -> tuple[str, list[str]] | None:
        """A list served but not written yet: its user and artists (``None`` if not
        buffered here)."""
        with self._lock:
            for row in reversed(self._buffer):
                if row[0] == list_id:
                    return row[1], list(json.loads(row[5]))
        return None

    def _forked(self) -> None:
        """In a forked child the thread is gone: the next row starts a new one."""
        self._thread = None
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()

    def _start(self) -> None:
        # Started lazily so that an app created before a fork (gunicorn --preload)
        # gets its thread in the worker process.
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="cratedig-impressions", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            try:
                self.flush()
            except Exception:  # never let the thread die: rows are kept for a retry
                log.exception("impressions writer")

    def _take(self) -> list[Row]:
        with self._lock:
            rows, self._buffer = self._buffer, []
        return rows

    def flush(self) -> None:
        """Write every buffered row now (in the calling thread)."""
        rows = self._take()
        if rows:
            self._write_or_keep(rows)

    def _write_or_keep(self, rows: list[Row]) -> None:
        if self._write(rows):
            return
        if self._store_reachable():
            # The store works, so some row is bad: write one by one, drop the bad ones.
            for row in rows:
                if not self._write([row]):
                    self.dropped += 1
            return
        with self._lock:
            keep = rows[-self.max_buffer :]
            self.dropped += len(rows) - len(keep)
            self._buffer = keep + self._buffer

    def _store_reachable(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
        except Exception:
            return False
        return True

    def _write(self, rows: list[Row]) -> bool:
        if not rows:
            return True
        try:
            # the store's write lock too: on SQLite, waiting on the events' writers in
            # SQLite's busy handler sleeps in steps of up to 100 ms (store/engine.py)
            with self._write_lock, write_lock(self.engine), self.engine.begin() as conn:
                # A plain DBAPI executemany: SQLAlchemy's per-row parameter processing
                # cost ~40 us a row, as much as the whole request that served the list.
                mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
                sql = (
                    f"INSERT INTO {impressions.name} ({', '.join(_COLUMNS)}) "
                    f"VALUES ({', '.join([mark] * len(_COLUMNS))})"
                )
                conn.exec_driver_sql(sql, rows)
        except Exception as exc:
            log.warning("could not write %d impressions (%s); will retry", len(rows), exc)
            return False
        self.written += len(rows)
        return True

    def close(self) -> None:
        """Stop the thread and write every remaining row (safe to call twice)."""
        if self._closed:
            return
        self._closed = True
        self._wake.set()
        thread = self._thread
        if thread is not None and thread.is_alive():
            thread.join(timeout=30)
        self.flush()
