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
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from sqlalchemy import ColumnElement, and_, not_, or_

from cratedig.config import Settings
from cratedig.events import DEFAULT_WEIGHTS, EVENT_TYPES
from cratedig.exceptions import ValidationError
from cratedig.matrix import rules
from cratedig.settings_engagement import (
    TRANSFORMS,
    UNFOLLOW_POLICIES,
    EngagementSettings,
    Transform,
    UnfollowPolicy,
)
from cratedig.store.schema import user_events

DAY_MS = 86_400_000
#: The key of a model version's ``params`` that holds its :meth:`EngagementConfig.as_record`.
RECORD_KEY = "engagement"


@dataclass(frozen=True)
class EngagementConfig(EngagementSettings):
    """How to turn stored events into the users x artists engagement matrix.

    The options of :class:`cratedig.config.EngagementSettings` (the ``[engagement]``
    settings table: decay, transform, filters, unfollow policy, play durations; see
    there), plus the weights and the "as of" time. Build it from the settings with
    :meth:`from_settings`, so every command weighs events the same way; a model
    version records it (:meth:`as_record`) and :meth:`from_record` reads it back.

    Attributes
    ----------
    weights
        Weight of one event of each type (default :data:`cratedig.events.DEFAULT_WEIGHTS`).
        Types missing from the mapping weigh 0. Zero-weight types are not read at all.
    now_ms
        The time the matrix is built "as of" (ms since the epoch, UTC). Events after it
        are left out and ages are measured from it. ``None``: the latest stored event.
    excluded_periods
        Periods people decided to leave out (``cratedig quality decide --exclude``), as
        ``(start_ms, end_ms, event_type)`` triples: an event is left out when
        ``start_ms <= occurred_at_ms < end_ms`` and, if ``event_type`` is not ``None``,
        it is of that type. The rule is a plain filter on ``user_events`` before any
        weighting, so every backend (SQL, stream, Spark) applies it the same way:
        ``NOT (occurred_at_ms >= start AND occurred_at_ms < end [AND event_type = t])``
        for each triple. Commands fill it from
        :func:`cratedig.store.quality.excluded_periods`; the version's record keeps it.
    """

    weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    now_ms: int | None = None
    excluded_periods: tuple[tuple[int, int, str | None], ...] = ()

    def __post_init__(self) -> None:
        super().__post_init__()
        periods = []
        for item in self.excluded_periods:
            try:
                start, end, event_type = item
                period = (int(start), int(end), None if event_type is None else str(event_type))
            except (TypeError, ValueError):
                raise ValidationError(
                    "excluded_periods", item, "(start_ms, end_ms, event_type or null) triples"
                ) from None
            if period[1] <= period[0]:
                raise ValidationError("excluded_periods", item, "an end after the start")
            if period[2] is not None and period[2] not in EVENT_TYPES:
                raise ValidationError(
                    "excluded_periods", item, "a known event type: " + ", ".join(EVENT_TYPES)
                )
            periods.append(period)
        # a record read back from JSON holds lists: keep one hashable, sorted form
        object.__setattr__(
            self,
            "excluded_periods",
            tuple(sorted(set(periods), key=lambda p: (p[0], p[1], p[2] or ""))),
        )
        for key, value in self.weights.items():
            if key not in EVENT_TYPES:
                raise ValidationError(
                    "weights", key, "a known event type: " + ", ".join(EVENT_TYPES)
                )
            if not math.isfinite(float(value)):
                raise ValidationError(f"weights.{key}", value, "a finite number")

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> EngagementConfig:
        """The configuration of ``settings``: its ``[weights]`` and ``[engagement]`` tables.

        This is the one way commands, training and evaluation build the configuration.
        ``overrides`` replace single fields (for example ``now_ms``).
        """
        options = {f.name: getattr(settings.engagement, f.name) for f in fields(EngagementSettings)}
        return cls._with(cls(weights=dict(settings.weights), **options), overrides)

    @classmethod
    def _with(cls, config: EngagementConfig, overrides: Mapping[str, Any]) -> EngagementConfig:
        known = {f.name for f in fields(cls)}
        for name in overrides:
            if name not in known:
                raise ValidationError(name, overrides[name], "a field of EngagementConfig")
        return replace(config, **overrides)

    def as_record(self) -> dict[str, Any]:
        """Every field as JSON-ready values (what a model version records)."""
        record = asdict(self)
        record["weights"] = {k: float(v) for k, v in self.weights.items()}
        return record

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> EngagementConfig:
        """The configuration :meth:`as_record` wrote (checked like any other).

        Raises
        ------
        ValidationError
            For an unknown field or a value out of range.
        """
        return cls._with(cls(), record)

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


def kept_events(config: EngagementConfig) -> ColumnElement[bool] | None:
    """The condition keeping events outside ``config.excluded_periods`` (``None``: all kept).

    See :attr:`EngagementConfig.excluded_periods`; every read of events into the
    matrix adds this to its ``WHERE``.
    """
    if not config.excluded_periods:
        return None
    ev = user_events.c
    out = []
    for start, end, event_type in config.excluded_periods:
        cond = [ev.occurred_at_ms >= start, ev.occurred_at_ms < end]
        if event_type is not None:
            cond.append(ev.event_type == event_type)
        out.append(and_(*cond))
    return not_(or_(*out))


def weighted_types(config: EngagementConfig) -> list[str]:
    """Event types with a nonzero weight, in a fixed order."""
    return [t for t in EVENT_TYPES if config.weight(t) != 0.0]


__all__ = [
    "RECORD_KEY",
    "TRANSFORMS",
    "UNFOLLOW_POLICIES",
    "EngagementConfig",
    "Transform",
    "UnfollowPolicy",
    "decay",
    "kept_events",
    "play_factor",
    "row_weight",
    "type_weight",
    "weighted_types",
]
