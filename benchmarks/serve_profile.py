"""Per-request cost of the list endpoints inside one process, beside a trivial Flask app.

Calls each app's WSGI callable directly (no HTTP server, no test client), so what is
measured is the app's own work. For the trivial endpoint, recommendations and similar
artists it prints, per request: CPU microseconds (user + sys of the process, the least
over ``--rounds`` interleaved rounds, which the machine's load disturbs least), Python
function calls (deterministic: counted by cProfile) and SQL statements (an SQLAlchemy
``before_cursor_execute`` listener). Three situations:

* ``hit``: the per-user cache and the per-worker caches are warm (the steady state);
* ``miss``: the per-user cache was just dropped (its 60 s lifetime passed, or the user
  posted events), the per-worker caches are warm;
* ``cold``: a new worker: the first request for each user or artist.

``--active-share`` of the users get 3 follows after the snapshot first (their lists are
scored from their current history; see ``serving/live_models.py``).

Usage::

    python benchmarks/serve_profile.py                    # builds a demo store
    python benchmarks/serve_profile.py --db sqlite:///demo.sqlite --profile recommendations

``--profile NAME`` prints cProfile's top functions for that endpoint's hit rounds.
``benchmarks/serve_load.py`` measures the same endpoints through gunicorn and wrk.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import random
import resource
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import event
from werkzeug.test import EnvironBuilder

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import serve_load  # noqa: E402  (the demo store, ids and the trivial app)

API_KEY = "bench-key"


def environ(path: str) -> dict[str, Any]:
    """A WSGI environ for ``GET path`` (with its query string)."""
    base, _, query = path.partition("?")
    return EnvironBuilder(
        path=base, query_string=query, headers={"Host": "127.0.0.1"}
    ).get_environ()


def call(app: Callable[..., Any], env: dict[str, Any]) -> str:
    """Run one request through a WSGI app; its status line."""
    status: list[str] = []
    out = app(dict(env), lambda s, h, exc=None: status.append(s))
    b"".join(out)
    if hasattr(out, "close"):
        out.close()
    return status[0]


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(
    app: Callable[..., Any], envs: list[dict[str, Any]], before: Callable[[], None] | None = None
) -> float:
    """CPU microseconds per request over ``envs`` (``before`` runs first, unmeasured)."""
    if before is not None:
        before()
    start = cpu_seconds()
    for env in envs:
        call(app, env)
    return 1e6 * (cpu_seconds() - start) / len(envs)


def calls_per_request(app: Callable[..., Any], envs: list[dict[str, Any]]) -> float:
    profile = cProfile.Profile()
    profile.enable()
    for env in envs:
        call(app, env)
    profile.disable()
    return pstats.Stats(profile).total_calls / len(envs)  # type: ignore[attr-defined]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", help="A trained store URL (default: build a demo store).")
    parser.add_argument("--requests", type=int, default=2000, help="Requests per round.")
    parser.add_argument("--rounds", type=int, default=5, help="Interleaved rounds.")
    parser.add_argument("--active-share", type=float, default=0.1)
    parser.add_argument("--profile", choices=["recommendations", "similar"], default=None)
    args = parser.parse_args(argv)

    from cratedig.serving import create_app
    from cratedig.store.prepared import Prepared

    with tempfile.TemporaryDirectory(prefix="cratedig-profile-") as tmp:
        url = args.db or serve_load.build_demo_store(Path(tmp))
        if not args.db:
            os.environ["CRATEDIG_ARTIFACTS_DIR"] = str(Path(tmp) / "artifacts")
        users, artists = serve_load._ids(url)
        app = create_app({"DATABASE_URL": url, "API_KEYS": (API_KEY,)})
        svc = app.extensions["cratedig"]
        queries: Counter[str] = Counter()

        @event.listens_for(svc.engine, "before_cursor_execute")
        def _count(*args: Any) -> None:
            queries["all"] += 1
            queries[" ".join(str(args[2]).split())[:100]] += 1

        prepared_all = Prepared.all  # runs on the DBAPI cursor: count it here

        def counted_all(self: Prepared, conn: Any, **values: Any) -> Any:
            queries["all"] += 1
            queries[" ".join(self.sql.split())[:100]] += 1
            return prepared_all(self, conn, **values)

        Prepared.all = counted_all  # type: ignore[method-assign]

        client = app.test_client()
        rng = random.Random(0)
        share = args.active_share
        active, posted = serve_load.recent_follows(rng, users, artists, share, "profile")
        for start in range(0, len(posted), 500):
            batch = posted[start : start + 500]
            r = client.post("/api/v1/events", json=batch, headers={"X-API-Key": API_KEY})
            assert r.status_code == 201, r.data[:300]
        trivial = serve_load.make_trivial_app()
        rec_paths = [
            f"/api/v1/users/{u}/recommendations?list={rng.choice(['may_like', 'hidden_gems'])}"
            for u in users
        ]
        targets = {
            "trivial": (trivial, [environ("/ping")]),
            "recommendations": (app, [environ(p) for p in rec_paths]),
            "similar": (app, [environ(f"/api/v1/artists/{a}/similar") for a in artists]),
        }
        cold: dict[str, tuple[float, float]] = {}
        for name, (wsgi, envs) in targets.items():  # the first request of each: cold
            if len(envs) < 2:
                cold[name] = (float("nan"), float("nan"))
                continue
            queries.clear()
            status = {call(wsgi, envs[0])}
            cold[name] = (measure(wsgi, envs[1:]), queries["all"] / max(len(envs) - 1, 1))
            status |= {call(wsgi, env) for env in envs[:50]}
            assert status == {"200 OK"}, (name, status)

        drop = {  # what expires: the user's cached lists; the assembled similar listings
            "recommendations": lambda: svc.user_cache.invalidate(users),
            "similar": lambda: svc.lists.similar_lists._data.clear(),
        }
        pick = random.Random(1)
        chosen = {
            n: [pick.choice(e) for _ in range(args.requests)] for n, (_, e) in targets.items()
        }
        hit: dict[str, float] = {}
        miss: dict[str, float] = {}
        for _ in range(args.rounds):
            for name, (wsgi, envs) in targets.items():
                if name in drop:  # every list once after the drop, which fills it again
                    miss[name] = min(miss.get(name, 1e9), measure(wsgi, envs, drop[name]))
                hit[name] = min(hit.get(name, 1e9), measure(wsgi, chosen[name]))
        queries.clear()
        for name in ("recommendations", "similar"):
            measure(targets[name][0], chosen[name])
        hit_queries = queries["all"] / (2 * args.requests)
        hit_sql = Counter(queries)
        print(
            f"\nper request, in one process ({len(users)} users, {len(artists)} artists; "
            f"{len(active)} users with new events since the snapshot); CPU is the least over "
            f"{args.rounds} rounds; load average {os.getloadavg()[0]:.1f}"
        )
        head = ("hit CPU us", "calls", "miss CPU us", "cold CPU us", "cold SQL")
        print(f"{'':16} {head[0]:>10} {head[1]:>6} {head[2]:>11} {head[3]:>11} {head[4]:>8}")
        for name, (wsgi, _) in targets.items():
            calls = calls_per_request(wsgi, chosen[name][:300])
            print(
                f"{name:16} {hit[name]:10.0f} {calls:6.0f} {miss.get(name, float('nan')):11.0f}"
                f" {cold[name][0]:11.0f} {cold[name][1]:8.2f}"
            )
        print(f"SQL statements per request on hits (lists and similar): {hit_queries:.3f}")
        for text, n in hit_sql.most_common(6):
            if text != "all":
                print(f"  {n / (2 * args.requests):.3f} {text}")
        if args.profile:
            profile = cProfile.Profile()
            profile.enable()
            for env in chosen[args.profile]:
                call(targets[args.profile][0], env)
            profile.disable()
            pstats.Stats(profile).sort_stats("cumulative").print_stats(40)
        svc.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
