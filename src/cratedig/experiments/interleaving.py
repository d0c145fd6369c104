"""Team-draft interleaving of two rankers inside one served list.

Team draft (Radlinski, Kurup & Joachims 2008, "How Does Clickthrough Data Reflect
Retrieval Quality?", CIKM, algorithm "Team-Draft Interleaving"): like captains picking
teams, the ranker whose team is smaller (a coin flip on ties) adds its highest-ranked
item not yet in the list, which joins its team. Clicks credit the team that contributed
the item; a user prefers the ranker whose team drew more of the user's clicks. Over
users with a preference, a binomial test of ``P(prefer B) = 1/2`` says which ranker wins
(scipy ``binomtest``). Comparing within one user removes the between-user variance of
an A/B test, so interleaving needs far fewer users (Chapelle et al. 2012, "Large-scale
validation and analysis of interleaved search evaluation", ACM TOIS).

The coin flips are seeded from a stable hash of (salt, user id, list id), so the same
user and list always get the same interleaving, in any process. When one ranker runs out
of new items the other keeps picking until the list is full.
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats

from cratedig.exceptions import ValidationError

TEAM_A = 0
TEAM_B = 1


def _seed(salt: str, user_id: str, list_id: str) -> int:
    digest = hashlib.sha256(f"{salt}:{user_id}:{list_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def team_draft(
    ranking_a: Sequence[Hashable],
    ranking_b: Sequence[Hashable],
    length: int,
    salt: str,
    user_id: str,
    list_id: str = "",
) -> tuple[list[Hashable], npt.NDArray[np.int8]]:
    """Interleave two rankings into one list of at most ``length`` items.

    Parameters
    ----------
    ranking_a, ranking_b
        The two rankers' items, best first.
    length
        Length of the served list.
    salt, user_id, list_id
        Seed of the coin flips: the same triple always gives the same list.

    Returns
    -------
    (list, ndarray of int8)
        The interleaved items and, per position, the team (:data:`TEAM_A` or
        :data:`TEAM_B`) that contributed it.
    """
    if length < 1:
        raise ValidationError("length", length, "an integer >= 1")
    rng = np.random.default_rng(_seed(salt, user_id, list_id))
    items: list[Hashable] = []
    teams: list[int] = []
    seen: set[Hashable] = set()
    rankings = (list(ranking_a), list(ranking_b))
    cursor = [0, 0]
    size = [0, 0]

    def next_new(team: int) -> Hashable | None:
        ranking = rankings[team]
        while cursor[team] < len(ranking) and ranking[cursor[team]] in seen:
            cursor[team] += 1
        return ranking[cursor[team]] if cursor[team] < len(ranking) else None

    while len(items) < length:
        heads = (next_new(TEAM_A), next_new(TEAM_B))
        if heads[0] is None and heads[1] is None:
            break
        if heads[0] is None or heads[1] is None:
            team = TEAM_B if heads[0] is None else TEAM_A
        elif size[0] != size[1]:
            team = TEAM_A if size[0] < size[1] else TEAM_B
        else:
            team = int(rng.integers(2))
        item = heads[team]
        items.append(item)
        teams.append(team)
        seen.add(item)
        size[team] += 1
    return items, np.asarray(teams, dtype=np.int8)


def credit_clicks(teams: npt.ArrayLike, clicked: npt.ArrayLike) -> tuple[int, int]:
    """Clicks credited to team A and team B.

    Parameters
    ----------
    teams
        Team per position, from :func:`team_draft`.
    clicked
        Boolean per position (or the clicked positions as integers).
    """
    t = np.asarray(teams)
    c = np.asarray(clicked)
    if c.dtype != bool:
        mask = np.zeros(t.size, dtype=bool)
        if c.size and (c.min() < 0 or c.max() >= t.size):
            raise ValidationError("clicked", c.tolist(), f"positions in [0, {t.size})")
        mask[c.astype(int)] = True
        c = mask
    elif c.shape != t.shape:
        raise ValidationError("clicked", c.shape, f"one flag per position, shape {t.shape}")
    return int(np.sum(c & (t == TEAM_A))), int(np.sum(c & (t == TEAM_B)))


@dataclass(frozen=True)
class InterleavingResult:
    """Outcome of an interleaving experiment.

    Attributes
    ----------
    wins_a, wins_b, ties
        Users preferring A, preferring B, and without a preference.
    win_rate_b
        Share of users with a preference who prefer B.
    ci
        Clopper-Pearson ``1 - alpha`` interval of ``win_rate_b``.
    p_value
        Two-sided binomial test of ``win_rate_b = 1/2``.
    """

    wins_a: int
    wins_b: int
    ties: int
    win_rate_b: float
    ci: tuple[float, float]
    p_value: float


def user_preferences(clicks_a: npt.ArrayLike, clicks_b: npt.ArrayLike) -> npt.NDArray[np.int8]:
    """Per user: +1 prefers B, -1 prefers A, 0 no preference (credited clicks summed)."""
    a = np.asarray(clicks_a, dtype=np.float64)
    b = np.asarray(clicks_b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValidationError("clicks_b", b.shape, f"the shape of clicks_a {a.shape}")
    return np.sign(b - a).astype(np.int8)


def interleaving_test(
    clicks_a: npt.ArrayLike, clicks_b: npt.ArrayLike, alpha: float = 0.05
) -> InterleavingResult:
    """Binomial (sign) test over users with a preference (scipy ``binomtest``).

    Parameters
    ----------
    clicks_a, clicks_b
        Per user, the clicks credited to each team over all the user's lists.
    alpha
        One minus the interval's coverage.
    """
    pref = user_preferences(clicks_a, clicks_b)
    wins_b, wins_a = int(np.sum(pref > 0)), int(np.sum(pref < 0))
    ties = int(pref.size - wins_a - wins_b)
    n = wins_a + wins_b
    if n == 0:
        return InterleavingResult(wins_a, wins_b, ties, float("nan"), (0.0, 1.0), 1.0)
    res = stats.binomtest(wins_b, n, 0.5)
    ci = res.proportion_ci(confidence_level=1 - alpha)
    return InterleavingResult(
        wins_a, wins_b, ties, wins_b / n, (float(ci.low), float(ci.high)), float(res.pvalue)
    )
