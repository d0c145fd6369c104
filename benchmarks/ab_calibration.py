"""Calibration of the A/B statistics on simulated per-user data (prints one table).

Run ``PYTHONPATH=src python benchmarks/ab_calibration.py`` (seeded; a few minutes on 2
cores; ``--quick`` runs a tenth of the simulations for a smoke test).

The simulated population (one model for every row): a user sees ``1 + Poisson(9)``
lists of 10 artists during the experiment; the user's click propensity is
``p ~ Beta(0.25, 4.75)`` (mean CTR 5%, coefficient of variation 1.8: most users rarely
click, a few click a lot); an item at position ``k`` is clicked with probability
``min(1, p * b_k * a)``, where ``b_k`` is a position bias ``1 / log2(k + 2)`` scaled to
average 1 and ``a`` the ranker's attractiveness (1 for control, 1.05 for a ranker with
+5% CTR). So per user, clicks ~ Binomial(items shown, p) with per-user heterogeneity.
A pre-period (for CUPED) repeats the same user with a propensity that is kept with
probability ``w`` and redrawn otherwise, ``w`` tuned so that the correlation of the
metric's delta-method influence functions is 0.5.

To run thousands of simulations in minutes, the simulated users come from a synthetic
population of 2,000,000 users drawn once from this model (each with clicks under
control, under the +5% treatment and in the pre-period, and 1,000,000 with their
interleaved clicks); each simulated experiment samples its users from that population
with replacement, i.e. i.i.d. from its distribution (a superpopulation simulation). The
population's realised lift is printed beside the designed one.

Every test statistic, interval, power and SRM figure comes from ``cratedig.experiments``;
the peeking simulation computes the same delta-method variance from running sums (checked
against :func:`~cratedig.experiments.estimates.arm_estimate` before use).
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from scipy import stats

from cratedig.experiments.assignment import (
    ExperimentDesign,
    assign_many,
    buckets,
    variant_of_buckets,
)
from cratedig.experiments.estimates import UserMetric, arm_estimate, cuped_estimates
from cratedig.experiments.inference import ratio_test
from cratedig.experiments.interleaving import interleaving_test, team_draft
from cratedig.experiments.planning import (
    SRM_ALPHA,
    per_user_sd,
    power_mean,
    srm_check,
    users_per_arm_mean,
)
from cratedig.experiments.sequential import always_valid_p, half_width

ALPHA = 0.05
L = 10
BIAS = 1 / np.log2(np.arange(L) + 2)
BIAS = BIAS / BIAS.mean()
BETA_A, BETA_B, LISTS_MEAN = 0.25, 4.75, 9
ROWS: list[tuple[str, str, str, bool]] = []


def row(check: str, measured: str, target: str, ok: bool) -> None:
    ROWS.append((check, measured, target, ok))


def upper95(k: int, n: int) -> float:
    """Clopper-Pearson upper 95% bound of a rate."""
    return float(stats.binomtest(k, n).proportion_ci(0.95).high)


def users(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Lists seen and click propensity of ``n`` users."""
    return 1 + rng.poisson(LISTS_MEAN, n), rng.beta(BETA_A, BETA_B, n)


def clicks_alone(
    rng: np.random.Generator, lists: np.ndarray, p: np.ndarray, attract: float
) -> np.ndarray:
    """Clicks of users served one ranker's lists: Binomial(items shown, p * a)."""
    return rng.binomial(L * lists, np.minimum(1.0, p * attract))


def clicks_by_position(
    rng: np.random.Generator, lists: np.ndarray, p: np.ndarray, attract: float
) -> np.ndarray:
    """Clicks of users served one ranker's lists with the position bias (interleaving)."""
    prob = np.minimum(1.0, p[:, None] * BIAS[None, :] * attract)
    return rng.binomial(lists[:, None], prob).sum(axis=1)


def expected_lift(lists: np.ndarray, p: np.ndarray, attract: float) -> float:
    """True CTR lift of the position model (clipping at 1 shaves a little off ``a``)."""
    base = (lists[:, None] * np.minimum(1.0, p[:, None] * BIAS[None, :])).sum()
    return float((lists[:, None] * np.minimum(1.0, p[:, None] * BIAS * attract)).sum() / base - 1)


