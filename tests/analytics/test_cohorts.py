"""Retention cohorts by signup week, with the first-activity fallback."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import Engine

from cratedig.analytics.cohorts import retention

from ._data import DAY, MONDAY, ev, load, user


def test_retention_by_hand(engine: Engine) -> None:
    m = MONDAY  # 2025-01-06
    load(
        engine,
        users=[
            user("s1", signup_at_ms=m + DAY),
            user("s2", signup_at_ms=m + 3 * DAY),
            user("s3"),  # no signup: cohort from first activity (week of m + 7)
            user("s4", signup_at_ms=m + 7 * DAY),  # never active
            user("s5", signup_at_ms=m - 14 * DAY),  # signed up before the data begin
        ],
        events=[
            ev("s1", m + 2 * DAY),
            ev("s1", m + 15 * DAY),
            ev("s2", m + 8 * DAY),
            ev("s3", m + 7 * DAY),
            ev("s3", m + 14 * DAY),
            ev("s5", m + DAY),
        ],
    )
    result = retention(engine, max_weeks=5)
    assert result.users_by_signup == 4 and result.users_by_first_activity == 1
    cells = {
        (row["cohort_start"], row["week"]): (row["cohort_size"], row["active"], row["share"])
        for row in result.table.iter_rows(named=True)
    }
    jan6, jan13, dec23 = date(2025, 1, 6), date(2025, 1, 13), date(2024, 12, 23)
    # cohort of Jan 6 (s1, s2): s1 in week 0 and 2, s2 in week 1; week 3 is past the data
    assert cells[(jan6, 0)] == (2, 1, pytest.approx(0.5))
    assert cells[(jan6, 1)] == (2, 1, pytest.approx(0.5))
    assert cells[(jan6, 2)] == (2, 1, pytest.approx(0.5))
    assert cells[(jan6, 3)] == (2, None, None)
    # cohort of Jan 13 (s3 by first activity, s4 by signup)
    assert cells[(jan13, 0)] == (2, 1, pytest.approx(0.5))
    assert cells[(jan13, 1)] == (2, 1, pytest.approx(0.5))
    assert cells[(jan13, 2)] == (2, None, None)
    # cohort of Dec 23 (s5): weeks 0-1 are before the data (null), week 2 = Jan 6
    assert cells[(dec23, 0)] == (1, None, None)
    assert cells[(dec23, 1)] == (1, None, None)
    assert cells[(dec23, 2)] == (1, 1, pytest.approx(1.0))
    assert cells[(dec23, 3)] == (1, 0, pytest.approx(0.0))
    assert cells[(dec23, 4)] == (1, 0, pytest.approx(0.0))
    assert cells[(dec23, 5)] == (1, None, None)


def test_retention_empty(engine: Engine) -> None:
    result = retention(engine)
    assert result.table.height == 0
