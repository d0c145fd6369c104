"""Planning and health checks: power, minimum detectable effect, duration, SRM.

Power comes from statsmodels' ``NormalIndPower`` (the two-sample z-test's power):
for proportions on Cohen's arcsine effect size ``h`` (``proportion_effectsize``), for
means and ratio metrics on the standardised effect ``delta / sd``, where ``sd`` is the
per-user standard deviation of the metric's delta-method influence function
(:func:`per_user_sd`), so a ratio metric is planned with the same variance it is tested
with. With CUPED, ``sd`` shrinks by ``sqrt(1 - rho^2)`` (Deng et al. 2013).

The sample-ratio-mismatch check is scipy's chi-square goodness-of-fit test of the users
per variant against the designed weights, flagged below ``alpha = 0.001`` (Fabijan et
al. 2019, "Diagnosing Sample Ratio Mismatch in Online Controlled Experiments", KDD).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize

from cratedig.exceptions import ValidationError
from cratedig.experiments.estimates import UserMetric, linearise

SRM_ALPHA = 0.001


def _positive(name: str, value: float) -> float:
    if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
        raise ValidationError(name, value, "a positive number")
    return float(value)


def _unit(name: str, value: float) -> float:
    if not (isinstance(value, int | float) and 0 < value < 1):
        raise ValidationError(name, value, "a number strictly between 0 and 1")
    return float(value)


def per_user_sd(metric: UserMetric) -> float:
    """Per-user standard deviation of a metric (``sqrt(n Var(estimate))``, delta method)."""
    _, influence = linearise(metric.numerator, metric.den)
    return float(influence.std(ddof=1))


def _proportion_h(baseline: float, relative_mde: float) -> float:
    treated = baseline * (1 + relative_mde)
    if not 0 < treated < 1:
        raise ValidationError("mde", relative_mde, f"a lift keeping {baseline} in (0, 1)")
    return abs(float(proportion_effectsize(treated, baseline)))


def users_per_arm_proportion(
    baseline: float, relative_mde: float, alpha: float = 0.05, power: float = 0.8
) -> int:
    """Users per arm to detect a relative lift of a proportion (two-sided z-test)."""
    h = _proportion_h(_unit("baseline", baseline), _positive("mde", relative_mde))
    n = NormalIndPower().solve_power(h, alpha=_unit("alpha", alpha), power=_unit("power", power))
    return math.ceil(float(n))


def power_proportion(
    users_per_arm: int, baseline: float, relative_mde: float, alpha: float = 0.05
) -> float:
    """Power of the two-proportion z-test with ``users_per_arm`` per arm."""
    h = _proportion_h(_unit("baseline", baseline), _positive("mde", relative_mde))
    return float(NormalIndPower().power(h, _positive("users_per_arm", users_per_arm), alpha))


def mde_proportion(
    users_per_arm: int, baseline: float, alpha: float = 0.05, power: float = 0.8
) -> float:
    """Smallest relative lift of a proportion detectable with ``users_per_arm`` per arm."""
    baseline = _unit("baseline", baseline)
    h = NormalIndPower().solve_power(
        None, nobs1=_positive("users_per_arm", users_per_arm), alpha=alpha, power=power
    )
    # invert Cohen's h = 2 asin(sqrt(p2)) - 2 asin(sqrt(p1)) (Cohen 1988, ch. 6)
    angle = min(math.asin(math.sqrt(baseline)) + float(h) / 2, math.pi / 2)
    return math.sin(angle) ** 2 / baseline - 1.0


def _effect(mean: float, sd: float, relative_mde: float, scales: bool) -> float:
    """Standardised effect ``delta / sd_pooled`` for a relative lift of a mean.

    With ``scales`` the treatment's per-user sd is taken as ``sd * (1 + mde)`` (a
    multiplicative effect scales every user's value), so the pooled sd of the two-sample
    z-test is ``sd * sqrt((1 + (1 + mde)^2) / 2)``; otherwise both arms share ``sd``.
    """
    mde = _positive("mde", relative_mde)
    pooled = _positive("sd", sd) * (math.sqrt((1 + (1 + mde) ** 2) / 2) if scales else 1.0)
    return mde * _positive("mean", abs(mean)) / pooled


def users_per_arm_mean(
    mean: float,
    sd: float,
    relative_mde: float,
    alpha: float = 0.05,
    power: float = 0.8,
    sd_scales_with_lift: bool = True,
) -> int:
    """Users per arm to detect a relative lift of a mean or ratio metric.

    Parameters
    ----------
    mean
        Baseline value of the metric (for example a CTR of 0.05).
    sd
        Per-user standard deviation in the control (:func:`per_user_sd`; times
        ``sqrt(1 - rho^2)`` with CUPED).
    relative_mde
        Relative lift to detect (0.05 for +5%).
    alpha, power
        Two-sided level and power.
    sd_scales_with_lift
        Whether the treatment's sd grows with the lift (a multiplicative effect, the
        default); ``False`` assumes equal variances.
    """
    effect = _effect(mean, sd, relative_mde, sd_scales_with_lift)
    n = NormalIndPower().solve_power(
        effect, alpha=_unit("alpha", alpha), power=_unit("power", power)
    )
    return math.ceil(float(n))


def power_mean(
    users_per_arm: int,
    mean: float,
    sd: float,
    relative_mde: float,
    alpha: float = 0.05,
    sd_scales_with_lift: bool = True,
) -> float:
    """Power of the z-test of a mean or ratio metric with ``users_per_arm`` per arm."""
    effect = _effect(mean, sd, relative_mde, sd_scales_with_lift)
    return float(NormalIndPower().power(effect, _positive("users_per_arm", users_per_arm), alpha))


def mde_mean(
    users_per_arm: int,
    mean: float,
    sd: float,
    alpha: float = 0.05,
    power: float = 0.8,
    sd_scales_with_lift: bool = True,
) -> float:
    """Smallest relative lift of a mean or ratio metric detectable at this size."""
    effect = float(
        NormalIndPower().solve_power(
            None, nobs1=_positive("users_per_arm", users_per_arm), alpha=alpha, power=power
        )
    )
    cv = _positive("sd", sd) / _positive("mean", abs(mean))
    mde = effect * cv
    if sd_scales_with_lift:  # fixed point of mde = effect * cv * sqrt((1 + (1 + mde)^2) / 2)
        for _ in range(100):
            mde = effect * cv * math.sqrt((1 + (1 + mde) ** 2) / 2)
    return mde


def days_needed(
    users_per_arm: int, n_arms: int, new_users_per_day: float, traffic_fraction: float = 1.0
) -> int:
    """Days until every arm has ``users_per_arm`` users.

    Parameters
    ----------
    users_per_arm
        From :func:`users_per_arm_proportion` or :func:`users_per_arm_mean`.
    n_arms
        Number of variants (equal weights assumed).
    new_users_per_day
        Distinct new users the site sees per day (they enrol on first exposure).
    traffic_fraction
        Share of those users the experiment enrols.
    """
    if n_arms < 2:
        raise ValidationError("n_arms", n_arms, "an integer >= 2")
    per_day = _positive("new_users_per_day", new_users_per_day) * _positive(
        "traffic_fraction", traffic_fraction
    )
    return math.ceil(users_per_arm * n_arms / per_day)


@dataclass(frozen=True)
class SRMResult:
    """Outcome of the sample-ratio-mismatch check.

    Attributes
    ----------
    counts
        Users per variant.
    expected
        Users per variant the designed weights predict.
    p_value
        Chi-square goodness-of-fit p-value.
    mismatch
        ``p_value < alpha``: the assignment is broken and results must not be trusted.
    """

    counts: tuple[int, ...]
    expected: tuple[float, ...]
    p_value: float
    mismatch: bool


def srm_check(
    counts: Sequence[int], weights: Sequence[float], alpha: float = SRM_ALPHA
) -> SRMResult:
    """Chi-square test of users per variant against the designed weights (scipy)."""
    obs = np.asarray(counts, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    if obs.ndim != 1 or obs.size < 2 or np.any(obs < 0):
        raise ValidationError("counts", list(counts), "two or more non-negative user counts")
    if w.shape != obs.shape or np.any(w <= 0):
        raise ValidationError("weights", list(weights), f"{obs.size} positive weights")
    total = obs.sum()
    expected = total * w / w.sum()
    p_value = float(stats.chisquare(obs, expected).pvalue) if total > 0 else 1.0
    return SRMResult(
        tuple(int(c) for c in obs), tuple(float(e) for e in expected), p_value, p_value < alpha
    )
