"""Decisions in words and team-draft interleaving."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from cratedig.exceptions import ValidationError
from cratedig.experiments.decision import decide, format_p
from cratedig.experiments.estimates import ArmEstimate
from cratedig.experiments.inference import Comparison, compare
from cratedig.experiments.interleaving import (
    TEAM_A,
    TEAM_B,
    credit_clicks,
    interleaving_test,
    team_draft,
)
from cratedig.experiments.planning import srm_check
from cratedig.experiments.sequential import sequential_compare


def fixed(lift: float, lift_ci: tuple[float, float], p: float) -> Comparison:
    base = compare(ArmEstimate(0.1, 1e-6, 1000), ArmEstimate(0.1 * (1 + lift), 1e-6, 1000))
    return Comparison(
        base.control, base.treatment, base.diff, base.diff_se, base.lift, base.lift_se,
        p, base.ci, lift_ci, 0.05,
    )  # fmt: skip


def test_win_sentence() -> None:
    d = decide("CTR", fixed(0.061, (0.020, 0.103), 0.003), srm_check([5000, 5010], [1, 1]))
    assert d.verdict == "ship"
    assert d.text == "treatment wins on CTR: +6.1% (95% CI +2.0% .. +10.3%), p = 0.003"


def test_loss_and_lower_is_better() -> None:
    d = decide("CTR", fixed(-0.04, (-0.07, -0.01), 0.01))
    assert d.verdict == "do_not_ship" and d.text.startswith("treatment loses on CTR: -4.0%")
    d = decide("discovery time", fixed(-0.04, (-0.07, -0.01), 0.0001), higher_is_better=False)
    assert d.verdict == "ship" and d.text.endswith("p < 0.001")


def test_no_difference_names_the_mde() -> None:
    d = decide("CTR", fixed(0.01, (-0.02, 0.04), 0.4), mde=0.042)
    assert d.verdict == "keep_running"
    assert d.text == "no detectable difference yet (MDE at the current size: 4.2%)"


def test_srm_blocks_shipping() -> None:
    d = decide("CTR", fixed(0.2, (0.1, 0.3), 1e-9), srm_check([10_400, 9_600], [1, 1]))
    assert d.verdict == "invalid"
    assert d.text == "sample ratio mismatch: do not trust this result"


def test_sequential_result_uses_its_own_p_value() -> None:
    base = compare(ArmEstimate(0.05, 4e-7, 5000), ArmEstimate(0.0518, 4e-7, 5000))
    assert base.p_value < 0.05
    seq = sequential_compare(base, tuning_n=10_000)
    assert seq.p_value > 0.05
    assert decide("CTR", seq).verdict == "keep_running"
    assert format_p(0.0004) == "p < 0.001"


def test_team_draft_is_deterministic_and_fair() -> None:
    a, b = list("abcdefgh"), list("ijklmnop")
    items, teams = team_draft(a, b, 6, "s", "u1", "l1")
    assert (items, teams.tolist()) == (lambda r: (r[0], r[1].tolist()))(
        team_draft(a, b, 6, "s", "u1", "l1")
    )
    assert len(items) == 6 and sorted(teams.tolist()) == [0, 0, 0, 1, 1, 1]
    # each pair of positions holds one pick of each team, in each ranker's order
    for k in range(0, 6, 2):
        assert set(teams[k : k + 2].tolist()) == {TEAM_A, TEAM_B}
    assert [i for i, t in zip(items, teams, strict=True) if t == TEAM_A] == a[:3]
    assert [i for i, t in zip(items, teams, strict=True) if t == TEAM_B] == b[:3]
    firsts = [team_draft(a, b, 2, "s", f"u{i}")[1][0] for i in range(2000)]
    assert stats.binomtest(int(np.sum(firsts)), 2000).pvalue > 0.001


def test_team_draft_shared_items_and_short_rankings() -> None:
    items, teams = team_draft(["x", "y", "z"], ["y", "x", "w"], 10, "s", "u")
    assert sorted(items) == ["w", "x", "y", "z"] and len(set(items)) == 4
    assert len(teams) == 4
    with pytest.raises(ValidationError):
        team_draft(["x"], ["y"], 0, "s", "u")


def test_known_answer_ranker_b_contributes_every_click() -> None:
    # the user clicks only item "good", which only ranker B ranks: B must win every user
    clicks_a, clicks_b = [], []
    for u in range(30):
        items, teams = team_draft(["a1", "a2", "a3"], ["good", "b2", "b3"], 4, "s", str(u))
        ca, cb = credit_clicks(teams, [i == "good" for i in items])
        clicks_a.append(ca)
        clicks_b.append(cb)
    res = interleaving_test(clicks_a, clicks_b)
    assert (res.wins_a, res.wins_b, res.ties) == (0, 30, 0)
    assert res.p_value == pytest.approx(2 * 0.5**30)
    assert res.ci[0] > 0.88


def test_credit_clicks_by_position_and_ties() -> None:
    teams = np.array([0, 1, 1, 0])
    assert credit_clicks(teams, [0, 1, 2]) == (1, 2)
    assert credit_clicks(teams, np.array([True, False, False, True])) == (2, 0)
    with pytest.raises(ValidationError):
        credit_clicks(teams, [7])
    res = interleaving_test([1, 2, 0], [1, 3, 0])
    assert (res.wins_a, res.wins_b, res.ties) == (0, 1, 2)
    assert interleaving_test([0], [0]).p_value == 1.0
