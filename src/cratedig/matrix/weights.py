"""How events become engagement: the configuration and the SQL weight expressions.

The weight of one stored event row is::

    weight[event_type] * count * play_factor * decay

* ``play_factor`` is 1 for every event type but ``play_track``, where it is
  ``min(1, duration_ms / full_play_ms)``; a play shorter than ``skip_ms`` counts
  ``skip_fraction`` (0 by default) and a play with no duration counts as a full play.
* ``decay`` is 1 without a half-life, else ``0.5 ** (age_days / half_life_days)`` where
  ``age_days = (now_ms - occurred_at_ms) / 86_400_000``.

The expressions are SQLAlchemy Core and run inside the database on SQLite and PostgreSQL,
so aggregation never loops over rows in Python. Numbers are rendered into the SQL as
literals (they are validated floats) so that PostgreSQL knows their types inside ``CASE``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal

from sqlalchemy import ColumnElement

from cratedig.config import Settings
from cratedig.events import DEFAULT_WEIGHTS, EVENT_TYPES, FULL_PLAY_MS, SKIP_MS
from cratedig.exceptions import ValidationError
from cratedig.matrix import rules

DAY_MS = 86_400_000
TRANSFORMS: tuple[str, ...] = ("log1p", "bm25", "tfidf", "binary")
UNFOLLOW_POLICIES: tuple[str, ...] = ("remove", "negative", "ignore")

Transform = Literal["log1p", "bm25", "tfidf", "binary"]
UnfollowPolicy = Literal["remove", "negative", "ignore"]


@dataclass(frozen=True)
class EngagementConfig:
    """How to turn stored events into the users x artists engagement matrix.

    Attributes
    ----------
    weights
        Weight of one event of each type (default :data:`cratedig.events.DEFAULT_WEIGHTS`).
        Types missing from the mapping weigh 0. Zero-weight types are not read at all.
    half_life_days
        Time decay: an event ``half_life_days`` old counts half. ``None``: no decay.
    now_ms
        The time the matrix is built "as of" (ms since the epoch, UTC). Events after it
        are left out and ages are measured from it. ``None``: the latest stored event.
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
        How long an unfollowed pair stays blocked, counted back from ``now_ms``.
        ``None``: for ever; ``0``: never blocked.
    full_play_ms, skip_ms, skip_fraction
        A play of ``full_play_ms`` or more counts as one full play; a play shorter than
        ``skip_ms`` counts ``skip_fraction`` of a play.
    """

    weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    half_life_days: float | None = None
    now_ms: int | None = None
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
        for key, value in self.weights.items():
            if key not in EVENT_TYPES:
                raise ValidationError(
                    "weights", key, "a known event type: " + ", ".join(EVENT_TYPES)
                )
            if not math.isfinite(float(value)):
                raise ValidationError(f"weights.{key}", value, "a finite number")
        if self.half_life_days is not None and not self.half_life_days > 0:
            raise ValidationError("half_life_days", self.half_life_days, "a number > 0 or None")
        if self.transform is not None and self.transform not in TRANSFORMS:
            raise ValidationError(
                "transform", self.transform, "None or one of " + ", ".join(TRANSFORMS)
            )
        if self.unfollow_policy not in UNFOLLOW_POLICIES:
            raise ValidationError(
                "unfollow_policy", self.unfollow_policy, "one of " + ", ".join(UNFOLLOW_POLICIES)
            )
        for name in ("min_user_interactions", "min_artist_interactions"):
            if int(getattr(self, name)) < 1:
                raise ValidationError(name, getattr(self, name), "an integer >= 1")
        if self.block_days is not None and self.block_days < 0:
            raise ValidationError("block_days", self.block_days, "a number >= 0 or None")
        if self.full_play_ms <= 0:
            raise ValidationError("full_play_ms", self.full_play_ms, "an integer > 0")
        if not 0 <= self.skip_ms <= self.full_play_ms:
            raise ValidationError("skip_ms", self.skip_ms, f"an integer in 0..{self.full_play_ms}")
        if not 0.0 <= self.skip_fraction <= 1.0:
            raise ValidationError("skip_fraction", self.skip_fraction, "a number in [0, 1]")
        if self.bm25_k1 < 0 or not 0.0 <= self.bm25_b <= 1.0:
            raise ValidationError(
                "bm25_k1/bm25_b", (self.bm25_k1, self.bm25_b), "k1 >= 0, 0 <= b <= 1"
            )

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> EngagementConfig:
        """The configuration with the weights of ``settings`` (and any field overridden)."""
        known = {f.name for f in fields(cls)}
        for name in overrides:
            if name not in known:
                raise ValidationError(name, overrides[name], "a field of EngagementConfig")
        return replace(cls(weights=dict(settings.weights)), **overrides)

    def weight(self, event_type: str) -> float:
        """The weight of one event of a type (0 when the type is not in ``weights``)."""
        return float(self.weights.get(event_type, 0.0))


def play_factor(config: EngagementConfig) -> ColumnElement[float]:
    """How much of a full play one ``play_track`` row is (see :mod:`cratedig.matrix.rules`)."""
    return rules.to_sql(rules.play_factor(config))


def type_weight(config: EngagementConfig, event_types: list[str]) -> ColumnElement[float]:
    """The per-event weight (``weight * play_factor``) for rows of the given types."""
    return rules.to_sql(rules.type_weight(config, event_types))


def decay(config: EngagementConfig, now_ms: int) -> ColumnElement[float] | None:
    """The time-decay factor of a row, or ``None`` without a half-life."""
    factor = rules.decay(config, now_ms)
    return None if factor is None else rules.to_sql(factor)


def row_weight(
    config: EngagementConfig, event_types: list[str], now_ms: int
) -> ColumnElement[float]:
    """The full weight of one stored row: ``count * weight * play_factor * decay``.

    Defined once in :mod:`cratedig.matrix.rules` (which Spark renders too).
    """
    return rules.to_sql(rules.row_weight(config, event_types, now_ms))


def weighted_types(config: EngagementConfig) -> list[str]:
    """Event types with a nonzero weight, in a fixed order."""
    return [t for t in EVENT_TYPES if config.weight(t) != 0.0]
