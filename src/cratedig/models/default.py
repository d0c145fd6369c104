"""Production's model: what ``make_model("default")`` returns.

Chosen on Last.fm HetRec 2K (play counts; per-user random 80/10/10 split; full ranking
with history masked; tuned on validation, reported on test); see ``docs/models.md``
for the figures and how to reproduce them.
"""

from __future__ import annotations

import copy
from typing import Any

from cratedig.models.base import Recommender
from cratedig.models.registry import make_model

#: Registry name of the default model.
DEFAULT_NAME = "hybrid"
#: Its hyperparameters: DLAE-regularised EASE (dropout 0.5) on fourth-root play counts,
#: user rows divided by the square root of their norm, 3,000 most listened artists, scores
#: divided by listeners ** 0.2; blended with implicit ALS on log1p play counts, both
#: min-max normalised per user, weights 1 and 0.5.
DEFAULT_PARAMS: dict[str, Any] = {
    "components": [
        [
            "ease",
            {
                "l2": 20.0,
                "max_artists": 3000,
                "weighting": "root4",
                "dropout": 0.5,
                "row_norm": 0.5,
                "popularity_exponent": 0.2,
            },
        ],
        ["als", {"factors": 32, "regularization": 0.5, "alpha": 2.0, "weighting": "log1p"}],
    ],
    "weights": [1.0, 0.5],
    "normalisation": "minmax",
}


def make_default(**overrides: Any) -> Recommender:
    """A new default model; ``overrides`` replace individual hyperparameters."""
    return make_model(DEFAULT_NAME, **{**DEFAULT_PARAMS, **overrides})


#: What ``cratedig train`` tries for the default on each site's own data (EASE's ``l2``
#: x ``popularity_exponent``), chosen on a validation split. The best values depend on
#: the data: on HetRec Last.fm 2K validation picks ``l2=20`` with exponent 0.2 (the
#: defaults above) on every seed; on the demo's simulated site (1,858 users, 23k
#: user-artist pairs) ``l2=100`` with no exponent, 20% above the defaults there.
TUNING_GRID: dict[str, list[Any]] = {"l2": [20.0, 100.0, 500.0], "popularity_exponent": [0.2, 0.0]}


def default_candidates() -> list[dict[str, Any]]:
    """The default's hyperparameters for each point of :data:`TUNING_GRID`.

    Each is a complete set of ``make_model("default", **params)`` parameters; the first
    is :data:`DEFAULT_PARAMS` itself, so that it wins ties.
    """
    out: list[dict[str, Any]] = []
    for l2 in TUNING_GRID["l2"]:
        for exponent in TUNING_GRID["popularity_exponent"]:
            params = copy.deepcopy(DEFAULT_PARAMS)
            params["components"][0][1].update(l2=l2, popularity_exponent=exponent)
            out.append(params)
    out.sort(key=lambda p: p != DEFAULT_PARAMS)
    return out
