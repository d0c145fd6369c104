"""Visits (idle-gap splitting and explicit visit events), rates and segments."""

from __future__ import annotations

import polars as pl
import pytest
from sqlalchemy import Engine

from cratedig.analytics.visits import (
    SegmentRules,
    analyse_visits,
    visit_frequency,
    visits_frame,
    visits_per_user_day,
    visits_per_user_week,
)
from cratedig.exceptions import ValidationError

from ._data import DAY, HOUR, MINUTE, MONDAY, ev, load


def _by_user(frame: pl.DataFrame) -> dict[str, list[tuple[int, int, int]]]:
    out: dict[str, list[tuple[int, int, int]]] = {}
    for row in frame.iter_rows(named=True):
        out.setdefault(row["user_id"], []).append(
            (row["start_ms"] - MONDAY, row["end_ms"] - MONDAY, row["n_events"])
        )
    return out


@pytest.fixture
def sessions_store(engine: Engine) -> Engine:
    t = MONDAY
    load(
        engine,
        [
            # u1: 0 and 10 min together; 45 min is 35 min later (> 30) -> new visit;
            # an explicit visit at 50 min starts one more, and the play at the same
            # millisecond belongs to it; 3 h 50 later -> new visit. 4 visits.
            ev("u1", t),
            ev("u1", t + 10 * MINUTE),
            ev("u1", t + 45 * MINUTE),
            ev("u1", t + 50 * MINUTE, "play_track"),
            ev("u1", t + 50 * MINUTE, "visit"),
            ev("u1", t + 230 * MINUTE),
            # u2: a visit event splits even after only 20 minutes. 2 visits.
            ev("u2", t, "visit"),
            ev("u2", t + 5 * MINUTE),
            ev("u2", t + 20 * MINUTE, "visit"),
            # u3: exactly 30 minutes is not "more than" the gap; 30 min + 1 ms is.
            ev("u3", t),
            ev("u3", t + 30 * MINUTE),
            ev("u3", t + 60 * MINUTE + 1),
            # u4: a visit after an idle gap starts one visit, not two. 2 visits.
            ev("u4", t),
            ev("u4", t + 2 * HOUR, "visit"),
            ev("u4", t + 2 * HOUR + MINUTE),
        ],
    )
    return engine


def test_idle_gap_and_visit_events_split_visits(sessions_store: Engine) -> None:
    got = _by_user(visits_frame(sessions_store, gap_minutes=30))
    assert got["u1"] == [
        (0, 10 * MINUTE, 2),
        (45 * MINUTE, 45 * MINUTE, 1),
        (50 * MINUTE, 50 * MINUTE, 2),
        (230 * MINUTE, 230 * MINUTE, 1),
    ]
    assert got["u2"] == [(0, 5 * MINUTE, 2), (20 * MINUTE, 20 * MINUTE, 1)]
    assert got["u3"] == [(0, 30 * MINUTE, 2), (60 * MINUTE + 1, 60 * MINUTE + 1, 1)]
    assert got["u4"] == [(0, 0, 1), (2 * HOUR, 2 * HOUR + MINUTE, 2)]


def test_longer_gap_merges_but_visit_events_still_split(sessions_store: Engine) -> None:
    got = _by_user(visits_frame(sessions_store, gap_minutes=60))
    # 0, 10, 45 merge; the visit at 50 still starts a new one; 230 is 180 min later.
    assert [n for _, _, n in got["u1"]] == [3, 2, 1]
    assert len(got["u3"]) == 1
    one = visits_frame(sessions_store, gap_minutes=60, user_id="u2")
    assert one["user_id"].to_list() == ["u2", "u2"]


def test_gap_must_be_positive(sessions_store: Engine) -> None:
    with pytest.raises(ValidationError, match="gap_minutes"):
        visits_frame(sessions_store, gap_minutes=0)


def test_visits_per_day_and_week(engine: Engine) -> None:
    t = MONDAY
    load(
        engine,
        [
            ev("u1", t + 1 * HOUR),
            ev("u1", t + 5 * HOUR),  # second visit on Monday
            ev("u1", t + DAY + HOUR),  # Tuesday
            ev("u1", t + 7 * DAY + HOUR),  # next Monday, next week
            ev("u1", t - HOUR),  # Sunday 23:00: the week before
        ],
    )
    visits = visits_frame(engine)
    day0 = MONDAY // DAY
    per_day = visits_per_user_day(visits)
    assert per_day.select("day", "visits").rows() == [
        (day0 - 1, 1),
        (day0, 2),
        (day0 + 1, 1),
        (day0 + 7, 1),
    ]
    per_week = visits_per_user_week(visits)
    assert per_week["visits"].to_list() == [1, 3, 1]
    weeks = per_week["week"].to_list()
    assert weeks[1] - weeks[0] == 1 and weeks[2] - weeks[1] == 1


@pytest.fixture
def segment_store(engine: Engine) -> tuple[Engine, int]:
    noon = MONDAY + 100 * DAY + 12 * HOUR
    rows = [ev("z", noon)]  # the last event: as_of
    rows += [ev("d", noon - k * DAY) for k in range(20)]  # 20 days in the window
    rows += [ev("w", noon - k * DAY) for k in (1, 8, 15)]  # 3 of the 4 weeks
    rows += [ev("o", noon - k * DAY) for k in (2, 3)]  # one week only
    rows += [ev("l", noon - 40 * DAY)]  # nothing in the window
    rows += [ev("e", noon - 28 * DAY)]  # the window's start is excluded
    load(engine, rows)
    return engine, noon


def test_segments(segment_store: tuple[Engine, int]) -> None:
    engine, noon = segment_store
    result = analyse_visits(engine)
    assert result.summary["as_of_ms"] == noon
    assert result.summary["segments"] == {"daily": 1, "weekly": 1, "occasional": 2, "lapsed": 2}
    seg = dict(result.segments.select("user_id", "segment").iter_rows())
    assert seg == {
        "d": "daily",
        "w": "weekly",
        "o": "occasional",
        "z": "occasional",
        "l": "lapsed",
        "e": "lapsed",
    }
    assert result.summary["visits_per_active_day_counts"] == {1: 28}
    assert result.summary["visits"] == 28
    days = dict(result.segments.select("user_id", "days_in_window").iter_rows())
    assert days["d"] == 20 and days["w"] == 3 and days["e"] == 0
    # Stricter rules move d to weekly (it visited in 3 of the 4 weeks).
    strict = analyse_visits(engine, rules=SegmentRules(daily_min_days=21))
    assert strict.summary["segments"]["daily"] == 0
    assert strict.summary["segments"]["weekly"] == 2


def test_visit_frequency(segment_store: tuple[Engine, int]) -> None:
    engine, noon = segment_store
    freq = visit_frequency(visits_frame(engine), noon)
    rows = {r["user_id"]: r for r in freq.iter_rows(named=True)}
    # o: 2 visits over 3 days observed -> 2/3 a day; a week at least -> 2 a week.
    assert rows["o"]["visits"] == 2
    assert rows["o"]["visits_per_day"] == pytest.approx(2 / 3)
    assert rows["o"]["visits_per_week"] == pytest.approx(2.0)
    # d: 20 visits over 19 days -> 20/19 a day, 140/19 a week.
    assert rows["d"]["active_days"] == 20
    assert rows["d"]["visits_per_day"] == pytest.approx(20 / 19)
    assert rows["d"]["visits_per_week"] == pytest.approx(140 / 19)


def test_segment_rules_validate() -> None:
    with pytest.raises(ValidationError, match="window_days"):
        SegmentRules(window_days=10)
