"""EASE: a closed-form linear item-item model (Steck, 2019), with optional DLAE dropout.

``B = I - P / diag(P)`` with ``P = (X^T X + Lambda)^-1`` and ``diag(B) = 0``; a user's
scores are ``x_u B``. Plain EASE has ``Lambda = l2 I``; with ``dropout = p > 0`` it is
the DLAE / EDLAE regulariser of Steck (2020, "Autoencoders that don't overfit towards the
identity"), ``Lambda = l2 I + p / (1 - p) diag(X^T X)``, which penalises popular artists'
weights more (the closed form and the zero diagonal are unchanged). Optionally each user's
row is divided by its L2 norm ``** row_norm`` before the Gram matrix (heavy listeners
weigh less), and scores are divided by the artists' listener counts
``** popularity_exponent``. Only the ``max_artists`` artists with the most listeners
enter the model, so the dense ``n x n`` inversion fits in memory and takes seconds; the
others are not candidates (score ``-inf``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from cratedig.matrix.side import SideInfo
from cratedig.matrix.transforms import reweight
from cratedig.models.base import FloatArray, IntArray, Recommender
from cratedig.models.checks import check_positive_int, invalid
from cratedig.models.explain import top_contributors


def ease_weights(gram: np.ndarray, l2: float, dropout: float = 0.0) -> FloatArray:
    """EASE's item-item matrix from a dense Gram matrix ``X^T X`` (float32, overwritten).

    Hand-written with LAPACK's Cholesky routines (``potrf``/``potri``) because the Gram
    matrix is symmetric positive definite: about half the work of a general inverse.

    Parameters
    ----------
    gram
        ``X^T X`` (n x n).
    l2
        Ridge regularisation added to every diagonal entry.
    dropout
        DLAE's dropout probability ``p`` in ``[0, 1)``: ``p / (1 - p) * diag(X^T X)`` is
        added to the diagonal as well (0: plain EASE).
    """
    gram = np.asarray(gram, dtype=np.float32)
    diagonal = np.float32(l2) + np.float32(dropout / (1.0 - dropout)) * np.diag(gram)
    gram[np.diag_indices_from(gram)] += diagonal
    factor, info = scipy.linalg.lapack.spotrf(gram, lower=0, overwrite_a=1, clean=1)
    if info != 0:
        raise invalid("l2", l2, "a value making X^T X + l2 I positive definite (try larger)")
    inverse, info = scipy.linalg.lapack.spotri(factor, lower=0, overwrite_c=1)
    if info != 0:
        raise invalid("l2", l2, "a value making X^T X + l2 I invertible (try larger)")
    upper = np.triu(inverse)
    precision = upper + np.triu(upper, 1).T
    B = -precision / np.diag(precision)[None, :]
    np.fill_diagonal(B, 0.0)
    return B.astype(np.float32)


class EASE(Recommender):
    """Embarrassingly shallow autoencoder on re-weighted engagement.

    Parameters
    ----------
    l2
        Ridge regularisation lambda (larger for larger weights).
    max_artists
        Catalogue cap: only this many artists (most listeners first) are modelled.
    weighting
        Re-weighting of ``X`` before fitting (see :func:`cratedig.matrix.transforms.reweight`).
    dropout
        DLAE dropout probability ``p`` in ``[0, 1)``: adds ``p / (1 - p)`` times each
        artist's ``X^T X`` diagonal entry to its regularisation (0: plain EASE).
    row_norm
        Exponent ``beta >= 0``: each user's (re-weighted) row is divided by its L2 norm
        ``** beta`` before fitting and scoring (0: rows as they are).
    popularity_exponent
        Exponent ``gamma >= 0``: scores are divided by the artists' listener counts
        ``** gamma`` (0: raw scores).
    blas_threads
        BLAS threads for the inversion (None: the library's default).
    """

    name = "ease"

    def __init__(
        self,
        *,
        l2: float = 500.0,
        max_artists: int = 6000,
        weighting: str = "log1p",
        dropout: float = 0.0,
        row_norm: float = 0.0,
        popularity_exponent: float = 0.0,
        blas_threads: int | None = None,
    ) -> None:
        self.l2 = l2
        self.max_artists = max_artists
        self.weighting = weighting
        self.dropout = dropout
        self.row_norm = row_norm
        self.popularity_exponent = popularity_exponent
        self.blas_threads = blas_threads

    def _fit(self, X: sp.csr_matrix, side: SideInfo | None) -> None:
        check_positive_int("max_artists", self.max_artists)
        if not self.l2 > 0:
            raise invalid("l2", self.l2, "a number > 0")
        if not 0.0 <= self.dropout < 1.0:
            raise invalid("dropout", self.dropout, "a probability in [0, 1)")
        if not self.row_norm >= 0:
            raise invalid("row_norm", self.row_norm, "a number >= 0")
        if not self.popularity_exponent >= 0:
            raise invalid("popularity_exponent", self.popularity_exponent, "a number >= 0")
        listeners = self.popularity_
        order = np.lexsort((np.arange(len(listeners)), -listeners))
        kept = np.sort(order[: min(self.max_artists, X.shape[1])])
        kept = kept[listeners[kept] > 0] if (listeners[kept] > 0).any() else kept
        self.artists_ = kept.astype(np.int64)
        sub = self._weighted(X)
        gram = (sub.T @ sub).toarray().astype(np.float32)
        with threadpool_limits(limits=self.blas_threads, user_api="blas"):
            self.B_ = ease_weights(gram, self.l2, self.dropout)
        self.weighted_ = sub
        self._rescale()

    def _rescale(self) -> None:
        """``artist_scale_`` from ``popularity_exponent`` (the only score-side parameter)."""
        if not self.popularity_exponent >= 0:
            raise invalid("popularity_exponent", self.popularity_exponent, "a number >= 0")
        listeners = self.popularity_[self.artists_]
        self.artist_scale_ = (np.maximum(listeners, 1.0) ** -self.popularity_exponent).astype(
            np.float32
        )

    def _weighted(self, X: sp.csr_matrix) -> sp.csr_matrix:
        """The users x kept-artists matrix the model fits and scores (re-derived on load)."""
        sub = sp.csr_matrix(reweight(X, self.weighting)[:, self.artists_])
        if self.row_norm:
            norms = np.sqrt(np.asarray(sub.multiply(sub).sum(axis=1)).ravel())
            scale = np.where(norms > 0, norms, 1.0) ** -float(self.row_norm)
            sub = sp.csr_matrix(sp.diags(scale.astype(np.float32)) @ sub, dtype=np.float32)
        sub.sort_indices()
        return sub

    def _score(self, users: IntArray) -> FloatArray:
        out = np.full((len(users), self.n_artists_), -np.inf, dtype=np.float32)
        scores = self.weighted_[users] @ self.B_
        out[:, self.artists_] = scores * self.artist_scale_ if self.popularity_exponent else scores
        return out

    def candidate_scores(self, users: IntArray) -> tuple[IntArray | None, FloatArray]:
        """The modelled artists' columns of :meth:`_score` (every user warm), else all."""
        self._check_fitted()
        users = self._check_indices(users, "user_idx", self.n_users_)
        if not (np.diff(self.X_.indptr)[users] > 0).all():
            return None, self.scores(users)
        scores = np.asarray(self.weighted_[users] @ self.B_, dtype=np.float32)
        if self.popularity_exponent:
            scores = (scores * self.artist_scale_).astype(np.float32, copy=False)
        return self.artists_, scores

    def _similar_scores(self, artist: int) -> FloatArray:
        out = np.full(self.n_artists_, -np.inf, dtype=np.float32)
        position = np.searchsorted(self.artists_, artist)
        if position < len(self.artists_) and self.artists_[position] == artist:
            out[self.artists_] = self.B_[position]
            return out
        return super()._similar_scores(artist)

    def _similar_block(self, artists: IntArray) -> FloatArray:
        """Rows of ``B`` for the modelled artists; the listener-set cosine for the others."""
        position = np.minimum(np.searchsorted(self.artists_, artists), len(self.artists_) - 1)
        modelled = self.artists_[position] == artists
        out = np.full((len(artists), self.n_artists_), -np.inf, dtype=np.float32)
        rows = np.flatnonzero(modelled)
        if len(rows):
            modelled_rows = np.full((len(rows), self.n_artists_), -np.inf, dtype=np.float32)
            modelled_rows[:, self.artists_] = self.B_[position[rows]]
            out[rows] = modelled_rows
        others = np.flatnonzero(~modelled)
        if len(others):
            out[others] = self._cosine_block(artists[others])
        return out

    def _reasons(self, users: IntArray, items: IntArray) -> IntArray:
        """A history artist ``h`` adds ``x_uh * B[h, i]`` to candidate ``i`` (one slice of B
        per user); candidates outside the modelled artists use the base class's terms."""
        position = np.minimum(np.searchsorted(self.artists_, items), len(self.artists_) - 1)
        modelled = (items >= 0) & (self.artists_[position] == items)
        out = super()._reasons(users, np.where(modelled, -1, items))
        weighted = self.weighted_
        for row, user in enumerate(users.tolist()):
            cols = np.flatnonzero(modelled[row])
            span = slice(weighted.indptr[user], weighted.indptr[user + 1])
            history = weighted.indices[span]
            if len(cols) == 0 or len(history) == 0:
                continue
            terms = weighted.data[span, None] * self.B_[np.ix_(history, position[row, cols])]
            out[row, cols] = top_contributors(self.artists_[history], terms)
        return out

    def _score_history(self, row: sp.csr_matrix) -> FloatArray:
        """``x B`` for a current history row (re-weighted and normalised like training)."""
        out = np.full(self.n_artists_, -np.inf, dtype=np.float32)
        scores = np.asarray(self._weighted(row) @ self.B_).ravel()
        out[self.artists_] = scores * self.artist_scale_ if self.popularity_exponent else scores
        return out

    def _history_reasons(self, history: tuple[IntArray, FloatArray], items: IntArray) -> IntArray:
        """``x_h * B[h, i]`` over the modelled history artists (the base class's terms for
        candidates outside the model)."""
        artists, _ = history
        position = np.minimum(np.searchsorted(self.artists_, items), len(self.artists_) - 1)
        modelled = (items >= 0) & (self.artists_[position] == items)
        out = super()._history_reasons(history, np.where(modelled, -1, items))
        row = sp.csr_matrix(
            (history[1], (np.zeros(len(artists), np.int64), artists)), shape=(1, self.n_artists_)
        )
        weighted = self._weighted(row)
        cols = np.flatnonzero(modelled)
        if len(cols) and weighted.nnz:
            terms = weighted.data[:, None] * self.B_[np.ix_(weighted.indices, position[cols])]
            out[cols] = top_contributors(self.artists_[weighted.indices], terms)
        return out

    def _state(self) -> dict[str, Any]:
        return {"B_": self.B_, "artists_": self.artists_, "artist_scale_": self.artist_scale_}

    def _set_state(self, state: dict[str, Any], meta: dict[str, Any]) -> None:
        super()._set_state(state, meta)
        self.weighted_ = self._weighted(self.X_)
