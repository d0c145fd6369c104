"""Small default hyperparameter grids for tuning cratedig models on validation data.

Each grid has at most four candidates so that every model gets about the same tuning
effort. Parameters a model does not accept (its constructor changed) are dropped, so
a grid never breaks tuning; a model without a grid is run with its defaults.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

DEFAULT_GRIDS: dict[str, dict[str, list[Any]]] = {
    "popularity": {},
    "popularity_country": {},
    "ease": {"l2": [100.0, 300.0, 1000.0, 3000.0]},
    "item_knn": {"neighbours": [50, 200], "alpha": [0.5, 0.8]},
    "als": {"factors": [64, 128], "regularization": [0.05, 0.5]},
    "association_rules": {"min_support": [0.002, 0.005], "strength": ["confidence", "lift"]},
    "user_clusters": {"n_clusters": [20, 50, 100, 200]},
    "tag_content": {"weighting": ["log1p", "bm25"]},
    "hybrid": {},
    "hidden_gems": {},
    "popularity_penalised": {},
    "default": {},
}


def accepted_params(name: str) -> set[str] | None:
    """The constructor parameters of a registered model, or ``None`` when unknown."""
    try:
        from cratedig.models import model_class

        cls = model_class(name)
    except Exception:
        return None
    return {p for p in inspect.signature(cls.__init__).parameters if p != "self"}


def grid_for(name: str, extra: dict[str, Sequence[Any]] | None = None) -> dict[str, list[Any]]:
    """The default grid of a model, merged with ``extra`` and cut to accepted parameters."""
    grid = {key: list(values) for key, values in DEFAULT_GRIDS.get(name, {}).items()}
    grid.update({key: list(values) for key, values in (extra or {}).items()})
    accepted = accepted_params(name)
    if accepted is not None:
        grid = {key: values for key, values in grid.items() if key in accepted}
    return grid
