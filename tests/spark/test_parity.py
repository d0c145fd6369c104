"""Parity: the Spark-built engagement matrix equals build_engagement's.

Same users, artists and non-zeros; the float64 pair sums within 1e-9 (the float32 ``X``
then agrees to float32 rounding); the same last-interaction times and blocked pairs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Engine, make_url

from cratedig.events import EventType
from cratedig.matrix import EngagementConfig, build_engagement
from cratedig.matrix.aggregate import Encoder, can_stream, read_sql, read_stream
from cratedig.matrix.engagement import ZERO
from cratedig.store import init_db, make_engine
from cratedig.store.reads import latest_event_ms, table_counts
from cratedig.store.schema import user_events
from tests.spark.conftest import SITE

# one worker (one SparkSession) runs every Spark test under `-n 2 --dist loadgroup`
pytestmark = [pytest.mark.spark, pytest.mark.xdist_group("spark")]

CONFIGS = {
    "default": EngagementConfig(),
    "decay-negative-filtered": EngagementConfig(
        half_life_days=7.0,
        unfollow_policy="negative",
        min_user_interactions=3,
        min_artist_interactions=2,
        skip_fraction=0.25,
        block_days=None,
    ),
    "ignore-log1p-one-round": EngagementConfig(
        unfollow_policy="ignore",
        transform="log1p",
        min_user_interactions=2,
        filter_until_stable=False,
    ),
    "remove-bm25-no-follow": EngagementConfig(
        weights={**EngagementConfig().weights, EventType.FOLLOW_ARTIST: 0.0},
        transform="bm25",
        block_days=10.0,
    ),
}


def _cratedig_sums(engine: Engine, config: EngagementConfig) -> dict[tuple[str, str], float]:
    """build_engagement's own float64 pair sums (before the float32 cast), clipped."""
    users, artists = Encoder(), Encoder()
    with engine.connect() as conn:
        now_ms = config.now_ms if config.now_ms is not None else latest_event_ms(conn)
        assert now_ms is not None
        if not can_stream(engine):
            sums, _ = read_sql(conn, config, now_ms, users, artists)
    if can_stream(engine):
        sums, _ = read_stream(engine, config, now_ms, users, artists)
    uids, aids = users.ids.to_list(), artists.ids.to_list()
    out = {}
    for key, value in zip(sums["key"].to_list(), sums["value"].to_list(), strict=True):
        if value > ZERO:
            out[(uids[key >> 32], aids[key & 0xFFFFFFFF])] = value
    return out


def assert_parity(engine: Engine, events: Any, config: EngagementConfig) -> None:
    from cratedig.spark.engagement import engagement_from_pairs, spark_pairs

    expected = build_engagement(engine, config)
    sums, state, now_ms = spark_pairs(events, config)
    got = engagement_from_pairs(sums, state, now_ms, config)
    assert got.users.ids == expected.users.ids
    assert got.artists.ids == expected.artists.ids
    assert got.built_at_ms == expected.built_at_ms
    for name in ("X", "last_ms", "blocked"):
        a, b = getattr(got, name), getattr(expected, name)
        assert a.shape == b.shape and a.nnz == b.nnz, name
        assert np.array_equal(a.indptr, b.indptr) and np.array_equal(a.indices, b.indices), name
    assert np.array_equal(got.last_ms.data, expected.last_ms.data)
    assert got.X.dtype == expected.X.dtype == np.float32
    np.testing.assert_allclose(got.X.data, expected.X.data, rtol=1e-6, atol=0)
    assert expected.X.nnz > 0

    # the float64 sums, before filters and the float32 cast: within 1e-9
    want = _cratedig_sums(engine, config)
    have = {
        (u, a): v
        for u, a, v in zip(sums["user_id"], sums["artist_id"], sums["value"], strict=True)
        if v > ZERO
    }
    assert have.keys() == want.keys()
    worst = max(abs(have[k] - want[k]) for k in want)
    assert worst <= 1e-9, worst


def test_site_has_every_rule_to_check(site_store: Engine) -> None:
    """The simulated site exercises plays with durations, follows and unfollows."""
    from sqlalchemy import func, select

    with site_store.connect() as conn:
        kinds = dict(
            conn.execute(
                select(user_events.c.event_type, func.count()).group_by(user_events.c.event_type)
            ).all()
        )
    for kind in ("play_track", "follow_artist", "unfollow_artist", "like_track"):
        assert kinds.get(kind, 0) > 0, kind


@pytest.mark.parametrize("name", list(CONFIGS))
def test_simulated_site_parity(
    spark: Any, site_store: Engine, site_parquet: str, name: str
) -> None:
    from cratedig.spark.engagement import read_events

    assert_parity(site_store, read_events(spark, site_parquet), CONFIGS[name])


@pytest.mark.slow
@pytest.mark.realdata
def test_hetrec_parity(spark: Any, hetrec_store: Engine, hetrec_parquet: str) -> None:
    from cratedig.spark.engagement import read_events

    config = EngagementConfig()
    assert_parity(hetrec_store, read_events(spark, hetrec_parquet), config)
    expected = build_engagement(hetrec_store, config)
    assert expected.shape[0] >= 1800 and expected.X.nnz > 90_000  # all of HetRec's plays


def test_export_partitions_by_day(site_store: Engine, site_parquet: str) -> None:
    import polars as pl

    folder = Path(site_parquet.removeprefix("parquet:"))
    days = sorted(p.name for p in folder.iterdir())
    assert days and all(d.startswith("day=") for d in days)
    assert len(days) >= SITE.days - 1
    frame = pl.read_parquet(folder / "**/*.parquet", hive_partitioning=True)
    assert frame.height == table_counts(site_store, [user_events])["user_events"]
    assert frame["event_id"].n_unique() == frame.height
    day = (frame["occurred_at_ms"] // 86_400_000).cast(pl.Int64)
    first = frame.with_columns(d=day).group_by("day").agg(pl.col("d").n_unique())
    assert first["d"].max() == 1  # one UTC day per partition


@pytest.mark.slow
@pytest.mark.postgres
def test_jdbc_parity(spark: Any, postgres_url: str) -> None:
    """Events read from PostgreSQL over JDBC give the same matrix as the SQL path."""
    from cratedig.simulator.config import SimulationConfig
    from cratedig.simulator.site import simulate_to_store
    from cratedig.spark.engagement import read_events
    from cratedig.spark.session import jdbc_jar

    if jdbc_jar() is None:
        message = "the PostgreSQL JDBC driver is missing (apt-get install libpostgresql-jdbc-java)"
        from tests.conftest import IN_CI

        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    engine = make_engine(postgres_url)
    init_db(engine)
    simulate_to_store(engine, SimulationConfig(n_users=60, n_artists=80, n_events=4_000, seed=3))
    url = make_url(postgres_url)
    jdbc = f"jdbc:postgresql://{url.host}:{url.port or 5432}/{url.database}?user={url.username}"
    try:
        assert_parity(engine, read_events(spark, jdbc), CONFIGS["decay-negative-filtered"])
        assert_parity(engine, read_events(spark, jdbc), CONFIGS["default"])
    finally:
        engine.dispose()
