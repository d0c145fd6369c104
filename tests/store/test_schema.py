"""The schema on SQLite and PostgreSQL: creation is idempotent, writes skip duplicates."""

from __future__ import annotations

from sqlalchemy import Engine, func, inspect, select

from cratedig.store import init_db, insert_ignore, make_engine, schema, upsert

EXPECTED_TABLES = {
    "users",
    "artists",
    "artist_tags",
    "tracks",
    "user_events",
    "user_friends",
    "feedback",
    "impressions",
    "quarantine",
}


def test_init_db_creates_every_table_and_is_safe_twice(db_url: str) -> None:
    engine = make_engine(db_url)
    created = init_db(engine)
    assert set(created) >= EXPECTED_TABLES
    assert init_db(engine) == []
    indexes = {ix["name"] for ix in inspect(engine).get_indexes("user_events")}
    assert {"ix_events_user_time", "ix_events_artist"} <= indexes
    engine.dispose()


def test_insert_ignore_counts_only_new_rows(engine: Engine) -> None:
    rows = [
        {"event_id": f"e{i}", "user_id": "u1", "event_type": "visit", "occurred_at_ms": i}
        for i in range(5)
    ]
    with engine.begin() as conn:
        assert insert_ignore(conn, schema.user_events, rows) == 5
    with engine.begin() as conn:
        assert (
            insert_ignore(conn, schema.user_events, [*rows[3:], {**rows[0], "event_id": "e9"}]) == 1
        )
        total = conn.execute(select(func.count()).select_from(schema.user_events)).scalar_one()
    assert total == 6


def test_upsert_replaces_stub(engine: Engine) -> None:
    with engine.begin() as conn:
        insert_ignore(conn, schema.artists, [{"artist_id": "a1", "name": None, "is_stub": True}])
        upsert(conn, schema.artists, [{"artist_id": "a1", "name": "Real", "is_stub": False}])
        row = conn.execute(select(schema.artists)).one()
    assert row.name == "Real" and row.is_stub is False
