"""Hidden gems: lists entirely outside the popular head, in the base model's order."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from cratedig.models import make_model
from cratedig.models.hidden_gems import head_artists


def skewed_matrix() -> sp.csr_matrix:
    rng = np.random.default_rng(7)
    n_users, n_artists = 60, 40
    popularity = 1.0 / np.arange(1, n_artists + 1) ** 0.8
    rows, cols = [], []
    for user in range(n_users):
        chosen = rng.choice(n_artists, size=8, replace=False, p=popularity / popularity.sum())
        rows += [user] * 8
        cols += chosen.tolist()
    return sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(n_users, n_artists))


def test_head_is_the_top_fraction_by_listeners() -> None:
    assert head_artists(np.array([5.0, 9.0, 1.0, 9.0, 3.0]), 0.4).tolist() == [1, 3]
    assert head_artists(np.array([5.0, 9.0, 1.0]), 0.0).tolist() == []


def test_lists_are_all_outside_the_head_in_base_order() -> None:
    X = skewed_matrix()
    base_params = {"neighbours": 20}
    gems = make_model(
        "hidden_gems", base="item_knn", base_params=base_params, head_fraction=0.1
    ).fit(X)
    head = set(gems.head_.tolist())
    assert len(head) == 4
    listeners = np.bincount(X.indices, minlength=40)
    assert min(listeners[list(head)]) >= max(np.delete(listeners, list(head)))
    users = np.arange(60)
    idx, _ = gems.recommend(users, k=10)
    assert not head & set(idx[idx >= 0].tolist()), "100% of the lists outside the head"
    base_idx, _ = make_model("item_knn", **base_params).fit(X).recommend(users, k=40)
    for user in users:
        expected = [a for a in base_idx[user] if a >= 0 and a not in head][:10]
        assert idx[user][idx[user] >= 0].tolist() == expected


def test_popularity_penalised_is_soft() -> None:
    X = skewed_matrix()
    users = np.arange(60)
    base, _ = make_model("item_knn", neighbours=20).fit(X).recommend(users, k=10)
    same, _ = (
        make_model(
            "popularity_penalised", base="item_knn", base_params={"neighbours": 20}, penalty=0.0
        )
        .fit(X)
        .recommend(users, k=10)
    )
    np.testing.assert_array_equal(base, same)
    strong = make_model(
        "popularity_penalised", base="item_knn", base_params={"neighbours": 20}, penalty=5.0
    ).fit(X)
    penalised, _ = strong.recommend(users, k=10)
    listeners = np.bincount(X.indices, minlength=40)
    assert listeners[penalised[penalised >= 0]].mean() < listeners[base[base >= 0]].mean()
