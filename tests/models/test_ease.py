"""EASE against a direct numpy computation of its closed form, and its catalogue cap."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from cratedig.models import make_model


def test_closed_form_matches_numpy() -> None:
    rng = np.random.default_rng(3)
    dense = (rng.random((12, 6)) < 0.5) * rng.integers(1, 5, (12, 6))
    dense[0, :] = 1  # every artist has a listener
    X = sp.csr_matrix(dense.astype(np.float32))
    l2 = 0.7
    model = make_model("ease", l2=l2, weighting="none", max_artists=100).fit(X)
    gram = dense.T.astype(np.float64) @ dense + l2 * np.eye(6)
    P = np.linalg.inv(gram)
    expected = np.eye(6) - P / np.diag(P)[None, :]
    np.fill_diagonal(expected, 0.0)
    np.testing.assert_array_equal(model.artists_, np.arange(6))
    np.testing.assert_allclose(model.B_, expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(model.scores(np.arange(12)), dense @ expected, rtol=1e-4, atol=1e-4)


def test_catalogue_cap_keeps_the_most_listened_artists() -> None:
    listeners = [5, 1, 4, 2, 3]  # artist a has listeners[a] users
    rows = [u for a, n in enumerate(listeners) for u in range(n)]
    cols = [a for a, n in enumerate(listeners) for _ in range(n)]
    X = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(6, 5))
    model = make_model("ease", l2=1.0, max_artists=3).fit(X)
    assert model.artists_.tolist() == [0, 2, 4]
    scores = model.scores([0, 1])  # user 5 has no history: popularity fallback
    assert np.isneginf(scores[:, [1, 3]]).all()
    idx, _ = model.recommend([0], k=5)
    assert set(idx[0][idx[0] >= 0].tolist()) <= {2, 4}
