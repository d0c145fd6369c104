"""Writing a simulated site straight into the store.

The simulator's rows are valid by construction, so they go in as Arrow tables through
:func:`cratedig.store.writes.insert_ignore_arrow` (``executemany`` on SQLite, ``COPY``
on PostgreSQL) in chunked transactions, skipping the validation of
:mod:`cratedig.ingest.bulk`, which exists for untrusted files and is about twice as
slow here.
"""

from __future__ import annotations

from typing import Any

import polars as pl
from sqlalchemy import Engine

from cratedig.simulator.frames import artists_frame, tracks_frame, users_frame
from cratedig.simulator.world import World
from cratedig.store import schema
from cratedig.store.writes import insert_ignore_chunked

CHUNK_ROWS = 50_000


class StoreSink:
    """Inserts simulated tables into a store, skipping rows already there."""

    def __init__(self, engine: Engine, chunk_rows: int = CHUNK_ROWS) -> None:
        self.engine = engine
        self.chunk_rows = chunk_rows

    def _insert(self, table: Any, frame: pl.DataFrame) -> int:
        return insert_ignore_chunked(self.engine, table, frame.to_arrow(), self.chunk_rows)

    def write_catalogue(self, world: World) -> dict[str, int]:
        """Insert users, artists (with their tags) and tracks."""
        users = users_frame(world, "ms").with_columns(is_stub=pl.lit(False))
        artists = artists_frame(world, "ms")
        tags = (
            artists.select("artist_id", pl.col("tags").str.split("|").alias("tag"))
            .with_columns(rank=pl.int_ranges(1, pl.col("tag").list.len() + 1))
            .explode("tag", "rank")
            .with_columns(weight=pl.lit(1.0), rank=pl.col("rank").cast(pl.Int32))
        )
        tracks = tracks_frame(world).with_columns(is_stub=pl.lit(False))
        return {
            "users": self._insert(schema.users, users),
            "artists": self._insert(
                schema.artists,
                artists.select("artist_id", "name", "created_at_ms", is_stub=pl.lit(False)),
            ),
            "artist_tags": self._insert(schema.artist_tags, tags),
            "tracks": self._insert(schema.tracks, tracks),
        }

    def write_events(self, events: pl.DataFrame) -> int:
        """Insert one block of events (with ``occurred_at_ms``); returns rows inserted."""
        return self._insert(
            schema.user_events, events.with_columns(count=pl.lit(1)).sort("event_id")
        )
