"""The analysis of one experiment: SRM first, then every metric against the control.

For each metric (the primary and the guardrails) and each treatment arm:

* the fixed-horizon comparison (delta method for ratios, statsmodels' two-proportion
  z-test for proportions) and its relative lift with a delta-method interval;
* the same with CUPED (Deng et al. 2013) when the users have a pre-period value;
* the always-valid confidence sequence at this look (Waudby-Smith et al. 2023), and
  its path over the days since the start;
* percentile bootstrap intervals over users of the difference and the lift (Efron &
  Tibshirani 1993, by ``scipy.stats.bootstrap``), beside the delta-method ones;
* Holm-adjusted p-values over the primary and the guardrails together (or
  Benjamini-Hochberg);
* the minimum detectable effect at the current size, and the decision in words
  (:func:`cratedig.experiments.decision.decide`), which a sample ratio mismatch blocks.

Interleaved arms get the binomial test over users of
:func:`cratedig.experiments.interleaving.interleaving_test` instead.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Literal

import numpy as np
import polars as pl
from sqlalchemy import Engine

from cratedig.exceptions import ValidationError
from cratedig.experiments import planning
from cratedig.experiments.data import (
    METRICS,
    ExperimentData,
    Source,
    load_data,
    user_metric,
)
from cratedig.experiments.decision import decide
from cratedig.experiments.estimates import UserMetric
from cratedig.experiments.inference import (
    Comparison,
    adjust_pvalues,
    bootstrap_interval,
    proportion_test,
    ratio_test,
)
from cratedig.experiments.interleaving import TEAM_A, TEAM_B, credit_clicks, interleaving_test
from cratedig.experiments.sequential import sequential_compare, sequential_path
from cratedig.experiments.spec import Experiment
from cratedig.store import experiments as sql


def _metric(frame: pl.DataFrame, with_pre: bool) -> UserMetric:
    return UserMetric.of(
        frame["numerator"].to_numpy(),
        frame["denominator"].to_numpy(),
        frame["pre_numerator"].to_numpy() if with_pre else None,
        frame["pre_denominator"].to_numpy() if with_pre else None,
    )


def _has_pre(frame: pl.DataFrame) -> bool:
    pre = frame["pre_numerator"].to_numpy()
    return bool(np.var(pre) > 0)


def compare_metric(
    frame: pl.DataFrame, metric: str, control: str, treatment: str, alpha: float, cuped: bool
) -> Comparison:
    """Fixed-horizon comparison of one metric between two arms' users."""
    c = frame.filter(pl.col("variant") == control)
    t = frame.filter(pl.col("variant") == treatment)
    if METRICS[metric].kind == "proportion" and not cuped:
        return proportion_test(
            [int(c["numerator"].sum()), int(t["numerator"].sum())], [c.height, t.height], alpha
        )
    return ratio_test(_metric(c, cuped), _metric(t, cuped), alpha, cuped=cuped)


def _bootstrap(
    frame: pl.DataFrame, control: str, treatment: str, alpha: float, n_resamples: int
) -> dict[str, Any]:
    """Percentile bootstrap intervals of the difference and the lift (resampling users)."""
    c = _metric(frame.filter(pl.col("variant") == control), False)
    t = _metric(frame.filter(pl.col("variant") == treatment), False)
    return {
        "ci": list(bootstrap_interval(c, t, "diff", alpha, n_resamples)),
        "lift_ci": list(bootstrap_interval(c, t, "lift", alpha, n_resamples)),
        "n_resamples": n_resamples,
    }


def _cmp_dict(cmp: Comparison) -> dict[str, Any]:
    return {
        "control": cmp.control.mean,
        "treatment": cmp.treatment.mean,
        "diff": cmp.diff,
        "ci": list(cmp.ci),
        "lift": cmp.lift,
        "lift_ci": list(cmp.lift_ci),
        "p_value": cmp.p_value,
    }


