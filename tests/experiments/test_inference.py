"""Comparisons agree with statsmodels/scipy; the delta method agrees with simulation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportions_ztest

from cratedig.exceptions import ValidationError
from cratedig.experiments.estimates import UserMetric, arm_estimate, cuped_estimates
from cratedig.experiments.inference import (
    adjust_pvalues,
    bootstrap_interval,
    compare,
    proportion_test,
    ratio_test,
    welch_test,
)


def ctr_users(n: int, p: float, rng: np.random.Generator) -> UserMetric:
    shown = 10 * (1 + rng.poisson(4, n))
    rate = rng.beta(0.5, 0.5 / p - 0.5, n)
    return UserMetric.of(rng.binomial(shown, rate), shown)


def test_proportion_test_matches_statsmodels() -> None:
    res = proportion_test([480, 540], [5000, 5000])
    _, p = proportions_ztest([480, 540], [5000, 5000])
    assert res.p_value == pytest.approx(p, rel=1e-12)
    assert res.diff == pytest.approx(0.012)
    assert res.lift == pytest.approx(540 / 480 - 1)


def test_welch_matches_scipy() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(3.0, 1.0, 300), rng.normal(3.2, 2.0, 200)
    res = welch_test(a, b)
    ref = stats.ttest_ind(b, a, equal_var=False)
    assert res.p_value == pytest.approx(ref.pvalue, rel=1e-12)
    ci = ref.confidence_interval()
    assert res.ci == pytest.approx((ci.low, ci.high))
    assert res.diff == pytest.approx(b.mean() - a.mean())


def test_mean_metric_z_test_matches_statsmodels_ztest() -> None:
    from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

    rng = np.random.default_rng(2)
    a, b = rng.exponential(1.0, 4000), rng.exponential(1.05, 4000)
    res = ratio_test(UserMetric.of(a), UserMetric.of(b))
    _, p = CompareMeans(DescrStatsW(b), DescrStatsW(a)).ztest_ind(usevar="unequal")
    assert res.p_value == pytest.approx(p, rel=1e-9)


@pytest.mark.parametrize("method", ["holm", "bh"])
def test_corrections_match_statsmodels(method: str) -> None:
    p = [0.01, 0.04, 0.03, 0.2, 0.001]
    adjusted, reject = adjust_pvalues(p, method)  # type: ignore[arg-type]
    ref = multipletests(p, method="holm" if method == "holm" else "fdr_bh")
    assert adjusted == pytest.approx(list(ref[1]))
    assert reject == list(ref[0])
    assert adjust_pvalues([]) == ([], [])


def test_delta_method_variance_matches_simulation() -> None:
    """The delta-method variance of a CTR equals the spread of CTR over many replicates."""
    rng = np.random.default_rng(3)
    estimates, predicted = [], []
    for _ in range(2000):
        m = ctr_users(500, 0.05, rng)
        est = arm_estimate(m)
        estimates.append(est.mean)
        predicted.append(est.variance)
    empirical = np.var(estimates, ddof=1)
    assert np.mean(predicted) == pytest.approx(empirical, rel=0.08)
    # the naive binomial variance over items is far too small here
    naive = 0.05 * 0.95 / (500 * 50)
    assert naive < 0.5 * empirical


def test_lift_interval_covers_as_designed() -> None:
    rng = np.random.default_rng(4)
    covered = 0
    for _ in range(600):
        res = ratio_test(ctr_users(2000, 0.05, rng), ctr_users(2000, 0.055, rng))
        covered += res.lift_ci[0] <= 0.1 <= res.lift_ci[1]
    assert covered / 600 == pytest.approx(0.95, abs=0.025)


def test_bootstrap_agrees_with_delta_interval() -> None:
    rng = np.random.default_rng(5)
    c, t = ctr_users(3000, 0.05, rng), ctr_users(3000, 0.055, rng)
    delta = ratio_test(c, t)
    lo, hi = bootstrap_interval(c, t, "lift", n_resamples=1000, seed=1)
    assert (hi - lo) == pytest.approx(delta.lift_ci[1] - delta.lift_ci[0], rel=0.15)
    lo_d, hi_d = bootstrap_interval(c, t, "diff", n_resamples=1000, seed=1)
    assert (hi_d - lo_d) == pytest.approx(delta.ci[1] - delta.ci[0], rel=0.15)


def test_bootstrap_interval_is_close_to_the_delta_method_on_large_data() -> None:
    # 20,000 users per arm: the ratio's sampling distribution is close to normal, so the
    # percentile bootstrap (scipy) and the delta-method interval nearly coincide
    rng = np.random.default_rng(15)
    c, t = ctr_users(20_000, 0.05, rng), ctr_users(20_000, 0.052, rng)
    delta = ratio_test(c, t)
    lo, hi = bootstrap_interval(c, t, "lift", n_resamples=2000, seed=3)
    width = delta.lift_ci[1] - delta.lift_ci[0]
    assert abs(lo - delta.lift_ci[0]) < 0.08 * width and abs(hi - delta.lift_ci[1]) < 0.08 * width
    assert bootstrap_interval(c, t, "lift", n_resamples=2000, seed=3) == (lo, hi)  # seeded
    with pytest.raises(ValidationError, match="n_resamples"):
        bootstrap_interval(c, t, n_resamples=50)


def test_cuped_keeps_the_mean_and_cuts_the_variance() -> None:
    rng = np.random.default_rng(6)
    n = 20_000
    pre = rng.normal(10, 3, 2 * n)
    post = 0.8 * pre + rng.normal(0, 3, 2 * n)
    post[n:] += 0.1
    c = UserMetric.of(post[:n], pre_numerator=pre[:n])
    t = UserMetric.of(post[n:], pre_numerator=pre[n:])
    (ac, at), theta, rho = cuped_estimates([c, t])
    plain_c, plain_t = arm_estimate(c), arm_estimate(t)
    # theta = cov(Y, X) / var(X) (Deng et al. 2013) on the pooled users
    assert theta == pytest.approx(np.cov(post, pre)[0, 1] / pre.var(ddof=1), rel=0.01)
    assert ac.variance == pytest.approx(plain_c.variance * (1 - rho**2), rel=0.02)
    diff = compare(ac, at)
    assert diff.diff == pytest.approx(0.1, abs=3 * diff.diff_se)
    assert diff.diff_se < compare(plain_c, plain_t).diff_se


def test_cuped_for_ratio_metrics_reduces_variance() -> None:
    rng = np.random.default_rng(7)
    n = 5000
    rate = rng.beta(0.5, 9.5, 2 * n)
    shown, pre_shown = 10 * (1 + rng.poisson(4, 2 * n)), 10 * (1 + rng.poisson(4, 2 * n))
    clicks, pre_clicks = rng.binomial(shown, rate), rng.binomial(pre_shown, rate)
    arms = [
        UserMetric.of(clicks[s], shown[s], pre_clicks[s], pre_shown[s])
        for s in (slice(0, n), slice(n, None))
    ]
    (ac, at), _, rho = cuped_estimates(arms)
    assert rho > 0.3
    assert ac.variance < arm_estimate(arms[0]).variance
    assert compare(ac, at).p_value > 0.001  # an A/A stays quiet


def test_bad_inputs_raise_validation_errors() -> None:
    with pytest.raises(ValidationError):
        UserMetric.of([1.0, 2.0], [1.0])
    with pytest.raises(ValidationError):
        UserMetric.of([1.0, np.nan])
    with pytest.raises(ValidationError):
        UserMetric.of([0.0, 0.0], [0.0, 0.0])
    with pytest.raises(ValidationError):
        proportion_test([10, 20], [5, 100])
    with pytest.raises(ValidationError):
        adjust_pvalues([0.1], "bonferroni")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        cuped_estimates([UserMetric.of([1.0, 2.0]), UserMetric.of([1.0, 2.0])])
