"""Revisions 0007_online_state and 0008_online_memory: the incremental online
refresh's memory, as rows (0007) and then as one blob per kind and day (0008)."""

from __future__ import annotations

from sqlalchemy import Engine, inspect, text

from cratedig.online.refresh import refresh
from cratedig.store import make_engine, migrate
from tests.online import scenario as S


def _state_keys(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(text("SELECT key FROM online_state")).scalars().all())


def test_online_state_revision_adds_the_memory_and_its_downgrade_forgets_it(db_url: str) -> None:
    engine = make_engine(db_url)
    migrate.upgrade(engine, "0007_online_state")
    names = inspect(engine).get_table_names()
    assert "online_credit" in names and "online_visit_day" in names
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO online_state (key, value, updated_at_ms) VALUES (:k, :v, 0)"),
            [{"k": "credit_cache", "v": "{}"}, {"k": "last_refresh", "v": "{}"}],
        )
    # derived tables only: undoing it needs no consent, and the record of their range
    # goes with them, so that an upgrade again does not trust empty tables
    migrate.downgrade(engine, "0006_experiments")
    names = inspect(engine).get_table_names()
    assert "online_credit" not in names and "online_visit_day" not in names
    assert _state_keys(engine) == ["last_refresh"]
    engine.dispose()


def test_online_memory_revision_replaces_the_rows_with_blobs(db_url: str) -> None:
    engine = make_engine(db_url)
    migrate.upgrade(engine)
    S.fill(engine)
    refresh(engine, full=True, now_ms=S.NOW)
    with engine.connect() as conn:
        kinds = conn.execute(text("SELECT DISTINCT kind FROM online_memory")).scalars().all()
    assert sorted(kinds) == ["credit", "lists", "outcomes", "visits"]
    # back to the rows of 0007: empty tables, and no record that they cover a range
    migrate.downgrade(engine, "0007_online_state")
    names = inspect(engine).get_table_names()
    assert "online_memory" not in names and "online_credit" in names
    assert "credit_cache" not in _state_keys(engine)
    migrate.upgrade(engine)
    result = refresh(engine, days_back=3, now_ms=S.NOW)
    assert not result.reused_state
    assert refresh(engine, days_back=3, now_ms=S.NOW).reused_state
    # and up from 0007 with a memory in rows: it is forgotten, not trusted
    migrate.downgrade(engine, "0007_online_state")
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO online_state (key, value, updated_at_ms) VALUES (:k, :v, 0)"),
            {"k": "credit_cache", "v": '{"from_day": 0, "until_ms": 0, "window_days": 7}'},
        )
    migrate.upgrade(engine)
    assert "credit_cache" not in _state_keys(engine)
    assert not refresh(engine, days_back=3, now_ms=S.NOW).reused_state
    engine.dispose()