class Population:
    """A synthetic population of users to sample simulated experiments from."""

    def __init__(self, rng: np.random.Generator, size: int, w: float) -> None:
        lists, p = users(rng, size)
        pre_lists, fresh = users(rng, size)
        pre_p = np.where(rng.random(size) < w, p, fresh)
        self.size = size
        self.shown = (10 * lists).astype(np.float64)
        self.control = clicks_alone(rng, lists, p, 1.0).astype(np.float64)
        self.treated = clicks_alone(rng, lists, p, 1.05).astype(np.float64)
        self.pre_shown = (10 * pre_lists).astype(np.float64)
        self.pre = clicks_alone(rng, pre_lists, pre_p, 1.0).astype(np.float64)
        self.lift = float(self.treated.sum() / self.control.sum() - 1)

    def arm(self, rng: np.random.Generator, n: int, treated: bool = False) -> UserMetric:
        idx = rng.integers(0, self.size, n)
        clicks = self.treated if treated else self.control
        return UserMetric(clicks[idx], self.shown[idx], self.pre[idx], self.pre_shown[idx])


def pre_arm(rng: np.random.Generator, n: int, w: float) -> UserMetric:
    """``n`` freshly drawn users with a pre-period (for tuning ``w``)."""
    lists, p = users(rng, n)
    pre_lists, fresh = users(rng, n)
    pre_p = np.where(rng.random(n) < w, p, fresh)
    return UserMetric(
        clicks_alone(rng, lists, p, 1.0).astype(float),
        10.0 * lists,
        clicks_alone(rng, pre_lists, pre_p, 1.0).astype(float),
        10.0 * pre_lists,
    )


def tune_cuped_w(rng: np.random.Generator, target: float = 0.5) -> float:
    """Share of users keeping their propensity that gives a CUPED correlation of 0.5."""
    lo, hi = 0.0, 1.0
    for _ in range(10):
        w = (lo + hi) / 2
        _, _, rho = cuped_estimates([pre_arm(rng, 100_000, w), pre_arm(rng, 100_000, w)])
        lo, hi = (w, hi) if rho < target else (lo, w)
    return (lo + hi) / 2


def aa_fpr(rng: np.random.Generator, pop: Population, sims: int, n: int, cuped: bool) -> int:
    return sum(
        ratio_test(pop.arm(rng, n), pop.arm(rng, n), cuped=cuped).p_value < ALPHA
        for _ in range(sims)
    )


def section_aa_power_cuped(rng: np.random.Generator, pop: Population, scale: float) -> None:
    sims = int(4000 * scale)
    hits = aa_fpr(rng, pop, sims, 5000, False)
    row(
        "A/A FPR, CTR delta-method z-test (5,000 users/arm)",
        f"{hits / sims:.2%} ({hits}/{sims})",
        "in [4%, 6%]",
        0.04 <= hits / sims <= 0.06,
    )
    pilot = pop.arm(rng, 400_000)
    ctr, sd = pilot.numerator.sum() / pilot.den.sum(), per_user_sd(pilot)
    n = users_per_arm_mean(ctr, sd, 0.05)
    analytic = power_mean(n, ctr, sd, 0.05)
    psims = int(2000 * scale)
    wins = sum(
        ratio_test(pop.arm(rng, n), pop.arm(rng, n, True)).p_value < ALPHA for _ in range(psims)
    )
    row(
        f"power at planned n = {n:,}/arm, +5% CTR (base {ctr:.2%}, realised {pop.lift:+.2%})",
        f"{wins / psims:.1%} empirical vs {analytic:.1%} analytic ({psims} sims)",
        "within 3 points",
        abs(wins / psims - analytic) <= 0.03,
    )
    _, _, rho = cuped_estimates([pilot, pop.arm(rng, 400_000)])
    n_cuped = users_per_arm_mean(ctr, sd * np.sqrt(1 - rho**2), 0.05)
    fall = 1 - n_cuped / n
    row(
        f"CUPED (pre-period rho = {rho:.3f}): users/arm for 80% power",
        f"{n:,} -> {n_cuped:,} (-{fall:.1%})",
        ">= 20% fewer",
        fall >= 0.20,
    )
    cwins = sum(
        ratio_test(pop.arm(rng, n_cuped), pop.arm(rng, n_cuped, True), cuped=True).p_value < ALPHA
        for _ in range(psims)
    )
    row(
        f"CUPED empirical power at n = {n_cuped:,}/arm",
        f"{cwins / psims:.1%}",
        "about 80% (info)",
        True,
    )
    hits = aa_fpr(rng, pop, sims, 5000, True)
    row(
        "CUPED A/A FPR (5,000 users/arm)",
        f"{hits / sims:.2%} (upper95 {upper95(hits, sims):.2%})",
        "<= 5.5%",
        hits / sims <= 0.055,
    )


