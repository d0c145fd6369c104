"""Stream mode against synchronous mode: ``POST /api/v1/events`` on a real gunicorn.

Two gunicorn servers run side by side on two fresh PostgreSQL databases: one in the
synchronous mode (the request stores the events), one in stream mode (the request
validates and appends them to a Redis Stream; ``--consumers`` real ``cratedig consume``
processes store them in PostgreSQL). ``wrk`` posts batches of ``--batch`` events with
unique ids to each in interleaved rounds (sync, stream, sync, stream...), and after
each stream round the benchmark waits until the consumers have stored everything.

It prints, per mode: events/s accepted (answered by the service) and stored (stored
events over the time from the round's start until the last one was stored), the
request latency, the event-to-store latency (stream mode: from the ``XADD`` to the
consumer's commit, from the consumers' own samples), events lost (answered but not
stored; must be 0), and the CPU seconds of the server and consumer processes.

Targets: stream mode accepts >= 1.5x the synchronous events/s, with p95
event-to-store latency < 2 s and 0 lost.

Usage::

    python benchmarks/stream_ingest.py                       # 2 rounds of 20 s per mode
    python benchmarks/stream_ingest.py --duration 10 --rounds 1
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import redis
from sqlalchemy import create_engine, func, select, text

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"
sys.path.insert(0, str(HERE))

from serve_load import _free_port, _wait_ready, run_wrk, start_gunicorn, stop  # noqa: E402

API_KEY = "bench-key"
STREAM = "bench:events"
TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pids: list[int]) -> float:
    """user+sys CPU seconds of ``pids`` and their living children (from /proc)."""
    seen: set[int] = set()
    todo = list(pids)
    total = 0
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
            for task in Path(f"/proc/{pid}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
    return total / TICKS


def _lua(batch: int, prefix: str, path: Path) -> Path:
    """A wrk script posting ``batch`` play events per request, ids unique per run."""
    path.write_text(
        f"""
local counter = 0
local threads = {{}}
function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end
function init(args)
  math.randomseed(os.time() + tid)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["X-API-Key"] = "{API_KEY}"
end
request = function()
  counter = counter + 1
  local now = os.time() * 1000
  local parts = {{}}
  for j = 1, {batch} do
    parts[j] = string.format(
      '{{"event_id":"{prefix}-%d-%d-%d","user_id":"u%d","event_type":"play_track",' ..
      '"artist_id":"a%d","duration_ms":%d,"occurred_at":%d}}',
      tid, counter, j, math.random(20000), math.random(5000),
      math.random(1000, 300000), now - math.random(100000))
  end
  return wrk.format(nil, nil, nil, "[" .. table.concat(parts, ",") .. "]")
