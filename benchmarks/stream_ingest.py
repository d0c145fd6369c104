"""Stream mode against synchronous mode: ``POST /api/v1/events`` on a real gunicorn.

Two gunicorn servers run side by side on two fresh PostgreSQL databases: one in the
synchronous mode (the request stores the events), one in stream mode (the request
validates and appends them to a Redis Stream; ``--consumers`` real ``cratedig consume``
processes store them in PostgreSQL). ``wrk`` posts batches of ``--batch`` events with
unique ids in three phases per round:

* ``sync``: as fast as it answers (wrk, ``--connections``);
* ``stream``: as fast as it answers; then the wait until the consumers stored it all
  (the burst the stream absorbs: accepted events/s against stored events/s);
* ``stream paced``: at the rate the synchronous phase reached (wrk's ``delay()``),
  the load a synchronous site of this size sustains: its event-to-store latency.

It prints, per phase: events/s accepted (answered by the service) and stored (stored
events over the time from the phase's start until the last one was stored), the
request latency, the event-to-store latency (stream: from the ``XADD`` to the
consumer's commit, from the consumers' own samples of the entries added in the phase),
events lost (answered but not stored; must be 0), and the CPU seconds of the server
and consumer processes (``/proc``; PostgreSQL's and Redis's own CPU is not counted).

Targets: stream mode accepts >= 1.5x the synchronous events/s; p95 event-to-store
latency < 2 s at the synchronous rate; 0 lost.

Usage::

    python benchmarks/stream_ingest.py                       # 1 round of 20 s per phase
    python benchmarks/stream_ingest.py --duration 10 --rounds 2
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
from typing import Any

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


def _lua(batch: int, prefix: str, path: Path, delay_ms: float = 0.0) -> Path:
    """A wrk script posting ``batch`` play events per request, ids unique per run;
    each connection waits ``delay_ms`` before its next request (a paced load)."""
    pacing = f"function delay()\n  return {delay_ms:.0f}\nend\n" if delay_ms > 0 else ""
    path.write_text(
        pacing
        + f"""
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


def _pct(values: list[tuple[int, int, int]], q: float) -> float:
    """The ``q``-quantile of latency, weighted by the events of each entry."""
    if not values:
        return float("nan")
    lat = np.array(values, dtype=np.int64)
    order = np.argsort(lat[:, 1])
    weights = np.cumsum(lat[order, 2])
    return float(lat[order[int(np.searchsorted(weights, q * weights[-1]))], 1])


def _ms(value: float) -> str:
    return "-" if np.isnan(value) else f"{value:,.0f}ms"


#: The phases of a round: (name, server mode, paced at the sync rate of the round).
PHASES = (("sync", "sync", False), ("stream", "stream", False), ("stream paced", "stream", True))


