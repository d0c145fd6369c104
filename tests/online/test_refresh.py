"""The rollups equal tallies worked out by hand, on SQLite and PostgreSQL; refreshes
are idempotent, incremental ones catch late events, an empty store is fine."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, insert, select

from cratedig.online.refresh import SETTLE_MS, refresh
from cratedig.store.schema import user_events
from cratedig.store.schema.rollups import (
    OUTCOME_COLUMNS,
    online_daily,
    online_event_daily,
    online_position_daily,
    online_user_daily,
)
from tests.online import scenario as S


def _rows(engine: Engine, table: Any, key: list[str]) -> dict[tuple[Any, ...], dict[str, int]]:
    with engine.connect() as conn:
        rows = conn.execute(select(table)).mappings().all()
    return {tuple(r[k] for k in key): {c: int(r[c]) for c in r if c not in key} for r in rows}


USER_KEY = ["day", "user_id", "list_type", "model_version", "variant"]
KEY = ["day", "list_type", "model_version", "variant"]


def _all(engine: Engine) -> tuple[Any, ...]:
    return (
        _rows(engine, online_user_daily, USER_KEY),
        _rows(engine, online_daily, KEY),
        _rows(engine, online_position_daily, [*KEY, "position"]),
        _rows(engine, online_event_daily, ["day"]),
    )


def _late_follow(engine: Engine, event_id: str) -> None:
    """Store, late and out of order, u2's follow of a4 from L2 ten minutes after L2 was
    shown."""
    late = S._ev(event_id, "u2", "follow_artist", S.T0 + S.HOUR + 10 * S.MIN, "a4", source="L2")
    with engine.begin() as conn:
        conn.execute(insert(user_events), [late])


def _expected_daily() -> dict[tuple[Any, ...], dict[str, int]]:
    out: dict[tuple[Any, ...], dict[str, int]] = {}
    for (day, _user, lt, mv, var), row in S.EXPECTED_USERS.items():
        agg = out.setdefault(
            (day, lt, mv, var),
            {"users": 0, **dict.fromkeys(OUTCOME_COLUMNS, 0), "returned_users": 0},
        )
        agg["users"] += 1
        for c in OUTCOME_COLUMNS:
            agg[c] += row[c]
        agg["returned_users"] += row["returned"]
    return out


def test_every_metric_equals_the_hand_tally(engine: Engine) -> None:
    S.fill(engine)
    result = refresh(engine, full=True, now_ms=S.NOW)
    users, days, positions, event_days = _all(engine)
    assert users == S.EXPECTED_USERS
    assert days == _expected_daily()
    assert positions == S.EXPECTED_POSITIONS
    assert {d[0]: tuple(r.values()) for d, r in event_days.items()} == S.EXPECTED_EVENT_DAYS
    assert result.user_rows == 4


def test_unknown_list_event_is_stored_and_counted_unattributed(engine: Engine) -> None:
    S.fill(engine)
    refresh(engine, full=True, now_ms=S.NOW)
    with engine.connect() as conn:
        stored = conn.execute(
            select(user_events.c.source).where(user_events.c.event_id == "e8")
        ).scalar_one()
    assert stored == "L-unknown"
    _, _, _, event_days = _all(engine)
    assert event_days[(S.D,)]["unknown_list"] == 1
    assert sum(r["unknown_list"] for r in event_days.values()) == 2  # e8 and e10


def test_refresh_twice_gives_the_same_rows_and_incremental_equals_full(engine: Engine) -> None:
    S.fill(engine)
    refresh(engine, full=True, now_ms=S.NOW)
    first = _all(engine)
    refresh(engine, full=True, now_ms=S.NOW)
    assert _all(engine) == first
    # an incremental refresh whose range covers every impression day: same rows, though
    # u1's play of a2 (e0) is older than the events it loads (found by index probe)
    result = refresh(engine, days_back=3, now_ms=S.NOW)
    assert result.from_day == S.D and result.events_read < len(S.EVENTS)
    assert _all(engine) == first
    refresh(engine, days_back=3, now_ms=S.NOW)
    assert _all(engine) == first


def test_a_late_event_is_picked_up_by_the_incremental_window(engine: Engine) -> None:
    S.fill(engine)
    refresh(engine, full=True, now_ms=S.NOW)
    before = _rows(engine, online_user_daily, USER_KEY)[(S.D, "u2", "may_like", "v1", "A")]
    assert before["follows"] == 0
    # arrives late and out of order: u2 followed a4 from L2 ten minutes after seeing it
    _late_follow(engine, "late")
    refresh(engine, days_back=2, now_ms=S.T0 + 2 * S.DAY)
    after = _rows(engine, online_user_daily, USER_KEY)[(S.D, "u2", "may_like", "v1", "A")]
    assert after == {
        **before,
        "clicks": 2,
        "clicked_items": 1,
        "follows": 1,
        "new_followers": 1,
    }
    daily_row = _rows(engine, online_daily, KEY)[(S.D, "may_like", "v1", "A")]
    assert daily_row["follows"] == 2 and daily_row["clicks"] == 4
    # the full refresh agrees with the incremental one
    incremental = _all(engine)
    refresh(engine, full=True, now_ms=S.NOW)
    assert _all(engine) == incremental


def test_refresh_of_an_empty_store(engine: Engine) -> None:
    result = refresh(engine, full=True)
    assert (result.user_rows, result.daily_rows, result.position_rows) == (0, 0, 0)
    assert _all(engine) == ({}, {}, {}, {})
    refresh(engine, days_back=1)
    assert _all(engine) == ({}, {}, {}, {})


def test_the_driver_read_path_gives_the_same_rows(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without connectorx, rows come through the DB-API driver."""
    from cratedig.online import _reader

    S.fill(engine)
    monkeypatch.setattr(_reader, "_connectorx_uri", lambda _engine: None)
    refresh(engine, full=True, now_ms=S.NOW)
    assert _rows(engine, online_user_daily, USER_KEY) == S.EXPECTED_USERS


