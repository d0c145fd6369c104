"""Association rules checked by hand on five baskets.

Baskets (artists A=0, B=1, C=2, D=3): u0 {A,B,C}, u1 {A,B}, u2 {A,C}, u3 {B,C},
u4 {A,B,C,D}. Counts: A=B=C=4, D=1, n=5.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from cratedig.models import make_model

A, B, C, D = 0, 1, 2, 3
BASKETS = [[A, B, C], [A, B], [A, C], [B, C], [A, B, C, D]]


@pytest.fixture
def baskets() -> sp.csr_matrix:
    rows = [u for u, basket in enumerate(BASKETS) for _ in basket]
    cols = [a for basket in BASKETS for a in basket]
    # Weights are play counts: rules only look at presence.
    return sp.csr_matrix((np.full(len(rows), 7.0, np.float32), (rows, cols)), shape=(5, 4))


def rule(table, antecedents, consequent):  # type: ignore[no-untyped-def]
    hit = table[(table.consequent == consequent) & (table.antecedents == antecedents)]
    assert len(hit) == 1, (antecedents, consequent, table)
    return hit.iloc[0]


def test_support_confidence_lift_by_hand(baskets: sp.csr_matrix) -> None:
    model = make_model("association_rules", min_support=0.2, min_confidence=0.0, min_lift=0.0).fit(
        baskets
    )
    table = model.rules_for(A)
    a_to_b = rule(table, (A,), B)  # A&B in u0, u1, u4
    assert a_to_b.support == pytest.approx(3 / 5)
    assert a_to_b.confidence == pytest.approx(3 / 4)
    assert a_to_b.lift == pytest.approx((3 / 4) / (4 / 5))
    a_to_d = rule(table, (A,), D)
    assert (a_to_d.support, a_to_d.confidence) == pytest.approx((1 / 5, 1 / 4))
    assert a_to_d.lift == pytest.approx(1.25)
    ab_to_c = rule(table, (A, B), C)  # {A,B} in u0, u1, u4; with C in u0, u4
    assert ab_to_c.support == pytest.approx(2 / 5)
    assert ab_to_c.confidence == pytest.approx(2 / 3)
    assert ab_to_c.lift == pytest.approx((2 / 3) / (4 / 5))
    ab_to_d = rule(table, (A, B), D)
    assert ab_to_d.confidence == pytest.approx(1 / 3)
    assert ab_to_d.lift == pytest.approx(5 / 3)
    d_to_a = rule(model.rules_for(A, role="consequent"), (D,), A)
    assert (d_to_a.confidence, d_to_a.lift) == pytest.approx((1.0, 1.25))
    assert list(table.confidence) == sorted(table.confidence, reverse=True)


def test_thresholds_filter_rules(baskets: sp.csr_matrix) -> None:
    model = make_model("association_rules", min_support=0.2, min_confidence=0.0, min_lift=1.0).fit(
        baskets
    )
    table = model.rules_for(A)
    assert (table.lift >= 1.0).all()
    assert not ((table.consequent == B) & (table.antecedents == (A,))).any()  # lift 0.9375
    strict = make_model("association_rules", min_support=0.5, min_confidence=0.0, min_lift=0.0)
    table = strict.fit(baskets).rules_for(A)
    assert set(table.consequent) == {B, C} and (table.support >= 0.5).all()
    single = make_model("association_rules", min_support=0.2, max_antecedents=1, min_lift=0.0)
    assert all(len(a) == 1 for a in single.fit(baskets).rules_for(A).antecedents)


@pytest.mark.parametrize(
    ("aggregate", "expected"),
    [("max", [0.75, 1 / 3]), ("sum", [0.75 + 0.75 + 2 / 3, 0.25 + 0.25 + 1 / 3])],
)
def test_recommendation_aggregates_fired_rules(
    baskets: sp.csr_matrix, aggregate: str, expected: list[float]
) -> None:
    model = make_model(
        "association_rules",
        min_support=0.2,
        min_confidence=0.0,
        min_lift=0.0,
        aggregate=aggregate,
    ).fit(baskets)
    idx, scores = model.recommend([1], k=3)  # u1 holds A and B
    assert idx[0].tolist() == [C, D, -1]
    np.testing.assert_allclose(scores[0, :2], expected, rtol=1e-5)
    assert "A" in model.explain(1, C) or "#0" in model.explain(1, C)


def test_rules_table_carries_names_when_known(baskets: sp.csr_matrix) -> None:
    from cratedig.matrix.side import SideInfo

    side = SideInfo(artist_names=["Low", "Slowdive", "Lush", "Ride"])
    model = make_model("association_rules", min_support=0.2, min_lift=0.0).fit(baskets, side)
    table = model.rules_for(D, role="consequent")
    row = table[table.antecedents == (A, B)].iloc[0]
    assert row.antecedent_names == ("Low", "Slowdive") and row.consequent_name == "Ride"
    assert model.explain(4, D) != ""


def test_max_aggregate_equals_a_per_user_loop() -> None:
    # the vectorised max over fired rules agrees with the obvious per-user computation
    rng = np.random.default_rng(3)
    X = sp.random(60, 25, density=0.2, random_state=4, format="csr", dtype=np.float32)
    model = make_model("association_rules", min_support=0.02, min_confidence=0.05).fit(X)
    users = rng.permutation(60)[:40]
    got = model._score(users)
    binary, pairs = model._fired(users)
    for row in range(len(users)):
        fired = sp.vstack([model.single_[binary[row].indices], model.double_[pairs[row].indices]])
        best = fired.toarray().max(axis=0) if fired.shape[0] else np.zeros(25)
        expected = np.where(best > 0, best, -np.inf).astype(np.float32)
        np.testing.assert_array_equal(got[row], expected)
    assert np.isfinite(got).any()
