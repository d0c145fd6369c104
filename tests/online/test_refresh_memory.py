"""The incremental refresh's memory (``docs/online.md``, "Incremental state"): it reads
only what arrived since the last refresh, and anything stored late (events, lists) or
removed sends it back to the stored rows; every case equals a full refresh."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import Engine, delete, insert

from cratedig.online.refresh import SETTLE_MS, refresh
from cratedig.store.schema import impressions, user_events
from cratedig.store.schema.rollups import online_user_daily
from tests.online import scenario as S
from tests.online.test_refresh import USER_KEY, _all, _rows


def _event(engine: Engine, event_id: str, user: str, at: int, artist: str) -> None:
    with engine.begin() as conn:
        conn.execute(insert(user_events), [S._ev(event_id, user, "play_track", at, artist, 9_000)])


def _equals_full(engine: Engine, now_ms: int) -> None:
    incremental = _all(engine)
    refresh(engine, full=True, now_ms=now_ms)
    assert _all(engine) == incremental


def test_it_reads_the_events_stored_since_the_last_refresh_settled(engine: Engine) -> None:
    S.fill(engine)
    # stamped half an hour after the full refresh's time (a client clock ahead): counted
    # by it, but not remembered, so the next refresh reads it again and counts it once
    _event(engine, "ahead", "u1", S.NOW + 30 * S.MIN, "a1")
    refresh(engine, full=True, now_ms=S.NOW)
    quiet = refresh(engine, days_back=1, now_ms=S.NOW + S.HOUR)
    assert quiet.reused_state and quiet.events_read == 1
    assert quiet.impressions_read == 0  # no list stored since
    _event(engine, "new", "u1", S.NOW + S.HOUR, "a2")  # after the last one settled
    later = refresh(engine, days_back=1, now_ms=S.NOW + 2 * S.HOUR)
    # "ahead" is remembered now (before S.NOW + 1h - SETTLE_MS): only "new" is read
    assert SETTLE_MS < 30 * S.MIN
    assert later.reused_state and later.events_read == 1
    _equals_full(engine, S.NOW + 2 * S.HOUR)


def test_a_list_stored_late_is_read_and_credited(engine: Engine) -> None:
    """A list stored after the refresh that read the lists, though served before the
    memory settled: the events of its day on are read again, and a play of its artist
    goes to it."""
    S.fill(engine)
    shown = S.NOW - 3 * S.HOUR
    _event(engine, "heard", "u1", shown + S.HOUR, "a9")
    refresh(engine, full=True, now_ms=S.NOW)
    late = S._imp("L9", "u1", "may_like", "v3", "A", ["a9"], shown)
    with engine.begin() as conn:
        conn.execute(insert(impressions), [late])
    result = refresh(engine, days_back=1, now_ms=S.NOW + S.HOUR)
    assert result.reused_state and result.impressions_read == 1  # L9 only
    row = _rows(engine, online_user_daily, USER_KEY)[(shown // S.DAY, "u1", "may_like", "v3", "A")]
    assert (row["plays"], row["play_ms"], row["new_artists"]) == (1, 9_000, 1)
    _equals_full(engine, S.NOW + S.HOUR)


@pytest.mark.parametrize("change", ["removed", "stored below the newest id"])
def test_the_remembered_lists_give_way_to_the_stored_ones(engine: Engine, change: str) -> None:
    """When the lists the store holds for the range are not the remembered ones (a
    list removed, or one stored with an id below the newest remembered, as concurrent
    writers can on PostgreSQL) the memory is not used: events it attributed to a list
    removed may go to another list now."""
    S.fill(engine)
    shown = S.NOW - 2 * S.DAY
    recent = S._imp("L7", "u2", "may_like", "v1", "A", ["a4", "a1"], shown)
    with engine.begin() as conn:
        conn.execute(insert(impressions), [recent])
    _event(engine, "u2-a4", "u2", shown + S.HOUR, "a4")
    refresh(engine, full=True, now_ms=S.NOW)
    with engine.begin() as conn:
        if change == "removed":
            conn.execute(delete(impressions).where(impressions.c.list_id == "L7"))
        else:
            low = S._imp("L0", "u2", "hidden_gems", "v1", "A", ["a4"], shown + S.MIN)
            conn.execute(insert(impressions), [{**low, "impression_id": 0}])
    result = refresh(engine, days_back=3, now_ms=S.NOW + S.HOUR)
    assert not result.reused_state
    _equals_full(engine, S.NOW + S.HOUR)


def test_the_memory_is_kept_in_one_blob_per_kind_and_day(engine: Engine) -> None:
    from sqlalchemy import select

    from cratedig.online import _state_sql
    from cratedig.store.schema.rollups import online_memory, online_state

    S.fill(engine)
    refresh(engine, full=True, now_ms=S.NOW)
    with engine.connect() as conn:
        days = conn.execute(select(online_memory.c.kind, online_memory.c.day)).all()
        state = json.loads(
            conn.execute(
                select(online_state.c.value).where(online_state.c.key == _state_sql.KEY)
            ).scalar_one()
        )
    assert len(days) == len(set(days))
    assert {kind for kind, _ in days} <= {"credit", "visits", "outcomes", "lists"}
    assert state["settled_ms"] == S.NOW - SETTLE_MS and state["until_ms"] == S.NOW
    assert state["max_impression_id"] == len(S.IMPRESSIONS)
    assert min(day for _, day in days) >= state["from_day"]
