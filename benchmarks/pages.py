"""Server time of the listener's home page against the JSON list it is built around.

For the same users, times ``GET /users/<id>`` (both lists, tags, listener counts,
linked explanations, recent listening, stored thumbs and ratings, rendered by Jinja)
and ``GET /api/v1/users/<id>/recommendations`` in Flask's test client (no network, so
this is the server's own time), alternating the two, and prints p50/p99 side by side
and their ratio (also against the two API calls the page's two lists stand for).
Target: the page within 2x of the API.

Usage::

    python benchmarks/pages.py                           # simulates and trains a store
    python benchmarks/pages.py --db sqlite:///demo.sqlite --requests 3000

Without ``--db`` a store is simulated (``cratedig.simulator`` defaults: 1,000 users,
2,000 artists, 100k events) and trained with the default model in a temporary folder.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from serve_load import _ids, build_demo_store  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (nearest rank) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def time_requests(client: Any, urls: list[str]) -> list[float]:
    """Milliseconds per request, each checked to be a 200."""
    out = []
    for url in urls:
        start = time.perf_counter()
        response = client.get(url)
        out.append((time.perf_counter() - start) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{url}: HTTP {response.status_code}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", help="A trained store URL (default: build a demo store).")
    parser.add_argument("--requests", type=int, default=2000, help="Requests per endpoint.")
    parser.add_argument("--users", type=int, default=100, help="Distinct users cycled.")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    from cratedig.config import load_settings
    from cratedig.serving import create_app

    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or build_demo_store(Path(tmp))
        users, _artists = _ids(url)
        rng = random.Random(args.seed)
        chosen = rng.sample(users, min(args.users, len(users)))
        settings = load_settings(database_url=url, artifacts_dir=str(Path(tmp) / "artifacts"))
        app = create_app({"SETTINGS": settings})
        client = app.test_client()
        order = [chosen[i % len(chosen)] for i in range(args.requests)]
        pages = [f"/users/{u}" for u in order]
        api = [f"/api/v1/users/{u}/recommendations" for u in order]
        # warm up: every user once on each, so both read from warm caches
        time_requests(client, pages[: len(chosen)])
        time_requests(client, api[: len(chosen)])
        gems = [f"/api/v1/users/{u}/recommendations?list=hidden_gems" for u in order]
        time_requests(client, gems[: len(chosen)])
        page_ms: list[float] = []
        api_ms: list[float] = []
        gems_ms: list[float] = []
        step = 100
        for start in range(0, args.requests, step):  # alternate, so drift hits all
            page_ms += time_requests(client, pages[start : start + step])
            api_ms += time_requests(client, api[start : start + step])
            gems_ms += time_requests(client, gems[start : start + step])
        both_ms = [a + b for a, b in zip(api_ms, gems_ms, strict=True)]
        app.extensions["cratedig"].close()

    print(f"{args.requests} requests each over {len(chosen)} users ({url})")
    print(f"{'endpoint':<44} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8}")
    rows = [
        ("GET /users/<id> (page, both lists)", page_ms),
        ("GET /api/v1/users/<id>/recommendations", api_ms),
        ("  + ?list=hidden_gems (both lists, summed)", both_ms),
    ]
    for name, ms in rows:
        print(
            f"{name:<44} {percentile(ms, 50):8.2f} {percentile(ms, 99):8.2f}"
            f" {statistics.fmean(ms):8.2f}"
        )
    p50 = percentile(page_ms, 50) / percentile(api_ms, 50)
    p99 = percentile(page_ms, 99) / percentile(api_ms, 99)
    verdict = "within" if max(p50, p99) <= 2.0 else "NOT within"
    print(f"page / API: p50 {p50:.2f}x, p99 {p99:.2f}x ({verdict} the 2x target)")
    b50 = percentile(page_ms, 50) / percentile(both_ms, 50)
    b99 = percentile(page_ms, 99) / percentile(both_ms, 99)
    print(f"page / both API lists: p50 {b50:.2f}x, p99 {b99:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
