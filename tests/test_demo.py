"""The demo runs end to end on a tiny simulated site."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import polars as pl
from rich.console import Console

from cratedig.demo import DB_NAME, STEPS, TRUTH_NAME, parse_args, run


def test_demo_simulates_stores_and_describes_a_tiny_site(tmp_path: Path) -> None:
    args = parse_args(
        [
            "--dir",
            str(tmp_path),
            "--users",
            "50",
            "--artists",
            "60",
            "--events",
            "2000",
            "--no-serve",
        ]
    )
    buffer = StringIO()
    state = run(args, Console(file=buffer, width=120))
    assert [name for name, _ in STEPS] == ["simulate", "describe", "train", "evaluate", "serve"]
    assert (tmp_path / DB_NAME).exists()
    truth = pl.read_parquet(tmp_path / TRUTH_NAME)
    assert truth["affinity"].is_between(0, 1).all()
    counts = state.results["simulate"]
    info = state.results["describe"]
    assert info["tables"] == {
        "users": 50,
        "artists": 60,
        "artist_tags": counts["artist_tags"],
        "tracks": counts["tracks"],
        "user_events": counts["user_events"],
    }
    assert sum(n for _, n in info["event_mix"]) == counts["user_events"]
    assert 1_600 < counts["user_events"] < 2_400
    plays = dict(info["event_mix"])["play_track"]
    top = info["top_artists"]
    assert 0 < len(top) <= 10
    assert [p for _, _, p in top] == sorted((p for _, _, p in top), reverse=True)
    assert sum(p for _, _, p in top) <= plays
    text = buffer.getvalue()
    for heading in ("Store contents", "Event mix", "Most played artists", "Events from 2025-01-06"):
        assert heading in text
    version = state.results["train"]
    assert version.active and "ndcg@10" in {k.lower() for k in version.metrics}
    assert "Holdout metrics" in text and version.version_id in text
    assert "Not serving (--no-serve)." in text
    # running again starts from a fresh store, not on top of the old one
    again = run(args, Console(file=StringIO()))
    assert again.results["describe"]["tables"] == info["tables"]


def test_demo_defaults_match_the_documented_size() -> None:
    args = parse_args([])
    assert (args.dir, args.users, args.artists, args.events) == ("demo-data", 2000, 3000, 300000)
