"""The one holdout loop that ``cratedig evaluate`` and ``cratedig train`` share."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from cratedig.evaluation.holdout import Holdout, score_model, score_models
from cratedig.evaluation.protocol import evaluate_model
from cratedig.matrix.split import random_holdout
from cratedig.pipeline.train import _evaluate
from tests.evaluation.fakes import OrderedFake


def _matrix(seed: int = 1) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    dense = (rng.random((40, 25)) < 0.3) * rng.integers(1, 5, (40, 25))
    return sp.csr_matrix(dense.astype(np.float32))


def test_split_is_random_holdout() -> None:
    X = _matrix()
    holdout = Holdout.split(X, seed=7)
    for got, expected in zip(
        (holdout.train, holdout.validation, holdout.test), random_holdout(X, seed=7), strict=True
    ):
        assert (got != expected).nnz == 0
    assert (holdout.fit_matrix != holdout.train + holdout.validation).nnz == 0
    assert holdout.describe() == "per-user random holdout 80/10/10"


def test_untuned_score_fits_on_train_and_validation() -> None:
    X = _matrix()
    holdout = Holdout.split(X, seed=3)
    got = score_model(lambda: OrderedFake("popular"), holdout, k=5)
    expected = evaluate_model(OrderedFake("popular"), holdout.fit_matrix, holdout.test, 5)
    assert {k: v for k, v in got.items() if "seconds" not in k} == {
        k: v for k, v in expected.items() if "seconds" not in k
    }
    # training scores a model with the very same loop (k = 10)
    trained = _evaluate(lambda: OrderedFake("popular"), X, None, 3)
    again = score_model(lambda: OrderedFake("popular"), holdout, k=10)
    assert trained["ndcg@10"] == again["ndcg@10"] and trained["users"] == again["users"]


def test_tuned_score_records_the_choice() -> None:
    holdout = Holdout.split(_matrix(), seed=0)
    got = score_model(
        lambda order="index": OrderedFake(order), holdout, k=5, grid={"order": ["popular", "index"]}
    )
    assert got["params"]["order"] in {"popular", "index"}
    assert 0.0 <= got["validation_ndcg@5"] <= 1.0 and 0.0 <= got["ndcg@5"] <= 1.0


def test_score_models_by_name_in_order() -> None:
    holdout = Holdout.split(_matrix(), seed=0)
    seen: list[str] = []
    grids: dict[str, Any] = {"popularity": {}, "item_knn": {"neighbours": [5, 10]}}
    results = score_models(
        ["popularity", "item_knn"], holdout, k=5, grids=grids.__getitem__, on_model=seen.append
    )
    assert list(results) == seen == ["popularity", "item_knn"]
    assert results["item_knn"]["params"]["neighbours"] in {5, 10}
    assert 0.0 <= results["popularity"]["ndcg@5"] <= 1.0
