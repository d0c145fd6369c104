"""Always-valid sequential inference: an asymptotic confidence sequence.

Looking at a fixed-horizon test every day and stopping at the first ``p < 0.05``
inflates the false-positive rate (about 25-30% over four weekly-to-daily looks). A
confidence sequence is a sequence of intervals that contains the true effect at *every*
look simultaneously with probability ``1 - alpha``, so it may be checked as often as
one likes.

We use the asymptotic confidence sequence of Waudby-Smith, Arbour, Sinha, Kennedy &
Ramdas (2023), "Time-uniform central limit theory and asymptotic confidence sequences"
(Annals of Statistics), with the normal-mixture boundary of Howard, Ramdas, McAuliffe &
Sekhon (2021), "Time-uniform, nonparametric, nonasymptotic confidence sequences"
(Annals of Statistics), as GrowthBook and Eppo do. After ``n`` users, for an estimate
with variance ``V`` (so a per-user variance ``s^2 = n V``) the half-width is::

    s * sqrt( 2 (n rho^2 + 1) / (n^2 rho^2) * log( sqrt(n rho^2 + 1) / alpha ) )

where ``rho`` tunes where the sequence is tightest; Waudby-Smith et al. (2023) give
``rho^2 = (-2 log alpha + log(-2 log alpha + 1)) / n_star`` for the tightest
interval at ``n_star`` users. Inverting the boundary in ``alpha`` (with ``rho`` fixed)
gives the always-valid p-value. The fixed-horizon result is kept beside it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from cratedig.exceptions import ValidationError
from cratedig.experiments.inference import Comparison

ArrayOrFloat = float | npt.NDArray[np.float64]


def mixture_rho(tuning_n: float, alpha: float = 0.05) -> float:
    """``rho`` making the sequence tightest at ``tuning_n`` users (Waudby-Smith et al. 2023)."""
    if not tuning_n > 0:
        raise ValidationError("tuning_n", tuning_n, "a positive number of users")
    if not 0 < alpha < 1:
        raise ValidationError("alpha", alpha, "a number strictly between 0 and 1")
    a = -2.0 * np.log(alpha)
    return float(np.sqrt((a + np.log(a + 1.0)) / tuning_n))


def half_width(
    variance: ArrayOrFloat, n: ArrayOrFloat, alpha: float = 0.05, tuning_n: float = 10_000
) -> ArrayOrFloat:
    """Half-width of the confidence sequence at ``n`` users (normal mixture boundary).

    Parameters
    ----------
    variance
        Variance of the estimate after ``n`` users (the squared fixed-horizon standard
        error).
    n
        Users so far (all variants together).
    alpha
        Error probability over all looks together.
    tuning_n
        Users at which the sequence is tightest (the planned sample size is a good pick).
    """
    rho2 = mixture_rho(tuning_n, alpha) ** 2
    n_arr = np.asarray(n, dtype=np.float64)
    s2 = np.asarray(variance, dtype=np.float64) * n_arr  # per-user variance
    # two-sided normal-mixture boundary: Howard et al. 2021; Waudby-Smith et al. 2023
    out = np.sqrt(
        s2
        * 2.0
        * (n_arr * rho2 + 1.0)
        / (n_arr**2 * rho2)
        * np.log(np.sqrt(n_arr * rho2 + 1.0) / alpha)
    )
    return float(out) if out.ndim == 0 else out


def always_valid_p(
    estimate: ArrayOrFloat,
    variance: ArrayOrFloat,
    n: ArrayOrFloat,
    alpha: float = 0.05,
    tuning_n: float = 10_000,
) -> ArrayOrFloat:
    """Smallest level at which the sequence at ``n`` excludes 0 (``rho`` fixed by ``alpha``).

    Solving ``|estimate| = half_width`` for the level gives
    ``sqrt(n rho^2 + 1) * exp(-estimate^2 n rho^2 / (2 V (n rho^2 + 1)))`` with ``V``
    the estimate's variance; take the running minimum over looks for a sequence.
    """
    rho2 = mixture_rho(tuning_n, alpha) ** 2
    n_arr = np.asarray(n, dtype=np.float64)
    est = np.asarray(estimate, dtype=np.float64)
    var = np.asarray(variance, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        expo = -(est**2) * n_arr * rho2 / (2.0 * var * (n_arr * rho2 + 1.0))
    p = np.minimum(1.0, np.sqrt(n_arr * rho2 + 1.0) * np.exp(np.nan_to_num(expo, nan=0.0)))
    return float(p) if p.ndim == 0 else p


@dataclass(frozen=True)
class SequentialResult:
    """Always-valid interval and p-value at one look, with the fixed-horizon result.

    Attributes
    ----------
    ci, lift_ci
        Always-valid intervals of the difference and of the relative lift.
    p_value
        Always-valid p-value of "no difference" at this look.
    fixed
        The fixed-horizon comparison at the same data.
    """

    ci: tuple[float, float]
    lift_ci: tuple[float, float]
    p_value: float
    fixed: Comparison


def sequential_compare(fixed: Comparison, tuning_n: float = 10_000) -> SequentialResult:
    """Confidence-sequence version of a fixed-horizon comparison at the same alpha."""
    n = fixed.control.n + fixed.treatment.n
    hw = float(half_width(fixed.diff_se**2, n, fixed.alpha, tuning_n))
    lift_hw = float(half_width(fixed.lift_se**2, n, fixed.alpha, tuning_n))
    p = float(always_valid_p(fixed.diff, fixed.diff_se**2, n, fixed.alpha, tuning_n))
    return SequentialResult(
        (fixed.diff - hw, fixed.diff + hw),
        (fixed.lift - lift_hw, fixed.lift + lift_hw),
        p,
        fixed,
    )


def sequential_path(looks: list[Comparison], tuning_n: float = 10_000) -> list[SequentialResult]:
    """Results over successive looks: intervals intersected and p-values running minima.

    A confidence sequence stays valid when intersected with its own past (Howard et al.
    2021), which makes the reported interval only shrink and the p-value only
    fall from one look to the next.
    """
    out: list[SequentialResult] = []
    for look in looks:
        cur = sequential_compare(look, tuning_n)
        if out:
            prev = out[-1]
            cur = SequentialResult(
                (max(cur.ci[0], prev.ci[0]), min(cur.ci[1], prev.ci[1])),
                (max(cur.lift_ci[0], prev.lift_ci[0]), min(cur.lift_ci[1], prev.lift_ci[1])),
                min(cur.p_value, prev.p_value),
                look,
            )
        out.append(cur)
    return out