def _path(
    data: ExperimentData, metric: str, control: str, treatment: str, alpha: float, tuning_n: float
) -> list[dict[str, Any]]:
    looks: list[Comparison] = []
    days: list[int] = []
    for day in range(data.start_day, data.end_day + 1):
        frame = user_metric(data, metric, day)
        try:
            looks.append(compare_metric(frame, metric, control, treatment, alpha, False))
        except ValidationError:  # too few users yet
            continue
        days.append(day - data.start_day + 1)
    out = []
    for day, seq in zip(days, sequential_path(looks, tuning_n), strict=True):
        out.append(
            {
                "day": day,
                "users": seq.fixed.control.n + seq.fixed.treatment.n,
                "lift": seq.fixed.lift,
                "fixed_lift_ci": list(seq.fixed.lift_ci),
                "fixed_p": seq.fixed.p_value,
                "sequential_lift_ci": list(seq.lift_ci),
                "sequential_p": seq.p_value,
            }
        )
    return out


def _interleaving(engine: Engine, exp: Experiment, end: int) -> dict[str, Any]:
    with engine.connect() as conn:
        clicks = sql.interleaved_clicks(conn, list(exp.labels), int(exp.started_at_ms or 0), end)
        users = sql.interleaved_users(conn, list(exp.labels), int(exp.started_at_ms or 0), end)
    per_user = {u: [0, 0] for u in users}
    for user_id, artist_ids, teams, clicked in clicks:
        ids = json.loads(artist_ids)
        if clicked not in ids:
            continue
        flags = np.zeros(len(ids), dtype=bool)
        flags[ids.index(clicked)] = True
        team_codes = np.array([TEAM_A if t == "A" else TEAM_B for t in teams], dtype=np.int8)
        a, b = credit_clicks(team_codes, flags)
        per_user[user_id][0] += a
        per_user[user_id][1] += b
    arr = np.array(list(per_user.values()), dtype=np.float64).reshape(-1, 2)
    res = interleaving_test(arr[:, 0], arr[:, 1])
    arm = next(v for v in exp.variants if v.interleave_with)
    return {
        "arm": arm.name,
        "team_a": arm.version_id,
        "team_b": arm.interleave_with,
        "users": len(per_user),
        "wins_a": res.wins_a,
        "wins_b": res.wins_b,
        "ties": res.ties,
        "win_rate_b": None if np.isnan(res.win_rate_b) else res.win_rate_b,
        "ci": list(res.ci),
        "p_value": res.p_value,
    }


