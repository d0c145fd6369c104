"""Fixed-horizon comparisons of a treatment with the control.

* :func:`compare` turns two :class:`~cratedig.experiments.estimates.ArmEstimate` into
  an absolute difference and a relative lift, each with a z-test and a normal interval;
  the lift's variance comes from the delta method.
* :func:`ratio_test` is that for per-user ratio metrics (CTR), optionally with CUPED.
* :func:`proportion_test` uses statsmodels' two-proportion z-test.
* :func:`welch_test` uses scipy's Welch t-test for per-user means.
* :func:`bootstrap_interval` is a percentile bootstrap over users (scipy), shown in the
  report beside the delta-method interval.
* :func:`adjust_pvalues` corrects several metrics together (Holm or Benjamini-Hochberg,
  from statsmodels).
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportions_ztest

from cratedig.exceptions import ValidationError
from cratedig.experiments.estimates import ArmEstimate, UserMetric, arm_estimate, cuped_estimates

#: ``scipy.stats.bootstrap`` takes ``rng`` from scipy 1.15 on, ``random_state`` before.
_BOOTSTRAP_PARAMS = set(inspect.signature(stats.bootstrap).parameters)


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
    """Percentile bootstrap interval over users (Efron & Tibshirani 1993, *An
    Introduction to the Bootstrap*, ch. 13), by ``scipy.stats.bootstrap``.

    Users are resampled with replacement within each variant (numerator and denominator
    together: each variant is one ``(2, n)`` sample resampled along its users), and the
    ratio of sums recomputed. It makes no normality assumption, so beside the
    delta-method interval it checks that one on skewed or small samples.
    """
    alpha = _check_alpha(alpha)
    if n_resamples < 100:
        raise ValidationError("n_resamples", n_resamples, "an integer >= 100")
    c = np.vstack([control.numerator, control.den])
    t = np.vstack([treatment.numerator, treatment.den])

    def stat(c: npt.NDArray[np.float64], t: npt.NDArray[np.float64], axis: int = -1) -> Any:
        rc = c[0].sum(axis=axis) / c[1].sum(axis=axis)
        rt = t[0].sum(axis=axis) / t[1].sum(axis=axis)
        return rt - rc if statistic == "diff" else rt / rc - 1.0

    seeded = {"rng" if "rng" in _BOOTSTRAP_PARAMS else "random_state": np.random.default_rng(seed)}
    # degenerate data (no clicks at all) give NaN bounds, not a warning
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        result = stats.bootstrap(
            (c, t),
            stat,
            n_resamples=n_resamples,
            confidence_level=1 - alpha,
            method="percentile",
            vectorized=True,
            paired=False,
            axis=-1,
            batch=max(1, 2_000_000 // max(control.n, treatment.n)),
            **seeded,
        )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


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
