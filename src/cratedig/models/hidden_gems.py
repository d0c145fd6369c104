"""Hidden gems: good matches from outside the popular head.

:class:`HiddenGems` re-ranks a base model's relevance with a hard cut: artists in the
head (by default the top 10% of the catalogue by listeners in ``X``) are never
recommended, so a gem is a good match, not merely obscure. :class:`PopularityPenalised`
is the soft baseline for comparison: the base score minus (or divided by) a popularity
penalty, with no cut.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from cratedig.matrix.side import SideInfo
from cratedig.models.base import FloatArray, IntArray, Recommender
from cratedig.models.checks import invalid
from cratedig.models.ranking import normalise_rows
from cratedig.models.registry import load_model, make_model

PENALTIES = ("subtract", "divide")


def head_artists(popularity: FloatArray, head_fraction: float) -> IntArray:
    """Indices of the ``ceil(head_fraction * n)`` most popular artists (ties: lower index)."""
    if not 0.0 <= head_fraction < 1.0:
        raise invalid("head_fraction", head_fraction, "a fraction in [0, 1)")
    size = math.ceil(head_fraction * len(popularity))
    order = np.lexsort((np.arange(len(popularity)), -popularity))
    return np.sort(order[:size]).astype(np.int64)


class _Wrapper(Recommender):
    """A model around a base model built from the registry (fitted, saved with it)."""

    base: str
    base_params: dict[str, Any] | None

    def fit(
        self, X: sp.spmatrix, side: SideInfo | None = None, base_model: Recommender | None = None
    ) -> _Wrapper:
        """Fit on ``X``; ``base_model``, when given, is an already fitted base (on ``X``).

        Passing the base model a pipeline has just fitted saves fitting it twice.
        """
        if base_model is not None:
            base_model._check_fitted()
            if base_model.X_.shape != X.shape:
                raise invalid("base_model", base_model.X_.shape, f"a model fitted on {X.shape}")
        self._fit_with(X, side, base_model=base_model)
        return self

    def _fit_base(self, X: sp.csr_matrix, side: SideInfo | None) -> None:
        given = getattr(self, "_inputs", {}).get("base_model")
        if given is not None:
            self.base_model_ = given
            return
        self.base_model_ = make_model(self.base, **(self.base_params or {})).fit(X, side)

    def _similar_scores(self, artist: int) -> FloatArray:
        return self.base_model_._similar_scores(artist)

    def _similar_block(self, artists: IntArray) -> FloatArray:
        return self.base_model_._similar_block(artists)

    def _save_extra(self, folder: Path) -> None:
        self.base_model_.save(folder / "base_model", with_data=False)

    def _load_extra(self, folder: Path, meta: dict[str, Any]) -> None:
        self.base_model_ = load_model(folder / "base_model", outer=self)


class HiddenGems(_Wrapper):
    """The base model's best matches outside the popular head (100% non-head lists).

    Parameters
    ----------
    base, base_params
        Registry name and hyperparameters of the model giving relevance.
    head_fraction
        Share of the catalogue (most listeners first) that counts as the head.
    """

    name = "hidden_gems"
    fallback = "the base model's fallback, head artists removed"

    def __init__(
        self,
        *,
        base: str = "default",
        base_params: dict[str, Any] | None = None,
        head_fraction: float = 0.1,
    ) -> None:
        self.base = base
        self.base_params = base_params
        self.head_fraction = head_fraction

    def _fit(self, X: sp.csr_matrix, side: SideInfo | None) -> None:
        self.head_ = head_artists(self.popularity_, self.head_fraction)
        self._fit_base(X, side)

    def _score(self, users: IntArray) -> FloatArray:
        scores = self.base_model_.scores(users)
        scores[:, self.head_] = -np.inf
        return scores

    def _cold_scores(self, users: IntArray) -> FloatArray:
        return self._score(users)

    def _score_history(self, row: sp.csr_matrix) -> FloatArray:
        scores = self.base_model_.history_scores(row).copy()
        scores[self.head_] = -np.inf
        return scores

    _empty_history_scores = _score_history

    def _history_reasons(self, history: tuple[IntArray, FloatArray], items: IntArray) -> IntArray:
        return self.base_model_._history_reasons(history, items)

    def _explain_batch(self, users: IntArray, items: IntArray) -> list[list[str | None]]:
        texts = self.base_model_._explain_batch(users, items)
        suffix = ", and less known than the usual picks"
        return [[None if t is None else t + suffix for t in row] for row in texts]

    def _state(self) -> dict[str, Any]:
        return {"head_": self.head_}


class PopularityPenalised(_Wrapper):
    """The base model's normalised scores penalised by popularity (no hard cut).

    ``subtract``: ``s - penalty * pop / max(pop)``; ``divide``: ``s / (1 + pop) ** penalty``,
    where ``s`` is the base score min-max normalised per user and ``pop`` is listeners.

    Parameters
    ----------
    base, base_params
        Registry name and hyperparameters of the base model.
    penalty
        Strength of the penalty (0: the base model's order).
    mode
        ``"subtract"`` or ``"divide"``.
    """

    name = "popularity_penalised"

    def __init__(
        self,
        *,
        base: str = "default",
        base_params: dict[str, Any] | None = None,
        penalty: float = 0.5,
        mode: str = "subtract",
    ) -> None:
        self.base = base
        self.base_params = base_params
        self.penalty = penalty
        self.mode = mode

    def _fit(self, X: sp.csr_matrix, side: SideInfo | None) -> None:
        if self.mode not in PENALTIES:
            raise invalid("mode", self.mode, f"one of: {', '.join(PENALTIES)}")
        self._fit_base(X, side)

    def _score(self, users: IntArray) -> FloatArray:
        return self._penalise(self.base_model_.scores(users))

    def _penalise(self, scores: FloatArray) -> FloatArray:
        normalised, finite = normalise_rows(scores, "minmax")
        popularity = self.popularity_
        if self.mode == "subtract":
            penalised = normalised - self.penalty * popularity / max(float(popularity.max()), 1.0)
        else:
            penalised = normalised / (1.0 + popularity) ** self.penalty
        return np.where(finite, penalised, -np.inf).astype(np.float32)

    def _cold_scores(self, users: IntArray) -> FloatArray:
        return self._score(users)

    def _score_history(self, row: sp.csr_matrix) -> FloatArray:
        return self._penalise(self.base_model_.history_scores(row)[None, :])[0]

    _empty_history_scores = _score_history

    def _history_reasons(self, history: tuple[IntArray, FloatArray], items: IntArray) -> IntArray:
        return self.base_model_._history_reasons(history, items)

    def _explain_batch(self, users: IntArray, items: IntArray) -> list[list[str | None]]:
        return self.base_model_._explain_batch(users, items)
