"""Batch explanations name the same artists as the per-pair definition of each model.

The references below are the per-(user, artist) contributions the models used before
explanations were computed a batch at a time: EASE ``x_uh * B[h, i]``, item-kNN
``w_uh * S[h, i]``, ALS the factor-space cosine of ``h`` and ``i``, and the base class's
listener-set cosine times ``|x_uh|`` (EASE's fallback for artists outside its model).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp

from cratedig.evaluation.metrics import ndcg_at_k
from cratedig.models import Recommender, load_model, make_model
from cratedig.models.explain import REASONS
from cratedig.models.ranking import mean_ndcg_of_scores


def random_matrix(seed: int = 3, users: int = 40, artists: int = 30) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    dense = rng.random((users, artists)) < 0.2
    counts = rng.integers(1, 200, size=(users, artists)).astype(np.float32)
    return sp.csr_matrix(np.where(dense, counts, 0.0).astype(np.float32))


def reference_terms(model: Any, user: int, artist: int) -> tuple[np.ndarray, np.ndarray]:
    """(history, contribution of each history artist to ``artist``) per the model's maths."""
    X = model.X_
    seen = X.indices[X.indptr[user] : X.indptr[user + 1]]
    weights = X.data[X.indptr[user] : X.indptr[user + 1]]
    if model.name == "ease" and artist in set(model.artists_.tolist()):
        dense = np.zeros(model.n_artists_, dtype=np.float32)
        row = model.weighted_[user]
        dense[model.artists_[row.indices]] = row.data
        column = np.zeros(model.n_artists_, dtype=np.float32)
        column[model.artists_] = model.B_[:, np.searchsorted(model.artists_, artist)]
        return seen, dense[seen] * column[seen]
    if model.name == "item_knn":
        column = model.similarity_[:, artist].toarray().ravel()
        return seen, model.weighted_[user].toarray().ravel()[seen] * column[seen]
    if model.name == "als":
        f = model.artist_factors_
        norms = np.linalg.norm(f, axis=1) + 1e-12
        return seen, (f[seen] @ f[artist]) / (norms[seen] * norms[artist])
    binary = (X != 0).astype(np.float32)
    co = (binary.T @ binary[:, [artist]]).toarray().ravel()
    norms = np.sqrt(model.popularity_ * max(model.popularity_[artist], 1.0))
    return seen, np.where(co[seen] > 0, co[seen] / norms[seen] * np.abs(weights), 0.0)


def reference_reasons(model: Any, user: int, artist: int) -> list[int]:
    seen, terms = reference_terms(model, user, artist)
    order = np.argsort(-terms, kind="stable")[:REASONS]
    return [int(seen[i]) for i in order if terms[i] > 0]


MODELS = [
    ("ease", {"l2": 5.0}),
    ("ease", {"l2": 5.0, "max_artists": 12, "weighting": "root4", "row_norm": 0.5}),
    ("item_knn", {"neighbours": 8}),
    ("als", {"factors": 6, "iterations": 5}),
]


@pytest.mark.parametrize(("name", "params"), MODELS)
def test_batch_reasons_are_the_top_contributors(name: str, params: dict[str, Any]) -> None:
    X = random_matrix()
    model = make_model(name, **params).fit(X)
    users = np.arange(X.shape[0])
    items = np.tile(np.arange(X.shape[1]), (len(users), 1))
    reasons = model._reasons(users, items)
    for user in users.tolist():
        for artist in range(X.shape[1]):
            named = [int(a) for a in reasons[user, artist] if a >= 0]
            assert named == reference_reasons(model, user, artist), (user, artist)


def test_ease_outside_its_model_falls_back_to_listener_cosine() -> None:
    X = random_matrix()
    model = make_model("ease", l2=5.0, max_artists=10).fit(X)
    outside = np.setdiff1d(np.arange(X.shape[1]), model.artists_)
    users = np.arange(X.shape[0])
    reasons = model._reasons(users, np.tile(outside, (len(users), 1)))
    for user in users.tolist():
        for col, artist in enumerate(outside.tolist()):
            binary = (X != 0).astype(np.float32)
            co = (binary.T @ binary[:, [artist]]).toarray().ravel()
            seen = X[user].indices
            listeners = model.popularity_
            sim = co[seen] / np.sqrt(listeners[seen] * max(listeners[artist], 1.0))
            terms = np.where(co[seen] > 0, sim * np.abs(X[user].data), 0.0)
            expected = [int(seen[i]) for i in np.argsort(-terms, kind="stable")[:2] if terms[i] > 0]
            assert [int(a) for a in reasons[user, col] if a >= 0] == expected


@pytest.mark.parametrize("name", ["default", "hidden_gems", "popularity", "association_rules"])
def test_batch_sentences_equal_single_ones(name: str) -> None:
    X = random_matrix(users=30, artists=25)
    model: Recommender = make_model(name).fit(X)
    users = np.arange(X.shape[0])
    items, _ = model.recommend(users, k=5)
    batch = model.explain_batch(users, items)
    for user in users.tolist():
        for col, artist in enumerate(items[user].tolist()):
            if artist < 0:
                assert batch[user][col] is None
            else:
                assert batch[user][col] == model.explain(user, artist)


def test_hidden_gems_reuses_a_fitted_base_and_saves_the_matrix_once(tmp_path: Any) -> None:
    X = random_matrix()
    base = make_model("default").fit(X)
    gems = make_model("hidden_gems").fit(X, base_model=base)
    assert gems.base_model_ is base
    gems.save(tmp_path / "gems")
    matrices = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("X_.npz"))
    assert [str(p) for p in matrices] == ["gems/base/X_.npz"]
    loaded = load_model(tmp_path / "gems")
    assert loaded.base_model_.models_[0].X_ is loaded.X_
    users = np.arange(X.shape[0])
    np.testing.assert_array_equal(loaded.recommend(users, k=5)[0], gems.recommend(users, k=5)[0])


def test_mean_ndcg_of_scores_is_the_evaluation_ndcg() -> None:
    rng = np.random.default_rng(0)
    scores = rng.random((20, 15)).astype(np.float32)
    scores[rng.random(scores.shape) < 0.2] = -np.inf
    truth = sp.csr_matrix((rng.random((20, 15)) < 0.15).astype(np.float32))
    lists = np.argsort(-scores, axis=1, kind="stable")[:, :5]
    lists = np.where(np.isfinite(np.take_along_axis(scores, lists, 1)), lists, -1)
    per_user = np.nan_to_num(ndcg_at_k(lists, truth, k=5), nan=0.0)
    assert mean_ndcg_of_scores(scores, truth, k=5) == pytest.approx(per_user.mean())