def _phase(
    name: str,
    mode: str,
    rate: float | None,
    rnd: int,
    ctx: dict[str, Any],
    args: argparse.Namespace,
) -> dict[str, float]:
    """One wrk run on one server, then the wait until everything answered is stored."""
    url, port = ctx["urls"][mode], ctx["ports"][mode]
    pids = [ctx["servers"][mode].pid] + ([p.pid for p in ctx["procs"]] if mode == "stream" else [])
    before, cpu0 = _stored(url), _cpu_seconds(pids)
    delay = 0.0
    conns = args.connections
    if rate is not None:  # each connection posts batch events every delay ms
        conns = max(1, min(args.connections, round(rate * 0.05 / args.batch)))
        delay = 1000.0 * args.batch * conns / rate
    lua = _lua(args.batch, f"{name[:1]}{name[-1]}{rnd}", ctx["folder"] / f"{rnd}.lua", delay)
    wrk_args = argparse.Namespace(
        **{**vars(args), "connections": conns, "wrk_threads": min(args.wrk_threads, conns)}
    )
    t0_ms = int(time.time() * 1000)
    t0 = time.monotonic()
    out = run_wrk(f"http://127.0.0.1:{port}/api/v1/events", lua, wrk_args, args.duration)
    t1_ms = int(time.time() * 1000)
    answered = (out.get("requests", 0) - out["errors"]) * args.batch
    deadline = time.monotonic() + 600
    while _stored(url) - before < answered and time.monotonic() < deadline:
        time.sleep(0.05)
    stored_s = time.monotonic() - t0
    stored = _stored(url) - before
    print(
        f"round {rnd + 1} {name:<12}: {answered / args.duration:9,.0f} events/s answered "
        f"({conns} connections{f', paced at {rate:,.0f}/s' if rate else ''}), {stored:,} "
        f"stored after {stored_s:.1f} s",
        flush=True,
    )
    return {
        "answered": answered,
        "stored": stored,
        "store_s": max(stored_s, args.duration),
        "cpu": _cpu_seconds(pids) - cpu0,
        "errors": out["errors"],
        "p50": out.get("p50", float("nan")),
        "p99": out.get("p99", float("nan")),
        "from_ms": t0_ms,
        "to_ms": t1_ms,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=20, help="Seconds per phase.")
    parser.add_argument("--rounds", type=int, default=1, help="Interleaved rounds of the phases.")
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
    runs: dict[str, list[dict[str, float]]] = {name: [] for name, _, _ in PHASES}
    latencies: list[tuple[int, int, int]] = []
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
                _wait_ready(f"http://127.0.0.1:{port}/api/v1/health", timeout=240)
            ctx = {"urls": urls, "ports": ports, "servers": servers, "procs": procs}
            ctx["folder"] = folder
            for rnd in range(args.rounds):
                sync_rate = None
                for name, mode, paced in PHASES:
                    run = _phase(name, mode, sync_rate if paced else None, rnd, ctx, args)
                    runs[name].append(run)
                    if name == "sync":
                        sync_rate = max(run["answered"] / args.duration, float(args.batch))
            lag = r.xinfo_groups(STREAM)
            for proc in procs:
                proc.send_signal(signal.SIGTERM)
            for proc in procs:
                proc.wait(timeout=120)
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
        f"\ngunicorn {args.workers} workers x {args.threads} threads per mode; wrk up to "
        f"{args.connections} connections; batches of {args.batch} events; {args.rounds} "
        f"round(s) of {args.duration:g} s per phase; {args.consumers} consumers; "
        f"PostgreSQL; load average {load_before[0]:.1f} before, {load_after[0]:.1f} after "
        f"({os.cpu_count()} cores)"
    )
    header = (
        f"{'phase':<13}{'accepted/s':>11}{'stored/s':>10}{'req p50':>9}{'req p99':>9}"
        f"{'store p50':>10}{'store p95':>10}{'lost':>6}{'errors':>7}{'CPU s':>7}"
        f"{'CPU us/event':>13}"
    )
    print(header)
    print("-" * len(header))
    summary: dict[str, dict[str, float]] = {}
    for name, mode, _ in PHASES:
        rs = runs[name]
        answered = sum(x["answered"] for x in rs)
        stored = sum(x["stored"] for x in rs)
        cpu = sum(x["cpu"] for x in rs)
        rate = answered / (args.duration * max(1, len(rs)))
        stored_rate = stored / max(sum(x["store_s"] for x in rs), 1e-9)
        lost = max(0, int(answered - stored))
        p50 = float(np.median([x["p50"] for x in rs]))
        p99 = float(np.median([x["p99"] for x in rs]))
        if mode == "stream":
            mine = [v for v in latencies if any(x["from_ms"] <= v[0] <= x["to_ms"] for x in rs)]
            s50, s95 = _pct(mine, 0.5), _pct(mine, 0.95)
        else:  # stored in the request: the store latency is the request latency
            s50, s95 = p50, float("nan")
        summary[name] = {"rate": rate, "s95": s95, "lost": lost}
        print(
            f"{name:<13}{rate:>11,.0f}{stored_rate:>10,.0f}{_ms(p50):>9}{_ms(p99):>9}"
            f"{_ms(s50):>10}{_ms(s95):>10}{lost:>6}{int(sum(x['errors'] for x in rs)):>7}"
            f"{cpu:>7.1f}{1e6 * cpu / max(stored, 1):>13.0f}"
        )
    ratio = summary["stream"]["rate"] / max(summary["sync"]["rate"], 1e-9)
    s95 = summary["stream paced"]["s95"]
    ok = ratio >= 1.5 and s95 < 2000 and all(v["lost"] == 0 for v in summary.values())
    print(
        f"\nstream accepts {ratio:.2f}x the synchronous events/s; at the synchronous rate, "
        f"p95 event-to-store {s95:,.0f} ms (saturated: "
        f"{summary['stream']['s95']:,.0f} ms, the backlog the stream absorbed); target "
        f"(>= 1.5x, p95 < 2 s at the synchronous rate, 0 lost): {'met' if ok else 'NOT met'}"
    )
    if args.verbose:
        print("stream group at the end:", lag)
    return 0


if __name__ == "__main__":
    sys.exit(main())
