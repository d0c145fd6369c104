"""Per-user summaries and the ``user-profile`` / ``report`` CLI."""

from __future__ import annotations

import json
import sys

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine

from cratedig.analytics.profile import top_artists_for_user, user_profile
from cratedig.cli import cli, main
from cratedig.exceptions import NotFoundError
from cratedig.store import init_db, make_engine

from ._data import DAY, HOUR, MINUTE, MONDAY, artist, ev, load, user


def _profile_rows() -> list[dict]:
    t = MONDAY + 9 * HOUR
    return [
        ev("u1", t, "follow_artist", artist="a1"),  # 5
        ev("u1", t + MINUTE, artist="a2", duration_ms=200_000),  # full play: 1
        ev("u1", t + 2 * MINUTE, artist="a2", duration_ms=60_000),  # half a play: 0.5
        ev("u1", t + 3 * MINUTE, artist="a3", duration_ms=20_000),  # < 30 s: a skip, 0
        ev("u1", t + 4 * MINUTE, "like_track", artist="a3"),  # 2
        ev("u1", t + 5 * MINUTE, "follow_artist", artist="a4"),  # 5
        ev("u1", t + 6 * MINUTE, "unfollow_artist", artist="a4"),  # -5 -> 0, left out
        ev("u1", t + DAY, artist="a5", count=3),  # no duration: 3 full plays
        ev("u2", t + 2 * DAY, artist="a1"),  # another user; the store's last event
    ]


@pytest.fixture
def profile_store(engine: Engine) -> Engine:
    load(
        engine,
        _profile_rows(),
        users=[user("u1", country="SE", timezone="Europe/Stockholm", signup_at_ms=MONDAY)],
        artists=[artist("a1", "Alpha"), artist("a2", "Beta"), artist("a3"), artist("a5")],
    )
    return engine


def test_top_artists_by_engagement(profile_store: Engine) -> None:
    top = top_artists_for_user(profile_store, "u1")
    assert top.rows() == [
        ("a1", "Alpha", 5.0, 0),
        ("a5", "A5", 3.0, 3),
        ("a3", "A3", 2.0, 1),
        ("a2", "Beta", 1.5, 2),
    ]
    assert top_artists_for_user(profile_store, "u1", n=2)["artist_id"].to_list() == ["a1", "a5"]
    # custom weights: plays count 2 each
    custom = top_artists_for_user(profile_store, "u1", weights={"play_track": 2.0})
    assert dict(custom.select("artist_id", "engagement").iter_rows())["a5"] == 6.0


def test_user_profile(profile_store: Engine) -> None:
    p = user_profile(profile_store, "u1")
    assert p["country"] == "SE" and p["timezone"] == "Europe/Stockholm"
    assert p["signup_at"] == "2025-01-06T00:00:00Z"
    assert p["first_activity"] == "2025-01-06T09:00:00Z"
    assert p["last_activity"] == "2025-01-07T09:00:00Z"
    assert p["event_rows"] == 8
    assert p["events_by_type"] == {
        "follow_artist": 2,
        "like_track": 1,
        "play_track": 6,
        "unfollow_artist": 1,
    }
    # visits: 09:00-09:06 on Monday, 09:00 on Tuesday; observed until the store's
    # last event (Wednesday 09:00): 2 visits in 2 days.
    assert p["visits"]["visits"] == 2
    assert p["visits"]["active_days"] == 2
    assert p["visits"]["visits_per_day"] == pytest.approx(1.0)
    assert p["visits"]["segment"] == "occasional"
    assert [a["artist_id"] for a in p["top_artists"]] == ["a1", "a5", "a3", "a2"]


def test_unknown_user(profile_store: Engine) -> None:
    with pytest.raises(NotFoundError, match="nobody"):
        user_profile(profile_store, "nobody")


def test_user_without_times_of_day(engine: Engine) -> None:
    load(engine, [ev("h", MONDAY, count=40), ev("h", MONDAY, artist="a2", count=2)])
    p = user_profile(engine, "h")
    assert p["visits"] is None and "no time of day" in p["visits_note"]
    assert [a["engagement"] for a in p["top_artists"]] == [40.0, 2.0]


@pytest.fixture
def cli_db(tmp_path) -> str:
    url = f"sqlite:///{tmp_path / 'cli.sqlite'}"
    eng = make_engine(url)
    init_db(eng)
    load(eng, _profile_rows(), users=[user("u1", country="SE")], artists=[artist("a1", "Alpha")])
    eng.dispose()
    return url


def test_cli_help() -> None:
    runner = CliRunner()
    for command in ("report", "user-profile"):
        result = runner.invoke(cli, [command, "--help"])
        assert result.exit_code == 0, result.output
    assert "report.html" in runner.invoke(cli, ["report", "--help"]).output
    assert "USER_ID" in runner.invoke(cli, ["user-profile", "--help"]).output


def test_cli_user_profile(cli_db: str) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["--db", cli_db, "user-profile", "u1", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["top_artists"][0] == {
        "artist_id": "a1",
        "name": "Alpha",
        "engagement": 5.0,
        "plays": 0,
    }
    table = runner.invoke(cli, ["--db", cli_db, "user-profile", "u1", "--top", "2"])
    assert table.exit_code == 0, table.output
    assert "Alpha" in table.output and "Top artists" in table.output
    assert "occasional" in table.output


def test_cli_unknown_user_is_a_clear_error(
    cli_db: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["cratedig", "--db", cli_db, "user-profile", "nobody"])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    assert "user 'nobody' was not found" in capsys.readouterr().err
