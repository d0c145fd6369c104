"""Production's model: what ``make_model("default")`` returns.

Chosen on Last.fm HetRec 2K (play counts; per-user random 80/10/10 split; full ranking
with history masked; tuned on validation, reported on test); see ``docs/models.md``
for the figures and how to reproduce them.
"""

from __future__ import annotations

from typing import Any

from cratedig.models.base import Recommender

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
    from cratedig.models import make_model

    return make_model(DEFAULT_NAME, **{**DEFAULT_PARAMS, **overrides})
