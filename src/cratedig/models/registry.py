"""The model registry: every model by name, made, listed and loaded from a folder.

>>> from cratedig.models.registry import list_models, make_model
>>> "ease" in list_models()
True

``make_model("default")`` is the model production uses (see
:mod:`cratedig.models.default`, imported on first use: it builds on this module).
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

from cratedig.exceptions import NotFoundError
from cratedig.models.base import Recommender
from cratedig.models.checks import invalid

#: Registry name -> "module:Class" (imported on first use, keeping ``import cratedig`` light).
_REGISTRY: dict[str, str] = {
    "popularity": "cratedig.models.popularity:Popularity",
    "popularity_country": "cratedig.models.popularity:CountryPopularity",
    "association_rules": "cratedig.models.association_rules:AssociationRules",
    "item_knn": "cratedig.models.item_knn:ItemKNN",
    "als": "cratedig.models.als:ALS",
    "ease": "cratedig.models.ease:EASE",
    "user_clusters": "cratedig.models.clusters:UserClusters",
    "tag_content": "cratedig.models.tag_content:TagContent",
    "hybrid": "cratedig.models.hybrid:Hybrid",
    "hidden_gems": "cratedig.models.hidden_gems:HiddenGems",
    "popularity_penalised": "cratedig.models.hidden_gems:PopularityPenalised",
}


def list_models() -> list[str]:
    """Every name :func:`make_model` accepts, ``"default"`` included, sorted."""
    return sorted([*_REGISTRY, "default"])


def model_class(name: str) -> type[Recommender]:
    """The class registered under ``name`` (not ``"default"``)."""
    if name not in _REGISTRY:
        raise invalid("name", name, f"one of: {', '.join(list_models())}")
    module_name, class_name = _REGISTRY[name].split(":")
    cls: type[Recommender] = getattr(importlib.import_module(module_name), class_name)
    return cls


def make_model(name: str, **params: Any) -> Recommender:
    """A new, unfitted model by registry name.

    Parameters
    ----------
    name
        One of :func:`list_models`; ``"default"`` gives production's model.
    **params
        Hyperparameters (for ``"default"``, overrides of the default's).

    Raises
    ------
    ValidationError
        When the name is unknown (the message lists the known names) or a
        parameter is not one of the model's.
    """
    if name == "default":
        from cratedig.models.default import make_default

        return make_default(**params)
    cls = model_class(name)
    known = cls._param_names()
    for key, value in params.items():
        if key not in known:
            raise invalid(key, value, f"a parameter of {name}: {', '.join(known) or 'none'}")
    return cls(**params)


def load_model(path: str | Path, outer: Recommender | None = None) -> Recommender:
    """Load a model saved with :meth:`Recommender.save`.

    Parameters
    ----------
    path
        The folder ``save`` wrote.
    outer
        The loaded model this one was saved inside with ``with_data=False``: its training
        matrix and side information are shared instead of read.

    Raises
    ------
    NotFoundError
        When ``path`` holds no saved model.
    """
    folder = Path(path)
    manifest_path = folder / "model.json"
    if not manifest_path.is_file():
        raise NotFoundError("saved model", str(folder))
    manifest = json.loads(manifest_path.read_text())
    model = make_model(manifest["model"], **manifest["params"])
    shared = manifest.get("data", "own") == "outer"
    if shared and outer is None:
        raise NotFoundError("training data of the model (it was saved inside another)", str(folder))
    model._restore(folder, manifest.get("meta", {}), outer if shared else None)
    return model
