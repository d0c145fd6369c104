"""Edge cases of attribution that the hand-made scenario does not hold: a subscribe
naming a shown artist, a list showing an artist twice, an event citing a list older
than an incremental refresh's range, and late events on days an incremental refresh
keeps."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, insert, select

from cratedig.online.refresh import refresh
from cratedig.store.schema import impressions, user_events
from cratedig.store.schema.rollups import (
    online_event_daily,
    online_position_daily,
    online_user_daily,
)
from tests.online import scenario as S


def _event_days(engine: Engine) -> dict[int, dict[str, int]]:
    with engine.connect() as conn:
        rows = conn.execute(select(online_event_daily)).mappings().all()
    return {r["day"]: {k: int(v) for k, v in r.items() if k != "day"} for r in rows}


def _user_row(engine: Engine, day: int, user: str, list_type: str = "may_like") -> dict[str, Any]:
    t = online_user_daily.c
    with engine.connect() as conn:
        row = (
            conn.execute(
                select(online_user_daily).where(
                    t.day == day, t.user_id == user, t.list_type == list_type
                )
            )
            .mappings()
            .one()
        )
    return dict(row)


def test_a_subscribe_naming_a_shown_artist_is_credited_once(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(insert(impressions), [S.IMPRESSIONS[0]])  # L1: u1, a1 a2 a3
        conn.execute(
            insert(user_events),
            [S._ev("s1", "u1", "subscribe", S.T0 + S.HOUR, "a1")],
        )
    refresh(engine, full=True, now_ms=S.NOW)
    row = _user_row(engine, S.D, "u1")
    assert row["subscriptions"] == 1
    assert (row["clicks"], row["plays"], row["follows"]) == (0, 0, 0)
    assert _event_days(engine)[S.D] == {
        "events": 1,
        "click_through": 0,
        "view_through": 1,
        "unknown_list": 0,
        "unattributed": 0,
    }


def test_an_artist_shown_twice_in_a_list_counts_at_its_first_position(engine: Engine) -> None:
    twice = S._imp("L9", "u1", "may_like", "v1", "A", ["a1", "a2", "a1"], S.T0)
    with engine.begin() as conn:
        conn.execute(insert(impressions), [twice])
        conn.execute(
            insert(user_events),
            [
                S._ev("c1", "u1", "recommendation_click", S.T0 + S.MIN, "a1", source="L9"),
                S._ev("v1", "u1", "follow_artist", S.T0 + 2 * S.MIN, "a1"),
            ],
        )
    for _ in range(2):  # and the same answer again
        refresh(engine, full=True, now_ms=S.NOW)
        with engine.connect() as conn:
            rows = conn.execute(select(online_position_daily)).mappings().all()
        by_position = {r["position"]: (r["items"], r["clicked_items"], r["follows"]) for r in rows}
        assert by_position == {1: (1, 1, 1), 2: (1, 0, 0), 3: (1, 0, 0)}
        row = _user_row(engine, S.D, "u1")
        assert (row["items"], row["clicked_items"], row["follows"]) == (3, 1, 1)


def test_an_incremental_refresh_counts_a_click_on_an_older_list_as_click_through(
    engine: Engine,
) -> None:
    S.fill(engine)
    refresh(engine, full=True, now_ms=S.NOW)
    # u1 comes back to L1 thirty days after it was served; the refresh reads L1 no more
    late_at = S.T0 + 30 * S.DAY
    with engine.begin() as conn:
        conn.execute(
            insert(user_events),
            [
                S._ev("old", "u1", "play_track", late_at, "a1", 1_000, source="L1"),
                S._ev("nope", "u1", "play_track", late_at, "a1", 1_000, source="L-gone"),
            ],
        )
    result = refresh(engine, days_back=1, now_ms=late_at + S.HOUR)
    assert result.from_day is not None and result.from_day > S.D
    late_day = late_at // S.DAY
    assert _event_days(engine)[late_day] == {
        "events": 2,
        "click_through": 1,
        "view_through": 0,
        "unknown_list": 1,
        "unattributed": 0,
    }
    # the rows of L1's day are those of the full refresh until the next full one
    assert _user_row(engine, S.D, "u1")["plays"] == 2
    refresh(engine, full=True, now_ms=late_at + S.HOUR)
    assert _user_row(engine, S.D, "u1")["plays"] == 3
    assert _event_days(engine)[late_day]["click_through"] == 1


def test_an_incremental_refresh_keeps_the_event_days_before_its_event_range(
    engine: Engine,
) -> None:
    S.fill(engine)
    refresh(engine, full=True, now_ms=S.NOW)
    before = _event_days(engine)
    # now = D + 10: from_day = D + 2, event days from D + 9 are recomputed
    result = refresh(engine, days_back=1, now_ms=S.NOW)
    assert result.from_day == S.D + 2
    assert _event_days(engine) == before


def test_two_lists_at_the_same_millisecond_credit_the_later_stored(engine: Engine) -> None:
    first = S._imp("La", "u1", "may_like", "v1", "A", ["a1", "a2"], S.T0)
    later = S._imp("Lb", "u1", "hidden_gems", "v1", "A", ["a2", "a1"], S.T0)
    with engine.begin() as conn:
        conn.execute(insert(impressions), [first])
        conn.execute(insert(impressions), [later])
        conn.execute(
            insert(user_events),
            [
                S._ev("p", "u1", "play_track", S.T0 + S.MIN, "a1", 5_000),
                S._ev("s", "u1", "subscribe", S.T0 + 2 * S.MIN),
            ],
        )
    refresh(engine, full=True, now_ms=S.NOW)
    gems = _user_row(engine, S.D, "u1", "hidden_gems")
    assert (gems["plays"], gems["play_ms"], gems["subscriptions"]) == (1, 5_000, 1)
    liked = _user_row(engine, S.D, "u1", "may_like")
    assert (liked["plays"], liked["subscriptions"]) == (0, 0)
    with engine.connect() as conn:
        rows = conn.execute(select(online_position_daily)).mappings().all()
    plays = {(r["list_type"], r["position"]): r["plays"] for r in rows}
    assert plays[("hidden_gems", 2)] == 1 and sum(plays.values()) == 1


def test_a_full_refresh_that_rebuilds_the_indexes_writes_the_same_rows(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above REBUILD_ROWS rows a full refresh drops and rebuilds the rollup indexes."""
    from sqlalchemy import inspect

    from cratedig.online import _write_sql

    S.fill(engine)
    refresh(engine, full=True, now_ms=S.NOW)
    with engine.connect() as conn:
        expected = conn.execute(select(online_user_daily)).all()
    monkeypatch.setattr(_write_sql, "REBUILD_ROWS", 1)
    refresh(engine, full=True, now_ms=S.NOW)
    with engine.connect() as conn:
        assert conn.execute(select(online_user_daily)).all() == expected
    names = {ix["name"] for ix in inspect(engine).get_indexes("online_user_daily")}
    assert "ix_online_user_daily_user" in names


