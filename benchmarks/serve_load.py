"""Load benchmark of the service: gunicorn + wrk, against a trivial Flask endpoint.

Starts gunicorn twice with the same settings: once with cratedig's app on a trained
store, once with a one-line Flask app. Drives each endpoint with ``wrk`` (Debian
package ``wrk``) for ``--duration`` seconds, at random users/artists (a Lua script),
and prints requests/s, p50 and p99 latency and their ratios to the trivial endpoint.
Then posts events in batches of 500 (unique ids, from Lua) and counts the events
stored afterwards: none may be lost.

Before the read rounds, ``--active-share`` of the users (default 10%) get 3 follows
after the served version's snapshot, so their uncached list requests are scored live
from their current history (``serving/live_models.py``).

Targets: recommendations >= 70% of the trivial throughput with p99 <= 2x and no
errors; events >= 20,000 stored per second.

Usage::

    python benchmarks/serve_load.py                      # builds a demo store, 30 s each
    python benchmarks/serve_load.py --duration 5 --db sqlite:///demo.sqlite

Without ``--db`` a store is simulated (1,000 users, 2,000 artists, 100k events) and
trained with the default model in a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

HERE = Path(__file__).resolve().parent
API_KEY = "bench-key"
BATCH = 500


def make_trivial_app() -> Any:
    """The baseline: a Flask app with one endpoint returning a small JSON object."""
    from flask import Flask, jsonify

    app = Flask("trivial")

    @app.get("/ping")
    def ping() -> Any:
        return jsonify({"ok": True})

    return app


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ready(
    url: str, timeout: float = 180.0, proc: subprocess.Popen[bytes] | None = None
) -> None:
    """Wait until ``url`` answers; fail at once if ``proc`` (its server) has exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(
                f"the server for {url} exited with status {proc.returncode} before answering "
                "(see its log above; an outdated store needs `cratedig db upgrade`)"
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status < 500:
                    return
        except Exception:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def start_gunicorn(
    target: str, port: int, args: argparse.Namespace, env: dict[str, str]
) -> subprocess.Popen[bytes]:
    """Start gunicorn on ``target`` with the benchmark's worker settings."""
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(args.workers),
        "--worker-class",
        "gthread",
        "--threads",
        str(args.threads),
        "--pythonpath",
        str(HERE),
        "--log-level",
        "warning",
        target,
    ]
    return subprocess.Popen(argv, env=env)


def server_cpu(proc: subprocess.Popen[bytes]) -> float:
    """CPU seconds (user + sys) used so far by a gunicorn master and its workers (Linux
    ``/proc``; 0 elsewhere): per request, a figure the machine's load barely moves."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # after the command: state, ppid, ..., utime (14th field) and stime (15th)
        if int(entry.name) == proc.pid or int(fields[1]) == proc.pid:
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop gunicorn gracefully (its workers flush impressions on exit)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s)", text)
    if not m:
        return float("nan")
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse_wrk(output: str) -> dict[str, float]:
    """Requests/s, p50/p99 (ms), completed requests and errors from wrk's output."""
    out: dict[str, float] = {"errors": 0.0}
    if m := re.search(r"Requests/sec:\s+([\d.]+)", output):
        out["rps"] = float(m.group(1))
    if m := re.search(r"(\d+) requests in", output):
        out["requests"] = float(m.group(1))
    for pct in ("50", "99"):
        if m := re.search(rf"\s{pct}%\s+([\d.]+(?:us|ms|s))", output):
            out[f"p{pct}"] = _ms(m.group(1))
    if m := re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output):
        out["errors"] += float(m.group(1))
    if m := re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    ):
        out["errors"] += sum(float(g) for g in m.groups())
    return out


def combine(runs: list[dict[str, float]], seconds: float) -> dict[str, float]:
    """One figure from several rounds: total requests over total time, median latencies."""
    out = {
        "requests": sum(r.get("requests", 0.0) for r in runs),
        "errors": sum(r["errors"] for r in runs),
    }
    out["rps"] = out["requests"] / (seconds * len(runs))
    for key in ("p50", "p99"):
        out[key] = float(statistics.median(r.get(key, float("nan")) for r in runs))
    return out


