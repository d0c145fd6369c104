"""The one holdout loop: split per user 80/10/10, fit each model, score it on test.

``cratedig evaluate`` runs it over several models and ``cratedig train`` over the one
model it is about to register, so both score a model the same way:

* :class:`Holdout` splits the engagement matrix with
  :func:`cratedig.matrix.split.random_holdout` (each user's artists at random, seeded);
* :func:`score_model` fits on train + validation and ranks the whole catalogue for
  each test user with their history masked
  (:func:`cratedig.evaluation.protocol.evaluate_model`), or with a grid first tunes
  on validation (:func:`cratedig.evaluation.tuning.tune_and_test`);
* :func:`score_models` does that for models named in the registry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import scipy.sparse as sp

from cratedig.evaluation.protocol import evaluate_model
from cratedig.evaluation.tuning import ModelFactory, model_factory, tune_and_test
from cratedig.matrix.side import SideInfo
from cratedig.matrix.split import random_holdout

#: Train, validation and test shares of each user's artists.
FRACTIONS: tuple[float, float, float] = (0.8, 0.1, 0.1)

Grid = Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Sequence[Any]]]


@dataclass(frozen=True)
class Holdout:
    """A per-user random holdout of an engagement matrix.

    Attributes
    ----------
    train, validation, test
        CSR matrices of the matrix's shape whose entries partition it.
    seed, fractions
        How it was drawn.
    """

    train: sp.csr_matrix
    validation: sp.csr_matrix
    test: sp.csr_matrix
    seed: int = 0
    fractions: tuple[float, float, float] = FRACTIONS

    @classmethod
    def split(
        cls, X: sp.csr_matrix, seed: int = 0, fractions: tuple[float, float, float] = FRACTIONS
    ) -> Holdout:
        """Split ``X`` (see :func:`cratedig.matrix.split.random_holdout`)."""
        train, validation, test = random_holdout(X, fractions, seed=seed)
        return cls(train, validation, test, seed, fractions)

    @property
    def fit_matrix(self) -> sp.csr_matrix:
        """Train + validation: what an untuned model is fitted on before the test."""
        return sp.csr_matrix(self.train + self.validation)

    def describe(self) -> str:
        """For reports, e.g. ``"per-user random holdout 80/10/10"``."""
        shares = "/".join(f"{round(f * 100):g}" for f in self.fractions)
        return f"per-user random holdout {shares}"


def score_model(
    factory: ModelFactory,
    holdout: Holdout,
    k: int = 10,
    *,
    side: SideInfo | None = None,
    grid: Grid | None = None,
    progress: bool = False,
    label: str = "tuning",
) -> dict[str, Any]:
    """Fit one model on a holdout and score it on its test part.

    Parameters
    ----------
    factory
        ``factory(**params)`` builds an unfitted model.
    holdout
        The split.
    k
        List length of the metrics.
    side
        Side information for the models that use it.
    grid
        Without one, ``factory()`` is fitted on train + validation and scored on test.
        With one, every candidate is fitted on train and scored on validation first;
        the best is refitted on train + validation and scored once on test.
    progress, label
        Show the tuning progress under this label.

    Returns
    -------
    dict
        The test metrics (``ndcg@k``...); after tuning also ``params`` (the chosen
        hyperparameters) and ``validation_ndcg@k`` (their validation score).
    """
    if grid is None:
        return dict(evaluate_model(factory(), holdout.fit_matrix, holdout.test, k, side=side))
    search, scores = tune_and_test(
        factory,
        grid,
        holdout.train,
        holdout.validation,
        holdout.test,
        k,
        side=side,
        seed=holdout.seed,
        progress=progress,
        label=label,
    )
    result: dict[str, Any] = dict(scores)
    result["params"] = search.best_params
    result["validation_" + search.metric] = search.best_score
    return result


def score_models(
    names: Sequence[str],
    holdout: Holdout,
    k: int = 10,
    *,
    side: SideInfo | None = None,
    grids: Callable[[str], Grid] | None = None,
    progress: bool = False,
    on_model: Callable[[str], None] | None = None,
) -> dict[str, dict[str, Any]]:
    """:func:`score_model` for registered models by name, on one holdout.

    Parameters
    ----------
    names
        Model names (:func:`cratedig.models.list_models`).
    grids
        ``grids(name)`` -> that model's grid, to tune each on validation first
        (:func:`cratedig.evaluation.grids.grid_for`); ``None``: defaults only.
    on_model
        Called with each name before its model is fitted (to report progress).

    Returns
    -------
    dict
        ``{name: metrics}`` in the order of ``names``.
    """
    results: dict[str, dict[str, Any]] = {}
    for name in names:
        if on_model is not None:
            on_model(name)
        results[name] = score_model(
            model_factory(name),
            holdout,
            k,
            side=side,
            grid=None if grids is None else grids(name),
            progress=progress,
            label=f"tuning {name}",
        )
    return results