def analyse(
    engine: Engine,
    exp: Experiment,
    alpha: float = 0.05,
    correction: Literal["holm", "bh"] = "holm",
    until_ms: int | None = None,
    tuning_n: float = 10_000,
    source: Source = "auto",
    bootstrap_resamples: int = 2000,
) -> dict[str, Any]:
    """The whole analysis of ``exp`` as a JSON-ready dict (see the module docstring).

    ``bootstrap_resamples`` (0: none) sets the percentile bootstrap over users whose
    intervals are reported beside the delta-method ones (``bootstrap``).

    ``source`` says where the per-user counts come from
    (:func:`cratedig.experiments.data.load_data`); the report's ``source`` says which.
    """
    if 0 < bootstrap_resamples < 100:
        raise ValidationError("--bootstrap", bootstrap_resamples, "0 (none) or at least 100")
    data = load_data(engine, exp, until_ms, source=source)
    names = [v.name for v in exp.variants]
    control = names[0]
    counts = [int((data.first["variant"] == exp.label(n)).sum()) for n in names]
    out: dict[str, Any] = {
        "experiment": exp.as_dict(),
        "alpha": alpha,
        "correction": correction,
        "days": data.end_day - data.start_day + 1,
        "source": data.source,
        "users": dict(zip(names, counts, strict=True)),
    }
    srm = planning.srm_check(counts, exp.weights) if sum(counts) > 0 else None
    out["srm"] = (
        None
        if srm is None
        else {
            "counts": list(srm.counts),
            "expected": list(srm.expected),
            "p_value": srm.p_value,
            "mismatch": srm.mismatch,
        }
    )
    if exp.is_interleaving:
        end = int(until_ms or exp.stopped_at_ms or 2**62)
        inter = _interleaving(engine, exp, end)
        out["interleaving"] = inter
        out["metrics"] = []
        out["decision"] = _interleaving_decision(inter, alpha)
        return out
    metrics = [exp.primary, *[g for g in exp.guardrails if g != exp.primary]]
    label = {n: exp.label(n) for n in names}
    results: list[dict[str, Any]] = []
    for metric in metrics:
        frame = user_metric(data, metric)
        for treatment in names[1:]:
            entry: dict[str, Any] = {"metric": metric, "treatment": treatment}
            try:
                fixed = compare_metric(
                    frame, metric, label[control], label[treatment], alpha, False
                )
            except ValidationError as exc:
                entry["error"] = str(exc)
                results.append(entry)
                continue
            entry["fixed"] = _cmp_dict(fixed)
            entry["_cmp"] = fixed
            sub = frame.filter(pl.col("variant").is_in([label[control], label[treatment]]))
            if bootstrap_resamples:
                try:
                    entry["bootstrap"] = _bootstrap(
                        sub, label[control], label[treatment], alpha, bootstrap_resamples
                    )
                except ValueError:  # an arm with fewer than two users
                    entry["bootstrap"] = None
            if _has_pre(sub):
                cup = compare_metric(frame, metric, label[control], label[treatment], alpha, True)
                entry["cuped"] = _cmp_dict(cup)
                entry["_cmp"] = cup
            seq = sequential_compare(fixed, tuning_n)
            entry["sequential"] = {
                "ci": list(seq.ci),
                "lift_ci": list(seq.lift_ci),
                "p_value": seq.p_value,
            }
            c = sub.filter(pl.col("variant") == label[control])
            try:
                sd = planning.per_user_sd(_metric(c, False))
                n = max(2, min(counts[0], counts[names.index(treatment)]))
                entry["mde"] = planning.mde_mean(n, abs(fixed.control.mean), sd, alpha)
            except ValidationError:
                entry["mde"] = None
            if metric == exp.primary:
                entry["path"] = _path(
                    data, metric, label[control], label[treatment], alpha, tuning_n
                )
            results.append(entry)
    tested = [r for r in results if "_cmp" in r]
    adjusted, _ = adjust_pvalues([r["_cmp"].p_value for r in tested], correction, alpha)
    for r, p in zip(tested, adjusted, strict=True):
        r["adjusted_p"] = p
    primary = next((r for r in tested if r["metric"] == exp.primary), None)
    if primary is None:
        out["decision"] = {"verdict": "keep_running", "text": "not enough data yet", "winner": None}
    else:
        cmp = dataclasses.replace(primary["_cmp"], p_value=primary["adjusted_p"])
        meta = METRICS[exp.primary]
        d = decide(
            meta.label, cmp, srm, primary.get("mde"), primary["treatment"], meta.higher_is_better
        )
        winner = {"ship": primary["treatment"], "do_not_ship": control}.get(d.verdict)
        out["decision"] = {"verdict": d.verdict, "text": d.text, "winner": winner}
    for r in results:
        r.pop("_cmp", None)
    out["metrics"] = results
    return out


def _interleaving_decision(inter: dict[str, Any], alpha: float) -> dict[str, Any]:
    if inter["win_rate_b"] is None or inter["p_value"] >= alpha:
        return {"verdict": "keep_running", "text": "no detectable preference yet", "winner": None}
    b_wins = inter["win_rate_b"] > 0.5
    team = inter["team_b"] if b_wins else inter["team_a"]
    share = max(inter["win_rate_b"], 1 - inter["win_rate_b"])
    text = (
        f"{team} wins the interleaving: preferred by {share:.1%} "
        f"of users with a preference, p = {inter['p_value']:.3g}"
    )
    return {"verdict": "ship", "text": text, "winner": None, "winner_version": team}
