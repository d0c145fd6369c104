"""Scoring a user's *current* history at request time, without refitting.

Between retrains a user keeps acting; the served model's precomputed list knows none
of it. :class:`FromHistory` (a part of every :class:`cratedig.models.base.Recommender`)
scores a history row that need not be in the training matrix: item-based models (EASE,
item-kNN) multiply the row by their item-item weights, ALS recomputes the user's
factors from the row (implicit's ``recalculate_user``), the hybrid blends its
components' history scores as it blends their scores, and any other model sums the
similarity of :meth:`_similar_scores` to each history artist. :meth:`history_reasons`
names the history artists whose terms are largest, as the batch explanations do.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from cratedig.models.checks import check_positive_int, invalid
from cratedig.models.explain import similarity_reasons
from cratedig.models.ranking import top_k

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]


class FromHistory:
    """Request-time scoring of a history row (mixed into ``Recommender``)."""

    n_artists_: int
    popularity_: FloatArray

    def _check_fitted(self) -> None:
        raise NotImplementedError

    def _check_indices(self, values: Any, field: str, size: int) -> IntArray:
        raise NotImplementedError

    def _cold_scores(self, users: IntArray) -> FloatArray:
        raise NotImplementedError

    def _similar_scores(self, artist: int) -> FloatArray:
        raise NotImplementedError

    def _check_history(self, history: sp.spmatrix) -> sp.csr_matrix:
        if not sp.issparse(history) or history.shape != (1, self.n_artists_):
            raise invalid(
                "history_row",
                getattr(history, "shape", type(history).__name__),
                f"a 1 x {self.n_artists_} sparse row of engagement weights",
            )
        row = sp.csr_matrix(history, dtype=np.float32)
        row.sum_duplicates()
        row.sort_indices()
        if not np.all(np.isfinite(row.data)):
            raise invalid("history_row", "non-finite weights", "finite weights")
        return row

    def history_scores(self, history_row: sp.spmatrix) -> FloatArray:
        """Scores over every artist for a history that need not be in the training matrix.

        The request-time path: a user's current history (their training row plus what
        they did since) is folded into the model without refitting. A history with no
        positive weight gets global popularity (wrappers: their base's, transformed).

        Parameters
        ----------
        history_row
            ``1 x n_artists`` sparse row of engagement weights on the training matrix's
            scale (negative entries are ignored).

        Returns
        -------
        ndarray of float32
            ``n_artists`` scores, ``-inf`` meaning "not a candidate".
        """
        self._check_fitted()
        row = self._check_history(history_row)
        if not (row.data > 0).any():
            return np.asarray(self._empty_history_scores(row), dtype=np.float32).ravel()
        return np.asarray(self._score_history(row), dtype=np.float32).ravel()

    def recommend_from_history(
        self, history_row: sp.spmatrix, k: int = 10, exclude: Any = None
    ) -> tuple[IntArray, FloatArray]:
        """The ``k`` best artists for a current history (its artists left out), best first.

        Parameters
        ----------
        history_row
            As for :meth:`history_scores`.
        k
            List length (padded with ``-1`` / ``-inf``).
        exclude
            Artist indices never to recommend (e.g. unfollowed ones).

        Returns
        -------
        (artist_idx, scores)
            1-D int64 and float32 arrays of length ``k``.
        """
        k = check_positive_int("k", k)
        scores = self.history_scores(history_row)[None, :].copy()
        scores[0, sp.csr_matrix(history_row).indices] = -np.inf
        if exclude is not None:
            scores[0, self._check_indices(exclude, "exclude", self.n_artists_)] = -np.inf
        idx, top = top_k(scores, k)
        return idx[0], top[0]

    def history_reasons(self, history_row: sp.spmatrix, artist_idx: Any) -> IntArray:
        """The history artists that contribute most to each candidate's score.

        Parameters
        ----------
        history_row
            As for :meth:`history_scores`.
        artist_idx
            ``m`` candidates (``-1``: padding).

        Returns
        -------
        ndarray of int64
            ``m x REASONS`` artist indices, best first, ``-1`` where none contributes.
        """
        self._check_fitted()
        row = self._check_history(history_row)
        items = np.atleast_1d(np.asarray(artist_idx)).astype(np.int64)
        self._check_indices(items[items >= 0], "artist_idx", self.n_artists_)
        positive = row.data > 0
        history = (row.indices[positive].astype(np.int64), row.data[positive])
        return self._history_reasons(history, items)

    def _score_history(self, row: sp.csr_matrix) -> FloatArray:
        """Scores of one history row (default: the similarity of :meth:`_similar_scores`
        to each history artist, times its weight, summed)."""
        out = np.zeros(self.n_artists_, dtype=np.float32)
        any_finite = np.zeros(self.n_artists_, dtype=bool)
        for artist, weight in zip(row.indices.tolist(), row.data.tolist(), strict=True):
            if weight <= 0:
                continue
            sim = self._similar_scores(int(artist))
            finite = np.isfinite(sim)
            out[finite] += weight * sim[finite]
            any_finite |= finite
        return np.where(any_finite, out, -np.inf).astype(np.float32)

    def _empty_history_scores(self, row: sp.csr_matrix) -> FloatArray:
        """Scores of a history with no positive weight (default: global popularity)."""
        return np.asarray(self.popularity_, dtype=np.float32).copy()

    def _history_reasons(self, history: tuple[IntArray, FloatArray], items: IntArray) -> IntArray:
        """Contributors for :meth:`history_reasons` (default: similarity x weight)."""
        return similarity_reasons([history], self._similar_scores, items[None, :])[0]
