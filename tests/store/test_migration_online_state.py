"""Revision 0007_online_state: the incremental online refresh's memory."""

from __future__ import annotations

from sqlalchemy import inspect, text

from cratedig.online.refresh import refresh
from cratedig.store import make_engine, migrate
from tests.online import scenario as S


def test_online_state_revision_adds_the_memory_and_its_downgrade_forgets_it(db_url: str) -> None:
    engine = make_engine(db_url)
    migrate.upgrade(engine)
    S.fill(engine)
    refresh(engine, full=True, now_ms=S.NOW)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM online_credit")).scalar_one() > 0
    # derived tables only: undoing it needs no consent, and the record of their range
    # goes with them, so that an upgrade again does not trust empty tables
    migrate.downgrade(engine, "0006_experiments")
    names = inspect(engine).get_table_names()
    assert "online_credit" not in names and "online_visit_day" not in names
    with engine.connect() as conn:
        keys = conn.execute(text("SELECT key FROM online_state")).scalars().all()
    assert "credit_cache" not in keys and "last_refresh" in keys
    migrate.upgrade(engine)
    result = refresh(engine, days_back=3, now_ms=S.NOW)
    assert not result.reused_state
    assert refresh(engine, days_back=3, now_ms=S.NOW).reused_state
    engine.dispose()
