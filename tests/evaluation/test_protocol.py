"""The full-ranking protocol on a hand-made split."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from cratedig.evaluation.protocol import evaluate_model, evaluate_recommendations
from cratedig.exceptions import ValidationError
from cratedig.matrix.side import SideInfo
from tests.evaluation.fakes import OrderedFake


def matrix(rows: list[list[int]], n_items: int = 5) -> sp.csr_matrix:
    r = [i for i, items in enumerate(rows) for _ in items]
    c = [item for items in rows for item in items]
    return sp.csr_matrix((np.ones(len(c), dtype=np.float32), (r, c)), shape=(len(rows), n_items))


TRAIN = matrix([[0, 1], [0], [3]])
TEST = matrix([[2, 4], [3], []])  # user 2 has nothing held out: not evaluated


def test_evaluate_model_by_hand() -> None:
    result = evaluate_model(OrderedFake("index"), TRAIN, TEST, k=2)
    # user 0 gets [2, 3] (0, 1 masked): hit at rank 1 of 2 relevant
    # user 1 gets [1, 2]: no hit
    assert result["users"] == 2
    assert result["precision@2"] == pytest.approx((0.5 + 0.0) / 2)
    assert result["recall@2"] == pytest.approx((0.5 + 0.0) / 2)
    assert result["hit_rate@2"] == pytest.approx(0.5)
    ndcg_user0 = 1.0 / (1.0 + 1.0 / math.log2(3))
    assert result["ndcg@2"] == pytest.approx(ndcg_user0 / 2)
    assert result["map@2"] == pytest.approx((1.0 / 2) / 2)
    assert result["coverage@2"] == pytest.approx(3 / 5)  # items 1, 2, 3
    assert result["fit_seconds"] >= 0.0


def test_novelty_and_long_tail_use_training_popularity() -> None:
    head = np.array([True, False, False, False, False])
    result = evaluate_model(OrderedFake("index"), TRAIN, TEST, k=2, head_mask=head)
    # train popularity share: item0 2/3, item1 1/3, item2 0 (-> 1/3 users), item3 1/3
    assert result["novelty@2"] == pytest.approx(-math.log2(1 / 3))
    assert result["long_tail_share@2"] == 1.0
    # every test item is in the tail here, so long-tail NDCG equals NDCG
    assert result["ndcg_long_tail@2"] == pytest.approx(result["ndcg@2"])
    assert result["long_tail_users"] == 2


def test_training_items_recommended_back_count_as_misses() -> None:
    honest = evaluate_model(OrderedFake("index"), TRAIN, TEST, k=2)
    leaky = evaluate_model(OrderedFake("index", leak=True), TRAIN, TEST, k=2)
    # the leaky model recommends [0, 1] to user 0 and [0, 1] to user 1: all masked
    assert leaky["precision@2"] == 0.0
    assert honest["precision@2"] > 0.0


def test_users_are_restricted_to_those_with_test_items() -> None:
    result = evaluate_model(OrderedFake("index"), TRAIN, TEST, k=2, users=[1, 2])
    assert result["users"] == 1
    assert result["precision@2"] == 0.0


def test_batches_do_not_change_results() -> None:
    rng = np.random.default_rng(3)
    full = sp.random(40, 25, density=0.3, format="csr", random_state=4)
    full.data[:] = 1
    test_mask = rng.random(full.nnz) < 0.3
    train = full.copy()
    train.data = np.where(test_mask, 0.0, 1.0)
    train.eliminate_zeros()
    test = full.copy()
    test.data = np.where(test_mask, 1.0, 0.0)
    test.eliminate_zeros()
    one = evaluate_model(OrderedFake("popular"), train, test, k=5, batch_size=7)
    other = evaluate_model(OrderedFake("popular"), train, test, k=5, batch_size=1000)
    for key in ("ndcg@5", "recall@5", "coverage@5", "novelty@5"):
        assert one[key] == pytest.approx(other[key])


def test_diversity_from_side_tags() -> None:
    tags = sp.csr_matrix(np.array([[1, 0], [1, 0], [1, 0], [0, 1], [0, 1]], dtype=float))
    result = evaluate_model(OrderedFake("index"), TRAIN, TEST, k=2, side=SideInfo(artist_tags=tags))
    # user 0: items 2 (tag a), 3 (tag b) -> 1; user 1: items 1, 2 (both a) -> 0
    assert result["diversity@2"] == pytest.approx(0.5)


def test_evaluate_recommendations_precomputed() -> None:
    recs = np.array([[4, 2], [3, -1]])
    result = evaluate_recommendations(recs, TEST, k=2, users=[0, 1])
    assert result["precision@2"] == pytest.approx((1.0 + 0.5) / 2)
    assert result["recall@2"] == pytest.approx((1.0 + 1.0) / 2)
    assert result["ndcg@2"] == pytest.approx(1.0)


def test_shape_mismatch_is_reported() -> None:
    with pytest.raises(ValidationError, match="test"):
        evaluate_model(OrderedFake(), TRAIN, matrix([[1]], n_items=4), k=2)
