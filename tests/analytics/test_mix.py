"""Event mix (respecting count), listening time, and weekly follow churn."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import Engine

from cratedig.analytics.mix import event_mix, follow_churn, listening_time

from ._data import DAY, HOUR, MONDAY, ev, load


def test_event_mix_and_listening_time(engine: Engine) -> None:
    t = MONDAY
    load(
        engine,
        [
            ev("u1", t, duration_ms=60_000, count=2),
            ev("u1", t + HOUR, duration_ms=180_000),
            ev("u2", t, count=4),  # no duration
            ev("u2", t, "like_track"),
            ev("u2", t, "visit"),
            ev("u3", t, "visit", count=0),  # stands for no event at all
        ],
    )
    mix = event_mix(engine)
    assert mix.select("event_type", "rows", "events").rows() == [
        ("play_track", 3, 7),
        ("like_track", 1, 1),
        ("visit", 2, 1),
    ]
    assert mix["share"].to_list() == pytest.approx([7 / 9, 1 / 9, 1 / 9])
    listening = listening_time(engine)
    assert listening == {
        "plays": 7,
        "plays_with_duration": 3,
        "plays_without_duration": 4,
        "listening_hours": pytest.approx(round(300_000 / 3_600_000, 3)),
    }


def test_empty_store(engine: Engine) -> None:
    assert event_mix(engine).height == 0
    assert listening_time(engine)["plays"] == 0
    assert follow_churn(engine).height == 0


def test_follow_churn_per_week(engine: Engine) -> None:
    t = MONDAY
    load(
        engine,
        [
            ev("u1", t + HOUR, "follow_artist"),
            ev("u2", t + 6 * DAY, "follow_artist", count=2),
            ev("u1", t + 2 * DAY, "unfollow_artist"),
            ev("u1", t + 14 * DAY, "unfollow_artist"),
            ev("u1", t + 14 * DAY, "like_track"),
        ],
    )
    churn = follow_churn(engine)
    assert churn.rows() == [
        (date(2025, 1, 6), 3, 1, 2),
        (date(2025, 1, 20), 0, 1, -1),
    ]
    assert follow_churn(engine, ["follow_artist"]).rows() == [(date(2025, 1, 6), 3, 0, 3)]