def run_wrk(
    url: str, lua: Path | None, args: argparse.Namespace, seconds: float | None = None
) -> dict[str, float]:
    argv = [
        "wrk",
        "--latency",
        "-t",
        str(args.wrk_threads),
        "-c",
        str(args.connections),
        "-d",
        f"{(seconds if seconds is not None else args.duration):g}s",
        "--timeout",
        f"{args.timeout}s",
    ]
    if lua is not None:
        argv += ["-s", str(lua)]
    argv.append(url)
    result = subprocess.run(argv, capture_output=True, text=True, check=True)
    if args.verbose:
        print(result.stdout)
    return parse_wrk(result.stdout)


def _lua_paths(paths: list[str], path: Path) -> Path:
    items = ",".join(json.dumps(p) for p in paths)
    path.write_text(
        "math.randomseed(os.time())\n"
        f"local paths = {{{items}}}\n"
        "request = function()\n"
        "  return wrk.format('GET', paths[math.random(#paths)])\n"
        "end\n"
    )
    return path


def _lua_events(users: list[str], artists: list[str], path: Path) -> Path:
    """A wrk script posting batches of BATCH events with ids unique across threads."""
    u = ",".join(json.dumps(x) for x in users)
    a = ",".join(json.dumps(x) for x in artists)
    path.write_text(
        f"""
local users = {{{u}}}
local artists = {{{a}}}
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
  -- dated now: the service refuses events later than its future tolerance (1 day)
  local now = os.time() * 1000
  local parts = {{}}
  for j = 1, {BATCH} do
    parts[j] = string.format(
      '{{"event_id":"bench-%d-%d-%d","user_id":"%s","event_type":"play_track",' ..
      '"artist_id":"%s","duration_ms":%d,"occurred_at":%d}}',
      tid, counter, j, users[math.random(#users)], artists[math.random(#artists)],
      math.random(1000, 300000), now + j)
  end
  return wrk.format(nil, nil, nil, "[" .. table.concat(parts, ",") .. "]")
end
"""
    )
    return path


def recent_follows(
    rng: random.Random, users: list[str], artists: list[str], share: float, prefix: str
) -> tuple[list[str], list[dict[str, Any]]]:
    """``share`` of the users (drawn with ``rng``) and 3 follows for each, dated now
    (after the snapshot); event ids ``<prefix>-<user>-<j>``."""
    chosen = rng.sample(users, round(share * len(users))) if share > 0 else []
    now_ms = int(time.time() * 1000)
    events = [
        {
            "event_id": f"{prefix}-{user}-{j}",
            "user_id": user,
            "event_type": "follow_artist",
            "artist_id": artist,
            "occurred_at": now_ms + j,
        }
        for user in chosen
        for j, artist in enumerate(rng.sample(artists, 3))
    ]
    return chosen, events


