"""Per-import caches of what the store already holds: known ids and tracks' artists."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from sqlalchemy import Column, Connection, Table, false, select

from cratedig.store import schema

# Ids per ``IN (...)`` query: well under SQLite's and PostgreSQL's parameter limits.
_BATCH = 900


def id_batches(ids: Sequence[str]) -> Iterator[Sequence[str]]:
    """``ids`` in slices small enough for one ``IN (...)`` query each."""
    for start in range(0, len(ids), _BATCH):
        yield ids[start : start + _BATCH]


class KnownIds:
    """The ids of one table known to exist, looked up lazily and cached per import."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self.key: Column = next(iter(table.primary_key.columns))
        self.known: set[str] = set()

    def missing(self, conn: Connection, ids: Iterable[str]) -> list[str]:
        """The ids (distinct, in first-seen order) that the table does not hold."""
        wanted = [i for i in dict.fromkeys(ids) if i not in self.known]
        for part in id_batches(wanted):
            found = conn.execute(select(self.key).where(self.key.in_(part))).scalars()
            self.known.update(found)
        return [i for i in wanted if i not in self.known]

    def add(self, ids: Iterable[str]) -> None:
        """Remember ids that were just written."""
        self.known.update(ids)


class TrackArtists:
    """``track_id -> artist_id`` of the real (non-stub) tracks, cached per import.

    Stub tracks (made from events) are left out on purpose: otherwise whether a row
    resolves would depend on which rows of the same import came first, and a re-run
    would not give the same totals as the first run.
    """

    def __init__(self) -> None:
        self.cache: dict[str, str | None] = {}

    def prefetch(self, conn: Connection, track_ids: Iterable[str]) -> None:
        """Look up every id not cached yet (unknown ids are cached as ``None``)."""
        tracks = schema.tracks
        wanted = [t for t in dict.fromkeys(track_ids) if t not in self.cache]
        for part in id_batches(wanted):
            query = select(tracks.c.track_id, tracks.c.artist_id).where(
                tracks.c.track_id.in_(part), tracks.c.is_stub == false()
            )
            found: dict[str, str] = {t: a for t, a in conn.execute(query)}
            for track_id in part:
                self.cache[track_id] = found.get(track_id)

    def get(self, track_id: str) -> str | None:
        """The artist of a prefetched track (``None`` when unknown)."""
        return self.cache.get(track_id)

    def learn(self, rows: Iterable[tuple[str, str]]) -> None:
        """Remember real tracks that were just imported."""
        self.cache.update(rows)