def test_a_failing_sqlite_reader_process_falls_back_to_the_driver(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SQLite reader process exits with an error: the driver reads instead."""
    from cratedig.online import _reader

    if engine.dialect.name != "sqlite":
        pytest.skip("the reader process is for SQLite")
    S.fill(engine)
    monkeypatch.setattr(_reader, "_SQLITE_READER", "raise SystemExit(3)")
    assert (
        _reader._read_sqlite_child(_reader._connectorx_uri(engine) or "", [("SELECT 1", {})])
        is None
    )
    refresh(engine, full=True, now_ms=S.NOW)
    assert _rows(engine, online_user_daily, USER_KEY) == S.EXPECTED_USERS


@pytest.mark.parametrize("every_days", [1, 3])
def test_daily_incremental_refreshes_with_memory_equal_a_full_refresh(
    engine: Engine, every_days: int
) -> None:
    """Rows arrive day by day and a one-day incremental refresh runs after each day (or
    every third day): each after the first re-uses the memory of the one before (reads
    only the events since), and at the end the four rollups are those of a full
    refresh."""
    from sqlalchemy import insert as sql_insert

    from cratedig.store.schema import feedback, impressions

    rows = [
        *[(imp["shown_at_ms"], impressions, imp) for imp in S.IMPRESSIONS],
        *[(e["occurred_at_ms"], user_events, e) for e in S.EVENTS],
        *[
            (S.T0 + 4 * S.HOUR, feedback, {**f, "created_at_ms": S.T0 + 4 * S.HOUR})
            for f in S.FEEDBACK
        ],
    ]

    def arrive(until_ms: int) -> None:
        with engine.begin() as conn:
            for at, table, row in rows:
                if until_ms - S.DAY <= at < until_ms:
                    conn.execute(sql_insert(table), [row])

    start = S.D * S.DAY + S.HOUR
    with engine.begin() as conn:  # the history before the first day
        for at, table, row in rows:
            if at < start - S.DAY:
                conn.execute(sql_insert(table), [row])
    arrive(start)
    refresh(engine, full=True, now_ms=start)
    last = start
    for k in range(1, 11):
        now = start + k * S.DAY
        arrive(now)
        if k % every_days == 0 or k == 10:
            result = refresh(engine, days_back=1, now_ms=now)
            # only the events stamped since the last refresh settled are read
            since = [e for e in S.EVENTS if last - SETTLE_MS <= e["occurred_at_ms"] < now]
            assert result.reused_state and result.events_read == len(since)
            last = now
    incremental = _all(engine)
    again = refresh(engine, days_back=1, now_ms=start + 10 * S.DAY)
    assert again.reused_state and _all(engine) == incremental
    refresh(engine, full=True, now_ms=start + 10 * S.DAY)
    assert _all(engine) == incremental
    # a range the memory does not cover reads the whole range, with the same rows
    wide = refresh(engine, days_back=9, now_ms=start + 10 * S.DAY)
    assert not wide.reused_state and _all(engine) == incremental


def test_a_late_event_before_the_cut_is_read_again_with_the_memory(engine: Engine) -> None:
    """An event stamped days back that arrives after the refresh that counted its day
    is attributed by the next incremental refresh that uses the memory, not only by
    ``--full``: its day's stored events no longer match the counted ones."""
    S.fill(engine)
    now = S.T0 + 2 * S.DAY
    refresh(engine, full=True, now_ms=now)
    _late_follow(engine, "late-for-the-memory")
    result = refresh(engine, days_back=0, now_ms=now + S.HOUR)
    assert result.reused_state
    row = _rows(engine, online_user_daily, USER_KEY)[(S.D, "u2", "may_like", "v1", "A")]
    assert row["follows"] == 1
    incremental = _all(engine)
    refresh(engine, full=True, now_ms=now + S.HOUR)
    assert _all(engine) == incremental
