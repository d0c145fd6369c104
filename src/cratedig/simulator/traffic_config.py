"""The parameters of the traffic simulator's behaviour model (:class:`TrafficConfig`).

See ``docs/traffic.md`` for the model they drive.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from cratedig.exceptions import ValidationError

#: Fields that are probabilities (each checked to lie in [0, 1]).
_PROBABILITIES = (
    "fetch_may_like",
    "fetch_hidden_gems",
    "continue_prob",
    "stop_after_click",
    "click_max",
    "follow_base",
    "share_base",
    "like_base",
    "thumb_prob",
    "rate_prob",
    "organic_follow",
    "like_threshold",
    "subscribe_base",
    "subscribe_per_liked",
    "subscribe_cap",
)


@dataclass(frozen=True)
class TrafficConfig:
    """What to simulate: how long, how many listeners, and how they behave.

    Attributes
    ----------
    days
        Simulated days of traffic.
    users
        Listeners, drawn among the site's users.
    seed
        Seed of every draw of the traffic simulator (the site has its own).
    start_ms
        Start of the simulated period (ms since the epoch); ``None``: the end of the
        site simulation's period. The command starts after the store's last event.
    k
        Items asked for per list.
    visit_scale
        Multiplies every listener's visit rate (their site sessions per day).
    fetch_may_like, fetch_hidden_gems
        Probability that a visit opens each list.
    continue_prob
        Cascade model: probability of examining the next position after one not
        clicked (so position ``p`` is examined with probability about
        ``continue_prob ** (p - 1)`` when nothing above it was clicked).
    stop_after_click
        Probability of leaving the list after a click.
    click_max, click_power
        An examined item is clicked with probability ``click_max * affinity ** click_power``.
    plays_per_click
        A click plays ``1 + Poisson(plays_per_click * affinity)`` tracks of the artist.
    follow_base, share_base
        After a click with at least one play not skipped: follow (once per artist)
        with ``follow_base * affinity**2``, share with ``share_base * affinity**2``.
    like_base
        A play not skipped is followed by a ``like_track`` with ``like_base * affinity**3``.
    thumb_prob
        An examined item gets a thumb with this probability: up with probability
        ``affinity``, else down.
    rate_prob
        A list examined is rated with this probability:
        ``round(1 + 4 * mean affinity of the items examined + N(0, 0.5))`` clipped to 1..5.
    organic_follow
        An organic play not skipped leads to a follow with ``organic_follow * affinity**2``.
    like_threshold
        An artist played (not skipped) after a click counts as discovered and liked
        when the affinity is at least this; it joins the listener's organic listening.
    subscribe_base, subscribe_per_liked, subscribe_cap
        Per visit, a listener not yet subscribed subscribes with
        ``min(cap, base + per_liked * artists discovered and liked)``.
    """

    days: int = 7
    users: int = 100
    seed: int = 0
    start_ms: int | None = None
    k: int = 10
    visit_scale: float = 1.0
    fetch_may_like: float = 0.7
    fetch_hidden_gems: float = 0.35
    continue_prob: float = 0.85
    stop_after_click: float = 0.5
    click_max: float = 0.6
    click_power: float = 2.0
    plays_per_click: float = 3.0
    follow_base: float = 0.3
    share_base: float = 0.05
    like_base: float = 0.3
    thumb_prob: float = 0.08
    rate_prob: float = 0.05
    organic_follow: float = 0.08
    like_threshold: float = 0.5
    subscribe_base: float = 0.002
    subscribe_per_liked: float = 0.01
    subscribe_cap: float = 0.3

    def __post_init__(self) -> None:
        for name, low, high in (("days", 1, 3650), ("users", 1, 10**7), ("k", 1, 100)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ValidationError(name, value, f"an integer from {low} to {high}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValidationError("seed", self.seed, "an integer >= 0")
        if self.start_ms is not None and (
            isinstance(self.start_ms, bool)
            or not isinstance(self.start_ms, int)
            or not 10**11 < self.start_ms < 10**14
        ):
            raise ValidationError("start_ms", self.start_ms, "milliseconds since the epoch")
        for name in _PROBABILITIES:
            value = getattr(self, name)
            if not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
                raise ValidationError(name, value, "a probability between 0 and 1")
        for name in ("visit_scale", "click_power", "plays_per_click"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not 0.0 <= value <= 100.0:
                raise ValidationError(name, value, "a number from 0 to 100")

    def as_dict(self) -> dict[str, object]:
        """Every parameter by name (for the summary and the docs)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}
