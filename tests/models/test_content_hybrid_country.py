"""Tag content, the hybrid's learned blend and country popularity, on the checkerboard."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from cratedig.matrix.side import SideInfo
from cratedig.models import make_model
from cratedig.models.ranking import mean_ndcg_of_scores
from tests.models.conftest import BLOCK_ARTISTS, BLOCK_USERS, NEW_ARTIST


def test_tag_content_recommends_an_artist_nobody_listens_to(
    X: sp.csr_matrix, side: SideInfo
) -> None:
    model = make_model("tag_content").fit(X, side)
    idx, _ = model.recommend(np.arange(BLOCK_USERS), k=5)
    assert (idx == NEW_ARTIST).any(axis=1).all()
    text = model.explain(0, NEW_ARTIST)
    assert text.startswith("tagged ") and ("indie" in text or "shoegaze" in text)


def test_ndcg_helper_by_hand() -> None:
    truth = sp.csr_matrix(np.array([[0, 1, 0, 0], [1, 0, 0, 1]], np.float32))
    scores = np.array([[3, 2, 1, 0], [3, 2, 1, 0]], np.float32)
    first = 1 / np.log2(3)
    second = 1.0 / (1 + 1 / np.log2(3))  # hit at rank 1 only, two relevant
    assert mean_ndcg_of_scores(scores, truth, k=2) == pytest.approx((first + second) / 2)


def test_hybrid_learns_weights_on_validation(X: sp.csr_matrix, side: SideInfo) -> None:
    users = np.arange(2 * BLOCK_USERS)
    held_out = [(u // BLOCK_USERS) * BLOCK_ARTISTS + (u + 4) % BLOCK_ARTISTS for u in users]
    validation = sp.csr_matrix((np.ones(len(users), np.float32), (users, held_out)), shape=X.shape)
    model = make_model(
        "hybrid",
        components=[["popularity", {}], ["item_knn", {"neighbours": 5}]],
        weights=[1.0, 0.0],
    ).fit(X, side, validation=validation)
    assert model.weights_[1] > 0
    popularity_only = make_model("popularity").fit(X)
    scores = popularity_only.scores(users)
    scores[X[users].nonzero()] = -np.inf
    assert model.validation_ndcg_ > mean_ndcg_of_scores(scores, validation[users])


def test_country_popularity_per_country(X: sp.csr_matrix, side: SideInfo) -> None:
    model = make_model("popularity_country").fit(X, side)
    idx, _ = model.recommend_for_country(1, k=BLOCK_ARTISTS)
    assert set(idx.tolist()) == set(range(BLOCK_ARTISTS, 2 * BLOCK_ARTISTS))
    assert model.explain(12, 9) == "popular with listeners in BR"
    unknown, _ = model.recommend_for_country(7, k=3)  # unknown country: global list
    global_idx, _ = make_model("popularity").fit(X).recommend([20], k=3)
    np.testing.assert_array_equal(unknown, global_idx[0])
