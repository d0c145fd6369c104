"""Revision 0006_experiments: the experiments table and impressions.teams."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, text

from cratedig.store import make_engine, migrate


def test_experiments_revision_keeps_impressions_and_adds_the_tables(db_url: str) -> None:
    engine = make_engine(db_url)
    migrate.upgrade(engine, "0004_quality")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO impressions (list_id, user_id, list_type, model_version, variant, "
                "artist_ids, n_items, shown_at_ms) VALUES ('L1', 'u1', 'may_like', 'v1', NULL, "
                '\'["a1", "a2"]\', 2, 5)'
            )
        )
    migrate.upgrade(engine)
    columns = {c["name"] for c in inspect(engine).get_columns("impressions")}
    assert "teams" in columns
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT list_id, artist_ids, n_items, teams FROM impressions")
        ).one()
        assert tuple(row) == ("L1", '["a1", "a2"]', 2, None)
        assert conn.execute(text("SELECT COUNT(*) FROM experiments")).scalar_one() == 0
    # undoing it loses experiments: only with consent, and then the store is 0004 again
    with pytest.raises(Exception, match="0006_experiments"):
        migrate.downgrade(engine, "0004_quality")
    migrate.downgrade(engine, "0004_quality", allow_data_loss=True)
    assert "experiments" not in inspect(engine).get_table_names()
    assert "teams" not in {c["name"] for c in inspect(engine).get_columns("impressions")}
    with engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM impressions")).scalar_one() == 1
    engine.dispose()