def test_the_view_through_join_in_parts_gives_the_same_rows(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store larger than VIEW_PART_ROWS is joined in parts split by (user, artist)."""
    from cratedig.online import attribution

    S.fill(engine)
    monkeypatch.setattr(attribution, "VIEW_PART_ROWS", 2)
    refresh(engine, full=True, now_ms=S.NOW)
    with engine.connect() as conn:
        rows = conn.execute(select(online_user_daily)).mappings().all()
    users = {
        (r["day"], r["user_id"], r["list_type"], r["model_version"], r["variant"]): {
            k: int(v)
            for k, v in r.items()
            if k not in ("day", "user_id", "list_type", "model_version", "variant")
        }
        for r in rows
    }
    assert users == S.EXPECTED_USERS


def test_a_refresh_in_user_parts_writes_the_same_rows(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store of more than PART_EVENTS events is measured in parts split by user: the
    four rollups are the same as measured in one part, full and incremental."""
    from cratedig.online import refresh as refresh_module
    from tests.online.test_refresh import _all

    S.fill(engine)
    refresh(engine, full=True, now_ms=S.NOW)
    whole = _all(engine)
    refresh(engine, days_back=3, now_ms=S.NOW)
    whole_incremental = _all(engine)
    monkeypatch.setattr(refresh_module, "PART_EVENTS", 2)
    result = refresh(engine, full=True, now_ms=S.NOW)
    assert result.events_read > 4  # several parts, some of them maybe empty
    assert _all(engine) == whole
    refresh(engine, days_back=3, now_ms=S.NOW)
    assert _all(engine) == whole_incremental


def test_an_incremental_refresh_writes_back_every_row_that_differs(engine: Engine) -> None:
    """Only changed rows of online_user_daily are written: a row that differs, a row
    that should not be there and a missing row are all put right."""
    from sqlalchemy import delete, update

    from tests.online.test_refresh import _all

    S.fill(engine)
    refresh(engine, full=True, now_ms=S.NOW)
    expected = _all(engine)
    t = online_user_daily.c
    row = _user_row(engine, S.D + 1, "u3")
    with engine.begin() as conn:
        conn.execute(update(online_user_daily).where(t.user_id == "u1").values(clicks=99))
        conn.execute(delete(online_user_daily).where(t.user_id == "u2"))
        conn.execute(insert(online_user_daily), [{**row, "user_id": "u-ghost"}])
    result = refresh(engine, days_back=3, now_ms=S.NOW)
    assert result.reused_state
    assert _all(engine) == expected
