"""A closed-loop traffic simulator: simulated listeners using a running cratedig service.

Listeners are users of the site simulator, with their true affinities
(:mod:`cratedig.simulator.listeners`). Each visits on their own rhythm, fetches their
lists, examines them top-down with a position bias, clicks, plays, follows, shares,
skips, gives thumbs and rates lists according to their true affinity, keeps
listening organically and may subscribe (:mod:`cratedig.simulator.traffic_session`).
Everything goes to the service through a small client object
(:mod:`cratedig.simulator.client`): HTTP, or Flask's test client handed in by the
command layer, so this package never imports :mod:`cratedig.serving`. Events carry
simulated times (``occurred_at_ms``), starting at :attr:`TrafficConfig.start_ms`; the
client is told the simulated time of each request (``set_time``), so in process the
service serves, logs lists and stores feedback at that time too, and
``on_day`` callbacks run at the day's midnight.

The run writes its own log of every action (:mod:`cratedig.simulator.traffic_log`).
It is seeded: with the service in process and its list ids made deterministic, two
runs of the same seed give the same log and the same stored events.

Example
-------
>>> from cratedig.simulator.client import HttpClient
>>> from cratedig.simulator.traffic import TrafficConfig, simulate_traffic
>>> summary = simulate_traffic(  # doctest: +SKIP
...     HttpClient("http://127.0.0.1:8000", api_key="k"),
...     SimulationConfig(seed=0),
...     TrafficConfig(days=7, users=100),
...     log_path="traffic.jsonl",
... )
"""

from __future__ import annotations

import heapq
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cratedig.ingest.progress import make_progress
from cratedig.simulator.client import TrafficClient, set_time
from cratedig.simulator.config import SimulationConfig
from cratedig.simulator.listeners import Listener, build_listeners, choose_listeners, make_id
from cratedig.simulator.traffic_config import TrafficConfig
from cratedig.simulator.traffic_log import TrafficLog
from cratedig.simulator.traffic_session import Visit
from cratedig.simulator.world import DAY_MS, World, build_world

__all__ = ["TrafficConfig", "TrafficSummary", "next_midnight_ms", "plan_visits", "simulate_traffic"]

#: A listener's visits are at least this far apart (as the site simulator's sessions).
SESSION_GAP_MS = 31 * 60_000
#: Share of visits around the listener's preferred hour (the rest: any time of day).
HABITUAL = 0.6


@dataclass
class TrafficSummary:
    """What a run did: tallies by action, the period, and where the log went."""

    counts: dict[str, int]
    listeners: int
    visits: int
    start_ms: int
    end_ms: int
    seconds: float
    log_path: Path | None
    config: dict[str, object] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {
            "counts": dict(self.counts),
            "listeners": self.listeners,
            "visits": self.visits,
            "start_ms": self.start_ms,
            "end_ms": self.end_ms,
            "seconds": round(self.seconds, 3),
            "log_path": None if self.log_path is None else str(self.log_path),
            "config": self.config,
        }


