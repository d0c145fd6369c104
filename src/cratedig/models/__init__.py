"""Recommender models behind one contract, and a registry by name.

>>> from cratedig.models import list_models, make_model
>>> "ease" in list_models()
True
>>> make_model("item_knn", neighbours=50).neighbours
50

Every model follows :class:`cratedig.models.base.Recommender` (the structural contract
other packages type against is :class:`cratedig.models.contract.RecommenderLike`); the
registry by name is :mod:`cratedig.models.registry`. ``make_model("default")`` is the
model production uses (see :mod:`cratedig.models.default`).
"""

from __future__ import annotations

from cratedig.models.base import Recommender
from cratedig.models.registry import list_models, load_model, make_model, model_class

__all__ = ["Recommender", "list_models", "load_model", "make_model", "model_class"]
