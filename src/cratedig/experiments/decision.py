"""A decision in words from an experiment's analysis.

The sample-ratio-mismatch check comes first: a mismatch means the assignment or the
logging is broken, the comparison is biased in an unknown direction, and no "ship"
decision may be drawn from it (Fabijan et al. 2019). Otherwise a significant result
names the winner with its relative lift, the lift's interval and the p-value; a
non-significant one says how large an effect the experiment could have detected so far.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from cratedig.experiments.inference import Comparison
from cratedig.experiments.planning import SRMResult
from cratedig.experiments.sequential import SequentialResult

Verdict = Literal["ship", "do_not_ship", "keep_running", "invalid"]


@dataclass(frozen=True)
class Decision:
    """What to do, and why in one sentence.

    Attributes
    ----------
    verdict
        ``"ship"`` (treatment wins), ``"do_not_ship"`` (treatment loses),
        ``"keep_running"`` (no detectable difference yet) or ``"invalid"`` (SRM).
    text
        The sentence shown in reports.
    """

    verdict: Verdict
    text: str


def format_p(p: float) -> str:
    """``"p = 0.003"``, or ``"p < 0.001"`` for smaller values."""
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def format_lift(lift: float) -> str:
    """Relative lift as a signed percentage with one decimal (``"+6.1%"``)."""
    return f"{lift * 100:+.1f}%"


def decide(
    metric: str,
    result: Comparison | SequentialResult,
    srm: SRMResult | None = None,
    mde: float | None = None,
    treatment: str = "treatment",
    higher_is_better: bool = True,
) -> Decision:
    """Turn one metric's comparison into a verdict and a sentence.

    Parameters
    ----------
    metric
        The metric's display name (``"CTR"``).
    result
        A fixed-horizon :class:`Comparison` or an always-valid :class:`SequentialResult`
        (its always-valid interval and p-value are used).
    srm
        The sample-ratio-mismatch check; a mismatch overrides everything else.
    mde
        Relative minimum detectable effect at the current size (shown when nothing is
        detected yet).
    treatment
        The treatment's name in the sentence.
    higher_is_better
        ``False`` for metrics such as time to discovery, where a fall is a win.

    Examples
    --------
    ``"treatment wins on CTR: +6.1% (95% CI +2.0% .. +10.3%), p = 0.003"``,
    ``"no detectable difference yet (MDE at the current size: 4.2%)"``,
    ``"sample ratio mismatch: do not trust this result"``.
    """
    if srm is not None and srm.mismatch:
        return Decision("invalid", "sample ratio mismatch: do not trust this result")
    if isinstance(result, SequentialResult):
        fixed, lift_ci, p = result.fixed, result.lift_ci, result.p_value
    else:
        fixed, lift_ci, p = result, result.lift_ci, result.p_value
    if p >= fixed.alpha:
        suffix = f" (MDE at the current size: {mde:.1%})" if mde is not None else ""
        return Decision("keep_running", f"no detectable difference yet{suffix}")
    better = (fixed.diff > 0) == higher_is_better
    level = round((1 - fixed.alpha) * 100)
    text = (
        f"{treatment} {'wins' if better else 'loses'} on {metric}: {format_lift(fixed.lift)} "
        f"({level}% CI {format_lift(lift_ci[0])} .. {format_lift(lift_ci[1])}), {format_p(p)}"
    )
    return Decision("ship" if better else "do_not_ship", text)
