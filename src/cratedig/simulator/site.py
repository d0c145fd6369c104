"""A seeded, deterministic simulator of a music-streaming site.

It draws artists (genres, tags, home country, Zipf popularity, tracks), users
(countries, time zones, signup dates, taste, visit rhythm) and their events (sessions
of plays, skips, likes, shares, playlist adds, follows and later unfollows,
subscriptions), plus its own **ground truth**: every user's true affinity to every
artist they can meet (see :mod:`cratedig.simulator.taste`).

Everything is vectorised numpy, one block of users (about 250,000 events) at a time:
10 million events took about 660 MB of peak memory (``benchmarks/simulate.py``).
The same :class:`SimulationConfig` always gives the same files, byte for byte.

Example
-------
>>> from cratedig.simulator.site import SimulationConfig, write_files
>>> paths = write_files(SimulationConfig(n_users=100, n_events=5_000), "out")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Any, Literal

import polars as pl
import pyarrow.parquet as pq
from sqlalchemy import Engine

from cratedig.exceptions import ValidationError
from cratedig.ingest.progress import make_progress
from cratedig.simulator.config import SimulationConfig
from cratedig.simulator.events import BlockEvents, simulate_block
from cratedig.simulator.frames import (
    artists_frame,
    events_frame,
    tracks_frame,
    truth_frame,
    users_frame,
)
from cratedig.simulator.truth import ground_truth_matrix, read_ground_truth
from cratedig.simulator.world import World, build_world

__all__ = [
    "FORMATS",
    "SimulationConfig",
    "build_world",
    "ground_truth_matrix",
    "iter_blocks",
    "n_blocks",
    "read_ground_truth",
    "simulate_to_store",
    "write_files",
]

FileFormat = Literal["csv", "parquet", "jsonl"]
FORMATS: tuple[str, ...] = ("csv", "parquet", "jsonl")
TABLES: tuple[str, ...] = ("users", "artists", "tracks", "events", "ground_truth")


def n_blocks(config: SimulationConfig) -> int:
    """How many blocks of users a run of ``config`` simulates."""
    return -(-config.n_users // config.block_users)


def iter_blocks(world: World) -> Iterator[BlockEvents]:
    """Simulate the events of each block of users in turn."""
    for number in range(n_blocks(world.config)):
        yield simulate_block(world, number)


class _TableWriter:
    """Appends polars frames to one CSV, JSON Lines or Parquet file."""

    def __init__(self, path: Path, fmt: str) -> None:
        self.path, self.fmt = path, fmt
        self._file: IO[bytes] | None = None
        self._parquet: pq.ParquetWriter | None = None

    def write(self, frame: pl.DataFrame) -> None:
        if self.fmt == "parquet":
            table = frame.to_arrow()
            if self._parquet is None:
                self._parquet = pq.ParquetWriter(self.path, table.schema)
            self._parquet.write_table(table.cast(self._parquet.schema))
            return
        first = self._file is None
        if self._file is None:
            self._file = self.path.open("wb")
        if self.fmt == "csv":
            frame.write_csv(self._file, include_header=first)
        else:
            frame.write_ndjson(self._file)

    def close(self) -> None:
        if self._parquet is not None:
            self._parquet.close()
        if self._file is not None:
            self._file.close()


def write_files(
    config: SimulationConfig,
    out_dir: str | Path,
    fmt: str = "csv",
    progress: bool = False,
) -> dict[str, Path]:
    """Simulate a site and write its tables as files.

    Parameters
    ----------
    config
        What to simulate.
    out_dir
        Folder to write into (created if missing).
    fmt
        ``"csv"``, ``"parquet"`` or ``"jsonl"``.
    progress
        Show a rich progress bar.

    Returns
    -------
    dict of str to Path
        ``users``, ``artists``, ``tracks``, ``events`` and ``ground_truth`` (columns
        ``user_id, artist_id, affinity, discovered_at``) files.
    """
    if fmt not in FORMATS:
        raise ValidationError("fmt", fmt, "one of: " + ", ".join(FORMATS))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {name: out / f"{name}.{fmt}" for name in TABLES}
    world = build_world(config)
    with ExitStack() as stack, make_progress(progress) as bar:
        writers = {name: _TableWriter(path, fmt) for name, path in paths.items()}
        for writer in writers.values():
            stack.callback(writer.close)
        writers["users"].write(users_frame(world))
        writers["artists"].write(artists_frame(world))
        writers["tracks"].write(tracks_frame(world))
        task = bar.add_task("simulating users", total=config.n_users)
        for block in iter_blocks(world):
            writers["events"].write(events_frame(world, block))
            writers["ground_truth"].write(truth_frame(world, block))
            bar.advance(task, len(block.block))
    return paths


def simulate_to_store(
    engine: Engine,
    config: SimulationConfig,
    progress: bool = False,
    ground_truth_path: str | Path | None = None,
) -> dict[str, int]:
    """Simulate a site and write it straight into the store.

    Parameters
    ----------
    engine
        A store whose schema exists (:func:`cratedig.store.init_db`).
    config
        What to simulate.
    progress
        Show a rich progress bar.
    ground_truth_path
        When given, also write the ground truth there (CSV, Parquet or JSON Lines by
        extension); the store has no table for it.

    Returns
    -------
    dict of str to int
        Rows inserted per table: ``users``, ``artists``, ``artist_tags``, ``tracks``,
        ``user_events`` (rows already stored, e.g. from the same seed, are skipped).
    """
    from cratedig.simulator.store import StoreSink

    world = build_world(config)
    sink = StoreSink(engine)
    truth_writer: _TableWriter | None = None
    if ground_truth_path is not None:
        path = Path(ground_truth_path)
        fmt = path.suffix.lstrip(".")
        if fmt not in FORMATS:
            raise ValidationError("ground_truth_path", str(path), "a .csv, .parquet or .jsonl file")
        path.parent.mkdir(parents=True, exist_ok=True)
        truth_writer = _TableWriter(path, fmt)
    counts: dict[str, Any] = {}
    try:
        with make_progress(progress) as bar:
            counts.update(sink.write_catalogue(world))
            task = bar.add_task("simulating into the store", total=config.n_users)
            counts["user_events"] = 0
            for block in iter_blocks(world):
                counts["user_events"] += sink.write_events(events_frame(world, block, "ms"))
                if truth_writer is not None:
                    truth_writer.write(truth_frame(world, block))
                bar.advance(task, len(block.block))
    finally:
        if truth_writer is not None:
            truth_writer.close()
    return {name: int(value) for name, value in counts.items()}