def post_recent_events(
    base: str, users: list[str], artists: list[str], share: float, seed: int = 0
) -> int:
    """Give ``share`` of the users 3 follows after the snapshot (through the API).

    Their recommendations are then scored from their current history by the served
    model (``serving/live_models.py``) on each uncached request, instead of read from
    the precomputed list. Returns how many users got events.
    """
    chosen, events = recent_follows(random.Random(seed), users, artists, share, "bench-recent")
    for start in range(0, len(events), BATCH):
        request = urllib.request.Request(
            f"{base}/api/v1/events",
            data=json.dumps(events[start : start + BATCH]).encode(),
            headers={"Content-Type": "application/json", "X-API-Key": API_KEY},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            if response.status != 201:
                raise SystemExit(f"posting recent events failed: HTTP {response.status}")
    return len(chosen)


def build_demo_store(folder: Path) -> str:
    """Simulate a small site and train the default model on it."""
    from cratedig.config import load_settings
    from cratedig.pipeline.train import train
    from cratedig.simulator.site import SimulationConfig, simulate_to_store
    from cratedig.store import init_db, make_engine

    url = f"sqlite:///{folder / 'bench.sqlite'}"
    engine = make_engine(url)
    init_db(engine)
    print("simulating a demo store (1,000 users, 2,000 artists, 100k events)...")
    simulate_to_store(engine, SimulationConfig())
    print("training the default model...")
    settings = load_settings(database_url=url, artifacts_dir=str(folder / "artifacts"))
    train(engine, settings)
    engine.dispose()
    return url


def _ids(url: str) -> tuple[list[str], list[str]]:
    from cratedig.pipeline.registry import active_version
    from cratedig.store import make_engine
    from cratedig.store.schema import precomputed_lists, similar_artist_lists

    engine = make_engine(url)
    version = active_version(engine)
    if version is None:
        raise SystemExit(f"{url} has no trained version; run `cratedig train` first")
    with engine.connect() as conn:
        users = list(
            conn.execute(
                select(precomputed_lists.c.user_id)
                .where(precomputed_lists.c.version_id == version.version_id)
                .distinct()
            ).scalars()
        )
        artists = list(
            conn.execute(
                select(similar_artist_lists.c.artist_id).where(
                    similar_artist_lists.c.version_id == version.version_id
                )
            ).scalars()
        )
    engine.dispose()
    return users, artists


def _count_events(url: str) -> int:
    from cratedig.store import make_engine
    from cratedig.store.schema import user_events

    engine = make_engine(url)
    with engine.connect() as conn:
        n = int(conn.execute(select(func.count()).select_from(user_events)).scalar_one())
    engine.dispose()
    return n


def _row(name: str, r: dict[str, float], base: dict[str, float] | None) -> str:
    text = (
        f"{name:<16} {r.get('rps', 0):>9.0f} req/s  p50 {r.get('p50', float('nan')):7.2f} ms"
        f"  p99 {r.get('p99', float('nan')):7.2f} ms  errors {int(r['errors'])}"
        f"  server CPU {r.get('cpu_us', float('nan')):5.0f} us/req"
    )
    if base:
        text += (
            f"  | throughput {r.get('rps', 0) / base['rps']:.0%} of trivial,"
            f" p99 {r.get('p99', 0) / base['p99']:.2f}x,"
            f" CPU/req {r.get('cpu_us', 0) / base['cpu_us']:.2f}x"
        )
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=30, help="Seconds per endpoint.")
    parser.add_argument("--db", help="A trained store URL (default: build a demo store).")
    parser.add_argument("--redis-url", help="Use Redis for the per-user cache.")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers.")
    parser.add_argument("--threads", type=int, default=4, help="Threads per worker.")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections.")
    parser.add_argument(
        "--rounds", type=int, default=5, help="Interleaved rounds the duration is split into."
    )
    parser.add_argument(
        "--warmup", type=float, default=10, help="Unmeasured seconds per endpoint first."
    )
    parser.add_argument("--wrk-threads", type=int, default=2, help="wrk threads.")
    parser.add_argument(
        "--timeout", type=int, default=10, help="wrk: seconds before a request counts as failed."
    )
    parser.add_argument("--skip-events", action="store_true", help="No POST /events run.")
    parser.add_argument(
        "--events-only", action="store_true", help="Only the POST /events run (no read rounds)."
    )
    parser.add_argument("--verbose", action="store_true", help="Print wrk's own output.")
    parser.add_argument(
        "--active-share",
        type=float,
        default=0.1,
        help="Share of users given 3 follows after the snapshot before the read rounds "
        "(their lists are scored live from their current history).",
    )
    args = parser.parse_args(argv)
    if not 0.0 <= args.active_share <= 1.0:
        parser.error("--active-share must be in [0, 1]")
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    with tempfile.TemporaryDirectory(prefix="cratedig-bench-") as tmp:
        folder = Path(tmp)
        url = args.db or build_demo_store(folder)
        users, artists = _ids(url)
        env = {
            **os.environ,
            "CRATEDIG_DATABASE_URL": url,
            "CRATEDIG_API_KEYS": API_KEY,
            "CRATEDIG_ARTIFACTS_DIR": str(folder / "artifacts"),
        }
        if args.redis_url:
            env["CRATEDIG_REDIS_URL"] = args.redis_url
        rng = random.Random(0)
        rec_paths = [
            f"/api/v1/users/{u}/recommendations?list={rng.choice(['may_like', 'hidden_gems'])}"
            for u in users
        ]
        sim_paths = [f"/api/v1/artists/{a}/similar" for a in artists]
        results: dict[str, dict[str, float]] = {}
        events_cpu, events_load = 0.0, [0.0, 0.0]

        # Both servers run side by side, and the endpoints are measured in interleaved
        # rounds after a warm-up: this machine's speed drifts by tens of percent within
        # a minute, so back-to-back 30 s runs compare different machines.
        trivial_port, app_port = _free_port(), _free_port()
        trivial = start_gunicorn("serve_load:make_trivial_app()", trivial_port, args, env)
        app = start_gunicorn("cratedig.serving:create_app()", app_port, args, env)
        base = f"http://127.0.0.1:{app_port}"
        try:
            _wait_ready(f"http://127.0.0.1:{trivial_port}/ping", proc=trivial)
            _wait_ready(f"{base}/api/v1/health", proc=app)
            active = post_recent_events(base, users, artists, args.active_share)
            targets = {
                "trivial": (f"http://127.0.0.1:{trivial_port}/ping", None),
                "recommendations": (base, _lua_paths(rec_paths, folder / "rec.lua")),
                "similar": (base, _lua_paths(sim_paths, folder / "sim.lua")),
            }
            if args.events_only:
                targets = {}
            for url_, lua in targets.values():  # warm-up: fill the caches, unmeasured
                run_wrk(url_, lua, args, seconds=args.warmup)
            rounds: dict[str, list[dict[str, float]]] = {name: [] for name in targets}
            cpu = dict.fromkeys(targets, 0.0)
            per_round = max(1, round(args.duration / args.rounds))
            loads = [os.getloadavg()[0]]
            for _ in range(args.rounds):
                for name, (url_, lua) in targets.items():
                    server = trivial if name == "trivial" else app
                    before_cpu = server_cpu(server)
                    rounds[name].append(run_wrk(url_, lua, args, seconds=per_round))
                    cpu[name] += server_cpu(server) - before_cpu
                loads.append(os.getloadavg()[0])
            results = {name: combine(runs, per_round) for name, runs in rounds.items()}
            for name, r in results.items():
                r["cpu_us"] = 1e6 * cpu[name] / max(r["requests"], 1.0)
            if not args.skip_events:
                before = _count_events(url)
                before_cpu, events_load = server_cpu(app), [os.getloadavg()[0]]
                results["events"] = run_wrk(
                    f"{base}/api/v1/events", _lua_events(users, artists, folder / "ev.lua"), args
                )
                events_cpu = server_cpu(app) - before_cpu
                events_load.append(os.getloadavg()[0])
        finally:
            stop(trivial)
            stop(app)

        print(
            f"\ngunicorn: {args.workers} workers x {args.threads} threads (gthread); wrk: "
            f"{args.connections} connections, {args.duration} s per endpoint in {args.rounds} "
            f"interleaved rounds after {args.warmup:g} s of warm-up; store {url}"
        )
        print(
            f"users with new events since the snapshot (lists scored live): {active} of "
            f"{len(users)} ({args.active_share:.0%} of users; requests pick users uniformly)"
        )
        if "trivial" in results:
            print(
                "load average (1 min) during the rounds: "
                + ", ".join(f"{x:.1f}" for x in loads)
                + "; server CPU is gunicorn's master + workers (user + sys), per request"
            )
            print(_row("trivial", results["trivial"], None))
            for name in ("recommendations", "similar"):
                print(_row(name, results[name], results["trivial"]))
            ok = (
                results["recommendations"].get("rps", 0) >= 0.7 * results["trivial"]["rps"]
                and results["recommendations"].get("p99", 1e9) <= 2 * results["trivial"]["p99"]
                and results["recommendations"]["errors"] == 0
            )
            print(
                f"recommendations target (>= 70% throughput, p99 <= 2x, 0 errors): "
                f"{'met' if ok else 'NOT met'}"
            )
        if "events" in results:
            ev = results["events"]
            stored = _count_events(url) - before
            answered = int(ev.get("requests", 0) - ev["errors"]) * BATCH
            # Requests still in flight when wrk stops are stored but not counted as
            # answered: only events both answered and stored count towards the rate.
            rate = min(stored, answered) / args.duration
            print(
                f"events: {min(stored, answered):,} answered and stored in {args.duration} s = "
                f"{rate:,.0f} events/s "
                f"(batches of {BATCH}; {int(ev.get('requests', 0))} requests, "
                f"{int(ev['errors'])} errors; p50 {ev.get('p50', 0):.1f} ms, "
                f"p99 {ev.get('p99', 0):.1f} ms)"
            )
            print(
                f"events: server CPU {1000 * events_cpu / max(ev.get('requests', 0), 1):.1f} ms "
                f"per batch of {BATCH} (gunicorn master + workers, user + sys); load average "
                f"(1 min) {events_load[0]:.1f} before, {events_load[1]:.1f} after"
            )
            lost = max(0, answered - stored)
            print(
                f"events lost: {lost} (answered {answered:,}, stored {stored:,}); "
                f"target >= 20,000/s: {'met' if rate >= 20_000 else 'NOT met'}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
