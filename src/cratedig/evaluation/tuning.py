"""Hyperparameter search on validation data, then one honest test.

:func:`tune` fits one model per candidate on the training matrix and scores it on the
validation matrix (NDCG@10 by default). :func:`tune_and_test` then refits the best
candidate on train + validation and evaluates it once on the test matrix, whose
users' train + validation history is masked. Candidates come from scikit-learn's
``ParameterGrid`` (every combination) or ``ParameterSampler`` (``n_iter`` random
draws, seeded). While candidates are tried, a hybrid's components that are equal
across candidates are fitted once (:func:`cratedig.models.reuse.shared_fits`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy.typing as npt
import scipy.sparse as sp
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from sklearn.model_selection import ParameterGrid, ParameterSampler

from cratedig.evaluation.protocol import evaluate_model
from cratedig.exceptions import ValidationError
from cratedig.matrix.side import SideInfo
from cratedig.models.contract import RecommenderLike
from cratedig.models.reuse import shared_fits

ModelFactory = Callable[..., RecommenderLike]
"""Builds an unfitted model from keyword hyperparameters."""


def model_factory(name: str) -> ModelFactory:
    """A factory for a registered cratedig model: ``make_model(name, **params)``."""

    def build(**params: Any) -> RecommenderLike:
        from cratedig.models import make_model  # models sit downstream of nothing here

        return make_model(name, **params)

    build.__name__ = f"make_{name}"
    return build


def candidates(
    grid: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Sequence[Any]]],
    n_iter: int | None = None,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """The parameter sets to try: the whole grid, or ``n_iter`` seeded random draws.

    An empty grid ``{}`` yields one candidate, the model's defaults.
    """
    if n_iter is None:
        return [dict(p) for p in ParameterGrid(grid)]
    if n_iter < 1:
        raise ValidationError("n_iter", n_iter, "an integer >= 1 (or None for the full grid)")
    full = list(ParameterGrid(grid))
    if n_iter >= len(full):
        return [dict(p) for p in full]
    return [dict(p) for p in ParameterSampler(grid, n_iter=n_iter, random_state=seed)]


@dataclass
class Trial:
    """One candidate's validation result."""

    params: dict[str, Any]
    score: float
    metrics: dict[str, float]
    fit_seconds: float


@dataclass
class TuningResult:
    """The outcome of a search: every trial and the best one."""

    metric: str
    trials: list[Trial] = field(default_factory=list)

    @property
    def best(self) -> Trial:
        """The trial with the highest score (the first of equals)."""
        scored = [t for t in self.trials if not math.isnan(t.score)]
        if not scored:
            raise ValidationError("trials", len(self.trials), "at least one scored trial")
        return max(scored, key=lambda t: t.score)

    @property
    def best_params(self) -> dict[str, Any]:
        return dict(self.best.params)

    @property
    def best_score(self) -> float:
        return self.best.score


def _progress(enabled: bool) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        disable=not enabled,
        transient=True,
    )


def tune(
    factory: ModelFactory,
    grid: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Sequence[Any]]],
    train: sp.spmatrix,
    validation: sp.spmatrix,
    k: int = 10,
    *,
    side: SideInfo | None = None,
    metric: str = "ndcg",
    n_iter: int | None = None,
    seed: int = 0,
    users: npt.ArrayLike | None = None,
    progress: bool = True,
    label: str = "tuning",
) -> TuningResult:
    """Fit each candidate on ``train`` and score it on ``validation``.

    Parameters
    ----------
    factory
        Builds a model from hyperparameters (see :func:`model_factory`).
    grid
        ``{param: [values...]}`` (or a list of such grids).
    metric
        Short accuracy metric name (``ndcg``, ``recall``, ``precision``, ``map``...);
        the score is ``"<metric>@<k>"``.
    n_iter
        Random search with this many draws; ``None`` tries the whole grid.
    progress
        Show a rich progress bar.

    Returns
    -------
    TuningResult
    """
    key = f"{metric}@{k}"
    result = TuningResult(metric=key)
    todo = candidates(grid, n_iter, seed)
    # Candidates share fitted components where they can (models.reuse): same results.
    with _progress(progress) as bar, shared_fits():
        task = bar.add_task(label, total=len(todo))
        for params in todo:
            model = factory(**params)
            scores = evaluate_model(model, train, validation, k, side=side, users=users)
            if key not in scores and scores.get("users", 0) > 0:
                raise ValidationError("metric", metric, "an accuracy metric name such as 'ndcg'")
            result.trials.append(
                Trial(params, scores.get(key, float("nan")), scores, scores["fit_seconds"])
            )
            bar.advance(task)
    return result


def tune_and_test(
    factory: ModelFactory,
    grid: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Sequence[Any]]],
    train: sp.spmatrix,
    validation: sp.spmatrix,
    test: sp.spmatrix,
    k: int = 10,
    *,
    side: SideInfo | None = None,
    metric: str = "ndcg",
    n_iter: int | None = None,
    seed: int = 0,
    progress: bool = True,
    label: str = "tuning",
    users: npt.ArrayLike | None = None,
) -> tuple[TuningResult, dict[str, float]]:
    """Tune on validation, refit the best on train + validation, evaluate on test.

    ``users`` restricts the validation scoring of the candidates (see :func:`tune`);
    the test evaluation uses every user with a test item.

    Returns
    -------
    (TuningResult, dict)
        The search and the test metrics of the refitted best model (its
        ``fit_seconds`` is the refit's).
    """
    result = tune(
        factory,
        grid,
        train,
        validation,
        k,
        side=side,
        metric=metric,
        n_iter=n_iter,
        seed=seed,
        progress=progress,
        label=label,
        users=users,
    )
    combined = (sp.csr_matrix(train) + sp.csr_matrix(validation)).tocsr()
    start = time.perf_counter()
    model = factory(**result.best_params)
    test_scores = evaluate_model(model, combined, test, k, side=side)
    test_scores["total_seconds"] = time.perf_counter() - start
    return result, test_scores