end
"""
    )
    return path


def _database(admin_url: str) -> str:
    name = "cratedig_bench_" + uuid.uuid4().hex[:10]
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return admin_url.rsplit("/", 1)[0] + "/" + name


def _drop(admin_url: str, url: str) -> None:
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
    admin.dispose()


def _stored(url: str) -> int:
    from cratedig.store.schema import user_events

    engine = create_engine(url)
    with engine.connect() as conn:
        n = int(conn.execute(select(func.count()).select_from(user_events)).scalar_one())
    engine.dispose()
    return n


def _consumer(url: str, env: dict[str, str], name: str, stats: Path) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "cratedig.cli", "--db", url, "consume", "--name", name]
    argv += ["--stats-file", str(stats), "--log-every", "30", "--claim-idle", "10"]
    return subprocess.Popen(argv, env=env)


def _pct(values: list[tuple[int, int]], q: float) -> float:
    if not values:
        return float("nan")
    lat = np.array(values, dtype=np.int64)
    order = np.argsort(lat[:, 0])
    weights = np.cumsum(lat[order, 1])
    return float(lat[order[int(np.searchsorted(weights, q * weights[-1]))], 0])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=20, help="Seconds per round and mode.")
    parser.add_argument("--rounds", type=int, default=2, help="Interleaved rounds per mode.")
    parser.add_argument("--batch", type=int, default=500, help="Events per request.")
    parser.add_argument("--consumers", type=int, default=2, help="cratedig consume processes.")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers.")
    parser.add_argument("--threads", type=int, default=4, help="Threads per worker.")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections.")
    parser.add_argument("--wrk-threads", type=int, default=2, help="wrk threads.")
    parser.add_argument("--timeout", type=int, default=30, help="wrk request timeout (s).")
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "CRATEDIG_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
        help="Admin URL of the PostgreSQL server (two databases are made and dropped).",
    )
    parser.add_argument(
        "--redis", default="redis://127.0.0.1:6379/13", help="Redis for the stream."
    )
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    from cratedig.store import init_db, make_engine, normalise_url

    admin = normalise_url(args.postgres)
    r = redis.Redis.from_url(args.redis)
    r.delete(STREAM)
    urls = {"sync": _database(admin), "stream": _database(admin)}
    procs: list[subprocess.Popen[bytes]] = []
    servers: dict[str, subprocess.Popen[bytes]] = {}
    load_before = os.getloadavg()
    try:
        for url in urls.values():
            engine = make_engine(url)
            init_db(engine)
            engine.dispose()
        with tempfile.TemporaryDirectory(prefix="cratedig-stream-bench-") as tmp:
            folder = Path(tmp)
            base_env = {
                **os.environ,
                "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
                "CRATEDIG_API_KEYS": API_KEY,
                "CRATEDIG_STREAM_URL": args.redis,
                "CRATEDIG_STREAM_NAME": STREAM,
            }
            ports = {"sync": _free_port(), "stream": _free_port()}
            for mode, url in urls.items():
                env = {**base_env, "CRATEDIG_DATABASE_URL": url, "CRATEDIG_INGEST_MODE": mode}
                target = "cratedig.serving:create_app()"
                servers[mode] = start_gunicorn(target, ports[mode], args, env)
            stats_files = [folder / f"consumer{i}.json" for i in range(args.consumers)]
            consumer_env = {**base_env, "CRATEDIG_DATABASE_URL": urls["stream"]}
            for i, stats in enumerate(stats_files):
                procs.append(_consumer(urls["stream"], consumer_env, f"bench-{i}", stats))
            for port in ports.values():
                _wait_ready(f"http://127.0.0.1:{port}/api/v1/health")
            results: dict[str, dict[str, float]] = {
                m: {"answered": 0.0, "stored": 0.0, "accept_s": 0.0, "store_s": 0.0, "cpu": 0.0}
                for m in urls
            }
            p99s: dict[str, list[float]] = {m: [] for m in urls}
            p50s: dict[str, list[float]] = {m: [] for m in urls}
            for rnd in range(args.rounds):
                for mode, url in urls.items():
                    pids = [servers[mode].pid] + (
                        [p.pid for p in procs] if mode == "stream" else []
                    )
                    before, cpu0 = _stored(url), _cpu_seconds(pids)
                    lua = _lua(args.batch, f"{mode[:2]}{rnd}", folder / f"{mode}{rnd}.lua")
                    t0 = time.monotonic()
                    out = run_wrk(
                        f"http://127.0.0.1:{ports[mode]}/api/v1/events", lua, args, args.duration
                    )
                    answered = (out.get("requests", 0) - out["errors"]) * args.batch
                    deadline = time.monotonic() + 300
                    while _stored(url) - before < answered and time.monotonic() < deadline:
                        time.sleep(0.05)
                    stored_s = time.monotonic() - t0
                    stored = _stored(url) - before
                    res = results[mode]
                    res["answered"] += answered
                    res["stored"] += stored
                    res["accept_s"] += args.duration
                    res["store_s"] += max(stored_s, args.duration)
                    res["cpu"] += _cpu_seconds(pids) - cpu0
                    res["errors"] = res.get("errors", 0) + out["errors"]
                    p50s[mode].append(out.get("p50", float("nan")))
                    p99s[mode].append(out.get("p99", float("nan")))
                    print(
                        f"round {rnd + 1} {mode:<6}: {answered / args.duration:9,.0f} events/s "
                        f"answered, {stored:,} stored after {stored_s:.1f} s",
                        flush=True,
                    )
            lag = r.xinfo_groups(STREAM)
            for proc in procs:
                proc.send_signal(signal.SIGTERM)
            for proc in procs:
                proc.wait(timeout=120)
            latencies: list[tuple[int, int]] = []
            for stats in stats_files:
                if stats.exists():
                    latencies += [tuple(x) for x in json.loads(stats.read_text())["latencies_ms"]]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
        for server in servers.values():
            stop(server)
        for url in urls.values():
            _drop(admin, url)
        r.delete(STREAM)
    load_after = os.getloadavg()
    print(
        f"\ngunicorn {args.workers} workers x {args.threads} threads per mode; wrk "
        f"{args.connections} connections; batches of {args.batch} events; {args.rounds} "
        f"interleaved rounds of {args.duration:g} s per mode; {args.consumers} consumers; "
        f"PostgreSQL; load average {load_before[0]:.1f} before, {load_after[0]:.1f} after "
        f"({os.cpu_count()} cores)"
    )
    header = (
        f"{'mode':<7}{'accepted/s':>12}{'stored/s':>11}{'req p50':>10}{'req p99':>10}"
        f"{'store p50':>11}{'store p95':>11}{'lost':>7}{'errors':>8}{'CPU s':>8}"
        f"{'CPU ms/1k ev':>14}"
    )
    print(header)
    print("-" * len(header))
    rates = {}
    for mode, res in results.items():
        rates[mode] = res["answered"] / res["accept_s"]
        stored_rate = res["stored"] / res["store_s"]
        lost = max(0, int(res["answered"] - res["stored"]))
        if mode == "stream":
            s50, s95 = _pct(latencies, 0.5), _pct(latencies, 0.95)
        else:  # stored in the request: the request latency is the store latency
            s50, s95 = float(np.median(p50s[mode])), float("nan")
        res["lost"], res["s95"] = lost, s95
        per_k = 1000 * res["cpu"] / max(res["stored"], 1)
        print(
            f"{mode:<7}{rates[mode]:>12,.0f}{stored_rate:>11,.0f}"
            f"{np.median(p50s[mode]):>8.0f}ms{np.median(p99s[mode]):>8.0f}ms"
            f"{s50:>9.0f}ms{s95:>9.0f}ms{lost:>7}{int(res['errors']):>8}{res['cpu']:>8.1f}"
            f"{per_k:>14.1f}"
        )
    ratio = rates["stream"] / max(rates["sync"], 1e-9)
    ok = (
        ratio >= 1.5
        and results["stream"]["s95"] < 2000
        and all(res["lost"] == 0 for res in results.values())
    )
    print(
        f"\nstream accepts {ratio:.2f}x the synchronous events/s; p95 event-to-store "
        f"{results['stream']['s95']:.0f} ms; target (>= 1.5x, p95 < 2 s, 0 lost): "
        f"{'met' if ok else 'NOT met'}"
    )
    if args.verbose:
        print("stream group at the end:", lag)
    return 0


if __name__ == "__main__":
    sys.exit(main())