def next_midnight_ms(ms: int) -> int:
    """The first midnight UTC strictly after ``ms``."""
    return (ms // DAY_MS + 1) * DAY_MS


def plan_visits(listener: Listener, config: TrafficConfig, start_ms: int) -> list[int]:
    """The times a listener means to visit, sorted (before pushing sessions apart).

    Each day has ``Poisson(visit_rate * visit_scale)`` visits; a share
    :data:`HABITUAL` come around the listener's preferred hour (normal, sd 2 hours),
    the rest at a uniform time of day.
    """
    rng = np.random.default_rng([config.seed, 11, listener.index])
    counts = rng.poisson(listener.visit_rate * config.visit_scale, size=config.days)
    total = int(counts.sum())
    day = np.repeat(np.arange(config.days), counts)
    habitual = rng.random(total) < HABITUAL
    hours = np.where(
        habitual,
        (listener.preferred_hour + 0.5 + rng.normal(0.0, 2.0, total)) % 24.0,
        rng.random(total) * 24.0,
    )
    times = start_ms + day * DAY_MS + (hours * 3_600_000).astype(np.int64)
    return sorted(int(t) for t in times)


def simulate_traffic(
    client: TrafficClient,
    site: SimulationConfig | World,
    config: TrafficConfig,
    log_path: str | Path | None = None,
    progress: bool = False,
    on_day: Callable[[int, int], None] | None = None,
) -> TrafficSummary:
    """Drive the service with simulated listeners for ``config.days`` simulated days.

    Parameters
    ----------
    client
        How to reach the service (:class:`~cratedig.simulator.client.HttpClient`,
        :class:`~cratedig.simulator.client.TestClientAdapter`, or any object with
        their ``get`` and ``post``).
    site
        The site simulation the store was filled from (the same config, seed
        included), or its already built world.
    config
        The traffic to simulate.
    log_path
        Where to write the JSON Lines log of every action (``None``: no log).
    progress
        Show a rich progress bar.
    on_day
        Called as ``on_day(day, day_start_ms)`` before the first visit of each simulated
        day (day 0 included), e.g. to retrain or promote a model version mid-run.

    Returns
    -------
    TrafficSummary

    Raises
    ------
    ValidationError
        For a bad ``config.users``.
    ServiceError
        When the service refuses events or feedback, or cannot be reached.
    """
    began = time.perf_counter()
    world = site if isinstance(site, World) else build_world(site)
    start_ms = config.start_ms if config.start_ms is not None else world.config.end_ms
    end_ms = start_ms + config.days * DAY_MS
    listeners = build_listeners(world, choose_listeners(world, config.users, config.seed))
    n_artists = world.config.n_artists
    artist_index = {make_id("a", a, n_artists): a for a in range(n_artists)}
    plans = [plan_visits(listener, config, start_ms) for listener in listeners]
    rngs = [np.random.default_rng([config.seed, 12, lis.index]) for lis in listeners]
    heap = [(plan[0], pos, 0) for pos, plan in enumerate(plans) if plan]
    heapq.heapify(heap)
    free_at = [start_ms] * len(listeners)
    done = [0] * len(listeners)
    counters: Counter[str] = Counter()
    log = TrafficLog(log_path)
    total = sum(len(p) for p in plans)
    visits = 0
    day_started = -1
    try:
        with make_progress(progress) as bar:
            task = bar.add_task("simulating visits", total=total)
            while heap:
                t, pos, number = heapq.heappop(heap)
                if t < free_at[pos]:  # still in (or just after) the previous visit
                    heapq.heappush(heap, (free_at[pos], pos, number))
                    continue
                if t < end_ms - 3_600_000:
                    while on_day is not None and day_started < (t - start_ms) // DAY_MS:
                        day_started += 1
                        set_time(client, start_ms + day_started * DAY_MS)
                        on_day(day_started, start_ms + day_started * DAY_MS)
                    visit = Visit(
                        client, world, config, log, artist_index, listeners[pos],
                        done[pos], rngs[pos], counters,
                    )  # fmt: skip
                    free_at[pos] = visit.run(t) + SESSION_GAP_MS
                    done[pos] += 1
                    visits += 1
                bar.advance(task)
                if number + 1 < len(plans[pos]):
                    heapq.heappush(heap, (plans[pos][number + 1], pos, number + 1))
        while on_day is not None and day_started < config.days - 1:
            day_started += 1  # days without any visit still get their call
            set_time(client, start_ms + day_started * DAY_MS)
            on_day(day_started, start_ms + day_started * DAY_MS)
    finally:
        set_time(client, None)  # the service's clock is the wall clock again
        log.close()
    counters["subscribers"] = sum(lis.subscribed for lis in listeners)
    counters["artists discovered and liked"] = sum(len(lis.discovered_liked) for lis in listeners)
    return TrafficSummary(
        counts=dict(sorted(counters.items())),
        listeners=len(listeners),
        visits=visits,
        start_ms=start_ms,
        end_ms=end_ms,
        seconds=time.perf_counter() - began,
        log_path=None if log_path is None else Path(log_path),
        config=config.as_dict(),
    )
