"""Server time of the listener's home page against the JSON list it is built around.

For the same users, times ``GET /users/<id>`` (both lists, tags, listener counts,
linked explanations, recent listening, stored thumbs and ratings, rendered by Jinja)
and ``GET /api/v1/users/<id>/recommendations`` in Flask's test client (no network, so
this is the server's own time), alternating the two in blocks of 100 requests, and
prints p50/p99 side by side and their ratio (also against the two API calls the
page's two lists stand for). Target: the page within 2x of the API.

Three rounds, so that every cache is accounted for:

* **warm** (the target): every user was served once on each endpoint, so the API
  reads its list from the per-user cache and the page is the worker's cached render
  (``serving/page_home.py``) with fresh list ids and token put in;
* **first render**: before each page request the rendered-page cache is emptied (the
  lists, the listener's own part and the artist cards stay cached): the page as it
  is rendered once per listener state, against the same warm API;
* **cold user**: before each request (page and API alike) the user's per-user cache
  entry is dropped, as a posted event or thumb drops it: the API recomputes its list,
  the page both lists, the listener's own part (from the store) and the render.

Besides wall time, each row gives the median CPU time of the request's thread
(``time.thread_time``); the run's CPU seconds (user+sys, ``getrusage``) and the load
average are printed at the end, since the machine may be shared.

Usage::

    python benchmarks/pages.py                           # simulates and trains a store
    python benchmarks/pages.py --db sqlite:///demo.sqlite --requests 3000
    python benchmarks/pages.py --redis-url redis://127.0.0.1:6379/14   # shared cache

Without ``--db`` a store is simulated (``cratedig.simulator`` defaults: 1,000 users,
2,000 artists, 100k events) and trained with the default model in a temporary folder.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from serve_load import _ids, build_demo_store  # noqa: E402

#: Requests per endpoint in a block before switching to the other endpoint.
STEP = 100


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (nearest rank) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


class Timings:
    """Wall and thread-CPU milliseconds of one endpoint's requests."""

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def row(self, name: str) -> str:
        w = self.wall
        return (
            f"{name:<46} {percentile(w, 50):8.2f} {percentile(w, 99):8.2f}"
            f" {statistics.fmean(w):8.2f} {percentile(self.cpu, 50):8.2f}"
        )


