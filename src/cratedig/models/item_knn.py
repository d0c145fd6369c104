"""Item-based nearest neighbours: artists like the ones a user already engages with."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from cratedig.matrix.side import SideInfo
from cratedig.matrix.transforms import reweight
from cratedig.models.base import FloatArray, IntArray, Recommender
from cratedig.models.checks import check_positive_int, invalid
from cratedig.models.explain import REASONS, top_contributors

SIMILARITIES = ("cosine", "jaccard", "asymmetric_cosine")


def keep_top_per_row(matrix: sp.csr_matrix, n: int) -> sp.csr_matrix:
    """Keep the ``n`` largest entries of each row of a CSR matrix (ties: lower column)."""
    matrix = sp.csr_matrix(matrix)
    lengths = np.diff(matrix.indptr)
    if (lengths <= n).all():
        return matrix
    keep = np.ones(matrix.nnz, dtype=bool)
    for row in np.flatnonzero(lengths > n):
        start, end = matrix.indptr[row], matrix.indptr[row + 1]
        values = matrix.data[start:end]
        order = np.lexsort((matrix.indices[start:end], -values))
        keep[start + order[n:]] = False
    rows = np.repeat(np.arange(matrix.shape[0]), lengths)[keep]
    return sp.csr_matrix((matrix.data[keep], (rows, matrix.indices[keep])), shape=matrix.shape)


def item_similarity(
    weighted: sp.csr_matrix, similarity: str, alpha: float = 0.5, shrink: float = 0.0
) -> sp.csr_matrix:
    """Artist x artist similarity from a users x artists matrix, diagonal removed.

    ``cosine``: w_a . w_b / (|w_a| |w_b| + shrink); ``jaccard``: |A & B| / |A | B| on
    listener sets; ``asymmetric_cosine``: |A & B| / (|A|^alpha |B|^(1 - alpha)).
    """
    if similarity not in SIMILARITIES:
        raise invalid("similarity", similarity, f"one of: {', '.join(SIMILARITIES)}")
    if similarity == "cosine":
        co = sp.csr_matrix(weighted.T @ weighted)
        norms = np.sqrt(np.asarray(weighted.multiply(weighted).sum(axis=0)).ravel())
        rows = np.repeat(np.arange(co.shape[0]), np.diff(co.indptr))
        co.data = co.data / (norms[rows] * norms[co.indices] + shrink + 1e-12)
    else:
        binary = weighted.copy()
        binary.data = np.ones_like(binary.data)
        co = sp.csr_matrix(binary.T @ binary)
        counts = np.asarray(binary.sum(axis=0)).ravel()
        rows = np.repeat(np.arange(co.shape[0]), np.diff(co.indptr))
        if similarity == "jaccard":
            denominator = counts[rows] + counts[co.indices] - co.data
        else:
            denominator = counts[rows] ** alpha * counts[co.indices] ** (1.0 - alpha)
        co.data = co.data / (denominator + shrink + 1e-12)
    co.setdiag(0.0)
    co.eliminate_zeros()
    return sp.csr_matrix(co, dtype=np.float32)


class ItemKNN(Recommender):
    """Score = sum over the user's artists of weight x similarity to the candidate.

    Parameters
    ----------
    neighbours
        Neighbourhood size: each artist keeps its ``neighbours`` most similar artists.
    similarity
        ``"cosine"``, ``"jaccard"`` or ``"asymmetric_cosine"``.
    alpha
        Exponent of ``asymmetric_cosine``.
    shrink
        Added to similarity denominators (damps pairs with little support).
    weighting
        Re-weighting of ``X`` (``"bm25"``, ``"tfidf"``, ``"log1p"``, ``"binary"``, ``"none"``).
    """

    name = "item_knn"

    def __init__(
        self,
        *,
        neighbours: int = 100,
        similarity: str = "cosine",
        alpha: float = 0.5,
        shrink: float = 0.0,
        weighting: str = "log1p",
    ) -> None:
        self.neighbours = neighbours
        self.similarity = similarity
        self.alpha = alpha
        self.shrink = shrink
        self.weighting = weighting

    def _fit(self, X: sp.csr_matrix, side: SideInfo | None) -> None:
        check_positive_int("neighbours", self.neighbours)
        self.weighted_ = reweight(X, self.weighting)
        self.weighted_.sort_indices()
        full = item_similarity(self.weighted_, self.similarity, self.alpha, self.shrink)
        # Row a holds a's nearest neighbours; scoring uses S^T so that a candidate c
        # gathers support from each of the user's artists that has c among its neighbours.
        self.similarity_ = keep_top_per_row(full, self.neighbours)

    def _score(self, users: IntArray) -> FloatArray:
        scores = (self.weighted_[users] @ self.similarity_).toarray().astype(np.float32)
        return scores

    def _similar_scores(self, artist: int) -> FloatArray:
        row = self.similarity_[artist]
        out = np.full(self.n_artists_, -np.inf, dtype=np.float32)
        out[row.indices] = row.data
        return out

    def _reasons(self, users: IntArray, items: IntArray) -> IntArray:
        """A history artist ``h`` adds ``w_uh * S[h, i]`` to candidate ``i``."""
        out = np.full((*items.shape, REASONS), -1, dtype=np.int64)
        by_candidate = sp.csr_matrix(self.similarity_.T)
        weighted = self.weighted_
        for row, user in enumerate(users.tolist()):
            cols = np.flatnonzero(items[row] >= 0)
            span = slice(weighted.indptr[user], weighted.indptr[user + 1])
            history = weighted.indices[span].astype(np.int64)
            if len(cols) == 0 or len(history) == 0:
                continue
            similarity = by_candidate[items[row, cols]][:, history].toarray().T
            out[row, cols] = top_contributors(history, weighted.data[span, None] * similarity)
        return out

    def _score_history(self, row: sp.csr_matrix) -> FloatArray:
        """One re-weighted history row times the neighbourhood matrix."""
        weighted = reweight(row, self.weighting)
        return (weighted @ self.similarity_).toarray().ravel().astype(np.float32)

    def _history_reasons(self, history: tuple[IntArray, FloatArray], items: IntArray) -> IntArray:
        """``w_h * S[h, i]`` for each history artist ``h``."""
        artists, weights = history
        out = np.full((len(items), REASONS), -1, dtype=np.int64)
        cols = np.flatnonzero(items >= 0)
        if len(cols) == 0 or len(artists) == 0:
            return out
        row = sp.csr_matrix(
            (weights, (np.zeros(len(artists), np.int64), artists)), shape=(1, self.n_artists_)
        )
        weighted = reweight(row, self.weighting)
        similarity = self.similarity_[weighted.indices][:, items[cols]].toarray()
        out[cols] = top_contributors(
            weighted.indices.astype(np.int64), weighted.data[:, None] * similarity
        )
        return out

    def _state(self) -> dict[str, Any]:
        return {"similarity_": self.similarity_}

    def _set_state(self, state: dict[str, Any], meta: dict[str, Any]) -> None:
        super()._set_state(state, meta)
        self.weighted_ = reweight(self.X_, self.weighting)
