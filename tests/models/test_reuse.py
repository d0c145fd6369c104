"""Tuning fits each distinct hybrid component once and picks exactly what it did before."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp

from cratedig.evaluation.protocol import evaluate_model
from cratedig.evaluation.tuning import model_factory, tune
from cratedig.matrix.split import random_holdout
from cratedig.models import make_model, reuse
from cratedig.models.default import default_candidates


def taste_matrix(seed: int = 3) -> sp.csr_matrix:
    """300 users x 120 artists in 4 taste groups, play counts."""
    rng = np.random.default_rng(seed)
    rows, cols, vals = [], [], []
    for user in range(300):
        group = user % 4
        own = rng.choice(np.arange(group * 30, group * 30 + 30), size=8, replace=False)
        other = rng.choice(120, size=2, replace=False)
        for artist in {*own.tolist(), *other.tolist()}:
            rows.append(user)
            cols.append(artist)
            vals.append(float(rng.integers(1, 200)))
    return sp.csr_matrix((vals, (rows, cols)), shape=(300, 120), dtype=np.float32)


def counting(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    fits: dict[str, int] = {}
    original = reuse.make_model

    def make(name: str, **params: Any) -> Any:
        fits[name] = fits.get(name, 0) + 1
        return original(name, **params)

    monkeypatch.setattr(reuse, "make_model", make)
    return fits


def test_tuning_the_default_fits_each_distinct_component_once_with_identical_results(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    X = taste_matrix()
    train, validation, _ = random_holdout(X, seed=0)
    candidates = default_candidates()
    grid = [{name: [value] for name, value in params.items()} for params in candidates]
    # Today's way, every candidate fitted from scratch (no shared_fits block).
    scratch = [
        evaluate_model(make_model("default", **params), train, validation, 10)["ndcg@10"]
        for params in candidates
    ]
    fits = counting(monkeypatch)
    result = tune(model_factory("default"), grid, train, validation, progress=False)
    assert [t.score for t in result.trials] == scratch
    assert result.best_params == candidates[int(np.argmax(scratch))]
    # 6 candidates: ALS once, EASE once per distinct l2 (3), instead of 6 + 6.
    assert fits == {"als": 1, "ease": 3}


def test_outside_the_block_every_call_fits_anew(monkeypatch: pytest.MonkeyPatch) -> None:
    X = taste_matrix()
    fits = counting(monkeypatch)
    first = reuse.fit_component("als", {"factors": 4, "iterations": 2}, X, None)
    second = reuse.fit_component("als", {"factors": 4, "iterations": 2}, X, None)
    assert first is not second and fits == {"als": 2}


def test_an_ease_variant_differs_only_in_its_score_scale() -> None:
    X = sp.csr_matrix(taste_matrix())
    params = {"l2": 50.0, "max_artists": 100}
    with reuse.shared_fits():
        plain = reuse.fit_component("ease", {**params, "popularity_exponent": 0.0}, X, None)
        scaled = reuse.fit_component("ease", {**params, "popularity_exponent": 0.5}, X, None)
    fresh = make_model("ease", **params, popularity_exponent=0.5).fit(X)
    assert plain.B_ is scaled.B_  # type: ignore[attr-defined]
    assert plain.popularity_exponent == 0.0
    np.testing.assert_array_equal(scaled.scores(np.arange(20)), fresh.scores(np.arange(20)))
