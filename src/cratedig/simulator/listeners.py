"""The traffic simulator's listeners: users of the simulated site with their true taste.

A listener is one user of the site simulator (:mod:`cratedig.simulator.site`). The
population is rebuilt from the same :class:`SimulationConfig` that filled the store,
so ids, visit rhythm, plays per session, candidate artists and **true affinities**
are exactly the site simulator's ground truth: the taste of a block of users is
redrawn with the block's own seed (``[seed, 1, block]``), as the site simulator draws
it, and the affinity to any artist, candidate or not, is
:func:`cratedig.simulator.taste.true_affinity` of that taste.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from cratedig.exceptions import ValidationError
from cratedig.simulator.taste import draw_candidates, draw_taste, true_affinity
from cratedig.simulator.world import World

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


def _width(n: int) -> int:
    return len(str(max(n - 1, 0)))


def make_id(prefix: str, index: int, n: int) -> str:
    """The site simulator's id of entity ``index`` of ``n`` (``u007``, ``a0042``...)."""
    return f"{prefix}{index:0{_width(n)}d}"


@dataclass
class Listener:
    """One simulated listener and what the traffic run has changed about them.

    Attributes
    ----------
    index, user_id
        The site simulator's user index and id.
    visit_rate
        Expected visits per day (the site's calibrated session rate).
    plays_per_session
        Mean organic plays per visit.
    preferred_hour
        Hour of day (UTC) around which they usually come.
    affinity
        True affinity to every artist (indexed by artist index).
    pool, pool_weight
        Artists they listen to organically and the weight of each (their candidate
        artists at first; artists discovered through lists and liked join it).
    followed
        Artists they follow because of this run.
    discovered_liked
        Artists they found through a list and liked (see :meth:`discover`).
    subscribed
        Whether they subscribed during this run.
    """

    index: int
    user_id: str
    visit_rate: float
    plays_per_session: float
    preferred_hour: int
    affinity: npt.NDArray[np.float32]
    pool: list[int]
    pool_weight: list[float]
    candidates: frozenset[int]
    followed: set[int] = field(default_factory=set)
    discovered_liked: set[int] = field(default_factory=set)
    subscribed: bool = False

    def discover(self, artist: int, weight: float) -> None:
        """Count an artist found through a list and liked; it joins the organic pool."""
        if artist not in self.candidates and artist not in self.discovered_liked:
            self.pool.append(artist)
            self.pool_weight.append(weight)
        self.discovered_liked.add(artist)


def pool_weight(affinity: F64, pop_percentile: F64) -> F64:
    """Organic play weight of artists: as the site simulator's (affinity² x popularity)."""
    return np.asarray(affinity**2 * (0.5 + pop_percentile), dtype=np.float64)


def choose_listeners(world: World, n: int, seed: int) -> I64:
    """``n`` distinct user indices of the site, drawn with ``seed``, in increasing order.

    Raises
    ------
    ValidationError
        When ``n`` is not in 1..(users of the site).
    """
    total = world.config.n_users
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= total:
        raise ValidationError("users", n, f"an integer from 1 to {total} (the site's users)")
    rng = np.random.default_rng([seed, 7])
    return np.sort(rng.choice(total, size=n, replace=False)).astype(np.int64)


def build_listeners(world: World, indices: I64) -> list[Listener]:
    """The listeners of the given user indices, with their true affinities.

    Memory: one float32 per listener and artist.
    """
    cfg, users, art = world.config, world.users, world.artists
    size = cfg.block_users
    offsets = world.tz_offset_min[users.tz, -1] // 60
    all_artists = np.arange(cfg.n_artists, dtype=np.int64)
    listeners: list[Listener] = []
    for block_number in np.unique(indices // size):
        block = np.arange(block_number * size, min((block_number + 1) * size, cfg.n_users))
        # the same stream, in the same order, as the site simulator's block
        cand = draw_candidates(world, block, np.random.default_rng([cfg.seed, 1, block_number]))
        taste, latent = draw_taste(world, block, np.random.default_rng([cfg.seed, 1, block_number]))
        for user in indices[(indices // size) == block_number]:
            row = int(user - block[0])
            ones = np.full(cfg.n_artists, row, dtype=np.int64)
            affinity = true_affinity(
                taste[ones], latent[ones], users.country[block][ones], world, all_artists
            )
            mine = cand.artist[cand.user == row]
            weights = pool_weight(affinity[mine], art.pop_percentile[mine])
            listeners.append(
                Listener(
                    index=int(user),
                    user_id=make_id("u", int(user), cfg.n_users),
                    visit_rate=float(users.session_rate[user]),
                    plays_per_session=float(users.plays_per_session[user]),
                    preferred_hour=int((users.preferred_hour[user] - offsets[user]) % 24),
                    affinity=affinity.astype(np.float32),
                    pool=[int(a) for a in mine],
                    pool_weight=[float(w) for w in weights],
                    candidates=frozenset(int(a) for a in mine),
                )
            )
    return listeners
