"""Online metrics at scale: a full refresh over 10M events and 1M impressions, a
one-day incremental refresh, and the Online admin page's server time.

Generates the store directly (numpy/polars, bulk inserts with the event indexes built
after the load; "now" at 23:00 UTC, ``--now-hour``), then:

1. a full refresh over the whole store;
2. the last day's events, lists and feedback taken out (kept in ``bench_day_*``
   tables) and an incremental refresh a day earlier: the refresh of the day before.
   The lists the full refresh remembered are then no longer all stored, so this one
   does not use the memory and reads its whole range, as after a restore;
3. the day put back, in time order, and the one-day incremental refresh of "now",
   which is the figure for the target: it uses the memory of step 2.

Each refresh runs in a child process, so that its figures are its own: wall and CPU
seconds (user + system, the process and its reader processes), peak RSS of the refresh
process (VmHWM) and, apart, of its reader processes (summed over those alive at once,
sampled every 20 ms from another process). The disk is synced before a refresh is
timed. Prints the figures; asserts nothing. ``--store FILE`` keeps the generated SQLite
store and reuses it on the next run (generating 10M events takes a minute or two).

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
from sqlalchemy import Connection, Engine, text

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
    # feedback: a thumb on an item of 3% of the lists, a 1-5 rating of 1% of them,
    # within hours of the list being served
    fb_lists = rng.choice(n_impressions, int(n_impressions * 0.04), replace=False)
    n_fb = fb_lists.size
    is_rating = np.arange(n_fb) < n_fb // 4
    feedback = pl.DataFrame(
        {
            "user_id": imp["user_id"].gather(fb_lists),
            "list_id": imp["list_id"].gather(fb_lists),
            "artist_id": pl.Series(artists[fb_lists, rng.integers(0, LIST_LEN, n_fb)]).cast(
                pl.String
            ),
            "kind": np.where(is_rating, "rating", "thumb"),
            "value": np.where(
                is_rating, rng.integers(1, 6, n_fb), np.where(rng.random(n_fb) < 0.7, 1, -1)
            ),
            "created_at_ms": shown[fb_lists] + rng.integers(1_000, DAY // 8, n_fb),
        }
    ).with_columns(
        pl.when(pl.col("kind") == "thumb")
        .then(pl.concat_str(pl.lit("a"), pl.col("artist_id")))
        .alias("artist_id")
    )
    _insert(engine, "feedback", feedback.sort("created_at_ms"))
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


#: Samples the resident memory of the refresh process's reader processes (summed over
#: those alive at once) every 20 ms, from a process of its own (a thread would take the
#: refresh's GIL), until its stdin closes; prints the peak in KiB. A reader's own
#: ru_maxrss would include the refresh process's size when the reader started.
_SAMPLER = """
import glob, os, select, sys, time
parent, peak = sys.argv[1], 0
while not select.select([sys.stdin], [], [], 0.02)[0]:
    total = 0
    for path in glob.glob(f"/proc/{parent}/task/*/children"):
        try:
            pids = open(path).read().split()
        except OSError:
            continue
        for pid in pids:
            try:  # a reader once it runs (before its exec it shows the refresh process)
                with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                    if b"import connectorx" b" as cx" not in cmdline.read():
                        continue
                with open(f"/proc/{pid}/status") as status:
                    total += sum(int(l.split()[1]) for l in status if l.startswith("VmRSS:"))
            except OSError:
                pass
    peak = max(peak, total)
print(peak)
"""

_CHILD = """
import json, os, resource, subprocess, sys, time
from cratedig.store import make_engine
from cratedig.online.refresh import refresh

