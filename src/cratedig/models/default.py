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
#: Its hyperparameters: EASE on log1p play counts (3,000 most listened artists) blended
#: with implicit ALS, both min-max normalised per user, equal weights.
DEFAULT_PARAMS: dict[str, Any] = {
    "components": [
        ["ease", {"l2": 2000.0, "max_artists": 3000, "weighting": "log1p"}],
        ["als", {"factors": 32, "regularization": 0.5, "alpha": 2.0, "weighting": "log1p"}],
    ],
    "weights": [1.0, 1.0],
    "normalisation": "minmax",
}


def make_default(**overrides: Any) -> Recommender:
    """A new default model; ``overrides`` replace individual hyperparameters."""
    from cratedig.models import make_model

    return make_model(DEFAULT_NAME, **{**DEFAULT_PARAMS, **overrides})
