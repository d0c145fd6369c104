"""Ingestion speed: import N events from CSV into SQLite and PostgreSQL.

Target: >= 100,000 events/s with < 500 MB peak memory for 1,000,000 events.

The benchmark writes N realistic events to a CSV (with the site simulator when it is
available, else a seeded generator below), then imports the file into a fresh SQLite
file and a fresh PostgreSQL database (``CRATEDIG_TEST_POSTGRES_URL`` or
``postgresql://postgres@127.0.0.1:5432/postgres``; the benchmark creates and drops its own
database). Each import runs in a child process so that its peak memory (max RSS) is
measured alone.

Usage::

    .venv/bin/python benchmarks/ingest.py                 # 1,000,000 events
    .venv/bin/python benchmarks/ingest.py --events 100000 --no-postgres
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import click
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

EVENT_TYPES = np.array(
    ["play_track", "skip_track", "like_track", "add_track_to_playlist", "follow_artist",
     "share_track", "visit", "unfollow_artist", "share_artist"]
)  # fmt: skip
EVENT_P = np.array([0.62, 0.14, 0.06, 0.04, 0.03, 0.02, 0.06, 0.01, 0.02])

CHILD = """
import json, resource, sys, time
from cratedig.store import init_db, make_engine
from cratedig.ingest.bulk import import_file
url, chunk_rows, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
engine = make_engine(url)
init_db(engine)
for kind, entity_path in zip(("users", "artists", "tracks"), sys.argv[4:]):
    import_file(engine, kind, entity_path)
cpu = lambda: sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
cpu_before = cpu()
report = import_file(engine, "events", path, chunk_rows=chunk_rows)
peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"accepted": report.accepted, "duplicates": report.duplicates,
                  "quarantined": report.quarantined, "stubs": report.stubs_created,
                  "seconds": report.seconds, "cpu_seconds": cpu() - cpu_before,
                  "peak_mb": peak_kb / 1024}))
"""


def generate_events(path: Path, n_events: int, seed: int = 7) -> None:
    """Write ``n_events`` realistic events (Zipf-like popularity, sessions) to a CSV."""
    rng = np.random.default_rng(seed)
    n_users, n_artists, tracks_per_artist = max(100, n_events // 50), 20_000, 10
    written = 0
    start_ms = 1_767_225_600_000  # 2026-01-01
    writer = None
    while written < n_events:
        n = min(200_000, n_events - written)
        users = rng.integers(0, n_users, n)
        artists = np.minimum(rng.zipf(1.3, n) - 1, n_artists - 1)
        tracks = artists * tracks_per_artist + rng.integers(0, tracks_per_artist, n)
        types = rng.choice(EVENT_TYPES, n, p=EVENT_P)
        times = start_ms + rng.integers(0, 90 * 86_400_000, n)
        durations = rng.integers(5_000, 300_000, n)
        plays = np.isin(types, ["play_track", "skip_track"])
        track_event = np.isin(
            types,
            ["play_track", "skip_track", "like_track", "add_track_to_playlist", "share_track"],
        )
        visit = types == "visit"
        iso = (
            pa.array(times.astype("datetime64[ms]"))
            .cast(pa.string())
            .to_numpy(zero_copy_only=False)
            .astype(str)
        )
        table = pa.table(
            {
                "event_id": [f"ev{written + i:09d}" for i in range(n)],
                "user_id": pa.array([f"u{u}" for u in users]),
                "event_type": pa.array(types),
                "occurred_at": pa.array(np.char.add(np.char.replace(iso, " ", "T"), "Z")),
                "artist_id": pa.array([f"a{a}" for a in artists], mask=visit),
                "track_id": pa.array([f"t{t}" for t in tracks], mask=~track_event),
                "duration_ms": pa.array(durations, mask=~plays),
                "session_id": pa.array(
                    [f"s{u}-{t // 1_800_000}" for u, t in zip(users, times, strict=True)]
                ),
                "source": pa.array(np.where(rng.random(n) < 0.05, "rec-list-1", "organic")),
            }
        )
        if writer is None:
            writer = pacsv.CSVWriter(str(path), table.schema)
        writer.write_table(table)
        written += n
    if writer is not None:
        writer.close()


def event_files(workdir: Path, n_events: int) -> list[Path]:
    """The events CSV, then the users, artists and tracks CSVs when there are any.

    From the site simulator when it is available (its users, artists and tracks are
    imported first, untimed, as a site would), else from the seeded generator above
    (events only: the import creates stub users, artists and tracks).
    """
    try:
        from cratedig.simulator.site import SimulationConfig, write_files
    except ImportError:
        path = workdir / "events.csv"
        generate_events(path, n_events)
        print(f"events from the benchmark's seeded generator: {path}")
        return [path]
    n_users = max(1_000, n_events // 100)
    config = SimulationConfig(n_events=n_events, n_users=n_users, n_artists=n_users // 2, seed=7)
    files = write_files(config, workdir, fmt="csv")
    print(f"events, users, artists, tracks from cratedig.simulator.site ({config})")
    return [Path(files[k]) for k in ("events", "users", "artists", "tracks")]


def run_import(url: str, files: list[Path], chunk_rows: int) -> dict[str, float]:
    """Import the files in a child process; the events import's report and peak RSS."""
    out = subprocess.run(
        [sys.executable, "-c", CHILD, url, str(chunk_rows), *map(str, files)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def show(backend: str, result: dict[str, float]) -> None:
    rows = result["accepted"] + result["duplicates"] + result["quarantined"]
    rate = rows / result["seconds"]
    print(
        f"{backend:<10} {rows:>10,.0f} rows  {result['seconds']:7.2f} s  "
        f"{rate:>10,.0f} events/s  (CPU {result['cpu_seconds']:.1f} s: "
        f"{rows / result['cpu_seconds']:,.0f} events per CPU-second)  "
        f"peak {result['peak_mb']:4.0f} MB  "
        f"(accepted {result['accepted']:,.0f}, quarantined {result['quarantined']:,.0f}, "
        f"stubs {result['stubs']:,.0f})"
    )


@click.command()
@click.option("--events", "n_events", default=1_000_000, show_default=True, help="Events.")
@click.option("--chunk-rows", default=50_000, show_default=True, help="Rows per transaction.")
@click.option("--postgres/--no-postgres", default=True, help="Also import into PostgreSQL.")
def main(n_events: int, chunk_rows: int, postgres: bool) -> None:
    """Import N events from CSV into SQLite and PostgreSQL; print events/s and peak MB."""
    from sqlalchemy import create_engine, text

    from cratedig.store import normalise_url

    with tempfile.TemporaryDirectory(prefix="cratedig-bench-") as tmp:
        workdir = Path(tmp)
        started = time.perf_counter()
        files = event_files(workdir, n_events)
        size_mb = files[0].stat().st_size / 2**20
        print(
            f"wrote {n_events:,} events ({size_mb:.0f} MB) in {time.perf_counter() - started:.1f} s"
        )
        show("sqlite", run_import(f"sqlite:///{workdir / 'bench.sqlite'}", files, chunk_rows))
        if not postgres:
            return
        admin_url = os.environ.get(
            "CRATEDIG_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        )
        name = "cratedig_bench_" + uuid.uuid4().hex[:10]
        admin = create_engine(normalise_url(admin_url), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            url = normalise_url(admin_url).rsplit("/", 1)[0] + "/" + name
            show("postgresql", run_import(url, files, chunk_rows))
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


if __name__ == "__main__":
    main()
