"""Revision ``0005_scheduler``: a filled store at ``0004_quality`` upgrades with its rows
intact, and the new tables hold what the scheduler writes."""

from __future__ import annotations

from pathlib import Path

from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, select, text

from cratedig.clock import now_ms
from cratedig.pipeline.scheduler import LEASE_NAME
from cratedig.store import make_engine, migrate
from cratedig.store import scheduler as sql
from cratedig.store.schema import model_versions, user_events
from tests.serving.conftest import train_tiny
from tests.serving.helpers import fill_store


def test_scheduler_revision_upgrades_a_filled_store(db_url: str, tmp_path: Path) -> None:
    engine = make_engine(db_url)
    migrate.upgrade(engine, "0004_quality")
    fill_store(engine)  # the tables it writes exist at 0004 unchanged
    with engine.connect() as conn:
        events_before = conn.execute(select(func.count()).select_from(user_events)).scalar()
    migrate.upgrade(engine)  # through 0005_scheduler to the head
    with engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == migrate.head_revision()
        assert conn.execute(select(func.count()).select_from(user_events)).scalar() == (
            events_before
        )
        assert conn.execute(text("SELECT COUNT(*) FROM scheduler_runs")).scalar_one() == 0
    # the new tables take what the scheduler writes
    version = train_tiny(engine, tmp_path / "artifacts")
    assert sql.acquire_lease(engine, LEASE_NAME, "h:1:a", 1000, now_ms()) == "acquired"
    run_id = sql.start_run(engine, "cron", "cron 0 3 * * *", "h:1:a", now_ms())
    sql.finish_run(engine, run_id, "promoted", now_ms(), version.version_id)
    [run] = sql.list_runs(engine)
    assert (run.outcome, run.version_id, run.trigger) == ("promoted", version.version_id, "cron")
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(model_versions)).scalar() == 1
    # and the downgrade (which loses the history) needs consent
    migrate.downgrade(engine, "0004_quality", allow_data_loss=True)
    with engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == "0004_quality"
    engine.dispose()
