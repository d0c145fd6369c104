"""EASE against a direct numpy computation of its closed form (plain and DLAE), its
catalogue cap, row normalisation and popularity exponent."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from cratedig.exceptions import ValidationError
from cratedig.matrix.transforms import reweight
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


def _small_counts() -> np.ndarray:
    rng = np.random.default_rng(7)
    dense = (rng.random((15, 6)) < 0.5) * rng.integers(1, 50, (15, 6))
    dense[0, :] = 3  # every artist has a listener
    return dense.astype(np.float64)


def _numpy_ease(dense: np.ndarray, diagonal: np.ndarray) -> np.ndarray:
    P = np.linalg.inv(dense.T @ dense + np.diag(diagonal))
    B = np.eye(dense.shape[1]) - P / np.diag(P)[None, :]
    np.fill_diagonal(B, 0.0)
    return B


def test_zero_dropout_row_norm_and_popularity_exponent_are_plain_ease() -> None:
    X = sp.csr_matrix(_small_counts().astype(np.float32))
    plain = make_model("ease", l2=5.0).fit(X)
    explicit = make_model("ease", l2=5.0, dropout=0.0, row_norm=0.0, popularity_exponent=0.0).fit(X)
    np.testing.assert_array_equal(explicit.B_, plain.B_)
    np.testing.assert_array_equal(explicit.scores(np.arange(15)), plain.scores(np.arange(15)))


def test_dropout_adds_p_over_1_minus_p_times_the_gram_diagonal() -> None:
    dense = _small_counts()
    X = sp.csr_matrix(dense.astype(np.float32))
    l2, p = 2.0, 0.5
    model = make_model("ease", l2=l2, dropout=p, weighting="none").fit(X)
    gram_diagonal = (dense**2).sum(axis=0)
    expected = _numpy_ease(dense, l2 + p / (1 - p) * gram_diagonal)
    np.testing.assert_allclose(model.B_, expected, rtol=1e-3, atol=1e-5)


def test_dropout_hand_checked_on_two_artists() -> None:
    # X^T X = [[2, 1], [1, 1]]; p = 0.5 doubles the diagonal, l2 = 1 adds one more:
    # X^T X + Lambda = [[5, 1], [1, 3]], P = [[3, -1], [-1, 5]] / 14,
    # B[0, 1] = -P[0, 1] / P[1, 1] = 1 / 5 and B[1, 0] = -P[1, 0] / P[0, 0] = 1 / 3.
    X = sp.csr_matrix(np.array([[1, 1], [1, 0]], dtype=np.float32))
    model = make_model("ease", l2=1.0, dropout=0.5, weighting="none").fit(X)
    np.testing.assert_allclose(model.B_, [[0.0, 1 / 5], [1 / 3, 0.0]], rtol=1e-5)
    np.testing.assert_allclose(model.scores([1])[0], [0.0, 1 / 5], rtol=1e-5, atol=1e-7)


def test_row_norm_divides_rows_by_a_power_of_their_norm() -> None:
    dense = _small_counts()
    X = sp.csr_matrix(dense.astype(np.float32))
    model = make_model("ease", l2=3.0, row_norm=0.5, weighting="none").fit(X)
    norms = np.linalg.norm(dense, axis=1)
    scaled = dense / norms[:, None] ** 0.5
    expected = _numpy_ease(scaled, np.full(6, 3.0))
    np.testing.assert_allclose(model.B_, expected, rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(model.scores(np.arange(15)), scaled @ expected, rtol=1e-3, atol=1e-4)


def test_popularity_exponent_divides_scores_by_listeners() -> None:
    X = sp.csr_matrix(_small_counts().astype(np.float32))
    plain = make_model("ease", l2=5.0).fit(X)
    damped = make_model("ease", l2=5.0, popularity_exponent=0.5).fit(X)
    listeners = np.diff(X.tocsc().indptr).astype(np.float64)
    np.testing.assert_allclose(
        damped.scores(np.arange(15)),
        plain.scores(np.arange(15)) / listeners[None, :] ** 0.5,
        rtol=1e-5,
        atol=1e-6,
    )
    np.testing.assert_array_equal(damped.B_, plain.B_)  # similar artists are unchanged


@pytest.mark.parametrize(
    ("param", "value"),
    [("dropout", 1.0), ("dropout", -0.1), ("row_norm", -1.0), ("popularity_exponent", -0.5)],
)
def test_invalid_new_hyperparameters_are_rejected(param: str, value: float) -> None:
    X = sp.csr_matrix(_small_counts().astype(np.float32))
    with pytest.raises(ValidationError, match=param):
        make_model("ease", **{param: value}).fit(X)


def test_root4_weighting_is_the_fourth_root() -> None:
    X = sp.csr_matrix(np.array([[16.0, 0.0], [1.0, 81.0]], dtype=np.float32))
    out = reweight(X, "root4")
    np.testing.assert_allclose(out.toarray(), [[2.0, 0.0], [1.0, 3.0]], rtol=1e-6)
