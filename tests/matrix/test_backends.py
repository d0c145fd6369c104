"""The same events give the same matrix on SQLite and on PostgreSQL."""

from __future__ import annotations

import numpy as np
import pytest

from cratedig.events import EVENT_TYPES
from cratedig.matrix import EngagementConfig, build_engagement
from cratedig.store import init_db, make_engine
from tests.matrix.helpers import DAY, T0, add_events, event


def _events(seed: int = 7, n: int = 400) -> list[dict]:
    rng = np.random.default_rng(seed)
    types = [t for t in EVENT_TYPES if t not in ("visit", "subscribe")]
    rows = []
    for i in range(n):
        etype = types[rng.integers(len(types))]
        rows.append(
            event(
                f"u{rng.integers(12)}",
                etype,
                f"a{rng.integers(9)}",
                T0 + int(rng.integers(0, 40 * DAY)),
                event_id=f"e{i}",
                duration_ms=int(rng.integers(0, 300_000)) if rng.random() < 0.8 else None,
                count=int(rng.integers(0, 4)),
                tag="rock" if etype == "tag_artist" else None,
            )
        )
    return rows


@pytest.mark.postgres
def test_sqlite_and_postgres_build_the_same_matrix(sqlite_url, postgres_url):
    rows = _events()
    configs = [
        EngagementConfig(half_life_days=9, block_days=20),
        EngagementConfig(transform="bm25", unfollow_policy="negative", min_user_interactions=3),
    ]
    built: dict[str, list] = {}
    for url in (sqlite_url, postgres_url):
        engine = make_engine(url)
        init_db(engine)
        add_events(engine, rows)
        built[url] = [build_engagement(engine, cfg) for cfg in configs]
        engine.dispose()
    for lite, pg in zip(built[sqlite_url], built[postgres_url], strict=True):
        _assert_same(lite, pg)


def _assert_same(lite, pg) -> None:
    assert lite.X.nnz > 50 and (lite.blocked.nnz > 0 or lite.config.unfollow_policy == "ignore")
    assert lite.users == pg.users and lite.artists == pg.artists
    assert lite.built_at_ms == pg.built_at_ms
    assert np.array_equal(lite.X.indptr, pg.X.indptr)
    assert np.array_equal(lite.X.indices, pg.X.indices)
    np.testing.assert_allclose(lite.X.data, pg.X.data, rtol=1e-6)
    assert (lite.last_ms != pg.last_ms).nnz == 0
    assert (lite.blocked != pg.blocked).nnz == 0


@pytest.mark.parametrize("policy", ["remove", "negative", "ignore"])
def test_stream_and_sql_strategies_agree_on_sqlite(sqlite_url, policy):
    engine = make_engine(sqlite_url)
    init_db(engine)
    add_events(engine, _events(seed=3))
    for cfg in (
        EngagementConfig(unfollow_policy=policy, block_days=15),
        EngagementConfig(unfollow_policy=policy, half_life_days=4, transform="tfidf"),
    ):
        _assert_same(
            build_engagement(engine, cfg, strategy="stream"),
            build_engagement(engine, cfg, strategy="sql"),
        )
    engine.dispose()
