"""The engagement matrix built by Spark from Parquet files or PostgreSQL over JDBC.

Spark does the part that grows with the number of events: each row's weight (the
expression of :mod:`cratedig.matrix.rules`, rendered by :mod:`cratedig.spark.render`),
the unfollow policy (:func:`cratedig.matrix.rules.aggregation_plan`) and the
``GROUP BY user, artist``. Only one row per pair comes back to the driver, where
:func:`cratedig.matrix.engagement.assemble` (the same code as ``build_engagement``)
clips, filters, maps the ids, transforms and blocks.
"""

from __future__ import annotations

import time
from functools import reduce

import polars as pl
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from cratedig.events import EventType
from cratedig.exceptions import ValidationError
from cratedig.matrix import rules
from cratedig.matrix.aggregate import PAIR_SCHEMA, STATE_SCHEMA, Encoder, pair_key
from cratedig.matrix.engagement import Engagement, _empty, assemble
from cratedig.matrix.weights import EngagementConfig
from cratedig.spark.render import to_column

#: The ``user_events`` columns the matrix reads.
COLUMNS = ("user_id", "artist_id", "event_type", "occurred_at_ms", "duration_ms", "count")
PAIR = ["user_id", "artist_id"]


def read_events(spark: SparkSession, source: str) -> DataFrame:
    """The events of ``parquet:DIR`` (see ``cratedig export events``) or ``jdbc:URL``.

    A JDBC URL is PostgreSQL's (``jdbc:postgresql://host:5432/db?user=...``); the
    ``user_events`` table is read through the driver on Spark's class path
    (:func:`cratedig.spark.session.make_session`).
    """
    if source.startswith("parquet:"):
        frame = spark.read.parquet(source.removeprefix("parquet:"))
    elif source.startswith("jdbc:"):
        frame = (
            spark.read.format("jdbc")
            .option("url", source)
            .option("dbtable", "user_events")
            .option("driver", "org.postgresql.Driver")
            .option("fetchsize", "50000")
            .load()
        )
    else:
        raise ValidationError("events", source, "'parquet:DIR' or 'jdbc:postgresql://...'")
    return frame.select(*COLUMNS)


def _sums(base: DataFrame, config: EngagementConfig, now_ms: int) -> tuple[DataFrame, DataFrame]:
    """Per-pair weighted sums and last times, and the follow state of unfollowed pairs."""
    plan = rules.aggregation_plan(config)
    follow = F.col("event_type") == EventType.FOLLOW_ARTIST
    unfollow = F.col("event_type") == EventType.UNFOLLOW_ARTIST
    state = (
        base.where(F.col("event_type").isin(EventType.FOLLOW_ARTIST, EventType.UNFOLLOW_ARTIST))
        .groupBy(*PAIR)
        .agg(
            F.max(F.when(follow, F.col("occurred_at_ms"))).alias("last_follow_ms"),
            F.max(F.when(unfollow, F.col("occurred_at_ms"))).alias("last_unfollow_ms"),
        )
        .where(F.col("last_unfollow_ms").isNotNull())
    )
    parts = []
    if plan.summed_types:
        types = list(plan.summed_types)
        weight = to_column(rules.row_weight(config, types, now_ms))
        parts.append(
            base.where(F.col("event_type").isin(*types)).select(
                *PAIR, weight.alias("value"), F.col("occurred_at_ms").alias("last_ms")
            )
        )
    if plan.follows_after_unfollow:
        weight = to_column(rules.row_weight(config, [EventType.FOLLOW_ARTIST], now_ms))
        after = F.col("last_unfollow_ms").isNull() | (
            F.col("occurred_at_ms") > F.col("last_unfollow_ms")
        )
        parts.append(
            base.where(follow)
            .join(state.select(*PAIR, "last_unfollow_ms"), on=PAIR, how="left")
            .where(after)
            .select(*PAIR, weight.alias("value"), F.col("occurred_at_ms").alias("last_ms"))
        )
    if not parts:
        empty = base.select(*PAIR, F.lit(0.0).alias("value"), F.lit(0).alias("last_ms"))
        parts.append(empty.limit(0))
    union = reduce(DataFrame.unionByName, parts)
    sums = union.groupBy(*PAIR).agg(
        F.sum("value").alias("value"), F.max("last_ms").cast("long").alias("last_ms")
    )
    if not plan.read_state:
        state = state.limit(0)
    return sums, state


def _collect(frame: DataFrame) -> pl.DataFrame:
    """A small Spark result as a polars frame (through Arrow)."""
    return pl.from_arrow(frame.toArrow())  # type: ignore[return-value]


def spark_pairs(
    events: DataFrame, config: EngagementConfig | None = None
) -> tuple[pl.DataFrame, pl.DataFrame, int | None]:
    """Pair sums and follow state computed by Spark, collected with string ids.

    Returns
    -------
    (polars.DataFrame, polars.DataFrame, int or None)
        ``user_id, artist_id, value, last_ms`` (one row per pair, before clipping);
        ``user_id, artist_id, last_follow_ms, last_unfollow_ms`` (pairs with an
        unfollow); the "as of" time (``None``: no events).
    """
    config = config or EngagementConfig()
    now_ms = config.now_ms
    if now_ms is None:
        latest = events.agg(F.max("occurred_at_ms")).first()
        now_ms = None if latest is None or latest[0] is None else int(latest[0])
    if now_ms is None:
        return pl.DataFrame(), pl.DataFrame(), None
    base = events.where(F.col("artist_id").isNotNull() & (F.col("occurred_at_ms") <= now_ms))
    # the periods people excluded (matrix.weights.kept_events on the SQL side)
    for start, end, event_type in config.excluded_periods:
        excluded = (F.col("occurred_at_ms") >= start) & (F.col("occurred_at_ms") < end)
        if event_type is not None:
            excluded = excluded & (F.col("event_type") == event_type)
        base = base.where(~excluded)
    sums, state = _sums(base, config, now_ms)
    return _collect(sums), _collect(state), now_ms


def build_engagement_spark(events: DataFrame, config: EngagementConfig | None = None) -> Engagement:
    """The engagement matrix of a Spark events frame, equal to ``build_engagement``'s.

    Parameters
    ----------
    events
        A frame with the ``user_events`` columns :data:`COLUMNS` (:func:`read_events`).
    config
        As for :func:`cratedig.matrix.build_engagement`.
    """
    config = config or EngagementConfig()
    sums, state, now_ms = spark_pairs(events, config)
    return engagement_from_pairs(sums, state, now_ms, config)


def engagement_from_pairs(
    sums: pl.DataFrame, state: pl.DataFrame, now_ms: int | None, config: EngagementConfig
) -> Engagement:
    """The engagement matrix of what :func:`spark_pairs` collected (on the driver)."""
    if now_ms is None:
        return _empty(config, int(time.time() * 1000))
    users, artists = Encoder(), Encoder()
    pair_sums = pl.DataFrame(schema=PAIR_SCHEMA)
    if sums.height:
        pair_sums = sums.select(
            pair_key(users, artists, sums),
            pl.col("value").cast(pl.Float64),
            pl.col("last_ms").cast(pl.Int64),
        )
    follow_state = pl.DataFrame(schema=STATE_SCHEMA)
    if state.height:
        follow_state = state.select(
            pair_key(users, artists, state),
            pl.col("last_follow_ms", "last_unfollow_ms").cast(pl.Int64),
        )
    return assemble(pair_sums, follow_state, users.ids, artists.ids, config, now_ms)
