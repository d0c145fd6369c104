"""Collection-gap detection on the site simulator: an injected outage (a day with 5% of
its traffic, a day without ``follow_artist`` events) is flagged, nothing else is, and a
clean simulation is not flagged at all. Also the rule itself on small series."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from benchmarks.quality_false_alarms import (
    OUTAGE_DAY,
    VANISHED_DAY,
    first_day,
    inject_outage,
    simulate,
)
from click.testing import CliRunner
from sqlalchemy import Engine

from cratedig.analytics.gaps import DAY_MS, GapRules, detect, expected_range, volume_findings
from cratedig.cli import cli
from cratedig.store import make_engine
from cratedig.store.quality import findings


def _date(day: int) -> str:
    return datetime.fromtimestamp(day * DAY_MS / 1000, tz=UTC).strftime("%Y-%m-%d")


def flagged(found: list[dict], day0: int) -> set[tuple[int, str, str]]:
    return {(f["start_ms"] // DAY_MS - day0, f["check_name"], f["event_type"]) for f in found}


def check_outage(engine: Engine, day0: int) -> None:
    _, _, clean = detect(engine, since_ms=day0 * DAY_MS, until_ms=(day0 + 90) * DAY_MS)
    assert clean == []  # no false alarm on the clean site
    inject_outage(engine, day0 + OUTAGE_DAY, day0 + VANISHED_DAY)
    _, _, found = detect(engine, since_ms=day0 * DAY_MS, until_ms=(day0 + 90) * DAY_MS)
    hits = flagged(found, day0)
    assert {d for d, _, _ in hits} == {OUTAGE_DAY, VANISHED_DAY}
    assert (OUTAGE_DAY, "low_volume_day", "") in hits  # the whole day
    assert {(d, c, t) for d, c, t in hits if d == VANISHED_DAY} == {
        (VANISHED_DAY, "vanished_type", "follow_artist")
    }


def test_cli_check_flags_exactly_the_injected_outage(tmp_path: Path) -> None:
    engine = simulate(tmp_path / "site.sqlite", seed=1)
    day0 = first_day(engine)
    url = str(engine.url)
    inject_outage(engine, day0 + OUTAGE_DAY, day0 + VANISHED_DAY)
    engine.dispose()
    args = ["--db", url, "quality", "check", "--since", _date(day0), "--until", _date(day0 + 90)]
    out = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert out.exit_code == 0, out.output
    assert re.search(r"\d+ finding\(s\)", out.output)
    engine = make_engine(url)
    stored = findings(engine)
    hits = flagged(stored, day0)
    assert {d for d, _, _ in hits} == {OUTAGE_DAY, VANISHED_DAY}
    assert (VANISHED_DAY, "vanished_type", "follow_artist") in hits
    assert (OUTAGE_DAY, "low_volume_day", "") in hits
    assert not any(f["reviewed"] for f in stored)
    # checking again stores each finding once
    CliRunner().invoke(cli, args, catch_exceptions=False)
    assert len(findings(engine)) == len(stored)
    listing = CliRunner().invoke(cli, ["--db", url, "quality", "findings"])
    assert "vanished_type" in listing.output and "follow_artist" in listing.output
    engine.dispose()


@pytest.mark.slow
@pytest.mark.parametrize("seed", [2, 3, 4])
def test_outage_is_found_and_clean_sites_are_quiet(tmp_path: Path, seed: int) -> None:
    engine = simulate(tmp_path / "site.sqlite", seed=seed)
    check_outage(engine, first_day(engine))
    engine.dispose()


def test_expected_range_is_median_and_mad() -> None:
    history = np.array([100.0, 110.0, 90.0, 300.0])
    median, lower = expected_range(history, GapRules())
    assert median == 105.0
    mad = float(np.median(np.abs(history - 105.0)))
    assert lower == pytest.approx(105.0 - 4.0 * max(1.4826 * mad, 10.5, np.sqrt(105.0)))


def _daily(counts: dict[int, int], etype: str = "visit") -> pl.DataFrame:
    return pl.DataFrame(
        {"day": list(counts), "event_type": [etype] * len(counts), "n": list(counts.values())},
        schema={"day": pl.Int64, "event_type": pl.Utf8, "n": pl.Float64},
    )


def _none_hourly() -> pl.DataFrame:
    return pl.DataFrame(schema={"hour": pl.Int64, "n": pl.Float64})


def test_only_the_same_weekday_is_the_history() -> None:
    # weekends are quiet (10), weekdays busy (1000): a quiet Sunday is not a gap
    counts = {d: (10 if d % 7 in (5, 6) else 1000) for d in range(0, 35)}
    found = volume_findings(_daily(counts), _none_hourly(), 28, 34, GapRules(), 0)
    assert found == []
    counts[30] = 100  # a weekday at a tenth
    found = volume_findings(_daily(counts), _none_hourly(), 28, 34, GapRules(), 0)
    assert [(f["start_ms"] // DAY_MS, f["check_name"]) for f in found] == [
        (30, "low_volume_day"),
        (30, "low_volume_day"),
    ]  # overall and for the type


def test_too_little_history_or_volume_is_not_judged() -> None:
    counts = {d: 1000 for d in range(0, 35)}
    counts[16] = 0  # only two earlier weeks (days 2 and 9): not judged
    found = volume_findings(_daily(counts), _none_hourly(), 14, 20, GapRules(), 0)
    assert found == []
    small = {d: 5 for d in range(0, 35)}
    small[30] = 0  # a median of 5 a day: too small to tell
    assert volume_findings(_daily(small), _none_hourly(), 28, 34, GapRules(), 0) == []


def test_every_check_on_both_backends(engine: Engine) -> None:
    """A hand-made store: 35 days of 40 plays a day; day 30 has none, a play on day 31
    lasts longer than its track, and day 32 names an artist the catalogue never had."""
    from cratedig.analytics.gaps import run_checks
    from cratedig.ingest.bulk import import_records

    import_records(engine, "artists", [(1, {"artist_id": "a1", "name": "A"})], source="cat")
    track = {"track_id": "t1", "artist_id": "a1", "title": "T", "duration_ms": 200_000}
    import_records(engine, "tracks", [(1, track)], source="cat")
    day0 = 20_000
    rows = []
    for day in range(35):
        if day == 30:
            continue
        for i in range(40):
            rows.append(
                {
                    "event_id": f"e{day}-{i}",
                    "user_id": f"u{i}",
                    "event_type": "play_track",
                    "track_id": "t1",
                    "duration_ms": 900_000 if (day, i) == (31, 0) else 100_000,
                    "occurred_at_ms": (day0 + day) * DAY_MS + i * 1_800_000,
                }
            )
    rows.append(
        {
            "event_id": "ghost",
            "user_id": "u1",
            "event_type": "follow_artist",
            "artist_id": "never-in-the-catalogue",
            "occurred_at_ms": (day0 + 32) * DAY_MS + 5,
        }
    )
    import_records(engine, "events", enumerate(rows, start=1), source="test")
    lo, hi, stored = run_checks(engine, (day0 + 21) * DAY_MS, (day0 + 35) * DAY_MS)
    assert (lo, hi) == ((day0 + 21) * DAY_MS, (day0 + 35) * DAY_MS)
    got = {(f["start_ms"] // DAY_MS - day0, f["check_name"], f["event_type"]) for f in stored}
    assert got == {
        (30, "low_volume_day", ""),
        (30, "vanished_type", "play_track"),
        (31, "play_too_long", ""),
        (32, "unknown_catalogue", ""),
    }
    assert len(findings(engine)) == 4
    run_checks(engine, (day0 + 21) * DAY_MS, (day0 + 35) * DAY_MS)  # a rerun
    assert len(findings(engine)) == 4
