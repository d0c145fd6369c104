"""Benchmark: time and peak memory to build the engagement matrix from N events in SQLite.

Usage::

    .venv/bin/python benchmarks/matrix.py --events 10000000 --data-dir /tmp/cratedig-bench

The events come from :mod:`cratedig.simulator.site` when it is importable
(``--generator simulator``), or else from a seeded, vectorised numpy generator
(``--generator numpy``) inserted straight into SQLite in big transactions. Either way the
store is a SQLite file cached under ``--data-dir`` (keyed by generator, N and seed), so
reruns skip generation. Generation runs in a child process; the build is measured in a
fresh child process of its own, so its peak resident memory (``ru_maxrss``) is the build's
(imports included), not the generator's.

Targets: under 60 s and under 1.5 GB peak at 10,000,000 events.
"""

from __future__ import annotations

import argparse
import json
import resource
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

DAY_MS = 86_400_000
START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z

# (event_type, share of events) for the numpy generator: mostly plays, a few direct signals.
EVENT_MIX: tuple[tuple[str, float], ...] = (
    ("play_track", 0.82),
    ("skip_track", 0.04),
    ("pause_track", 0.02),
    ("like_track", 0.04),
    ("share_track", 0.01),
    ("add_track_to_playlist", 0.03),
    ("follow_artist", 0.02),
    ("unfollow_artist", 0.004),
    ("share_artist", 0.006),
    ("tag_artist", 0.005),
    ("visit", 0.005),
)


def _db_path(data_dir: Path, generator: str, n_events: int, seed: int) -> Path:
    return data_dir / f"matrix-{generator}-{n_events}-seed{seed}.sqlite"


