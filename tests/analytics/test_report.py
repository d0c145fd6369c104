"""The report: files, a self-contained HTML, summary figures, and adapting to the data."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine

from cratedig.analytics.report import build_report
from cratedig.cli import cli
from cratedig.store import init_db, make_engine

from ._data import DAY, HOUR, MINUTE, MONDAY, artist, ev, load, user

SITE_PLOTS = {
    "event_mix.png",
    "active_users.png",
    "visits_per_week.png",
    "segments.png",
    "heatmap.png",
    "top_artists.png",
    "lorenz.png",
    "follow_churn.png",
    "retention.png",
}


def _site_rows() -> tuple[list[dict], list[dict], list[dict]]:
    users = [
        user("u1", country="FR", timezone="Europe/Paris", signup_at_ms=MONDAY),
        user("u2", country="FR", timezone="Europe/Paris", signup_at_ms=MONDAY + DAY),
        user("u3", country="JP", timezone="Asia/Tokyo"),
    ]
    artists = [artist(f"a{i}", f"Artist {i}") for i in range(5)]
    events = []
    for week in range(3):
        base = MONDAY + week * 7 * DAY + 18 * HOUR  # 18:00 UTC = 19:00 in Paris (winter)
        events += [
            ev("u1", base, artist="a0", duration_ms=180_000),
            ev("u1", base + 5 * MINUTE, artist="a1", duration_ms=180_000),
            ev("u2", base + DAY, artist="a0", duration_ms=90_000),
        ]
    events += [
        ev("u3", MONDAY + 2 * DAY, artist="a2", duration_ms=120_000, count=2),  # 09:00 Tokyo
        ev("u1", MONDAY + HOUR, "visit"),
        ev("u1", MONDAY + 2 * HOUR, "follow_artist", artist="a0"),
        ev("u2", MONDAY + 9 * DAY + 3 * HOUR, "follow_artist", artist="a1"),
        ev("u2", MONDAY + 10 * DAY + 3 * HOUR, "unfollow_artist", artist="a1"),
    ]
    return events, users, artists


def test_report_on_a_small_site(engine: Engine, tmp_path: Path) -> None:
    events, users, artists = _site_rows()
    load(engine, events, users, artists)
    out = tmp_path / "report"
    summary = build_report(engine, out)
    files = {p.name for p in out.iterdir()}
    assert files >= SITE_PLOTS and {"report.html", "summary.json"} <= files
    assert set(summary["plots"]) == SITE_PLOTS
    for name in SITE_PLOTS:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    html = (out / "report.html").read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html, re.I)
    assert "<link" not in html and "<script" not in html
    assert html.count('src="data:image/png;base64,') == len(SITE_PLOTS)

    on_disk = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert on_disk["event_mix"]["play_track"] == {"rows": 10, "events": 11}
    assert on_disk["listening"]["listening_hours"] == pytest.approx(
        round((6 * 180_000 + 3 * 90_000 + 2 * 120_000) / 3_600_000, 3)
    )
    # plays: a0 6, a1 3, a2 2, a3 0, a4 0 -> sum 11; top 20% of 5 = 1 artist
    tail = on_disk["long_tail"]
    assert tail["top20pct_share_of_plays"] == pytest.approx(6 / 11, abs=1e-6)
    # ascending [0, 0, 2, 3, 6]: 2 * (3*2 + 4*3 + 5*6) / (5 * 11) - 6/5
    assert tail["gini_plays"] == pytest.approx(2 * 48 / 55 - 1.2, abs=1e-6)
    cells = on_disk["heatmap"]["cells"]
    assert cells[0][19] == 6  # Monday 19:00 in Paris: u1's two plays, 3 weeks
    assert cells[1][19] == 3  # Tuesday 19:00 in Paris: u2's play, 3 weeks
    assert cells[2][9] == 2  # Wednesday 09:00 Tokyo, count 2
    assert on_disk["follow_churn"]["follows"] == 2 and on_disk["follow_churn"]["unfollows"] == 1
    # u1: the visit at 01:00, the follow at 02:00 (an hour later), 3 weekly evenings;
    # u2: 3 weekly Tuesdays, the follow and the unfollow on days of their own; u3: 1.
    assert on_disk["visits"]["visits"] == 5 + 5 + 1
    assert on_disk["cannot_show"] == []
    assert on_disk["retention"]["users_by_first_activity"] == 1


def test_report_adapts_to_aggregated_data(sqlite_url: str, tmp_path: Path) -> None:
    engine = make_engine(sqlite_url)
    init_db(engine)
    crawl = MONDAY  # every aggregated play has this one timestamp
    rows = [
        ev(f"h{u}", crawl, artist=f"a{a}", count=10 * (a + 1)) for u in range(3) for a in range(3)
    ]
    months = [MONDAY - 5 * DAY, MONDAY - 36 * DAY, MONDAY - 64 * DAY]  # 1 Jan, 1 Dec, 3 Nov
    months = [m - m % DAY for m in months]
    rows += [ev("h0", months[0], "tag_artist"), ev("h1", months[1], "tag_artist")]
    rows += [ev("h2", months[1], "tag_artist", artist="a2")]
    load(engine, rows, users=[user(f"h{u}") for u in range(3)])
    out = tmp_path / "agg"
    summary = build_report(engine, out)
    assert summary["coverage"]["resolution"] == {"play_track": "none", "tag_artist": "month"}
    assert summary["visits"] is None and summary["heatmap"] is None
    assert set(summary["plots"]) == {
        "event_mix.png",
        "active_users.png",
        "top_artists.png",
        "lorenz.png",
    }
    assert not (out / "heatmap.png").exists()
    notes = " ".join(summary["cannot_show"])
    assert "aggregated counts" in notes and "time of day" in notes and "country" in notes
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "What this data cannot show" in html and "aggregated counts" in html
    months_seen = summary["active_users"]["monthly_active_users"]["months_with_activity"]
    assert months_seen == 2
    assert summary["long_tail"]["plays"] == 3 * (10 + 20 + 30)
    engine.dispose()


def test_report_cli(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.sqlite'}"
    engine = make_engine(url)
    init_db(engine)
    load(engine, [ev("u1", MONDAY + HOUR, duration_ms=60_000), ev("u2", MONDAY + 2 * HOUR)])
    engine.dispose()
    out = tmp_path / "out"
    args = ["--db", url, "report", "--out", str(out), "--quiet", "--gap-minutes", "45"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert result.output.strip() == str(out / "report.html")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["gap_minutes"] == 45.0 and summary["visits"]["visits"] == 2
    assert (out / "report.html").is_file()


def test_report_on_an_empty_store(sqlite_url: str, tmp_path: Path) -> None:
    engine = make_engine(sqlite_url)
    init_db(engine)
    summary = build_report(engine, tmp_path / "empty")
    assert summary["plots"] == []
    assert summary["cannot_show"] == ["The store holds no events: there is nothing to analyse."]
    assert (tmp_path / "empty" / "report.html").is_file()
    engine.dispose()
