"""A tiny recommender obeying the cratedig model contract, for protocol tests."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from cratedig.matrix.side import SideInfo


class OrderedFake:
    """Recommends items in a fixed order of preference, training history masked.

    ``order="index"`` prefers low item indices, ``"popular"`` the items with most
    training users, ``"unpopular"`` the fewest. ``leak=True`` ignores
    ``exclude_seen`` (a broken model, to check the protocol masks anyway).
    """

    def __init__(self, order: str = "index", leak: bool = False) -> None:
        self.order = order
        self.leak = leak

    def fit(self, X: sp.spmatrix, side: SideInfo | None = None) -> OrderedFake:
        self.X_ = sp.csr_matrix(X)
        n_items = self.X_.shape[1]
        counts = np.diff(sp.csc_matrix(self.X_).indptr)
        if self.order == "index":
            self.score_ = -np.arange(n_items, dtype=np.float64)
        elif self.order == "popular":
            self.score_ = counts - np.arange(n_items) * 1e-6
        else:
            self.score_ = -counts - np.arange(n_items) * 1e-6
        return self

    def recommend(
        self, user_idx: np.ndarray, k: int = 10, exclude_seen: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        users = np.atleast_1d(np.asarray(user_idx))
        idx = np.full((len(users), k), -1, dtype=np.int64)
        scores = np.full((len(users), k), -np.inf, dtype=np.float32)
        for row, user in enumerate(users):
            s = self.score_.copy()
            if exclude_seen and not self.leak:
                s[self.X_.indices[self.X_.indptr[user] : self.X_.indptr[user + 1]]] = -np.inf
            order = np.argsort(-s, kind="stable")
            order = order[np.isfinite(s[order])][:k]
            idx[row, : len(order)] = order
            scores[row, : len(order)] = s[order]
        return idx, scores
