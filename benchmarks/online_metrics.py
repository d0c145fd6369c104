"""Online metrics at scale: a full refresh over 10M events and 1M impressions, an
incremental one-day refresh, and the Online admin page's server time.

Generates the store directly (numpy/polars, bulk inserts with the event indexes built
after the load), then runs each refresh in a child process so that its peak RSS is its
own: wall and CPU seconds (user + system, the process and its reader process) and
peak RSS (of the refresh process, and apart of its reader process). Prints the
figures; asserts nothing. ``--store FILE`` keeps the generated SQLite store and reuses
it on the next run (generating 10M events takes minutes).

    PYTHONPATH=src python benchmarks/online_metrics.py                 # 10M / 1M
    PYTHONPATH=src python benchmarks/online_metrics.py --events 1000000 --impressions 100000
    PYTHONPATH=src python benchmarks/online_metrics.py --store /tmp/online-bench-10m.sqlite
    PYTHONPATH=src python benchmarks/online_metrics.py --db-url postgresql://postgres@127.0.0.1/bench
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl
from sqlalchemy import Engine, text

from cratedig.store import init_db, make_engine
from cratedig.store.schema import user_events

DAY = 86_400_000
LIST_LEN = 10
TYPES = np.array(
    ["play_track", "recommendation_click", "follow_artist", "share_artist", "like_track"]
)


def _insert(engine: Engine, table_name: str, frame: pl.DataFrame) -> None:
    cols = frame.columns
    with engine.begin() as conn:
        dbapi = conn.connection.driver_connection
        cursor = dbapi.cursor()  # type: ignore[union-attr]
        if engine.dialect.name == "postgresql":
            names = ", ".join(cols)
            with cursor.copy(f"COPY {table_name} ({names}) FROM STDIN") as copy:
                for row in frame.iter_rows():
                    copy.write_row(row)
        else:
            marks = ", ".join("?" for _ in cols)
            sql = f"INSERT INTO {table_name} ({', '.join(cols)}) VALUES ({marks})"
            for chunk in frame.iter_slices(500_000):
                cursor.executemany(sql, chunk.iter_rows())


def _list_artists(rng: np.random.Generator, n_lists: int, n_artists: int) -> np.ndarray:
    """Ten distinct artists per list (a served list never repeats an artist), drawn
    with a Zipf-like popularity: the first ten distinct of 30 Zipf draws, topped up
    from ten consecutive artists after a uniform one (so ten always exist)."""
    draws = (rng.zipf(1.3, size=(n_lists, 3 * LIST_LEN)) - 1) % n_artists
    top_up = (rng.integers(0, n_artists, (n_lists, 1)) + np.arange(LIST_LEN)) % n_artists
    cand = np.concatenate([draws, top_up], axis=1)
    width = cand.shape[1]
    frame = pl.DataFrame(
        {
            "li": np.repeat(np.arange(n_lists, dtype=np.uint64), width),
            "a": cand.ravel().astype(np.uint64),
        }
    )
    first = frame.filter((pl.col("li") * (1 << 32) + pl.col("a")).is_first_distinct())
    picked = first.filter(pl.int_range(pl.len()).over("li") < LIST_LEN)
    return picked.get_column("a").to_numpy().astype(np.int64).reshape(n_lists, LIST_LEN)


def generate(engine: Engine, n_events: int, n_impressions: int, now_ms: int, seed: int) -> None:
    """Fill an empty store with ``n_impressions`` lists and ``n_events`` events over
    the 30 days before ``now_ms``: 40% of the events answer a served list (half with
    its list id as source, half organic view-through), 60% are background listening.
    The events are stored in time order, as a live site appends them (stores made
    before this was so, in random order, read a day's events about 1 s slower)."""
    rng = np.random.default_rng(seed)
    n_users = max(n_impressions // 5, 10)
    n_artists = max(n_impressions // 20, 50)
    start = now_ms - 30 * DAY
    imp_user = rng.integers(0, n_users, n_impressions)
    shown = np.sort(rng.integers(start, now_ms - DAY // 2, n_impressions))
    artists = _list_artists(rng, n_impressions, n_artists)
    imp = pl.DataFrame(
        {
            "list_id": [f"L{i}" for i in range(n_impressions)],
            "user_id": pl.Series(imp_user).cast(pl.String).str.pad_start(7, "0"),
            "list_type": np.where(rng.random(n_impressions) < 0.6, "may_like", "hidden_gems"),
            "model_version": np.where(rng.random(n_impressions) < 0.5, "v1", "v2"),
            "variant": np.where(rng.random(n_impressions) < 0.5, "A", "B"),
            "artists": artists,
            "n_items": np.full(n_impressions, LIST_LEN),
            "shown_at_ms": shown,
        }
    ).with_columns(
        pl.concat_str(pl.lit("u"), pl.col("user_id")).alias("user_id"),
        pl.concat_str(
            pl.lit('["a'),
            pl.col("artists").arr.eval(pl.element().cast(pl.String)).arr.join('","a'),
            pl.lit('"]'),
        ).alias("artist_ids"),
    )
    _insert(engine, "impressions", imp.drop("artists"))
    # responses to lists
    n_resp = int(n_events * 0.4)
    which = rng.integers(0, n_impressions, n_resp)
    pos = rng.integers(0, LIST_LEN, n_resp)
    resp = pl.DataFrame(
        {
            "user_id": imp["user_id"].gather(which),
            "event_type": TYPES[rng.choice(len(TYPES), n_resp, p=[0.6, 0.25, 0.07, 0.03, 0.05])],
            "occurred_at_ms": shown[which] + rng.exponential(DAY / 2, n_resp).astype(np.int64),
            "artist_id": pl.Series(artists[which, pos]).cast(pl.String),
            "duration_ms": rng.integers(5_000, 300_000, n_resp),
            "source": np.where(
                rng.random(n_resp) < 0.5, imp["list_id"].gather(which).to_numpy(), "organic"
            ),
        }
    ).with_columns(pl.concat_str(pl.lit("a"), pl.col("artist_id")).alias("artist_id"))
    n_bg = n_events - n_resp
    bg = pl.DataFrame(
        {
            "user_id": pl.Series(rng.integers(0, n_users, n_bg))
            .cast(pl.String)
            .str.pad_start(7, "0"),
            "event_type": np.where(rng.random(n_bg) < 0.9, "play_track", "visit"),
            "occurred_at_ms": rng.integers(start - 30 * DAY, now_ms, n_bg),
            "artist_id": pl.Series((rng.zipf(1.3, n_bg) - 1) % n_artists).cast(pl.String),
            "duration_ms": rng.integers(5_000, 300_000, n_bg),
            "source": np.full(n_bg, "organic"),
        }
    ).with_columns(
        pl.concat_str(pl.lit("u"), pl.col("user_id")).alias("user_id"),
        pl.concat_str(pl.lit("a"), pl.col("artist_id")).alias("artist_id"),
    )
    events = (
        pl.concat([resp, bg])
        .sort("occurred_at_ms")
        .with_columns(
            pl.int_range(pl.len()).cast(pl.String).alias("event_id"), pl.lit(1).alias("count")
        )
    )
    events = events.with_columns(
        pl.when(pl.col("event_type") == "visit")
        .then(None)
        .otherwise(pl.col("artist_id"))
        .alias("artist_id")
    )
    with engine.begin() as conn:  # load first, index after: much faster than per row
        for ix in user_events.indexes:
            ix.drop(conn)
    for chunk in events.iter_slices(2_000_000):
        _insert(engine, "user_events", chunk)
    with engine.begin() as conn:
        for ix in user_events.indexes:
            ix.create(conn)
        if engine.dialect.name == "postgresql":
            conn.execute(text("ANALYZE"))


_CHILD = """
import json, resource, sys, time
from cratedig.store import make_engine
from cratedig.online.refresh import refresh
a = json.loads(sys.argv[2])
t0 = time.perf_counter()
result = refresh(make_engine(sys.argv[1]), **a).as_dict()
wall = time.perf_counter() - t0
ru = [resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
result["wall_s"] = wall
result["cpu_s"] = sum(r.ru_utime + r.ru_stime for r in ru)
result["peak_rss_mib"] = ru[0].ru_maxrss / 1024
result["reader_rss_mib"] = ru[1].ru_maxrss / 1024
print(json.dumps(result))
"""


def _child(url: str, args: dict[str, object]) -> dict[str, object]:
    """Run one refresh in a fresh process, so that its peak RSS and CPU time are its
    own; returns the refresh's result with ``wall_s``, ``cpu_s`` (user + system,
    the process and any children) and ``peak_rss_mib``."""
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, url, json.dumps(args)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def time_admin_page(engine: Engine, requests: int, cached: bool) -> tuple[float, float]:
    """p50 and p99 (ms) of GET /admin/online through Flask's test client; with
    ``cached=False`` the summary cache is emptied before each request, so every one
    runs the rollup queries."""
    from cratedig.online import summary
    from cratedig.serving import create_app

    app = create_app({"ENGINE": engine, "TESTING": True})
    client = app.test_client()
    assert client.get("/admin/online").status_code == 200  # warm-up
    times = []
    for _ in range(requests):
        if not cached:
            summary._cache.clear()
        t0 = time.perf_counter()
        response = client.get("/admin/online")
        times.append((time.perf_counter() - t0) * 1000)
        assert response.status_code == 200
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(0.99 * len(times)))]


def _prepare(url: str, args: argparse.Namespace) -> int:
    """Generate the store at ``url`` unless it already holds this size and seed
    (recorded in ``online_state`` key ``bench``); returns the run's ``now_ms``."""
    engine = make_engine(url)
    init_db(engine)
    wanted = {"events": args.events, "impressions": args.impressions, "seed": args.seed}
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT value FROM online_state WHERE key = 'bench'")).scalar()
    if stored is not None and {k: v for k, v in json.loads(stored).items() if k in wanted} == (
        wanted
    ):
        print(f"reusing the generated store at {url}")
        engine.dispose()
        return int(json.loads(stored)["now_ms"])
    if stored is not None:
        raise SystemExit(f"{url} holds another benchmark store ({stored}); remove it first")
    now_ms = int(time.time() * 1000)
    t0 = time.perf_counter()
    generate(engine, args.events, args.impressions, now_ms, args.seed)
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO online_state (key, value, updated_at_ms) VALUES ('bench', :v, :t)"),
            {"v": json.dumps({**wanted, "now_ms": now_ms}), "t": now_ms},
        )
    print(
        f"generated {args.events:,} events and {args.impressions:,} impressions "
        f"({engine.dialect.name}) in {time.perf_counter() - t0:.1f} s"
    )
    engine.dispose()
    return now_ms


def _line(name: str, r: dict[str, object]) -> str:
    memory = ", with the memory of the last refresh" if r.get("reused_state") else ""
    return (
        f"{name}: {r['wall_s']:.2f} s wall, {r['cpu_s']:.2f} s CPU, "
        f"peak RSS {r['peak_rss_mib']:.0f} MiB (reader process {r['reader_rss_mib']:.0f} MiB) "
        f"({r['events_read']:,} events, "
        f"{r['impressions_read']:,} impressions read, {r['user_rows']:,} user-day rows, "
        f"from day {r['from_day']}{memory})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--impressions", type=int, default=1_000_000)
    parser.add_argument("--db-url", default=None, help="default: a temporary SQLite file")
    parser.add_argument(
        "--store",
        type=Path,
        default=None,
        help="a SQLite file to keep the generated store in and reuse on the next run",
    )
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--skip-full", action="store_true", help="only incremental and page")
    args = parser.parse_args()
    tmp = tempfile.TemporaryDirectory(prefix="online-bench-")
    if args.db_url:
        url = args.db_url
    elif args.store:
        url = f"sqlite:///{args.store.resolve()}"
    else:
        url = f"sqlite:///{Path(tmp.name) / 'bench.sqlite'}"
    now_ms = _prepare(url, args)
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}, {os.cpu_count()} CPUs")
    if not args.skip_full:
        print(_line("full refresh       ", _child(url, {"full": True, "now_ms": now_ms})))
    inc = _child(url, {"days_back": 1, "now_ms": now_ms})
    print(_line("incremental (1 day)", inc))
    engine = make_engine(url)
    for cached in (False, True):
        p50, p99 = time_admin_page(engine, args.requests, cached)
        print(
            f"/admin/online over {args.requests} requests "
            f"({'summary cached' if cached else 'every request reads the rollups'}): "
            f"p50 {p50:.1f} ms, p99 {p99:.1f} ms"
        )
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    engine.dispose()
    tmp.cleanup()


if __name__ == "__main__":
    main()
