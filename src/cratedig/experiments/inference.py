"""Fixed-horizon comparisons of a treatment with the control.

* :func:`compare` turns two :class:`~cratedig.experiments.estimates.ArmEstimate` into
  an absolute difference and a relative lift, each with a z-test and a normal interval;
  the lift's variance comes from the delta method.
* :func:`ratio_test` is that for per-user ratio metrics (CTR), optionally with CUPED.
* :func:`proportion_test` uses statsmodels' two-proportion z-test.
* :func:`welch_test` uses scipy's Welch t-test for per-user means.
* :func:`bootstrap_interval` is an optional percentile bootstrap over users.
* :func:`adjust_pvalues` corrects several metrics together (Holm or Benjamini-Hochberg,
  from statsmodels).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportions_ztest

from cratedig.exceptions import ValidationError
from cratedig.experiments.estimates import ArmEstimate, UserMetric, arm_estimate, cuped_estimates


@dataclass(frozen=True)
class Comparison:
    """Treatment against control on one metric (fixed horizon).

    Attributes
    ----------
    control, treatment
        The two variants' estimates.
    diff, diff_se
        ``treatment - control`` and its standard error.
    lift, lift_se
        ``treatment / control - 1`` and its delta-method standard error.
    p_value
        Two-sided p-value of "no difference".
    ci, lift_ci
        ``1 - alpha`` intervals of ``diff`` and of ``lift``.
    alpha
        The level the intervals were made for.
    """

    control: ArmEstimate
    treatment: ArmEstimate
    diff: float
    diff_se: float
    lift: float
    lift_se: float
    p_value: float
    ci: tuple[float, float]
    lift_ci: tuple[float, float]
    alpha: float


def _check_alpha(alpha: float) -> float:
    if not (isinstance(alpha, int | float) and 0.0 < alpha < 1.0):
        raise ValidationError("alpha", alpha, "a number strictly between 0 and 1")
    return float(alpha)


def lift_variance(control: ArmEstimate, treatment: ArmEstimate) -> float:
    """Delta-method variance of ``treatment.mean / control.mean - 1``.

    For independent arms, ``Var(T/C) ~ Var(T)/C^2 + T^2 Var(C)/C^4`` (Deng et al. 2018,
    "Applying the Delta Method in Metric Analytics", section on percent change).
    """
    c, t = control.mean, treatment.mean
    if c == 0:
        raise ValidationError("control mean", c, "a non-zero control mean for a relative lift")
    return treatment.variance / c**2 + t**2 * control.variance / c**4


def compare(
    control: ArmEstimate,
    treatment: ArmEstimate,
    alpha: float = 0.05,
    p_value: float | None = None,
) -> Comparison:
    """Difference, lift, normal intervals and the z-test p-value.

    Parameters
    ----------
    control, treatment
        Estimates of the two variants.
    alpha
        One minus the interval's coverage.
    p_value
        A p-value from a specific test (statsmodels/scipy) to report instead of the
        normal one.
    """
    alpha = _check_alpha(alpha)
    diff = treatment.mean - control.mean
    se = float(np.sqrt(control.variance + treatment.variance))
    lift = treatment.mean / control.mean - 1.0 if control.mean != 0 else float("nan")
    lift_se = float(np.sqrt(lift_variance(control, treatment))) if control.mean != 0 else 0.0
    z = float(stats.norm.ppf(1 - alpha / 2))
    if p_value is None:
        # no variance at all: a certain difference, or certainly none
        no_var = 1.0 if diff == 0 else 0.0
        p_value = float(2 * stats.norm.sf(abs(diff) / se)) if se > 0 else no_var
    return Comparison(
        control,
        treatment,
        diff,
        se,
        lift,
        lift_se,
        float(p_value),
        (diff - z * se, diff + z * se),
        (lift - z * lift_se, lift + z * lift_se),
        alpha,
    )


def ratio_test(
    control: UserMetric, treatment: UserMetric, alpha: float = 0.05, cuped: bool = False
) -> Comparison:
    """Delta-method z-test of a per-user ratio (or mean) metric, optionally with CUPED.

    The variances come from :func:`~cratedig.experiments.estimates.arm_estimate`
    (Deng et al. 2018) or, with ``cuped=True``, from
    :func:`~cratedig.experiments.estimates.cuped_estimates` (Deng et al. 2013).
    """
    if cuped:
        (c, t), _, _ = cuped_estimates([control, treatment])
    else:
        c, t = arm_estimate(control), arm_estimate(treatment)
    return compare(c, t, alpha)


def proportion_test(
    successes: Sequence[int], users: Sequence[int], alpha: float = 0.05
) -> Comparison:
    """Two-proportion z-test (statsmodels ``proportions_ztest``, pooled variance).

    Parameters
    ----------
    successes
        ``(control, treatment)`` users with the outcome (retained, subscribed).
    users
        ``(control, treatment)`` users exposed.
    """
    if len(successes) != 2 or len(users) != 2:
        raise ValidationError("successes/users", (successes, users), "two counts each")
    if any(n < 2 for n in users) or any(
        not 0 <= s <= n for s, n in zip(successes, users, strict=True)
    ):
        raise ValidationError("successes", list(successes), "0 <= successes <= users >= 2")
    arms = []
    for s, n in zip(successes, users, strict=True):
        p = s / n
        arms.append(ArmEstimate(p, p * (1 - p) / n, int(n)))
    # statsmodels tests count1 - count2; the sign does not matter for a two-sided p
    if successes[0] + successes[1] in (0, users[0] + users[1]):
        p_value = 1.0
    else:
        _, p_value = proportions_ztest(np.asarray(successes[::-1]), np.asarray(users[::-1]))
    return compare(arms[0], arms[1], alpha, p_value=float(p_value))


def welch_test(control: npt.ArrayLike, treatment: npt.ArrayLike, alpha: float = 0.05) -> Comparison:
    """Welch's t-test of a per-user mean (scipy ``ttest_ind(equal_var=False)``).

    The difference's interval is scipy's Welch interval; the lift's is the delta-method
    normal interval.
    """
    c = UserMetric.of(control)
    t = UserMetric.of(treatment)
    res = stats.ttest_ind(t.numerator, c.numerator, equal_var=False)
    base = compare(arm_estimate(c), arm_estimate(t), alpha, p_value=float(res.pvalue))
    ci = res.confidence_interval(confidence_level=1 - alpha)
    return Comparison(
        base.control,
        base.treatment,
        base.diff,
        base.diff_se,
        base.lift,
        base.lift_se,
        base.p_value,
        (float(ci.low), float(ci.high)),
        base.lift_ci,
        base.alpha,
    )


def bootstrap_interval(
    control: UserMetric,
    treatment: UserMetric,
    statistic: Literal["diff", "lift"] = "lift",
    alpha: float = 0.05,
    n_resamples: int = 2000,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval over users (Efron & Tibshirani 1993, ch. 13).

    Users are resampled with replacement within each variant (numerator and denominator
    together), and the ratio of sums recomputed.
    """
    alpha = _check_alpha(alpha)
    if n_resamples < 100:
        raise ValidationError("n_resamples", n_resamples, "an integer >= 100")
    rng = np.random.default_rng(seed)

    def ratios(m: UserMetric) -> npt.NDArray[np.float64]:
        out = np.empty(n_resamples)
        chunk = max(1, 2_000_000 // m.n)
        for start in range(0, n_resamples, chunk):
            stop = min(start + chunk, n_resamples)
            idx = rng.integers(0, m.n, size=(stop - start, m.n))
            out[start:stop] = m.numerator[idx].sum(axis=1) / m.den[idx].sum(axis=1)
        return out

    c, t = ratios(control), ratios(treatment)
    values = t - c if statistic == "diff" else t / c - 1.0
    lo, hi = np.quantile(values, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def adjust_pvalues(
    p_values: Sequence[float], method: Literal["holm", "bh"] = "holm", alpha: float = 0.05
) -> tuple[list[float], list[bool]]:
    """Correct several metrics' p-values together (statsmodels ``multipletests``).

    Parameters
    ----------
    p_values
        One p-value per metric.
    method
        ``"holm"`` (family-wise error, the default) or ``"bh"`` (Benjamini-Hochberg
        false discovery rate).
    alpha
        The family-wise error rate or false discovery rate.

    Returns
    -------
    (list of float, list of bool)
        Adjusted p-values and which metrics are significant.
    """
    if method not in ("holm", "bh"):
        raise ValidationError("method", method, "'holm' or 'bh'")
    if len(p_values) == 0:
        return [], []
    reject, adjusted, _, _ = multipletests(
        list(p_values), alpha=_check_alpha(alpha), method="holm" if method == "holm" else "fdr_bh"
    )
    return [float(p) for p in adjusted], [bool(r) for r in reject]