def time_requests(
    client: Any,
    urls: list[str],
    out: Timings,
    before: Callable[[str], None] | None = None,
) -> None:
    """Time each request (checked to be a 200); ``before(url)`` runs untimed first."""
    for url in urls:
        if before is not None:
            before(url)
        cpu = time.thread_time()
        start = time.perf_counter()
        response = client.get(url)
        out.wall.append((time.perf_counter() - start) * 1000)
        out.cpu.append((time.thread_time() - cpu) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{url}: HTTP {response.status_code}")


def user_of(url: str) -> str:
    """The user id of a ``/users/<id>`` or ``/api/v1/users/<id>/...`` URL."""
    return url.split("/users/", 1)[1].split("/recommendations", 1)[0]


def run_round(
    client: Any,
    urls: dict[str, list[str]],
    before: dict[str, Callable[[str], None] | None],
) -> dict[str, Timings]:
    """Alternate the endpoints in blocks of :data:`STEP`, so drift hits all alike."""
    out = {name: Timings() for name in urls}
    n = len(next(iter(urls.values())))
    for start in range(0, n, STEP):
        for name, some in urls.items():
            time_requests(client, some[start : start + STEP], out[name], before.get(name))
    return out


def report(title: str, page: Timings, api: Timings, both: Timings | None = None) -> None:
    """Print one round's rows and ratios."""
    print(f"\n{title}")
    print(f"{'endpoint':<46} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8} {'cpu p50':>8}")
    print(page.row("GET /users/<id> (page, both lists)"))
    print(api.row("GET /api/v1/users/<id>/recommendations"))
    if both is not None:
        print(both.row("  + ?list=hidden_gems (both lists, summed)"))
    p50 = percentile(page.wall, 50) / percentile(api.wall, 50)
    p99 = percentile(page.wall, 99) / percentile(api.wall, 99)
    cpu = percentile(page.cpu, 50) / percentile(api.cpu, 50)
    verdict = "within" if max(p50, p99) <= 2.0 else "NOT within"
    print(f"page / API: p50 {p50:.2f}x, p99 {p99:.2f}x, cpu p50 {cpu:.2f}x ({verdict} 2x)")
    if both is not None:
        b50 = percentile(page.wall, 50) / percentile(both.wall, 50)
        b99 = percentile(page.wall, 99) / percentile(both.wall, 99)
        print(f"page / both API lists: p50 {b50:.2f}x, p99 {b99:.2f}x")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", help="A trained store URL (default: build a demo store).")
    parser.add_argument("--requests", type=int, default=2000, help="Requests per endpoint.")
    parser.add_argument("--cold-requests", type=int, default=500, help="... in the cold rounds.")
    parser.add_argument("--users", type=int, default=100, help="Distinct users cycled.")
    parser.add_argument("--redis-url", help="Keep the per-user cache in Redis (shared).")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    from cratedig.config import load_settings
    from cratedig.serving import create_app
    from cratedig.serving.page_views import reads

    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or build_demo_store(Path(tmp))
        users, _artists = _ids(url)
        rng = random.Random(args.seed)
        chosen = rng.sample(users, min(args.users, len(users)))
        settings = load_settings(
            database_url=url, artifacts_dir=str(Path(tmp) / "artifacts"), redis_url=args.redis_url
        )
        app = create_app({"SETTINGS": settings})
        client = app.test_client()
        svc = app.extensions["cratedig"]
        rendered = reads(app).bodies

        def urls(n: int) -> dict[str, list[str]]:
            order = [chosen[i % len(chosen)] for i in range(n)]
            return {
                "page": [f"/users/{u}" for u in order],
                "api": [f"/api/v1/users/{u}/recommendations" for u in order],
                "gems": [f"/api/v1/users/{u}/recommendations?list=hidden_gems" for u in order],
            }

        def forget_render(_url: str) -> None:
            rendered.clear()

        def forget_user(url: str) -> None:
            svc.user_cache.invalidate([user_of(url)])

        cpu0 = sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
        start = time.perf_counter()
        # warm up: every user once on each endpoint, so all read from warm caches
        run_round(client, urls(len(chosen)), {})
        warm = run_round(client, urls(args.requests), {})
        some = urls(args.cold_requests)
        pair = {"page": some["page"], "api": some["api"]}
        first = run_round(client, pair, {"page": forget_render})
        cold = run_round(client, pair, {"page": forget_user, "api": forget_user})
        elapsed = time.perf_counter() - start
        cpu = sum(resource.getrusage(resource.RUSAGE_SELF)[:2]) - cpu0
        svc.close()

    cache = f"per-user cache in Redis ({args.redis_url})" if args.redis_url else "in process"
    print(f"{len(chosen)} users cycled ({url}); {cache}")
    report(f"warm: {args.requests} requests each", warm["page"], warm["api"], _summed(warm))
    report(
        f"first render (rendered-page cache emptied before each page): {args.cold_requests} each",
        first["page"],
        first["api"],
    )
    report(
        f"cold user (user's cache entry dropped before each request): {args.cold_requests} each",
        cold["page"],
        cold["api"],
    )
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\nrun: {elapsed:.1f} s wall, {cpu:.1f} CPU s (user+sys); load average {load}")
    return 0


def _summed(timings: dict[str, Timings]) -> Timings:
    both = Timings()
    both.wall = [a + b for a, b in zip(timings["api"].wall, timings["gems"].wall, strict=True)]
    both.cpu = [a + b for a, b in zip(timings["api"].cpu, timings["gems"].cpu, strict=True)]
    return both


if __name__ == "__main__":
    raise SystemExit(main())
