"""Every registered model against the shared contract (tests/models/contract.py)."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from cratedig.exceptions import ValidationError
from cratedig.models import list_models, make_model
from tests.models.contract import ModelContract


class TestPopularity(ModelContract):
    model_name = "popularity"
    personalised = False
    history_exact = True  # a current history scores as the training one: popularity


class TestCountryPopularity(ModelContract):
    model_name = "popularity_country"


class TestAssociationRules(ModelContract):
    model_name = "association_rules"
    params: ClassVar[dict[str, Any]] = {"min_support": 0.05, "min_confidence": 0.1}


class TestItemKNN(ModelContract):
    history_exact = True
    model_name = "item_knn"
    params: ClassVar[dict[str, Any]] = {"neighbours": 5}


class TestALS(ModelContract):
    model_name = "als"
    params: ClassVar[dict[str, Any]] = {"factors": 2, "iterations": 15, "regularization": 0.1}


class TestEASE(ModelContract):
    history_exact = True
    model_name = "ease"
    params: ClassVar[dict[str, Any]] = {"l2": 10.0}


class TestEASEDLAE(ModelContract):
    history_exact = True
    model_name = "ease"
    params: ClassVar[dict[str, Any]] = {
        "l2": 1.0,
        "weighting": "root4",
        "dropout": 0.5,
        "row_norm": 0.5,
        "popularity_exponent": 0.2,
    }


class TestUserClusters(ModelContract):
    model_name = "user_clusters"
    params: ClassVar[dict[str, Any]] = {"n_clusters": 2, "n_components": 4}


class TestTagContent(ModelContract):
    model_name = "tag_content"


class TestHybrid(ModelContract):
    history_exact = True
    model_name = "hybrid"
    params: ClassVar[dict[str, Any]] = {
        "components": [["ease", {"l2": 10.0}], ["item_knn", {"neighbours": 5}]],
        "weights": [1.0, 0.5],
    }


class TestHiddenGems(ModelContract):
    model_name = "hidden_gems"
    params: ClassVar[dict[str, Any]] = {
        "base": "ease",
        "base_params": {"l2": 10.0},
        "head_fraction": 0.05,
    }


class TestPopularityPenalised(ModelContract):
    model_name = "popularity_penalised"
    params: ClassVar[dict[str, Any]] = {
        "base": "item_knn",
        "base_params": {"neighbours": 5},
        "penalty": 0.1,
    }


class TestDefault(ModelContract):
    model_name = "default"


def test_every_registered_model_has_a_contract_test() -> None:
    tested = {cls.model_name for cls in ModelContract.__subclasses__()}
    assert tested == set(list_models())


def test_unknown_model_name_lists_known_names() -> None:
    with pytest.raises(ValidationError, match=r"one of: .*association_rules.*ease"):
        make_model("easy")


def test_unknown_parameter_is_rejected() -> None:
    with pytest.raises(ValidationError, match="neighbors"):
        make_model("item_knn", neighbors=5)