a = json.loads(sys.argv[2])
sampler = subprocess.Popen(
    [sys.executable, "-c", sys.argv[3], str(os.getpid())],
    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
)
t0 = time.perf_counter()
result = refresh(make_engine(sys.argv[1]), **a).as_dict()
wall = time.perf_counter() - t0
reader_kib = int(sampler.communicate("")[0] or 0)
ru = [resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
result["wall_s"] = wall
result["cpu_s"] = sum(r.ru_utime + r.ru_stime for r in ru)  # the sampler's too: a little
# VmHWM, not ru_maxrss: a process started by fork + exec inherits its parent's peak
# in ru_maxrss (the benchmark's own, after generating a store, is gigabytes)
with open("/proc/self/status") as status:
    hwm = [line for line in status if line.startswith("VmHWM:")]
result["peak_rss_mib"] = int(hwm[0].split()[1]) / 1024 if hwm else ru[0].ru_maxrss / 1024
result["reader_rss_mib"] = reader_kib / 1024
print(json.dumps(result))
"""


def _child(url: str, args: dict[str, object]) -> dict[str, object]:
    """Run one refresh in a fresh process, so that its peak RSS and CPU time are its
    own; returns the refresh's result with ``wall_s``, ``cpu_s`` (user + system,
    the process and any children) and ``peak_rss_mib``."""
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, url, json.dumps(args), _SAMPLER],
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
    wanted = {
        "events": args.events,
        "impressions": args.impressions,
        "seed": args.seed,
        "now_hour": args.now_hour,
    }
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
    # "now" at a set hour of the UTC day (never in the future): a one-day incremental
    # reads the events from the start of the day before, so its work grows with the hour
    day_start = int(time.time() * 1000) // DAY * DAY
    now_ms = day_start + args.now_hour * 3_600_000
    if now_ms > time.time() * 1000:
        now_ms -= DAY
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


#: (table, time column, order) of the rows a site adds in a day
DAY_TABLES = [
    ("user_events", "occurred_at_ms", "occurred_at_ms, event_id"),
    ("impressions", "shown_at_ms", "impression_id"),
    ("feedback", "created_at_ms", "feedback_id"),
]


def hold_last_day(engine: Engine, now_ms: int) -> None:
    """Take the rows of the day before ``now_ms`` out of the store (kept, the first
    time, in ``bench_day_<table>``), so that a refresh at ``now_ms - DAY`` sees the
    store as it was a day earlier."""
    since = now_ms - DAY
    with engine.begin() as conn:
        for table, column, _ in DAY_TABLES:
            held = f"bench_day_{table}"
            exists = conn.execute(text(f"SELECT COUNT(*) FROM {table} WHERE {column} >= {since}"))
            if exists.scalar() and not _has_table(conn, held):
                conn.execute(
                    text(f"CREATE TABLE {held} AS SELECT * FROM {table} WHERE {column} >= {since}")
                )
            conn.execute(text(f"DELETE FROM {table} WHERE {column} >= {since}"))
    _vacuum(engine)


def append_last_day(engine: Engine) -> int:
    """Put the held day's rows back (unless they are in), in the order a site would
    have stored them; returns how many events came back."""
    with engine.begin() as conn:
        if not _has_table(conn, "bench_day_user_events"):
            return 0
        for table, column, order in DAY_TABLES:
            held = f"bench_day_{table}"
            first = conn.execute(text(f"SELECT MIN({column}) FROM {held}")).scalar()
            if (
                first is None
                or conn.execute(
                    text(f"SELECT COUNT(*) FROM {table} WHERE {column} >= {int(first)}")
                ).scalar()
            ):
                continue
            conn.execute(text(f"INSERT INTO {table} SELECT * FROM {held} ORDER BY {order}"))
        held_events = conn.execute(text("SELECT COUNT(*) FROM bench_day_user_events")).scalar()
    _vacuum(engine)
    return int(held_events or 0)


def _vacuum(engine: Engine) -> None:
    """On PostgreSQL, what autovacuum would have done over a day of inserts (the
    index-only scans of a refresh need the visibility map; the planner the statistics)."""
    if engine.dialect.name != "postgresql":
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM (ANALYZE) user_events, impressions, feedback"))


def _has_table(conn: Connection, name: str) -> bool:
    from sqlalchemy import inspect

    return bool(inspect(conn).has_table(name))


def _line(name: str, r: dict[str, object]) -> str:
    memory = ", with the memory of the last refresh" if r.get("reused_state") else ""
    held = int(r.get("impressions_remembered") or 0)  # type: ignore[call-overload]
    return (
        f"{name}: {r['wall_s']:.2f} s wall, {r['cpu_s']:.2f} s CPU, "
        f"peak RSS {r['peak_rss_mib']:.0f} MiB (reader processes {r['reader_rss_mib']:.0f} MiB) "
        f"({r['events_read']:,} events and {r['impressions_read']:,} impressions read"
        f"{f', {held:,} impressions remembered' if held else ''}, "
        f"{r['user_rows']:,} user-day rows, "
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
    parser.add_argument(
        "--now-hour",
        type=int,
        default=23,
        choices=range(24),
        metavar="H",
        help="the generated site's last event is at H:00 UTC (default 23, near the largest "
        "one-day incremental: it reads from 00:00 of the day before, 47 hours)",
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
    engine = make_engine(url)
    append_last_day(engine)  # a run stopped midway may have left the day out
    os.sync()
    if not args.skip_full:
        print(_line("full refresh", _child(url, {"full": True, "now_ms": now_ms})))
    # the refresh of the day before sees the store without the last day's rows; the
    # day then arrives and a one-day incremental refresh takes it in
    hold_last_day(engine, now_ms)
    os.sync()  # the setup's writes reach the disk before a refresh is timed
    before = _child(url, {"days_back": 1, "now_ms": now_ms - DAY})
    print(_line("the day before, incremental (1 day)", before))
    print(f"a day arrives: {append_last_day(engine):,} events, with its lists and feedback")
    os.sync()  # on a site they arrive over the day, not in one burst just before
    inc = _child(url, {"days_back": 1, "now_ms": now_ms})
    print(_line("incremental (1 day)", inc))
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
