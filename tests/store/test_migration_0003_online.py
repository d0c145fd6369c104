"""Revision 0003_online: a store at 0002 upgrades with its rows intact, gains the online
tables and indexes, and a refresh then works on it; the downgrade drops them again."""

from __future__ import annotations

from sqlalchemy import insert, inspect, select

from cratedig.store import make_engine, migrate
from cratedig.store.schema import impressions, user_events

ONLINE_TABLES = {
    "online_user_daily",
    "online_daily",
    "online_position_daily",
    "online_event_daily",
    "online_artist_tail",
    "online_state",
}


def test_a_store_at_0002_upgrades_to_0003(db_url: str) -> None:
    from cratedig.online.refresh import refresh

    engine = make_engine(db_url)
    migrate.upgrade(engine, "0002_quarantine_content_key")
    assert not ONLINE_TABLES & set(inspect(engine).get_table_names())
    day = 86_400_000
    with engine.begin() as conn:
        conn.execute(
            insert(impressions),
            [
                {
                    "list_id": "L1",
                    "user_id": "u1",
                    "list_type": "may_like",
                    "model_version": "v1",
                    "variant": None,
                    "artist_ids": '["a1","a2"]',
                    "n_items": 2,
                    "shown_at_ms": 20_000 * day,
                }
            ],
        )
        conn.execute(
            insert(user_events),
            [
                {
                    "event_id": "e1",
                    "user_id": "u1",
                    "event_type": "recommendation_click",
                    "occurred_at_ms": 20_000 * day + 5,
                    "artist_id": "a2",
                    "count": 1,
                    "source": "L1",
                }
            ],
        )
    migrate.upgrade(engine, "0003_online")
    assert migrate.pending_revisions(engine, "0003_online") == []
    names = set(inspect(engine).get_table_names())
    assert names >= ONLINE_TABLES
    indexes = {ix["name"] for ix in inspect(engine).get_indexes("user_events")}
    assert {"ix_events_time", "ix_events_user_artist_time"} <= indexes
    with engine.connect() as conn:
        assert conn.execute(select(user_events.c.event_id)).scalars().all() == ["e1"]
        assert conn.execute(select(impressions.c.list_id)).scalars().all() == ["L1"]
    if migrate.head_revision() == "0003_online":
        result = refresh(engine, full=True)
        assert result.user_rows == 1
        undone = migrate.downgrade(engine, "0002_quarantine_content_key")
        assert undone == ["0003_online"]
        assert not ONLINE_TABLES & set(inspect(engine).get_table_names())
        with engine.connect() as conn:
            assert conn.execute(select(user_events.c.event_id)).scalars().all() == ["e1"]
    engine.dispose()
