"""Caches of what the store already holds: known ids and tracks' artists.

One per import (or per API batch), so that a million events ask the store about each
id once; :class:`StoredRecords` is kept per process, across API batches. The queries
themselves are in :mod:`cratedig.store`.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable, Mapping

from sqlalchemy import Connection, Engine, Table

from cratedig.store.catalogue import track_artists
from cratedig.store.event_writes import existing_ids


class KnownIds:
    """The ids of one table known to exist, looked up lazily and cached."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self.known: set[str] = set()

    def missing(self, conn: Connection, ids: Iterable[str]) -> list[str]:
        """The ids (distinct, in first-seen order) that the table does not hold."""
        wanted = [i for i in dict.fromkeys(ids) if i not in self.known]
        self.known.update(existing_ids(conn, self.table, wanted))
        return [i for i in wanted if i not in self.known]

    def add(self, ids: Iterable[str]) -> None:
        """Remember ids that were just written."""
        self.known.update(ids)


class TrackArtists:
    """``track_id -> artist_id`` of the real (non-stub) tracks, cached.

    Stub tracks (made from events) are left out on purpose: otherwise whether a row
    resolves would depend on which rows of the same import came first, and a re-run
    would not give the same totals as the first run.
    """

    def __init__(self) -> None:
        self.cache: dict[str, str | None] = {}

    def prefetch(self, conn: Connection, track_ids: Iterable[str]) -> None:
        """Look up every id not cached yet (unknown ids are cached as ``None``)."""
        wanted = [t for t in dict.fromkeys(track_ids) if t not in self.cache]
        if not wanted:
            return
        found = track_artists(conn, wanted)
        for track_id in wanted:
            self.cache[track_id] = found.get(track_id)

    def get(self, track_id: str) -> str | None:
        """The artist of a prefetched track (``None`` when unknown)."""
        return self.cache.get(track_id)

    def learn(self, rows: Iterable[tuple[str, str]]) -> None:
        """Remember real tracks that were just imported."""
        self.cache.update(rows)


class StoredRecords:
    """The users, artists and tracks this process has seen stored, across API batches.

    cratedig never deletes a user, artist or track, so an id seen in the store (or
    written by a committed batch) stays there: a batch need not insert-or-ignore its
    stub again. Each set is cleared when it reaches ``limit`` ids (memory stays
    bounded; the ids are then looked up again by the insert-or-ignore).
    """

    def __init__(self, limit: int = 200_000) -> None:
        self.limit = limit
        self.users: set[str] = set()
        self.artists: set[str] = set()
        self.tracks: set[str] = set()

    def unknown(
        self, users: set[str], artists: set[str], tracks: Mapping[str, str]
    ) -> tuple[set[str], set[str], dict[str, str]]:
        """The references not known to be stored (the stubs a batch may need)."""
        return (
            users - self.users,
            artists - self.artists,
            {t: a for t, a in tracks.items() if t not in self.tracks},
        )

    def remember(self, users: set[str], artists: set[str], tracks: Iterable[str]) -> None:
        """Remember references stored by a committed transaction."""
        for known, ids in ((self.users, users), (self.artists, artists), (self.tracks, tracks)):
            if len(known) >= self.limit:
                known.clear()
            known.update(ids)


_STORED: weakref.WeakKeyDictionary[Engine, StoredRecords] = weakref.WeakKeyDictionary()
_STORED_GUARD = threading.Lock()


def stored_records(engine: Engine) -> StoredRecords:
    """The :class:`StoredRecords` of a store (one per engine in this process)."""
    with _STORED_GUARD:
        records = _STORED.get(engine)
        if records is None:
            records = _STORED[engine] = StoredRecords()
        return records
