"""Importing one chunk of rows inside one transaction (used by :mod:`cratedig.ingest.bulk`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection

from cratedig.clock import now_ms
from cratedig.events import EVENT_FIELDS, Event, validate_event
from cratedig.exceptions import ValidationError
from cratedig.fields import FUTURE_TOLERANCE_MS, latest_allowed_ms
from cratedig.ingest.entities import validate_artist, validate_track, validate_user
from cratedig.ingest.event_batch import (
    EventBatch,
    complete_event_batch,
    normalise_event_batch,
    tracks_to_resolve,
)
from cratedig.ingest.lookups import KnownIds, TrackArtists
from cratedig.ingest.quarantine import BadRow, quarantine_rows
from cratedig.ingest.readers import Chunk, batch_rows
from cratedig.ingest.write_path import (
    conflict_error,
    find_conflicts,
    references,
    tracks_lacking_artist,
)
from cratedig.store import schema, upsert
from cratedig.store.event_writes import insert_event_table, insert_stubs
from cratedig.store.records import real_ids, replace_artist_tags

_EVENT_SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("user_id", pa.string()),
        ("event_type", pa.string()),
        ("occurred_at_ms", pa.int64()),
        ("artist_id", pa.string()),
        ("track_id", pa.string()),
        ("duration_ms", pa.int64()),
        ("count", pa.int64()),
        ("tag", pa.string()),
        ("session_id", pa.string()),
        ("source", pa.string()),
        ("_row", pa.int64()),
    ]
)


@dataclass
class ChunkOutcome:
    """What importing one chunk did."""

    accepted: int = 0
    duplicates: int = 0
    stubs_created: int = 0
    #: rows in ``bad`` whose event_id is stored with different content
    conflicts: int = 0
    bad: list[BadRow] = field(default_factory=list)


def _unknown(field_name: str, value: str, what: str) -> str:
    return str(ValidationError(field_name, value, f"a known {what} (strict import)"))


class ChunkImporter:
    """Imports chunks of one kind from one source, keeping per-import caches."""

    def __init__(
        self, kind: str, source: str, strict: bool, future_tolerance_ms: int = FUTURE_TOLERANCE_MS
    ) -> None:
        self.kind = kind
        self.source = source
        self.strict = strict
        # One limit for the whole import, so the fast path and validate_event agree.
        self.not_after_ms = latest_allowed_ms(now_ms(), future_tolerance_ms)
        self.users = KnownIds(schema.users)
        self.artists = KnownIds(schema.artists)
        self.track_ids = KnownIds(schema.tracks)
        self.track_artists = TrackArtists()

    def prepare(self, chunk: Chunk) -> EventBatch | None:
        """The work on a chunk that needs no database (safe to run in another thread)."""
        if self.kind == "events" and chunk.batch is not None:
            return normalise_event_batch(chunk.batch, self.not_after_ms)
        return None

    def import_chunk(
        self, conn: Connection, chunk: Chunk, prepared: EventBatch | None = None
    ) -> ChunkOutcome:
        """Validate and write one chunk in the transaction of ``conn``.

        ``prepared`` is what :meth:`prepare` returned for the chunk, if it was called.
        """
        bad = list(chunk.rejects)
        if self.kind == "events":
            outcome = self._events(conn, chunk, bad, prepared)
        else:
            outcome = self._records(conn, chunk, bad)
        outcome.bad.sort(key=lambda b: b.line)
        quarantine_rows(conn, self.source, outcome.bad)
        return outcome

    # -- events -------------------------------------------------------------------

    def _events(
        self, conn: Connection, chunk: Chunk, bad: list[BadRow], prepared: EventBatch | None
    ) -> ChunkOutcome:
        tables: list[pa.Table] = []
        slow: list[tuple[int, dict[str, Any]]] = []
        batch = chunk.batch
        n_batch = 0 if batch is None else batch.num_rows
        lines = np.zeros(0, dtype=np.int64) if chunk.lines is None else chunk.lines
        if batch is not None:
            normalised = (
                prepared
                if prepared is not None
                else normalise_event_batch(batch, self.not_after_ms)
            )
            self.track_artists.prefetch(conn, tracks_to_resolve(normalised))
            tables.append(complete_event_batch(normalised, self.track_artists.get))
            flagged = np.flatnonzero(~normalised.ok)
            raws = batch_rows(batch.take(pa.array(flagged, pa.int64())))
            slow = [(int(lines[i]), raw) for i, raw in zip(flagged, raws, strict=True)]
        slow.extend(chunk.rows or [])
        self.track_artists.prefetch(conn, tracks_lacking_artist(raw for _, raw in slow))
        events: list[dict[str, Any]] = []
        for k, (line, raw) in enumerate(slow):
            try:
                event: Event = validate_event(
                    raw, self.track_artists.get, not_after_ms=self.not_after_ms
                )
            except ValidationError as exc:
                bad.append(BadRow(line, str(exc), raw))
                continue
            events.append({**event.as_row(), "_row": n_batch + k})
        tables.append(pa.Table.from_pylist(events, schema=_EVENT_SCHEMA))
        good = pa.concat_tables([t.cast(_EVENT_SCHEMA) for t in tables])

        def line_of(row: int) -> int:
            return int(lines[row]) if row < n_batch else slow[row - n_batch][0]

        def raw_of(row: int) -> Any:
            if row < n_batch and batch is not None:
                return batch_rows(batch.slice(row, 1))[0]
            return slow[row - n_batch][1]

        # Rows are already in _row order, but the sort (a take) also copies the
        # concatenated chunks into fresh arrays: without it PostgreSQL's COPY received
        # stray NUL bytes from the Parquet fast path (tests/ingest/test_bulk.py).
        good = good.sort_by("_row")
        outcome = ChunkOutcome(bad=bad)
        good = self._references(conn, good, outcome, line_of, raw_of)
        inserted = insert_event_table(conn, good)
        if inserted < good.num_rows:  # some ids were stored: same content, or a conflict?
            stored = good.select(list(EVENT_FIELDS))
            rows = list(zip(*(c.to_pylist() for c in stored.columns), strict=True))
            positions = good.column("_row").to_pylist()
            for k, fields in find_conflicts(conn, rows):
                reason = str(conflict_error(rows[k][0], fields))
                outcome.bad.append(BadRow(line_of(positions[k]), reason, raw_of(positions[k])))
                outcome.conflicts += 1
        outcome.accepted = inserted
        outcome.duplicates = good.num_rows - inserted - outcome.conflicts
        return outcome

    def _references(
        self,
        conn: Connection,
        good: pa.Table,
        outcome: ChunkOutcome,
        line_of: Callable[[int], int],
        raw_of: Callable[[int], Any],
    ) -> pa.Table:
        """Stub (or, when strict, reject) the unknown users, artists and tracks of events."""
        users = good.column("user_id")
        artists = good.column("artist_id")
        tracks = good.column("track_id")
        has_pair = pc.and_(pc.is_valid(artists), pc.is_valid(tracks))
        missing_users = set(self.users.missing(conn, pc.unique(users).to_pylist()))
        missing_artists = set(
            self.artists.missing(conn, pc.unique(artists.drop_null()).to_pylist())
        )
        missing_tracks = set(
            self.track_ids.missing(conn, pc.unique(tracks.filter(has_pair)).to_pylist())
        )
        if not (missing_users or missing_artists or missing_tracks):
            return good
        user_list, artist_list = users.to_pylist(), artists.to_pylist()
        track_list, rows = tracks.to_pylist(), good.column("_row").to_pylist()
        if self.strict:
            keep = np.ones(good.num_rows, dtype=bool)
            for i, (user, artist, track) in enumerate(
                zip(user_list, artist_list, track_list, strict=True)
            ):
                reason = None
                if user in missing_users:
                    reason = _unknown("user_id", user, "user")
                elif artist in missing_artists:
                    reason = _unknown("artist_id", artist, "artist")
                elif artist is not None and track in missing_tracks:
                    reason = _unknown("track_id", track, "track")
                if reason is not None:
                    keep[i] = False
                    outcome.bad.append(BadRow(line_of(rows[i]), reason, raw_of(rows[i])))
            return good.filter(pa.array(keep))
        _, _, pairs = references(zip(user_list, artist_list, track_list, strict=True))
        stub_tracks = {t: a for t, a in pairs.items() if t in missing_tracks}
        outcome.stubs_created += self._stubs(conn, missing_users, missing_artists, stub_tracks)
        return good

    def _stubs(
        self,
        conn: Connection,
        users: set[str],
        artists: set[str],
        tracks: Mapping[str, str],
    ) -> int:
        created = insert_stubs(conn, users, artists, tracks)
        self.users.add(users)
        self.artists.add(artists)
        self.track_ids.add(tracks)
        return created

    # -- users, artists, tracks ----------------------------------------------------

    def _records(self, conn: Connection, chunk: Chunk, bad: list[BadRow]) -> ChunkOutcome:
        raws: list[tuple[int, dict[str, Any]]] = []
        if chunk.batch is not None and chunk.lines is not None:
            raws = list(zip(chunk.lines.tolist(), batch_rows(chunk.batch), strict=True))
        raws.extend(chunk.rows or [])
        table = {"users": schema.users, "artists": schema.artists, "tracks": schema.tracks}[
            self.kind
        ]
        key = next(iter(table.primary_key.columns)).name
        latest: dict[str, tuple[int, dict[str, Any], list[str], Any]] = {}
        repeats = 0
        for line, raw in raws:
            try:
                row, tags = self._validate_record(raw)
            except ValidationError as exc:
                bad.append(BadRow(line, str(exc), raw))
                continue
            repeats += row[key] in latest
            latest[row[key]] = (line, row, tags, raw)
        outcome = ChunkOutcome(bad=bad, duplicates=repeats)
        if self.kind == "tracks":
            self._track_artists(conn, latest, outcome)
        ids = list(latest)
        real = real_ids(conn, table, ids)
        outcome.duplicates += len(real)
        outcome.accepted = len(ids) - len(real)
        upsert(conn, table, [row for _, row, _, _ in latest.values()])
        if self.kind == "artists" and ids:
            replace_artist_tags(conn, {a: tags for a, (_, _, tags, _) in latest.items()})
        if self.kind == "tracks":
            self.track_artists.learn((t, v[1]["artist_id"]) for t, v in latest.items())
        {"users": self.users, "artists": self.artists, "tracks": self.track_ids}[self.kind].add(ids)
        return outcome

    def _validate_record(self, raw: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
        if self.kind == "users":
            return validate_user(raw), []
        if self.kind == "artists":
            return validate_artist(raw)
        return validate_track(raw), []

    def _track_artists(
        self,
        conn: Connection,
        latest: dict[str, tuple[int, dict[str, Any], list[str], Any]],
        outcome: ChunkOutcome,
    ) -> None:
        """Stub (or, when strict, reject) the unknown artists of imported tracks."""
        artist_ids = [v[1]["artist_id"] for v in latest.values()]
        missing = set(self.artists.missing(conn, artist_ids))
        if not missing:
            return
        if self.strict:
            for track_id, (line, row, _, raw) in list(latest.items()):
                if row["artist_id"] in missing:
                    reason = _unknown("artist_id", row["artist_id"], "artist")
                    outcome.bad.append(BadRow(line, reason, raw))
                    del latest[track_id]
            return
        outcome.stubs_created += self._stubs(conn, set(), missing, {})
