"""cratedig's ALS fitted by Spark MLlib (``pyspark.ml.recommendation.ALS``, implicit prefs).

:class:`SparkALS` is :class:`cratedig.models.als.ALS` with its ``_fit`` done by Spark:
the same hyperparameters, the same input re-weighting, the same learned arrays
(``user_factors_``, ``artist_factors_``). It saves under the registry name ``"als"``,
so a version trained on Spark loads, precomputes and serves like any other.

Two differences of MLlib's solver from ``implicit``'s (Hu, Koren, Volinsky 2008 both):
its L2 penalty on a user's (an item's) factors is scaled by that user's number of
nonzeros (ALS-WR, Zhou et al. 2008), and it solves each block exactly (Cholesky)
rather than by conjugate gradient.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from pyspark.ml.recommendation import ALS as MLlibALS
from pyspark.sql import SparkSession

from cratedig.matrix.side import SideInfo
from cratedig.matrix.transforms import reweight
from cratedig.models.als import ALS
from cratedig.models.checks import check_positive_int


def ratings_frame(spark: SparkSession, X: sp.csr_matrix) -> Any:
    """A ``user, item, rating`` Spark frame of the nonzeros of ``X``."""
    import pyarrow as pa

    coo = X.tocoo()
    table = pa.table(
        {
            "user": coo.row.astype(np.int32),
            "item": coo.col.astype(np.int32),
            "rating": coo.data.astype(np.float32),
        }
    )
    return spark.createDataFrame(table.to_pandas())


def _dense(frame: Any, n: int, rank: int) -> np.ndarray:
    """Factors of a ``id, features`` frame as an ``n x rank`` array (zeros for absent ids)."""
    out = np.zeros((n, rank), dtype=np.float32)
    rows = frame.toPandas()
    if len(rows):
        out[rows["id"].to_numpy()] = np.stack(rows["features"].to_numpy()).astype(np.float32)
    return out


class SparkALS(ALS):
    """:class:`~cratedig.models.als.ALS` fitted by Spark MLlib on the active SparkSession.

    Parameters are :class:`~cratedig.models.als.ALS`'s; ``num_threads`` is unused (Spark
    runs as many tasks as the master allows). ``fit_seconds_`` is MLlib's fit time.
    """

    name = "als"

    def _fit(self, X: sp.csr_matrix, side: SideInfo | None) -> None:
        import time

        check_positive_int("factors", self.factors)
        check_positive_int("iterations", self.iterations)
        spark = SparkSession.getActiveSession()
        if spark is None:
            from cratedig.spark.session import make_session

            spark = make_session()
        weighted = reweight(X, self.weighting)
        ratings = ratings_frame(spark, weighted).cache()
        ratings.count()
        mllib = MLlibALS(
            rank=self.factors,
            maxIter=self.iterations,
            regParam=self.regularization,
            alpha=self.alpha,
            implicitPrefs=True,
            userCol="user",
            itemCol="item",
            ratingCol="rating",
            seed=self.random_state,
            nonnegative=False,
            coldStartStrategy="drop",
        )
        started = time.perf_counter()
        fitted = mllib.fit(ratings)
        self.fit_seconds_ = time.perf_counter() - started
        ratings.unpersist()
        self.user_factors_ = _dense(fitted.userFactors, X.shape[0], self.factors)
        self.artist_factors_ = _dense(fitted.itemFactors, X.shape[1], self.factors)
