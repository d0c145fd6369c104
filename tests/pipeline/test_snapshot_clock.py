"""Defect 3 of issue #10: the snapshot time of a version is never later than the wall
clock, even when the store already holds an event far in the future."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from cratedig.clock import now_ms
from cratedig.matrix import build_engagement
from cratedig.store.reads import latest_event_ms
from cratedig.store.schema import user_events
from tests.pipeline.test_train import _train
from tests.serving.helpers import fill_store

YEAR_9999_MS = 253_402_300_799_000


def _store_a_far_future_event(engine: Engine) -> None:
    """As an import before the fix stored it (validation is bypassed on purpose)."""
    with engine.begin() as conn:
        conn.execute(
            user_events.insert().values(
                event_id="future",
                user_id="u999",
                event_type="visit",
                occurred_at_ms=YEAR_9999_MS,
                count=1,
                source="organic",
            )
        )


def test_the_snapshot_is_never_later_than_the_wall_clock(engine: Engine, tmp_path: Path) -> None:
    """Before the fix: latest_event_ms, the matrix's built_at_ms and the version's
    snapshot_ms were all year 9999, so no later event counted as recent activity."""
    fill_store(engine)
    _store_a_far_future_event(engine)
    before = now_ms()
    with engine.connect() as conn:
        assert before <= latest_event_ms(conn) <= now_ms()
        assert latest_event_ms(conn, not_after_ms=5) == 5
    assert build_engagement(engine).built_at_ms <= now_ms()
    version = _train(engine, tmp_path)
    assert before <= version.snapshot_ms <= now_ms()
