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
from cratedig.models.base import FloatArray, IntArray, Recommender
from cratedig.models.checks import check_matrix, invalid
from cratedig.models.explain import REASONS
from cratedig.models.ranking import NORMALISATIONS, mean_ndcg_of_scores, normalise_rows
from cratedig.models.registry import load_model
from cratedig.models.reuse import fit_component

DEFAULT_COMPONENTS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("ease", {}),
    ("item_knn", {}),
    ("als", {}),
)


def _at(
    block: tuple[IntArray | None, FloatArray] | None, items: IntArray, n_artists: int
) -> FloatArray:
    """Values of a ``(columns, values)`` block at ``items`` (n x m); 0 off its columns."""
    if block is None:
        return np.zeros(items.shape, dtype=np.float32)
    columns, values = block
    if columns is None:
        return np.take_along_axis(values, items, axis=1)
    position = np.full(n_artists, -1, dtype=np.int64)
    position[columns] = np.arange(len(columns))
    at = position[items]
    found = np.take_along_axis(values, np.maximum(at, 0), axis=1)
    return np.where(at >= 0, found, np.float32(0.0)).astype(np.float32, copy=False)


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
        checked = None if validation is None else check_matrix(validation, "validation")
        self._fit_with(X, side, validation=checked)
        return self

    def _fit(self, X: sp.csr_matrix, side: SideInfo | None) -> None:
        #: the users and normalised blocks of the last _score, for _explain_batch
        self._last_blocks: tuple[IntArray, list[Any]] | None = None
        if self.normalisation not in NORMALISATIONS:
            raise invalid(
                "normalisation", self.normalisation, f"one of: {', '.join(NORMALISATIONS)}"
            )
        specs = self._specs()
        self.models_ = [fit_component(name, params, X, side) for name, params in specs]
        if self.weights is not None:
            if len(self.weights) != len(specs):
                raise invalid("weights", self.weights, f"{len(specs)} weights, one per component")
            weights = np.asarray(self.weights, dtype=np.float32)
        else:
            weights = np.ones(len(specs), dtype=np.float32)
        validation = getattr(self, "_inputs", {}).get("validation")
        if validation is not None:
            if validation.shape != X.shape:
                raise invalid("validation", validation.shape, f"a matrix shaped {X.shape}")
            weights = self._search_weights(X, validation, weights)
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
            return mean_ndcg_of_scores(np.where(candidates, blend, -np.inf), truth)

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

    def _blend(self, users: IntArray) -> tuple[FloatArray, list[Any]]:
        """The weighted sum of the components' normalised scores (``-inf``: no component
        has the artist as a candidate), and each weighted component's normalised block
        ``(columns, values)`` (None: weight 0; ``columns`` None: every artist). A
        component scoring only some columns (EASE's modelled artists) is normalised and
        added over those columns alone: the same values as over the full row, where the
        others would be 0 and not candidates."""
        total = np.zeros((len(users), self.n_artists_), dtype=np.float32)
        candidates = np.zeros_like(total, dtype=bool)
        blocks: list[tuple[IntArray | None, FloatArray] | None] = []
        for weight, model in zip(self.weights_, self.models_, strict=True):
            if weight == 0:
                blocks.append(None)
                continue
            columns, scores = model.candidate_scores(users)
            normalised, finite = normalise_rows(scores, self.normalisation)
            if columns is None:
                total += weight * normalised
                candidates |= finite
            else:
                total[:, columns] += weight * normalised
                candidates[:, columns] |= finite
            blocks.append((columns, normalised))
        np.copyto(total, -np.inf, where=~candidates)
        return total, blocks

    def _score(self, users: IntArray) -> FloatArray:
        total, blocks = self._blend(users)
        # the precomputation explains the lists of the users it just ranked: keep their
        # normalised blocks for _explain_batch (same values, not recomputed)
        self._last_blocks = (users.copy(), blocks)
        return total

    def _similar_scores(self, artist: int) -> FloatArray:
        return self.models_[int(np.argmax(self.weights_))]._similar_scores(artist)

    def _similar_block(self, artists: IntArray) -> FloatArray:
        return self.models_[int(np.argmax(self.weights_))]._similar_block(artists)

    def _blend_rows(self, blocks: list[FloatArray]) -> FloatArray:
        total = np.zeros_like(blocks[0], dtype=np.float32)
        candidates = np.zeros(blocks[0].shape, dtype=bool)
        for weight, block in zip(self.weights_, blocks, strict=True):
            if weight == 0:
                continue
            normalised, finite = normalise_rows(block, self.normalisation)
            total += weight * normalised
            candidates |= finite
        return np.where(candidates, total, -np.inf).astype(np.float32)

    def _score_history(self, row: sp.csr_matrix) -> FloatArray:
        """Each component's history scores, normalised and blended as :meth:`_score` does."""
        blocks = [
            model.history_scores(row)[None, :]
            if weight
            else np.zeros((1, self.n_artists_), np.float32)
            for weight, model in zip(self.weights_, self.models_, strict=True)
        ]
        return self._blend_rows(blocks)[0]

    def _history_reasons(self, history: tuple[IntArray, FloatArray], items: IntArray) -> IntArray:
        """Each candidate's contributors from the component adding most to its blend."""
        artists, weights = history
        row = sp.csr_matrix(
            (weights, (np.zeros(len(artists), np.int64), artists)), shape=(1, self.n_artists_)
        )
        safe = np.where(items >= 0, items, 0)
        shares = np.stack(
            [
                weight
                * normalise_rows(model.history_scores(row)[None, :], self.normalisation)[0][0]
                for weight, model in zip(self.weights_, self.models_, strict=True)
            ]
        )[:, safe]
        choice = np.argmax(shares, axis=0)
        out = np.full((len(items), REASONS), -1, dtype=np.int64)
        for c, model in enumerate(self.models_):
            mask = (items >= 0) & (choice == c)
            if mask.any():
                out[mask] = model._history_reasons(history, items[mask])
        return out

    def _explain_batch(self, users: IntArray, items: IntArray) -> list[list[str | None]]:
        """Each item explained by the component that added most to its blended score."""
        valid = items >= 0
        safe = np.where(valid, items, 0)
        last = getattr(self, "_last_blocks", None)
        if last is not None and np.array_equal(last[0], users):
            blocks = last[1]
        else:
            blocks = self._blend(users)[1]
        self._last_blocks = None
        shares = np.stack(
            [
                weight * _at(block, safe, self.n_artists_)
                for weight, block in zip(self.weights_, blocks, strict=True)
            ]
        )
        choice = np.argmax(shares, axis=0)
        out: list[list[str | None]] = [[None] * items.shape[1] for _ in range(len(users))]
        for c, model in enumerate(self.models_):
            mask = valid & (choice == c)
            rows = np.flatnonzero(mask.any(axis=1))
            if len(rows) == 0:
                continue
            texts = model._explain_batch(users[rows], np.where(mask[rows], items[rows], -1))
            for text_row, row in zip(texts, rows.tolist(), strict=True):
                for col in np.flatnonzero(mask[row]).tolist():
                    out[row][col] = text_row[col]
        return out

    def _meta(self) -> dict[str, Any]:
        return {"weights_": [float(w) for w in self.weights_]}

    def _save_extra(self, folder: Path) -> None:
        for i, model in enumerate(self.models_):
            model.save(folder / f"component_{i}", with_data=False)

    def _load_extra(self, folder: Path, meta: dict[str, Any]) -> None:
        self.models_ = [
            load_model(folder / f"component_{i}", outer=self) for i in range(len(self._specs()))
        ]
        self.weights_ = np.asarray(meta["weights_"], dtype=np.float32)
