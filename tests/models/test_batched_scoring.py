"""The batched paths of training give exactly what the per-row definitions give.

References are the code the batched paths replaced: the listener-set cosine artist by
artist, EASE's ``B`` rows, the hybrid blend over full rows with ``nanmin``/``nanmax``
normalisation and explanations that re-score the batch.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from cratedig.models import Recommender, make_model
from cratedig.models.ranking import normalise_rows


def random_matrix(seed: int = 5, users: int = 60, artists: int = 45) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    dense = rng.random((users, artists)) < 0.15
    dense[-1] = False  # one user without history
    counts = rng.integers(1, 200, size=(users, artists)).astype(np.float32)
    return sp.csr_matrix(np.where(dense, counts, 0.0).astype(np.float32))


def reference_minmax(scores: np.ndarray) -> np.ndarray:
    finite = np.isfinite(scores)
    masked = np.where(finite, scores, np.nan)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows
        low = np.nanmin(masked, axis=1, keepdims=True)
        high = np.nanmax(masked, axis=1, keepdims=True)
        out = (masked - low) / np.maximum(high - low, 1e-9)
    return np.nan_to_num(out, nan=0.0).astype(np.float32)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_minmax_matches_the_nan_reductions(dtype: type) -> None:
    rng = np.random.default_rng(0)
    scores = rng.standard_normal((30, 50)).astype(dtype)
    scores[rng.random(scores.shape) < 0.3] = -np.inf
    scores[rng.random(scores.shape) < 0.05] = np.nan
    scores[3] = -np.inf  # a row without candidates
    scores[4] = 7.0  # a constant row
    out, finite = normalise_rows(scores, "minmax")
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, reference_minmax(scores))
    np.testing.assert_array_equal(finite, np.isfinite(scores))


def test_cosine_block_matches_artist_by_artist() -> None:
    X = random_matrix()
    model = make_model("popularity").fit(X)
    artists = np.arange(X.shape[1])
    block = model._cosine_block(artists)
    for artist in artists.tolist():
        np.testing.assert_array_equal(block[artist], Recommender._similar_scores(model, artist))


def test_cosine_block_follows_a_refit() -> None:
    model = make_model("popularity").fit(random_matrix(seed=5))
    model._cosine_block(np.arange(10))  # builds the listener pattern of the first fit
    X = random_matrix(seed=6)
    model.fit(X)
    block = model._cosine_block(np.arange(X.shape[1]))
    for artist in range(X.shape[1]):
        np.testing.assert_array_equal(block[artist], Recommender._similar_scores(model, artist))


def test_ease_similar_block_and_candidate_scores() -> None:
    X = random_matrix()
    model = make_model("ease", l2=10.0, max_artists=20).fit(X)
    artists = np.arange(X.shape[1])
    block = model._similar_block(artists)
    for artist in artists.tolist():
        np.testing.assert_array_equal(block[artist], model._similar_scores(artist))
    warm = np.arange(X.shape[0] - 1)
    columns, values = model.candidate_scores(warm)
    assert columns is not None
    np.testing.assert_array_equal(values, model.scores(warm)[:, columns])
    assert model.candidate_scores(np.arange(X.shape[0]))[0] is None  # a cold user: all


def test_hybrid_blend_and_explanations_match_full_rows() -> None:
    X = random_matrix()
    params = {
        "components": [["ease", {"l2": 10.0, "max_artists": 20}], ["item_knn", {}]],
        "weights": [1.0, 0.5],
    }
    model = make_model("hybrid", **params).fit(X)
    users = np.arange(X.shape[0] - 1)
    expected = np.zeros((len(users), X.shape[1]), dtype=np.float32)
    candidates = np.zeros(expected.shape, dtype=bool)
    for weight, component in zip(model.weights_, model.models_, strict=True):
        scores = component.scores(users)
        expected += weight * reference_minmax(scores)
        candidates |= np.isfinite(scores)
    expected = np.where(candidates, expected, -np.inf).astype(np.float32)
    np.testing.assert_array_equal(model.scores(users), expected)
    items, _ = model.recommend(users, k=5)
    after_ranking = model.explain_batch(users, items)  # reuses the blocks just ranked
    model.scores(users[:3])  # another batch in between: recomputed
    recomputed = model.explain_batch(users, items)
    assert after_ranking == recomputed
    for row, texts in zip(items.tolist(), recomputed, strict=True):
        assert [text is None for text in texts] == [item < 0 for item in row]


def test_hybrid_explanations_after_a_refit_are_the_new_fits() -> None:
    params = {
        "components": [["ease", {"l2": 10.0, "max_artists": 20}], ["item_knn", {}]],
        "weights": [1.0, 0.5],
    }
    model = make_model("hybrid", **params).fit(random_matrix(seed=5))
    users = np.arange(20)
    model.scores(users)  # keeps the first fit's blocks of these users
    X = random_matrix(seed=6)
    model.fit(X)
    fresh = make_model("hybrid", **params).fit(X)
    items, _ = fresh.recommend(users, k=5)
    assert model.explain_batch(users, items) == fresh.explain_batch(users, items)
