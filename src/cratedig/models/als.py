"""Implicit-feedback matrix factorisation (implicit's AlternatingLeastSquares)."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from cratedig.matrix.side import SideInfo
from cratedig.matrix.transforms import reweight
from cratedig.models.base import FloatArray, IntArray, Recommender
from cratedig.models.checks import check_positive_int
from cratedig.models.explain import REASONS, top_contributors


class ALS(Recommender):
    """Weighted matrix factorisation with confidence ``1 + alpha * w`` (Hu, Koren, Volinsky).

    Parameters
    ----------
    factors
        Latent dimensions.
    regularization
        L2 penalty on the factors.
    alpha
        Confidence scale applied to the (re-weighted) engagement.
    iterations
        ALS sweeps.
    weighting
        Re-weighting of ``X`` before the confidence (see
        :func:`cratedig.matrix.transforms.reweight`).
    random_state
        Seed of the factor initialisation (same seed, same lists).
    num_threads
        implicit's threads; 1 keeps the fit reproducible.
    """

    name = "als"

    def __init__(
        self,
        *,
        factors: int = 64,
        regularization: float = 0.05,
        alpha: float = 2.0,
        iterations: int = 15,
        weighting: str = "log1p",
        random_state: int = 0,
        num_threads: int = 1,
    ) -> None:
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.weighting = weighting
        self.random_state = random_state
        self.num_threads = num_threads

    def _fit(self, X: sp.csr_matrix, side: SideInfo | None) -> None:
        from implicit.cpu.als import AlternatingLeastSquares

        check_positive_int("factors", self.factors)
        check_positive_int("iterations", self.iterations)
        weighted = reweight(X, self.weighting)
        # implicit warns (and slows down) when BLAS runs several threads under its own.
        with threadpool_limits(limits=1, user_api="blas"):
            model = AlternatingLeastSquares(
                factors=self.factors,
                regularization=self.regularization,
                alpha=self.alpha,
                iterations=self.iterations,
                random_state=self.random_state,
                num_threads=self.num_threads,
            )
            model.fit(weighted, show_progress=False)
        self.user_factors_ = np.asarray(model.user_factors, dtype=np.float32)
        self.artist_factors_ = np.asarray(model.item_factors, dtype=np.float32)

    def _score(self, users: IntArray) -> FloatArray:
        return (self.user_factors_[users] @ self.artist_factors_.T).astype(np.float32)

    def _similar_scores(self, artist: int) -> FloatArray:
        factors = self.artist_factors_
        norms = np.linalg.norm(factors, axis=1) + 1e-12
        return ((factors @ factors[artist]) / (norms * norms[artist])).astype(np.float32)

    def _reasons(self, users: IntArray, items: IntArray) -> IntArray:
        """A history artist contributes its factor-space cosine to the candidate (the
        history artists most like it in the space the scores come from)."""
        out = np.full((*items.shape, REASONS), -1, dtype=np.int64)
        factors = self.artist_factors_
        unit = factors / (np.linalg.norm(factors, axis=1, keepdims=True) + 1e-12)
        for row, user in enumerate(users.tolist()):
            cols = np.flatnonzero(items[row] >= 0)
            history = self._seen(user)
            if len(cols) == 0 or len(history) == 0:
                continue
            terms = unit[history] @ unit[items[row, cols]].T
            out[row, cols] = top_contributors(history, terms)
        return out

    def _solver(self) -> Any:
        """implicit's model over the learned item factors (built once, for ``recalculate_user``)."""
        solver = getattr(self, "_implicit", None)
        if solver is None:
            import warnings

            from implicit.cpu.als import AlternatingLeastSquares

            with warnings.catch_warnings():  # its BLAS-threads advice is about fitting
                warnings.simplefilter("ignore", RuntimeWarning)
                solver = AlternatingLeastSquares(
                    factors=self.artist_factors_.shape[1],
                    regularization=self.regularization,
                    alpha=self.alpha,
                    iterations=self.iterations,
                    random_state=self.random_state,
                    num_threads=1,
                )
            solver.item_factors = self.artist_factors_
            solver.user_factors = self.user_factors_
            self._implicit = solver
        return solver

    def _score_history(self, row: sp.csr_matrix) -> FloatArray:
        """The user's factors recomputed from the current history (implicit's exact
        least-squares ``recalculate_user``: the same solve as a user step of the fit)."""
        weighted = reweight(row, self.weighting)
        # implicit's own solver on one row: no BLAS threads to limit (threadpoolctl would
        # cost ~10 ms per call scanning the loaded libraries)
        factors = self._solver().recalculate_user(0, weighted)
        return (self.artist_factors_ @ np.asarray(factors, dtype=np.float32)).astype(np.float32)

    def _history_reasons(self, history: tuple[IntArray, FloatArray], items: IntArray) -> IntArray:
        """Factor-space cosine of each history artist to the candidate (as ``_reasons``)."""
        artists, _ = history
        out = np.full((len(items), REASONS), -1, dtype=np.int64)
        cols = np.flatnonzero(items >= 0)
        if len(cols) == 0 or len(artists) == 0:
            return out
        factors = self.artist_factors_
        unit = factors / (np.linalg.norm(factors, axis=1, keepdims=True) + 1e-12)
        out[cols] = top_contributors(artists, unit[artists] @ unit[items[cols]].T)
        return out

    def _state(self) -> dict[str, Any]:
        return {"user_factors_": self.user_factors_, "artist_factors_": self.artist_factors_}