def generate_numpy(path: Path, n_events: int, seed: int, chunk: int = 1_000_000) -> None:
    """Write ``n_events`` seeded synthetic events into a new SQLite store at ``path``.

    Users have log-normal activity; artists Zipf-like popularity; 70% of a user's events
    go to one of the user's 40 favourite artists, so pairs repeat as on a real site.
    """
    from cratedig.store import init_db, make_engine

    tmp = path.with_suffix(".partial")
    tmp.unlink(missing_ok=True)
    engine = make_engine(f"sqlite:///{tmp}")
    init_db(engine)
    engine.dispose()

    rng = np.random.default_rng(seed)
    n_users = max(10, n_events // 100)
    n_artists = max(10, n_events // 400)
    activity = rng.lognormal(0.0, 1.0, n_users)
    activity /= activity.sum()
    popularity = 1.0 / np.arange(1, n_artists + 1) ** 0.9
    popularity /= popularity.sum()
    favourites = rng.choice(n_artists, size=(n_users, 40), p=popularity)
    types = np.array([t for t, _ in EVENT_MIX])
    shares = np.array([s for _, s in EVENT_MIX])
    shares /= shares.sum()
    days = 180

    conn = sqlite3.connect(tmp)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    sql = (
        "INSERT INTO user_events (event_id, user_id, event_type, occurred_at_ms, artist_id,"
        " track_id, duration_ms, count, tag, session_id, source)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, NULL, 'organic')"
    )
    for start in range(0, n_events, chunk):
        n = min(chunk, n_events - start)
        users = rng.choice(n_users, size=n, p=activity)
        fav = rng.random(n) < 0.7
        artists = np.where(
            fav,
            favourites[users, rng.integers(0, 40, n)],
            rng.choice(n_artists, size=n, p=popularity),
        )
        etype = types[rng.choice(len(types), size=n, p=shares)]
        occurred = START_MS + rng.integers(0, days * DAY_MS, n)
        duration = np.where(
            rng.random(n) < 0.6, rng.integers(150_000, 300_000, n), rng.integers(0, 150_000, n)
        )
        has_duration = (etype == "play_track") & (rng.random(n) < 0.95)
        track = rng.integers(0, 10, n)
        ids = np.char.add("e", np.arange(start, start + n).astype(str))
        user_ids = np.char.add("u", users.astype(str))
        artist_ids = np.char.add("a", artists.astype(str))
        artist_col = np.where(etype == "visit", None, artist_ids.astype(object))
        track_ids = np.char.add(np.char.add(artist_ids, "-t"), track.astype(str)).astype(object)
        is_track = np.isin(
            etype,
            [
                "play_track",
                "skip_track",
                "pause_track",
                "like_track",
                "share_track",
                "add_track_to_playlist",
            ],
        )
        track_col = np.where(is_track, track_ids, None)
        duration_col = np.where(has_duration, duration.astype(object), None)
        tag_col = np.where(etype == "tag_artist", "rock", None)
        rows = zip(
            ids.tolist(),
            user_ids.tolist(),
            etype.tolist(),
            occurred.tolist(),
            artist_col.tolist(),
            track_col.tolist(),
            duration_col.tolist(),
            tag_col.tolist(),
            strict=True,
        )
        with conn:
            conn.executemany(sql, rows)
        print(f"  generated {start + n:,} / {n_events:,} events", flush=True)
    conn.close()
    tmp.rename(path)
    for suffix in ("-wal", "-shm"):
        Path(str(tmp) + suffix).unlink(missing_ok=True)


def generate_simulator(path: Path, n_events: int, seed: int) -> None:
    """Write the site simulator's events into a new SQLite store at ``path``."""
    from cratedig.simulator.site import SimulationConfig, simulate_to_store
    from cratedig.store import init_db, make_engine

    tmp = path.with_suffix(".partial")
    tmp.unlink(missing_ok=True)
    engine = make_engine(f"sqlite:///{tmp}")
    init_db(engine)
    config = SimulationConfig(
        n_users=max(10, n_events // 100),
        n_artists=max(10, n_events // 400),
        n_events=n_events,
        seed=seed,
    )
    counts = simulate_to_store(engine, config, progress=True)
    print(f"  simulator wrote {counts}", flush=True)
    engine.dispose()
    tmp.rename(path)


def build_once(path: Path, transform: str | None) -> dict[str, float]:
    """Build the matrix from the store at ``path``; seconds, peak RSS and shape."""
    from cratedig.matrix import EngagementConfig, build_engagement
    from cratedig.store import make_engine

    engine = make_engine(f"sqlite:///{path}")
    with sqlite3.connect(path) as conn:
        n_rows = conn.execute("SELECT COUNT(*) FROM user_events").fetchone()[0]
    start, cpu_start = time.perf_counter(), time.process_time()
    engagement = build_engagement(engine, EngagementConfig(transform=transform, half_life_days=60))
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "events": n_rows,
        "seconds": round(seconds, 2),
        "cpu_seconds": round(cpu, 2),
        "peak_rss_mb": round(peak_kb / 1024, 1),
        "users": engagement.X.shape[0],
        "artists": engagement.X.shape[1],
        "nnz": engagement.X.nnz,
        "blocked": engagement.blocked.nnz,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000, help="events to simulate")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/cratedig-bench"))
    parser.add_argument(
        "--generator",
        choices=["auto", "simulator", "numpy"],
        default="auto",
        help="auto: the simulator when importable, else numpy",
    )
    parser.add_argument("--transform", default=None, help="None, log1p, bm25, tfidf or binary")
    parser.add_argument("--build-only", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.build_only is not None:
        print(json.dumps(build_once(args.build_only, args.transform)))
        return 0

    generator = args.generator
    if generator == "auto":
        try:
            import cratedig.simulator.site  # noqa: F401

            generator = "simulator"
        except ImportError:
            generator = "numpy"
    args.data_dir.mkdir(parents=True, exist_ok=True)
    path = _db_path(args.data_dir, generator, args.events, args.seed)
    if path.exists():
        print(f"using cached store {path}")
    else:
        print(f"generating {args.events:,} events with the {generator} generator into {path}")
        start = time.perf_counter()
        func = "generate_numpy" if generator == "numpy" else "generate_simulator"
        code = (
            f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import matrix; "
            f"matrix.{func}(__import__('pathlib').Path({str(path)!r}), {args.events}, {args.seed})"
        )
        subprocess.run([sys.executable, "-c", code], check=True)
        print(f"generated in {time.perf_counter() - start:.0f} s")
    cmd = [sys.executable, __file__, "--build-only", str(path)]
    if args.transform:
        cmd += ["--transform", args.transform]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["generator"] = generator
    print(json.dumps(result, indent=2))
    ok = result["seconds"] < 60 and result["peak_rss_mb"] < 1536
    print("targets (< 60 s, < 1.5 GB):", "met" if ok else "NOT met")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
