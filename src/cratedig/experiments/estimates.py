"""Per-variant estimates of a metric and their variances (delta method, CUPED).

The randomisation unit is the user. Every metric is kept per user as a numerator and a
denominator (:class:`UserMetric`): for a ratio metric such as CTR, clicks and items
shown; for a per-user mean (rating, discovery time) or a proportion (retained or not),
the value and a denominator of 1. A variant's estimate is then ``sum(num) / sum(den)``,
and its variance comes from the delta method (Deng et al. 2018), which is correct for
ratio metrics whose analysis unit (items shown) differs from the randomisation unit
(users), where the naive binomial variance is far too small.

Everything downstream works on :class:`ArmEstimate` (estimate, variance of the estimate,
users), so the same comparison, sequential and decision code serves ratios, means,
proportions and their CUPED-adjusted versions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from cratedig.exceptions import ValidationError

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class UserMetric:
    """One variant's per-user data for one metric.

    Attributes
    ----------
    numerator
        Per-user numerator (clicks, follows, 1/0 retained, a rating...).
    denominator
        Per-user denominator (items shown); ``None`` means 1 per user (a mean).
    pre_numerator, pre_denominator
        The same user's values before the experiment (the CUPED covariate); optional.
    """

    numerator: FloatArray
    denominator: FloatArray | None = None
    pre_numerator: FloatArray | None = None
    pre_denominator: FloatArray | None = None

    @classmethod
    def of(
        cls,
        numerator: npt.ArrayLike,
        denominator: npt.ArrayLike | None = None,
        pre_numerator: npt.ArrayLike | None = None,
        pre_denominator: npt.ArrayLike | None = None,
    ) -> UserMetric:
        """Validated :class:`UserMetric` from array-likes of equal length."""
        num = _as_1d("numerator", numerator)
        arrays = {}
        for name, value in (
            ("denominator", denominator),
            ("pre_numerator", pre_numerator),
            ("pre_denominator", pre_denominator),
        ):
            if value is not None:
                arr = _as_1d(name, value)
                if arr.size != num.size:
                    raise ValidationError(name, arr.size, f"{num.size} values (one per user)")
                arrays[name] = arr
        if num.size < 2:
            raise ValidationError("numerator", num.size, "at least 2 users per variant")
        if "pre_denominator" in arrays and "pre_numerator" not in arrays:
            raise ValidationError("pre_numerator", None, "values when pre_denominator is given")
        metric = cls(num, **arrays)
        if metric.den.sum() <= 0:
            raise ValidationError("denominator", float(metric.den.sum()), "a positive total")
        return metric

    @property
    def n(self) -> int:
        """Number of users."""
        return int(self.numerator.size)

    @property
    def den(self) -> FloatArray:
        """The denominator, ones for a per-user mean."""
        return np.ones_like(self.numerator) if self.denominator is None else self.denominator

    @property
    def pre_den(self) -> FloatArray:
        """The pre-period denominator, ones when not given."""
        if self.pre_denominator is None:
            return np.ones_like(self.numerator)
        return self.pre_denominator


def _as_1d(name: str, value: npt.ArrayLike) -> FloatArray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim != 1:
        raise ValidationError(name, f"shape {arr.shape}", "a 1-D array (one value per user)")
    if not np.all(np.isfinite(arr)):
        raise ValidationError(name, "non-finite values", "finite numbers")
    return arr


@dataclass(frozen=True)
class ArmEstimate:
    """A variant's estimate of a metric.

    Attributes
    ----------
    mean
        The estimate (``sum(num) / sum(den)``, CUPED-adjusted when asked).
    variance
        Variance of ``mean`` (not of a single user).
    n
        Number of users.
    """

    mean: float
    variance: float
    n: int


def linearise(numerator: FloatArray, denominator: FloatArray) -> tuple[float, FloatArray]:
    """Ratio ``R = mean(x) / mean(y)`` and each user's influence ``(x - R y) / mean(y)``.

    The delta method (Deng et al. 2018, "Applying the Delta Method in Metric
    Analytics: A Practical Guide with Novel Ideas", KDD, section 2) gives
    ``Var(R) ~ (1/n) [s_x^2 / mu_y^2 - 2 mu_x s_xy / mu_y^3 + mu_x^2 s_y^2 / mu_y^4]``,
    which equals ``var(L) / n`` with ``L_i = (x_i - R y_i) / mu_y``; working with ``L``
    lets CUPED reuse it unchanged.
    """
    mu_y = float(denominator.mean())
    ratio = float(numerator.mean()) / mu_y
    return ratio, (numerator - ratio * denominator) / mu_y


def arm_estimate(metric: UserMetric) -> ArmEstimate:
    """Delta-method estimate of one variant (Deng et al. 2018, see :func:`linearise`).

    For a mean (no denominator) this is the sample mean and ``s^2 / n``.
    """
    ratio, influence = linearise(metric.numerator, metric.den)
    return ArmEstimate(ratio, float(influence.var(ddof=1)) / metric.n, metric.n)


def cuped_estimates(metrics: Sequence[UserMetric]) -> tuple[list[ArmEstimate], float, float]:
    """CUPED-adjusted estimates of every variant, with a pre-period covariate.

    CUPED (Deng, Xu, Kohavi & Walker 2013, "Improving the Sensitivity of Online
    Controlled Experiments by Utilizing Pre-Experiment Data", WSDM, section 3) replaces
    ``Y`` by ``Y - theta (X - E X)`` with ``theta = cov(Y, X) / var(X)``, which keeps the
    mean and cuts the variance by ``1 - rho^2``. For ratio metrics we apply it to the
    delta-method influence functions (:func:`linearise`) of the metric and of its
    pre-period ratio (Deng et al. 2018 combine the delta method with CUPED this way):
    the adjusted estimate is ``R - theta (R_pre - R_pre_pooled)`` and its variance
    ``var(L - theta L_pre) / n``. ``theta`` is
    pooled over the variants so that the adjustment is the same for all.

    Parameters
    ----------
    metrics
        One :class:`UserMetric` per variant, each with ``pre_numerator``.

    Returns
    -------
    (list of ArmEstimate, float, float)
        The adjusted estimates, ``theta`` and the pooled correlation between the
        influence functions of the metric and of its covariate.
    """
    if any(m.pre_numerator is None for m in metrics):
        raise ValidationError("pre_numerator", None, "pre-period values for every variant")
    parts = []
    for m in metrics:
        ratio, infl = linearise(m.numerator, m.den)
        assert m.pre_numerator is not None
        pre_ratio, pre_infl = linearise(m.pre_numerator, m.pre_den)
        parts.append((ratio, infl, pre_ratio, pre_infl))
    cov = sum(float(np.cov(i, p)[0, 1]) * (i.size - 1) for _, i, _, p in parts)
    var_pre = sum(float(p.var(ddof=1)) * (p.size - 1) for *_, p in parts)
    var_y = sum(float(i.var(ddof=1)) * (i.size - 1) for _, i, _, _ in parts)
    theta = cov / var_pre if var_pre > 0 else 0.0
    rho = cov / np.sqrt(var_pre * var_y) if var_pre > 0 and var_y > 0 else 0.0
    pre_num = sum(float(np.sum(m.pre_numerator)) for m in metrics if m.pre_numerator is not None)
    pooled_pre = pre_num / sum(float(m.pre_den.sum()) for m in metrics)
    out = [
        ArmEstimate(
            ratio - theta * (pre_ratio - pooled_pre),
            float((infl - theta * pre_infl).var(ddof=1)) / infl.size,
            int(infl.size),
        )
        for ratio, infl, pre_ratio, pre_infl in parts
    ]
    return out, theta, float(rho)