def running_estimates(clicks: np.ndarray, shown: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per look (cumulative days), the ratio and its delta-method variance.

    ``clicks``/``shown`` are ``(runs, days, users_per_day)``; the variance is
    ``var(L) / n`` with ``L = (x - R y) / mean(y)`` (Deng et al. 2018), expanded into
    running sums so 28 looks cost one cumsum.
    """
    cum = lambda a: np.cumsum(a.sum(axis=2), axis=1)  # noqa: E731
    n = np.cumsum(np.full(clicks.shape[1], clicks.shape[2]))[None, :].astype(float)
    sx, sy = cum(clicks), cum(shown)
    sxx, syy, sxy = cum(clicks**2), cum(shown**2), cum(clicks * shown)
    mx, my = sx / n, sy / n
    vx, vy = (sxx - n * mx**2) / (n - 1), (syy - n * my**2) / (n - 1)
    cxy = (sxy - n * mx * my) / (n - 1)
    ratio = mx / my
    var = (vx / my**2 - 2 * mx * cxy / my**3 + mx**2 * vy / my**4) / n
    return ratio, var


def section_peeking(rng: np.random.Generator, pop: Population, scale: float) -> None:
    runs, days, per_day, chunk = int(4000 * scale), 28, 300, 100
    n_final = 2 * days * per_day
    naive = seq = checked = 0
    width_final, width_first_week = [], []
    for start in range(0, runs, chunk):
        r = min(chunk, runs - start)
        est = []
        for _ in range(2):
            idx = rng.integers(0, pop.size, (r, days, per_day))
            clicks, shown = pop.control[idx], pop.shown[idx]
            est.append(running_estimates(clicks, shown))
            if not checked:  # the running sums equal the module's delta method
                ref = arm_estimate(UserMetric(clicks[0].ravel(), shown[0].ravel()))
                assert np.isclose(est[-1][0][0, -1], ref.mean)
                assert np.isclose(est[-1][1][0, -1], ref.variance, rtol=1e-6)
                checked = 1
        diff = est[1][0] - est[0][0]
        var = est[1][1] + est[0][1]
        n = np.arange(1, days + 1)[None, :] * 2.0 * per_day
        p_naive = 2 * stats.norm.sf(np.abs(diff) / np.sqrt(var))
        p_seq = always_valid_p(diff, var, n, ALPHA, tuning_n=n_final)
        naive += int(np.sum(np.any(p_naive < ALPHA, axis=1)))
        seq += int(np.sum(np.any(np.asarray(p_seq) < ALPHA, axis=1)))
        z = stats.norm.ppf(1 - ALPHA / 2)
        hw = np.asarray(half_width(var, n, ALPHA, tuning_n=n_final))
        width_final.append(hw[:, -1] / (z * np.sqrt(var[:, -1])))
        width_first_week.append(hw[:, 6] / (z * np.sqrt(var[:, 6])))
    row(
        f"peeking, 28 daily looks, A/A, naive z-test ({runs} runs)",
        f"{naive / runs:.1%}",
        "about 27% (info)",
        True,
    )
    up = upper95(seq, runs)
    row(
        "peeking, 28 daily looks, A/A, confidence sequence",
        f"{seq / runs:.2%} (upper95 {up:.2%})",
        "<= 5%, upper95 <= 6%",
        seq / runs <= 0.05 and up <= 0.06,
    )
    row(
        "sequential interval width / fixed-horizon width",
        f"x{np.mean(np.concatenate(width_final)):.2f} at day 28, "
        f"x{np.mean(np.concatenate(width_first_week)):.2f} at day 7",
        "cost (info)",
        True,
    )


def srm_flag_rate(counts: np.ndarray, weights: list[float]) -> int:
    """Runs flagged by the SRM check: scipy's chi-square over all runs at once, checked
    against :func:`~cratedig.experiments.planning.srm_check` on the first 500 runs."""
    expected = counts.sum(axis=1, keepdims=True) * np.asarray(weights)
    pvals = stats.chisquare(counts, expected, axis=1).pvalue
    for c, pv in zip(counts[:500], pvals[:500], strict=True):
        assert np.isclose(srm_check(c, weights).p_value, pv, rtol=1e-9, atol=1e-300)
    return int(np.sum(pvals < SRM_ALPHA))


def section_srm(rng: np.random.Generator, scale: float) -> None:
    runs = int(20_000 * scale)
    counts = rng.binomial(20_000, 0.52, runs)
    flagged = srm_flag_rate(np.stack([counts, 20_000 - counts], axis=1), [0.5, 0.5])
    # the rate to expect: P(|z| > z_{1 - 0.001/2}) with z ~ N(400 / sqrt(5000), 1)
    shift = 400 / np.sqrt(5000)
    z = stats.norm.ppf(1 - SRM_ALPHA / 2)
    theory = stats.norm.sf(z - shift) + stats.norm.cdf(-z - shift)
    row(
        "SRM: true 52/48 split at N = 20,000 flagged",
        f"{flagged / runs:.2%} ({runs} runs; theory {theory:.2%})",
        ">= 99%",
        flagged / runs >= 0.99,
    )
    false_runs = int(50_000 * scale)
    for weights in ([0.5, 0.5], [0.2, 0.8], [0.1, 0.45, 0.45]):
        alarms = srm_flag_rate(rng.multinomial(20_000, weights, false_runs), weights)
        row(
            f"SRM false alarms at designed {'/'.join(f'{w:.0%}' for w in weights)}",
            f"{alarms / false_runs:.3%} ({alarms}/{false_runs})",
            "<= 0.2%",
            alarms / false_runs <= 0.002,
        )


def section_assignment() -> None:
    ids = [f"user-{i}" for i in range(1_000_000)]
    b = buckets("bench-exp-1", ids)
    p = stats.chisquare(np.bincount(b, minlength=10_000)).pvalue
    row("assignment: 1M ids over 10,000 buckets", f"chi-square p = {p:.3f}", "p > 0.001", p > 0.001)
    code = (
        "import hashlib;from cratedig.experiments.assignment import buckets;"
        "b=buckets('bench-exp-1',[f'user-{i}' for i in range(1_000_000)]);"
        "print(hashlib.sha256(b.tobytes()).hexdigest())"
    )
    src = str(Path(__file__).resolve().parents[1] / "src")
    other = subprocess.run(
        [sys.executable, "-c", code],
        check=True,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": src, "PYTHONHASHSEED": "987"},
    ).stdout.strip()
    same = other == hashlib.sha256(b.tobytes()).hexdigest()
    row("assignment: identical in a second process", "yes" if same else "NO", "identical", same)
    a1 = variant_of_buckets(b, (0.5, 0.5))  # the same salt: the buckets above
    assert np.array_equal(
        a1[:1000], assign_many(ExperimentDesign("bench-exp-1", ("c", "t"), (0.5, 0.5)), ids[:1000])
    )
    a2 = assign_many(ExperimentDesign("bench-exp-2", ("c", "t"), (0.5, 0.5)), ids)
    corr = float(np.corrcoef(a1, a2)[0, 1])
    row(
        "assignment: correlation of two experiments",
        f"{corr:+.4f}",
        "|corr| < 0.01",
        abs(corr) < 0.01,
    )
    low, high = variant_of_buckets(b, (0.5, 0.5), 0.1), variant_of_buckets(b, (0.5, 0.5), 0.5)
    enrolled = low >= 0
    moved = int(np.sum(low[enrolled] != high[enrolled]))
    row(
        "assignment: ramp 10% -> 50%, enrolled users reassigned",
        f"{moved} of {int(enrolled.sum()):,}",
        "0",
        moved == 0,
    )


def team_pool(ranking_a: list[str], ranking_b: list[str], size: int = 4096) -> np.ndarray:
    """Team of each position in ``size`` real team-draft interleavings (one per user)."""
    return np.stack(
        [team_draft(ranking_a, ranking_b, L, "bench", f"u{j}", "l")[1] for j in range(size)]
    )


def interleaved_clicks(
    rng: np.random.Generator, n: int, pool: np.ndarray, attract_b: float
) -> tuple[np.ndarray, np.ndarray]:
    """Clicks credited to team A and team B for ``n`` users."""
    lists, p = users(rng, n)
    max_lists = int(lists.max())
    pick = rng.integers(0, pool.shape[0], size=(n, max_lists))
    live = np.arange(max_lists)[None, :] < lists[:, None]
    n_a = np.einsum("ul,ulk->uk", live.astype(np.int32), (pool[pick] == 0).astype(np.int32))
    n_b = lists[:, None] - n_a
    pa = np.minimum(1.0, p[:, None] * BIAS[None, :])
    pb = np.minimum(1.0, p[:, None] * BIAS[None, :] * attract_b)
    return rng.binomial(n_a, pa).sum(axis=1), rng.binomial(n_b, pb).sum(axis=1)


def section_interleaving(rng: np.random.Generator, scale: float) -> None:
    ra, rb = [f"a{k}" for k in range(L)], [f"b{k}" for k in range(L)]
    pool = team_pool(ra, rb)
    lists, p = users(rng, 400_000)
    control = UserMetric(clicks_by_position(rng, lists, p, 1.0).astype(float), 10.0 * lists)
    ctr = control.numerator.sum() / control.den.sum()
    lift = expected_lift(lists, p, 1.05)
    n_ab = users_per_arm_mean(ctr, per_user_sd(control), lift)
    # a population of 1M interleaved users; size the experiment from its win rate
    # (normal approximation of the one-sample binomial test's power)
    ca, cb = [], []
    for _ in range(10):
        a, b = interleaved_clicks(rng, 100_000, pool, 1.05)
        ca.append(a)
        cb.append(b)
    clicks_a, clicks_b = np.concatenate(ca), np.concatenate(cb)
    population = interleaving_test(clicks_a, clicks_b)
    q = population.win_rate_b
    share = (population.wins_a + population.wins_b) / clicks_a.size
    za, zb = stats.norm.ppf(1 - ALPHA / 2), stats.norm.ppf(0.8)
    n_il = int(np.ceil(((za * 0.5 + zb * np.sqrt(q * (1 - q))) / (q - 0.5)) ** 2 / share))
    sims = int(2000 * scale)
    wins = 0
    for _ in range(sims):
        idx = rng.integers(0, clicks_a.size, n_il)
        wins += interleaving_test(clicks_a[idx], clicks_b[idx]).p_value < ALPHA
    ratio = 2 * n_ab / n_il
    row(
        f"interleaving vs A/B users for {lift:+.2%} CTR (a = 1.05) at 80% power",
        f"{n_il:,} vs {2 * n_ab:,} (A/B, both arms): {ratio:.1f}x fewer; "
        f"empirical power {wins / sims:.1%} ({sims} sims)",
        ">= 10x fewer, power ~80%",
        ratio >= 10 and wins / sims >= 0.75,
    )
    same = team_pool(ra, ra)
    a, b = interleaved_clicks(rng, 200_000, same, 1.0)
    res = interleaving_test(a, b)
    row(
        "interleaving: identical rankers, B's win rate",
        f"{res.win_rate_b:.2%} ({res.wins_a + res.wins_b:,} users with a preference)",
        "50% +/- 1%",
        abs(res.win_rate_b - 0.5) <= 0.01,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=20261130)
    parser.add_argument("--quick", action="store_true", help="a tenth of the simulations")
    args = parser.parse_args()
    scale = 0.1 if args.quick else 1.0
    rng = np.random.default_rng(args.seed)
    start = time.perf_counter()
    pop = Population(rng, 2_000_000, tune_cuped_w(rng))
    print(f"{time.perf_counter() - start:.0f} s: population", file=sys.stderr)
    section_aa_power_cuped(rng, pop, scale)
    print(f"{time.perf_counter() - start:.0f} s: section_aa_power_cuped", file=sys.stderr)
    section_peeking(rng, pop, scale)
    print(f"{time.perf_counter() - start:.0f} s: section_peeking", file=sys.stderr)
    section_srm(rng, scale)
    print(f"{time.perf_counter() - start:.0f} s: section_srm", file=sys.stderr)
    section_assignment()
    print(f"{time.perf_counter() - start:.0f} s: section_assignment", file=sys.stderr)
    section_interleaving(rng, scale)
    print(f"{time.perf_counter() - start:.0f} s: section_interleaving", file=sys.stderr)
    width = max(len(r[0]) for r in ROWS)
    mwidth = max(len(r[1]) for r in ROWS)
    print(f"{'check':<{width}}  {'measured':<{mwidth}}  {'target':<24}  ok")
    for check, measured, target, ok in ROWS:
        print(f"{check:<{width}}  {measured:<{mwidth}}  {target:<24}  {'yes' if ok else 'NO'}")
    took = time.perf_counter() - start
    print(f"seed {args.seed}, {'quick' if args.quick else 'full'} run, {took:.0f} s")


if __name__ == "__main__":
    main()
