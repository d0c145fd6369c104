"""Active users per day/week/month, the local-time heat map, and the SQL buckets."""

from __future__ import annotations

from datetime import date

import polars as pl
from sqlalchemy import Engine, select

from cratedig.analytics._sql import day_index, events, week_index, week_start_ms
from cratedig.analytics.activity import (
    daily_active_users,
    heatmap_matrix,
    listening_heatmap,
    monthly_active_users,
    trim_outlier_days,
    user_days,
    weekly_active_users,
)

from ._data import DAY, HOUR, MINUTE, MONDAY, ev, load, user


def test_buckets_floor_negative_times(engine: Engine) -> None:
    times = [-1, 0, DAY - 1, DAY, -DAY, -DAY - 1, MONDAY, MONDAY - 1]
    load(engine, [ev("u", t) for t in times])
    stmt = select(
        events.c.occurred_at_ms,
        day_index(events.c.occurred_at_ms),
        week_index(events.c.occurred_at_ms),
    ).order_by(events.c.occurred_at_ms)
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    got = {int(t): (int(d), int(w)) for t, d, w in rows}
    assert got[-1][0] == -1 and got[0][0] == 0 and got[DAY - 1][0] == 0
    assert got[-DAY][0] == -1 and got[-DAY - 1][0] == -2
    # MONDAY starts a week; a millisecond earlier is the week before.
    assert week_start_ms(got[MONDAY][1]) == MONDAY
    assert got[MONDAY - 1][1] == got[MONDAY][1] - 1
    # 1970-01-01 (Thursday) is in the week that starts on Monday 1969-12-29.
    assert week_start_ms(got[0][1]) == -3 * DAY


def test_daily_weekly_monthly_active_users(engine: Engine) -> None:
    t = MONDAY  # 2025-01-06
    load(
        engine,
        [
            ev("u1", t + HOUR),
            ev("u1", t + DAY + HOUR),
            ev("u2", t + DAY + 2 * HOUR),
            ev("u2", t + DAY + 3 * HOUR, "like_track"),
            ev("u3", t + 7 * DAY + HOUR),
            ev("u4", t - DAY),  # Sunday 2025-01-05: the week before
            ev("u5", t + 2 * DAY, "follow_artist"),  # filtered out below
        ],
    )
    days = user_days(engine, ["play_track", "like_track"])
    daily = daily_active_users(days)
    assert daily.rows() == [
        (date(2025, 1, 5), 1),
        (date(2025, 1, 6), 1),
        (date(2025, 1, 7), 2),
        (date(2025, 1, 13), 1),
    ]
    assert weekly_active_users(days).rows() == [
        (date(2024, 12, 30), 1),
        (date(2025, 1, 6), 2),
        (date(2025, 1, 13), 1),
    ]
    assert monthly_active_users(days).rows() == [(date(2025, 1, 1), 4)]
    assert user_days(engine)["user_id"].n_unique() == 5


def test_trim_outlier_days() -> None:
    days = pl.DataFrame({"user_id": ["a"] * 2000 + ["b"], "day": [*range(20_000, 22_000), -5000]})
    kept, dropped = trim_outlier_days(days)
    assert dropped == 1 and kept.height == 2000


def test_heatmap_in_local_time(engine: Engine) -> None:
    jan6 = MONDAY
    load(
        engine,
        users=[
            user("ny", timezone="America/New_York"),
            user("in", timezone="Asia/Kolkata"),
            user("utc"),
            user("bad", timezone="Not/AZone"),
        ],
        events=[
            # 03:00 UTC Monday = 22:00 Sunday in New York (UTC-5 in winter); count 3.
            ev("ny", jan6 + 3 * HOUR, count=3),
            # July: New York is UTC-4, so 03:00 UTC Monday = 23:00 Sunday.
            ev("ny", jan6 + 182 * DAY + 3 * HOUR),
            # 20:45 UTC Monday = 02:15 Tuesday in India (UTC+5:30).
            ev("in", jan6 + 20 * HOUR + 45 * MINUTE),
            # No time zone, and an unknown one: UTC. Wednesday 10:10.
            ev("utc", jan6 + 2 * DAY + 10 * HOUR + 10 * MINUTE),
            ev("bad", jan6 + 2 * DAY + 10 * HOUR + 50 * MINUTE),
            # Not a play: not counted.
            ev("utc", jan6 + 2 * DAY + 10 * HOUR, "like_track"),
            # A user missing from the users table counts in UTC. Friday 00:00.
            ev("ghost", jan6 + 4 * DAY),
        ],
    )
    heat = listening_heatmap(engine)
    assert heat.height == 7 * 24
    m = heatmap_matrix(heat)
    assert m[6][22] == 3  # Sunday 22:00
    assert m[6][23] == 1  # Sunday 23:00 (summer time)
    assert m[1][2] == 1  # Tuesday 02:00
    assert m[2][10] == 2  # Wednesday 10:00
    assert m[4][0] == 1  # Friday 00:00
    assert sum(map(sum, m)) == 3 + 1 + 1 + 2 + 1
    every = heatmap_matrix(listening_heatmap(engine, ["play_track", "like_track"]))
    assert every[2][10] == 3
