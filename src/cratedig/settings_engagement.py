"""The ``[engagement]`` table of the settings: how events become the engagement matrix.

Kept apart from :mod:`cratedig.config` (which imports :class:`EngagementSettings` from here)
so that each module stays small; :class:`cratedig.matrix.weights.EngagementConfig` extends it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from cratedig.events import FULL_PLAY_MS, SKIP_MS
from cratedig.exceptions import ValidationError

TRANSFORMS: tuple[str, ...] = ("log1p", "bm25", "tfidf", "binary")
UNFOLLOW_POLICIES: tuple[str, ...] = ("remove", "negative", "ignore")

Transform = Literal["log1p", "bm25", "tfidf", "binary"]
UnfollowPolicy = Literal["remove", "negative", "ignore"]


@dataclass(frozen=True)
class EngagementSettings:
    """How events become the engagement matrix, besides the weights: the ``[engagement]`` table.

    :class:`cratedig.matrix.weights.EngagementConfig` extends this with the weights and
    the "as of" time; ``docs/engagement.md`` explains every option with examples.

    Attributes
    ----------
    half_life_days
        Time decay: an event ``half_life_days`` old counts half. ``None``: no decay.
    transform
        ``None``, ``"log1p"``, ``"bm25"``, ``"tfidf"`` or ``"binary"``; applied last, after
        negative values were clipped to 0 and the filters ran.
    bm25_k1, bm25_b
        The BM25 parameters (as in ``implicit.nearest_neighbours.bm25_weight``).
    min_user_interactions, min_artist_interactions
        Drop users with fewer distinct artists, and artists with fewer distinct users,
        than this (an "interaction" is a nonzero user x artist entry).
    filter_until_stable
        ``True``: repeat the filter until nothing more is dropped (a k-core, so every
        remaining user and artist meets its minimum). ``False``: one round only (both
        counts taken on the unfiltered matrix, then both drops at once).
    unfollow_policy
        ``"remove"`` (default): an ``unfollow_artist`` cancels every earlier follow of the
        pair (the follow contribution becomes 0, other engagement stays) and blocks the
        pair; a later re-follow counts again and unblocks. ``"negative"``: every follow
        counts and every unfollow adds its (negative) weight; the pair is blocked as with
        ``"remove"``. ``"ignore"``: unfollows are not read at all and nothing is blocked.
    block_days
        How long an unfollowed pair stays blocked, counted back from the "as of" time.
        ``None``: for ever; ``0``: never blocked.
    full_play_ms, skip_ms, skip_fraction
        A play of ``full_play_ms`` or more counts as one full play; a play shorter than
        ``skip_ms`` counts ``skip_fraction`` of a play.

    Raises
    ------
    ValidationError
        For a value out of range, naming the option, the value and what is accepted.
    """

    half_life_days: float | None = None
    transform: Transform | None = None
    bm25_k1: float = 100.0
    bm25_b: float = 0.8
    min_user_interactions: int = 1
    min_artist_interactions: int = 1
    filter_until_stable: bool = True
    unfollow_policy: UnfollowPolicy = "remove"
    block_days: float | None = 90.0
    full_play_ms: int = FULL_PLAY_MS
    skip_ms: int = SKIP_MS
    skip_fraction: float = 0.0

    def __post_init__(self) -> None:
        def fail(name: str, expected: str) -> None:
            raise ValidationError(name, getattr(self, name), expected)

        if self.half_life_days is not None and not is_number(self.half_life_days, 0.0):
            fail("half_life_days", "a number > 0, or none for no decay")
        if self.transform is not None and self.transform not in TRANSFORMS:
            fail("transform", "none or one of " + ", ".join(TRANSFORMS))
        if not is_number(self.bm25_k1, 0.0, strict=False):
            fail("bm25_k1", "a number >= 0")
        if not (is_number(self.bm25_b, 0.0, strict=False) and self.bm25_b <= 1.0):
            fail("bm25_b", "a number in [0, 1]")
        for name in ("min_user_interactions", "min_artist_interactions", "full_play_ms"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                fail(name, "a whole number >= 1")
        if not isinstance(self.filter_until_stable, bool):
            fail("filter_until_stable", "true or false")
        if self.unfollow_policy not in UNFOLLOW_POLICIES:
            fail("unfollow_policy", "one of " + ", ".join(UNFOLLOW_POLICIES))
        if self.block_days is not None and not is_number(self.block_days, 0.0, strict=False):
            fail("block_days", "a number >= 0 (0: never block), or none to block for ever")
        skip = self.skip_ms
        if (
            isinstance(skip, bool)
            or not isinstance(skip, int)
            or not 0 <= skip <= self.full_play_ms
        ):
            fail("skip_ms", f"a whole number in 0..{self.full_play_ms} (full_play_ms)")
        if not (is_number(self.skip_fraction, 0.0, strict=False) and self.skip_fraction <= 1.0):
            fail("skip_fraction", "a number in [0, 1]")


def is_number(value: Any, minimum: float, strict: bool = True) -> bool:
    """Whether ``value`` is a finite real number above ``minimum`` (or equal, not strict)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return False
    return value > minimum if strict else value >= minimum
