"""The settings of one simulated site (:class:`SimulationConfig`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from cratedig.exceptions import ValidationError

#: Events generated per block of users, about; bounds the memory of a run.
EVENTS_PER_BLOCK = 250_000


@dataclass(frozen=True)
class SimulationConfig:
    """What to simulate. The same config (seed included) always gives the same site.

    Attributes
    ----------
    n_users, n_artists
        How many listeners and artists the site has.
    n_events
        Target number of events; the simulation lands within a few percent of it
        (further below when the period is too short for that many: a user's sessions
        are at least 31 minutes apart).
    days
        Length of the simulated period, starting at ``start``.
    start
        First day of the period (UTC date).
    seed
        Seed of every random draw.
    new_artist_fraction
        Share of artists that appear during the period (the rest exist before it).
    new_user_fraction
        Share of users who sign up during the period (the rest before it).
    zipf_exponent
        Exponent of the artists' popularity law (``popularity ~ rank ** -exponent``).
    tracks_per_artist
        Mean number of tracks per artist (popular artists have more).
    """

    n_users: int = 1_000
    n_artists: int = 2_000
    n_events: int = 100_000
    days: int = 90
    start: date = date(2025, 1, 6)
    seed: int = 0
    new_artist_fraction: float = 0.15
    new_user_fraction: float = 0.3
    zipf_exponent: float = 1.0
    tracks_per_artist: float = 8.0

    def __post_init__(self) -> None:
        for name, minimum in (("n_users", 1), ("n_artists", 2), ("n_events", 1), ("days", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ValidationError(name, value, f"an integer >= {minimum}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValidationError("seed", self.seed, "an integer >= 0")
        if not isinstance(self.start, date) or isinstance(self.start, datetime):
            raise ValidationError("start", self.start, "a datetime.date")
        for name in ("new_artist_fraction", "new_user_fraction"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
                raise ValidationError(name, value, "a fraction between 0 and 1")
        if not isinstance(self.zipf_exponent, int | float) or not 0.0 <= self.zipf_exponent <= 3:
            raise ValidationError("zipf_exponent", self.zipf_exponent, "a number in [0, 3]")
        if (
            not isinstance(self.tracks_per_artist, int | float)
            or not 1.0 <= self.tracks_per_artist <= 200
        ):
            raise ValidationError(
                "tracks_per_artist", self.tracks_per_artist, "a number in [1, 200]"
            )

    @property
    def start_ms(self) -> int:
        """Start of the period in milliseconds since the epoch (midnight UTC)."""
        return (
            int(datetime(self.start.year, self.start.month, self.start.day, tzinfo=UTC).timestamp())
            * 1000
        )

    @property
    def end_ms(self) -> int:
        """End of the period (exclusive) in milliseconds since the epoch."""
        return self.start_ms + self.days * 86_400_000

    @property
    def block_users(self) -> int:
        """Users simulated together in one block (so memory stays bounded)."""
        per_user = max(1.0, self.n_events / self.n_users)
        return max(1, min(self.n_users, int(EVENTS_PER_BLOCK / per_user)))
