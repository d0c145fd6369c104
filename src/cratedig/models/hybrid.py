"""A weighted blend of several models' per-user normalised scores.

Blend weights are given, or learned on validation data by coordinate search over a
small grid, maximising NDCG@k of the blend (train history masked).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from cratedig.matrix.side import SideInfo
from cratedig.models.base import FloatArray, IntArray, Recommender, check_matrix, invalid

NORMALISATIONS = ("minmax", "zscore")
DEFAULT_COMPONENTS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("ease", {}),
    ("item_knn", {}),
    ("als", {}),
)


def normalise_rows(scores: FloatArray, how: str) -> tuple[FloatArray, np.ndarray]:
    """Per-row normalised scores (non-candidates -> 0) and the candidate mask."""
    finite = np.isfinite(scores)
    masked = np.where(finite, scores, np.nan)
    with np.errstate(all="ignore"):
        if how == "minmax":
            low = np.nanmin(masked, axis=1, keepdims=True)
            high = np.nanmax(masked, axis=1, keepdims=True)
            out = (masked - low) / np.maximum(high - low, 1e-9)
        else:
            mean = np.nanmean(masked, axis=1, keepdims=True)
            std = np.nanstd(masked, axis=1, keepdims=True)
            out = (masked - mean) / np.maximum(std, 1e-9)
    return np.nan_to_num(out, nan=0.0).astype(np.float32), finite


def ndcg_at_k(scores: FloatArray, truth: sp.csr_matrix, k: int = 10) -> float:
    """Mean binary NDCG@k of already-masked score rows against truth rows.

    A private helper for weight search (cratedig.evaluation holds the public metrics).
    """
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    total = 0.0
    for row in range(scores.shape[0]):
        relevant = truth.indices[truth.indptr[row] : truth.indptr[row + 1]]
        top = np.argpartition(-scores[row], min(k, scores.shape[1] - 1))[:k]
        top = top[np.argsort(-scores[row, top], kind="stable")]
        gains = np.isin(top, relevant) & np.isfinite(scores[row, top])
        ideal = discounts[: min(len(relevant), k)].sum()
        total += float((gains * discounts[: len(top)]).sum() / ideal) if ideal else 0.0
    return total / max(scores.shape[0], 1)


class Hybrid(Recommender):
    """Weighted sum of component models' normalised scores.

    Parameters
    ----------
    components
        ``[(name, params), ...]`` registry names and hyperparameters of the components.
    weights
        Blend weights (one per component); None: equal weights unless learned.
    normalisation
        Per-user score normalisation: ``"minmax"`` or ``"zscore"``.
    weight_grid
        Values tried for each weight when learning on validation data.
    search_rounds
        Coordinate-search sweeps over the components.
    max_validation_users
        Validation users used for the search (the first ones with validation items).
    """

    name = "hybrid"

    def __init__(
        self,
        *,
        components: Sequence[Sequence[Any]] = DEFAULT_COMPONENTS,
        weights: Sequence[float] | None = None,
        normalisation: str = "minmax",
        weight_grid: Sequence[float] = (0.0, 0.25, 0.5, 1.0),
        search_rounds: int = 2,
        max_validation_users: int = 1000,
    ) -> None:
        self.components = components
        self.weights = weights
        self.normalisation = normalisation
        self.weight_grid = weight_grid
        self.search_rounds = search_rounds
        self.max_validation_users = max_validation_users

    def _specs(self) -> list[tuple[str, dict[str, Any]]]:
        specs = [(str(spec[0]), dict(spec[1]) if len(spec) > 1 else {}) for spec in self.components]
        if not specs:
            raise invalid("components", self.components, "at least one (name, params) pair")
        return specs

    def fit(
        self,
        X: sp.spmatrix,
        side: SideInfo | None = None,
        validation: sp.spmatrix | None = None,
    ) -> Hybrid:
        """Fit every component on ``X``; learn blend weights when ``validation`` is given."""
        self._validation = None if validation is None else check_matrix(validation, "validation")
        try:
            super().fit(X, side)
        finally:
            self._validation = None
        return self

    def fit_blend(
        self, train: sp.spmatrix, validation: sp.spmatrix, side: SideInfo | None = None
    ) -> Hybrid:
        """Fit components on ``train`` and learn weights maximising NDCG@10 on ``validation``."""
        return self.fit(train, side, validation=validation)

    def _fit(self, X: sp.csr_matrix, side: SideInfo | None) -> None:
        from cratedig.models import make_model

        if self.normalisation not in NORMALISATIONS:
            raise invalid(
                "normalisation", self.normalisation, f"one of: {', '.join(NORMALISATIONS)}"
            )
        specs = self._specs()
        self.models_ = [make_model(name, **params).fit(X, side) for name, params in specs]
        if self.weights is not None:
            if len(self.weights) != len(specs):
                raise invalid("weights", self.weights, f"{len(specs)} weights, one per component")
            weights = np.asarray(self.weights, dtype=np.float32)
        else:
            weights = np.ones(len(specs), dtype=np.float32)
        if self._validation is not None:
            if self._validation.shape != X.shape:
                raise invalid("validation", self._validation.shape, f"a matrix shaped {X.shape}")
            weights = self._search_weights(X, self._validation, weights)
        self.weights_ = weights

    def _search_weights(
        self, X: sp.csr_matrix, validation: sp.csr_matrix, start: np.ndarray
    ) -> np.ndarray:
        users = np.flatnonzero(np.diff(validation.indptr) > 0)[: self.max_validation_users]
        if len(users) == 0:
            return start
        truth = validation[users]
        blocks, candidates = [], np.zeros((len(users), X.shape[1]), dtype=bool)
        for model in self.models_:
            normalised, finite = normalise_rows(model.scores(users), self.normalisation)
            blocks.append(normalised)
            candidates |= finite
        seen = X[users]
        candidates[np.repeat(np.arange(len(users)), np.diff(seen.indptr)), seen.indices] = False

        def quality(weights: np.ndarray) -> float:
            blend = sum(w * b for w, b in zip(weights, blocks, strict=True))
            return ndcg_at_k(np.where(candidates, blend, -np.inf), truth)

        best_weights, best = start.copy(), quality(start)
        for _ in range(self.search_rounds):
            improved = False
            for i in range(len(blocks)):
                for value in self.weight_grid:
                    trial = best_weights.copy()
                    trial[i] = value
                    if not trial.any():
                        continue
                    score = quality(trial)
                    if score > best + 1e-9:
                        best, best_weights, improved = score, trial, True
            if not improved:
                break
        self.validation_ndcg_ = best
        return best_weights.astype(np.float32)

    def _blend(self, users: IntArray, scorer: str) -> FloatArray:
        total = np.zeros((len(users), self.n_artists_), dtype=np.float32)
        candidates = np.zeros_like(total, dtype=bool)
        for weight, model in zip(self.weights_, self.models_, strict=True):
            if weight == 0:
                continue
            normalised, finite = normalise_rows(getattr(model, scorer)(users), self.normalisation)
            total += weight * normalised
            candidates |= finite
        return np.where(candidates, total, -np.inf).astype(np.float32)

    def _score(self, users: IntArray) -> FloatArray:
        return self._blend(users, "scores")

    def _similar_scores(self, artist: int) -> FloatArray:
        return self.models_[int(np.argmax(self.weights_))]._similar_scores(artist)

    def _explain(self, user: int, artist: int) -> str:
        users = np.array([user])
        contributions = [
            weight * normalise_rows(model.scores(users), self.normalisation)[0][0, artist]
            for weight, model in zip(self.weights_, self.models_, strict=True)
        ]
        return self.models_[int(np.argmax(contributions))]._explain(user, artist)

    def _meta(self) -> dict[str, Any]:
        return {"weights_": [float(w) for w in self.weights_]}

    def _save_extra(self, folder: Path) -> None:
        for i, model in enumerate(self.models_):
            model.save(folder / f"component_{i}")

    def _load_extra(self, folder: Path, meta: dict[str, Any]) -> None:
        from cratedig.models import load_model

        self.models_ = [load_model(folder / f"component_{i}") for i in range(len(self._specs()))]
        self.weights_ = np.asarray(meta["weights_"], dtype=np.float32)
