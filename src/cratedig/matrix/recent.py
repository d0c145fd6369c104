"""A user's latest weighted events, for personalising lists between retrains."""

from __future__ import annotations

from typing import Any, NamedTuple

from sqlalchemy import Engine, Select, bindparam, select

from cratedig.events import EventType
from cratedig.exceptions import ValidationError
from cratedig.matrix.weights import EngagementConfig, kept_events, row_weight, weighted_types
from cratedig.store.schema import user_events


class RecentEvent(NamedTuple):
    """One weighted event of a user.

    ``weight`` is ``count * weight[event_type] * play_factor`` as in the engagement
    matrix, without time decay; ``unfollow_artist`` gives a negative weight (and is
    not read under the ``"ignore"`` unfollow policy).
    """

    artist_id: str
    event_type: str
    weight: float
    occurred_at_ms: int


def recent_activity(
    engine: Engine,
    user_id: str,
    since_ms: int,
    limit: int = 50,
    config: EngagementConfig | None = None,
) -> list[RecentEvent]:
    """The user's last ``limit`` weighted events at or after ``since_ms``, newest first.

    Only events about an artist with a nonzero weight count (a play shorter than
    ``SKIP_MS`` weighs 0 and is left out). Ties in time are ordered by ``event_id``
    descending, so the result is deterministic. Uses the ``(user_id, occurred_at_ms)``
    index, so it is cheap to call per request.

    Parameters
    ----------
    engine
        The store.
    user_id
        The user (an unknown user simply has no events).
    since_ms
        Earliest time to include, e.g. ``Engagement.built_at_ms + 1``.
    limit
        At most this many events (>= 1).
    config
        The engagement configuration to weigh events with (its weights, play durations
        and unfollow policy; decay, filters and transforms do not apply to single
        events); :class:`EngagementConfig` defaults when ``None``.
    """
    if limit < 1:
        raise ValidationError("limit", limit, "an integer >= 1")
    stmt = recent_statement(config, limit)
    if stmt is None:
        return []
    with engine.connect() as conn:
        rows = conn.execute(stmt, {"user_id": user_id, "since_ms": since_ms}).all()
    return [RecentEvent(str(a), str(t), float(w), int(ms)) for a, t, w, ms in rows]


def recent_statement(config: EngagementConfig | None = None, limit: int = 50) -> Select[Any] | None:
    """:func:`recent_activity`'s query, with the user and the time as bound parameters.

    Run it with ``{"user_id": ..., "since_ms": ...}``. Building the weight expression
    costs ~20 ms, so the service builds it once and SQLAlchemy's compiled cache does
    the rest. ``None`` when no event type has a weight.
    """
    config = config or EngagementConfig()
    types = weighted_types(config)
    if config.unfollow_policy == "ignore":
        types = [t for t in types if t != EventType.UNFOLLOW_ARTIST]
    if not types:
        return None
    ev = user_events.c
    weight = row_weight(config, types, now_ms=0)
    kept = kept_events(config)
    return (
        select(ev.artist_id, ev.event_type, weight.label("weight"), ev.occurred_at_ms)
        .where(
            ev.user_id == bindparam("user_id"),
            ev.occurred_at_ms >= bindparam("since_ms"),
            ev.artist_id.is_not(None),
            ev.event_type.in_(types),
            weight != 0,
            *([] if kept is None else [kept]),
        )
        .order_by(ev.occurred_at_ms.desc(), ev.event_id.desc())
        .limit(limit)
    )
