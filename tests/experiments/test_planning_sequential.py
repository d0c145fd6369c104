"""Power, MDE, SRM and the confidence sequence."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from cratedig.exceptions import ValidationError
from cratedig.experiments.estimates import ArmEstimate
from cratedig.experiments.inference import compare
from cratedig.experiments.planning import (
    days_needed,
    mde_mean,
    mde_proportion,
    power_mean,
    power_proportion,
    srm_check,
    users_per_arm_mean,
    users_per_arm_proportion,
)
from cratedig.experiments.sequential import (
    always_valid_p,
    half_width,
    mixture_rho,
    sequential_compare,
    sequential_path,
)


def test_users_per_arm_for_means_is_the_textbook_formula() -> None:
    # n = 2 (z_{1-a/2} + z_{1-b})^2 sd^2 / delta^2
    z = stats.norm.ppf(0.975) + stats.norm.ppf(0.8)
    n = users_per_arm_mean(0.05, 0.06, 0.05, sd_scales_with_lift=False)
    assert n == pytest.approx(math.ceil(2 * z**2 * 0.06**2 / 0.0025**2), abs=2)
    assert power_mean(n, 0.05, 0.06, 0.05, sd_scales_with_lift=False) == pytest.approx(
        0.8, abs=0.002
    )
    assert mde_mean(n, 0.05, 0.06, sd_scales_with_lift=False) == pytest.approx(0.05, rel=0.002)
    # a multiplicative lift also scales the treatment's sd: (sd^2 + (1.05 sd)^2) / delta^2
    n2 = users_per_arm_mean(0.05, 0.06, 0.05)
    assert n2 == pytest.approx(math.ceil(z**2 * (1 + 1.05**2) * 0.06**2 / 0.0025**2), abs=2)
    assert power_mean(n2, 0.05, 0.06, 0.05) == pytest.approx(0.8, abs=0.002)
    assert mde_mean(n2, 0.05, 0.06) == pytest.approx(0.05, rel=0.002)


def test_proportion_power_round_trips() -> None:
    n = users_per_arm_proportion(0.10, 0.05)
    # about 58k per arm for +5% on a 10% baseline (the usual rule-of-thumb size)
    assert 55_000 < n < 60_000
    assert power_proportion(n, 0.10, 0.05) == pytest.approx(0.8, abs=0.002)
    assert mde_proportion(n, 0.10) == pytest.approx(0.05, rel=0.005)


def test_days_needed() -> None:
    assert days_needed(10_000, 2, 1000) == 20
    assert days_needed(10_000, 2, 1000, traffic_fraction=0.5) == 40
    with pytest.raises(ValidationError):
        days_needed(10, 1, 10)


def test_srm_flags_a_broken_split_only() -> None:
    assert srm_check([10_400, 9_600], [0.5, 0.5]).mismatch
    assert not srm_check([10_050, 9_950], [0.5, 0.5]).mismatch
    ok = srm_check([2_010, 7_990], [20, 80])
    assert not ok.mismatch and ok.expected == pytest.approx((2000.0, 8000.0))
    assert ok.p_value == pytest.approx(stats.chisquare([2010, 7990], [2000, 8000]).pvalue)
    with pytest.raises(ValidationError):
        srm_check([1, 2], [1.0])


def test_rho_is_tightest_near_the_tuning_size() -> None:
    var_at = lambda n: 1.0 / n  # noqa: E731  (per-user variance 1)
    ns = np.array([1000, 5000, 10_000, 20_000, 100_000], dtype=float)
    ratio = half_width(var_at(ns), ns, 0.05, tuning_n=10_000) / np.sqrt(var_at(ns))
    # relative to the fixed-horizon width, the cost is smallest at the tuning size
    fixed = stats.norm.ppf(0.975)
    cost = ratio / fixed
    assert np.argmin(cost) == 2
    assert mixture_rho(10_000) > mixture_rho(20_000)


def test_always_valid_p_inverts_the_interval() -> None:
    est, var, n = 0.3, 0.01, 4000
    p = always_valid_p(est, var, n, 0.05, 5000)
    # at level p the interval's edge touches 0
    rho2 = mixture_rho(5000, 0.05) ** 2
    hw = math.sqrt(
        var * n * 2 * (n * rho2 + 1) / (n**2 * rho2) * math.log(math.sqrt(n * rho2 + 1) / p)
    )
    assert hw == pytest.approx(est, rel=1e-9)
    assert always_valid_p(0.0, var, n) == 1.0


def test_sequential_is_wider_and_more_conservative() -> None:
    fixed = compare(ArmEstimate(0.05, 1e-6, 5000), ArmEstimate(0.0535, 1e-6, 5000))
    seq = sequential_compare(fixed, tuning_n=10_000)
    assert seq.ci[0] < fixed.ci[0] and seq.ci[1] > fixed.ci[1]
    assert seq.p_value > fixed.p_value
    assert seq.lift_ci[0] < fixed.lift_ci[0]


def test_sequential_path_intersects_and_takes_running_minimum() -> None:
    looks = [
        compare(ArmEstimate(1.0, v, n), ArmEstimate(1.0 + d, v, n))
        for v, n, d in [(0.01, 100, 0.2), (0.005, 200, -0.05), (0.0025, 400, 0.1)]
    ]
    path = sequential_path(looks, tuning_n=800)
    for prev, cur in itertools.pairwise(path):
        assert cur.ci[0] >= prev.ci[0] and cur.ci[1] <= prev.ci[1]
        assert cur.p_value <= prev.p_value
