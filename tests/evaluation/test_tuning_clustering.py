"""Tuning picks the candidate that is best on validation; clustering scores."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from cratedig.evaluation.clustering import clustering_scores
from cratedig.evaluation.protocol import evaluate_model
from cratedig.evaluation.tuning import candidates, tune, tune_and_test
from cratedig.exceptions import ValidationError
from tests.evaluation.fakes import OrderedFake


def popularity_skewed_split(seed: int = 0) -> tuple[sp.csr_matrix, ...]:
    """Users pick items with probability falling with the item index (item 0 popular)."""
    rng = np.random.default_rng(seed)
    n_users, n_items = 60, 30
    p = 0.9 ** np.arange(n_items)
    dense = rng.random((n_users, n_items)) < p
    part = rng.integers(0, 3, size=dense.shape)
    mats = [sp.csr_matrix((dense & (part == i)).astype(np.float32)) for i in range(3)]
    return mats[0], mats[1], mats[2]


def test_candidates_grid_and_random() -> None:
    grid = {"a": [1, 2], "b": ["x", "y", "z"]}
    assert len(candidates(grid)) == 6
    drawn = candidates(grid, n_iter=3, seed=1)
    assert len(drawn) == 3 and drawn == candidates(grid, n_iter=3, seed=1)
    assert all(d in candidates(grid) for d in drawn)
    assert candidates({}) == [{}]
    with pytest.raises(ValidationError, match="n_iter"):
        candidates(grid, n_iter=0)


def test_tune_prefers_popular_order_on_skewed_data() -> None:
    train, val, _ = popularity_skewed_split()
    result = tune(OrderedFake, {"order": ["unpopular", "popular"]}, train, val, k=5, progress=False)
    assert result.metric == "ndcg@5"
    assert [t.params["order"] for t in result.trials] == ["unpopular", "popular"]
    assert result.best_params == {"order": "popular"}
    assert result.trials[1].score > result.trials[0].score


def test_tune_and_test_refits_on_train_plus_validation() -> None:
    train, val, test = popularity_skewed_split()
    result, scores = tune_and_test(
        OrderedFake, {"order": ["unpopular", "popular"]}, train, val, test, k=5, progress=False
    )
    assert result.best_params == {"order": "popular"}
    assert scores["users"] == float((np.diff(test.indptr) > 0).sum())
    assert 0.0 < scores["ndcg@5"] <= 1.0
    # the test scores are those of the best candidate fitted on train + validation
    refit = evaluate_model(OrderedFake(order="popular"), train + val, test, k=5)
    assert scores["ndcg@5"] == pytest.approx(refit["ndcg@5"])


def test_clustering_scores_separate_blobs() -> None:
    rng = np.random.default_rng(0)
    blob_a = rng.normal(0.0, 0.1, size=(30, 2))
    blob_b = rng.normal(5.0, 0.1, size=(30, 2))
    points = np.vstack([blob_a, blob_b, [[50.0, 50.0]]])
    labels = np.array([0] * 30 + [1] * 30 + [-1])
    scores = clustering_scores(points, labels)
    assert scores["n_clusters"] == 2
    assert scores["noise_share"] == pytest.approx(1 / 61)
    assert scores["silhouette"] > 0.9
    assert scores["davies_bouldin"] < 0.1
    assert scores["calinski_harabasz"] > 1000
    sparse = clustering_scores(sp.csr_matrix(points), labels, sample_size=None)
    assert sparse["silhouette"] == pytest.approx(scores["silhouette"])


def test_clustering_single_cluster_is_undefined() -> None:
    scores = clustering_scores(np.zeros((5, 2)), np.zeros(5, dtype=int))
    assert math.isnan(scores["silhouette"]) and scores["n_clusters"] == 1
