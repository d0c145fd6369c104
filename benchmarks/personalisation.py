"""Does a user's list follow them between retrains? Follows of a new genre, measured.

For each of ``--genres`` genres (the simulator's genre names, stored as artist tags)
and ``--users`` users whose history holds no artist of that genre, the user follows the
genre's 3 most-listened artists through the real API (``POST /api/v1/events`` on the
Flask test client of the served app, after the version's snapshot, no retrain), then
asks for ``GET /api/v1/users/<id>/recommendations?k=10``. It prints, per genre and
overall, the mean number of that genre's artists in the top 10 (target >= 5), and the
share of those items whose explanation names at least one of the new follows (and
none that the user did not follow recently).

Usage::

    python benchmarks/personalisation.py --dir /tmp/demo       # a demo folder
    python benchmarks/personalisation.py --db sqlite:///x.sqlite --artifacts dir

The store must hold a served version trained with artifacts (``cratedig.demo`` or
``cratedig train``). Each user is used once (their follows stay in the store), so run
it on a copy if the store matters.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select

API_KEY = "bench-personalisation-key"


@dataclass
class Case:
    """One user following three artists of a genre new to them."""

    user_id: str
    genre: str
    follows: list[str]


def genre_cases(engine: Engine, n_genres: int, n_users: int, seed: int = 0) -> list[Case]:
    """``n_users`` distinct users per genre (the ``n_genres`` genres with most artists),
    each with no artist of that genre in their history, and the genre's top 3 artists."""
    from cratedig.simulator.vocab import GENRES
    from cratedig.store.schema import artist_tags, user_events

    names = [g.name for g in GENRES]
    with engine.connect() as conn:
        tagged: dict[str, set[str]] = {}
        rows = conn.execute(
            select(artist_tags.c.tag, artist_tags.c.artist_id).where(artist_tags.c.tag.in_(names))
        )
        for tag, artist in rows:
            tagged.setdefault(str(tag), set()).add(str(artist))
        listeners = dict(
            conn.execute(
                select(user_events.c.artist_id, func.count(func.distinct(user_events.c.user_id)))
                .where(user_events.c.artist_id.is_not(None))
                .group_by(user_events.c.artist_id)
            ).all()
        )
        history: dict[str, set[str]] = {}
        for user, artist in conn.execute(
            select(user_events.c.user_id, user_events.c.artist_id)
            .where(user_events.c.artist_id.is_not(None))
            .distinct()
        ):
            history.setdefault(str(user), set()).add(str(artist))
    genres = sorted(tagged, key=lambda g: -len(tagged[g]))[:n_genres]
    rng = random.Random(seed)
    used: set[str] = set()
    cases = []
    for genre in genres:
        top = sorted(tagged[genre], key=lambda a: (-listeners.get(a, 0), a))[:3]
        pool = sorted(
            u for u, arts in history.items() if not arts & tagged[genre] and u not in used
        )
        rng.shuffle(pool)
        for user in pool[:n_users]:
            used.add(user)
            cases.append(Case(user, genre, top))
    return cases


def measure(client: Any, engine: Engine, cases: list[Case], k: int = 10) -> dict[str, Any]:
    """Follow, then read the list, for every case; the figures per genre and overall."""
    from cratedig.store.schema import artist_tags

    with engine.connect() as conn:
        genre_of: dict[str, set[str]] = {}
        for artist, tag in conn.execute(select(artist_tags.c.artist_id, artist_tags.c.tag)):
            genre_of.setdefault(str(artist), set()).add(str(tag))
    headers = {"X-API-Key": API_KEY}
    per_genre: dict[str, list[int]] = {}
    explained, in_genre_items, personalised, seconds = 0, 0, 0, []
    now_ms = int(time.time() * 1000)
    for n, case in enumerate(cases):
        names = {}
        for i, artist in enumerate(case.follows):
            r = client.post(
                "/api/v1/events",
                headers=headers,
                json={
                    "event_id": f"bench-follow-{case.user_id}-{artist}",
                    "user_id": case.user_id,
                    "event_type": "follow_artist",
                    "artist_id": artist,
                    "occurred_at": now_ms + n * 10 + i,
                },
            )
            if r.status_code != 201:
                raise SystemExit(f"posting a follow failed: {r.status_code} {r.get_data()!r}")
            info = client.get(f"/api/v1/artists/{artist}").get_json() or {}
            names[artist] = info.get("name") or artist
        started = time.perf_counter()
        body = client.get(f"/api/v1/users/{case.user_id}/recommendations?k={k}").get_json()
        seconds.append(time.perf_counter() - started)
        personalised += bool(body.get("personalised"))
        hits = [i for i in body["items"] if case.genre in genre_of.get(i["artist_id"], set())]
        per_genre.setdefault(case.genre, []).append(len(hits))
        for item in hits:
            in_genre_items += 1
            text = item["explanation"]
            explained += any(name in text for name in names.values())
    counts = [c for values in per_genre.values() for c in values]
    return {
        "cases": len(cases),
        "mean_in_genre": statistics.fmean(counts) if counts else float("nan"),
        "per_genre": {g: statistics.fmean(v) for g, v in per_genre.items()},
        "explained_share": explained / in_genre_items if in_genre_items else float("nan"),
        "personalised_share": personalised / len(cases) if cases else float("nan"),
        "median_request_ms": 1000 * statistics.median(seconds) if seconds else float("nan"),
    }


def make_client(db_url: str, artifacts: str) -> tuple[Any, Any, Engine]:
    """A Flask test client of the real app on the store (and the app, to close it)."""
    from cratedig.config import Settings
    from cratedig.serving import create_app
    from cratedig.store import make_engine

    engine = make_engine(db_url)
    settings = Settings(database_url=db_url, api_keys=(API_KEY,), artifacts_dir=artifacts)
    app = create_app({"ENGINE": engine, "SETTINGS": settings, "TESTING": True})
    return app.test_client(), app, engine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", help="A cratedig.demo folder (cratedig.sqlite, artifacts/).")
    parser.add_argument("--db", help="Database URL (instead of --dir).")
    parser.add_argument("--artifacts", default="artifacts", help="Artifacts folder (with --db).")
    parser.add_argument("--genres", type=int, default=6, help="Genres measured.")
    parser.add_argument("--users", type=int, default=40, help="Users per genre.")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.dir:
        folder = Path(args.dir).resolve()
        db_url, artifacts = f"sqlite:///{folder / 'cratedig.sqlite'}", str(folder / "artifacts")
    elif args.db:
        db_url, artifacts = args.db, args.artifacts
    else:
        parser.error("give --dir or --db")
    client, app, engine = make_client(db_url, artifacts)
    try:
        cases = genre_cases(engine, args.genres, args.users, args.seed)
        result = measure(client, engine, cases)
    finally:
        app.extensions["cratedig"].close()
    print(f"cases (users x genres): {result['cases']}")
    for genre, mean in result["per_genre"].items():
        print(f"  {genre:<14} mean artists of the genre in the top 10: {mean:.2f}")
    print(
        f"mean artists of the new genre in the top 10: {result['mean_in_genre']:.2f} (target >= 5)"
    )
    print(f"lists personalised: {result['personalised_share']:.0%}")
    print(f"in-genre items whose explanation names a new follow: {result['explained_share']:.0%}")
    print(f"median recommendation request after the follows: {result['median_request_ms']:.1f} ms")


if __name__ == "__main__":
    main()
