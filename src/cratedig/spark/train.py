"""``cratedig spark train``: the matrix and ALS on Spark, a normal registry version out.

The Spark-built engagement (:func:`cratedig.spark.engagement.build_engagement_spark`)
and a :class:`cratedig.spark.als.SparkALS` factory go through
:func:`cratedig.pipeline.train.train`, the pipeline ``cratedig train`` runs: the same
holdout evaluation, artifacts, precomputed lists, similar artists, cold-start lists and
promotion rule. The service then serves the version with no change.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from cratedig.config import Settings
from cratedig.matrix.weights import EngagementConfig
from cratedig.pipeline import registry
from cratedig.pipeline.train import train
from cratedig.spark.als import SparkALS
from cratedig.spark.engagement import build_engagement_spark, read_events
from cratedig.spark.session import make_session

#: cratedig's ALS defaults (:class:`cratedig.models.als.ALS`).
DEFAULT_PARAMS: dict[str, Any] = {
    "factors": 64,
    "regularization": 0.05,
    "alpha": 2.0,
    "iterations": 15,
    "weighting": "log1p",
    "random_state": 0,
}


def spark_train(
    engine: Engine,
    settings: Settings,
    events: str,
    *,
    master: str = "local[2]",
    params: dict[str, Any] | None = None,
    shuffle_partitions: int = 8,
    config: EngagementConfig | None = None,
    k_lists: int = 50,
    k_similar: int = 20,
    seed: int = 0,
    progress: bool = False,
) -> registry.ModelVersion:
    """Build the matrix and fit ALS on Spark; register, evaluate and precompute a version.

    Parameters
    ----------
    engine, settings
        The store the version, its lists and its metrics are written to (and the
        settings' weights, artifacts folder and promotion margin).
    events
        ``parquet:DIR`` or ``jdbc:postgresql://...`` (:func:`read_events`).
    master
        Spark master URL.
    params
        ALS hyperparameters over :data:`DEFAULT_PARAMS`.
    config
        The engagement configuration; ``EngagementConfig.from_settings(settings)`` (what
        ``cratedig train`` uses) when ``None``.
    """
    spark = make_session(master, shuffle_partitions=shuffle_partitions)
    als_params = {**DEFAULT_PARAMS, **(params or {})}
    engagement = build_engagement_spark(
        read_events(spark, events), config or EngagementConfig.from_settings(settings)
    )

    return train(
        engine,
        settings,
        model_name="als",
        model_params=als_params,
        model_factory=lambda: SparkALS(**als_params),
        engagement=engagement,
        k_lists=k_lists,
        k_similar=k_similar,
        seed=seed,
        tune=False,
        progress=progress,
    )
