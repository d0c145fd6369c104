"""SQL of A/B experiments: their rows, and the per-user numbers their analysis reads.

Experiment rows are plain dicts (JSON columns decoded by the caller). The analysis
reads per user and UTC day (``t // 86_400_000``) what the experiment's impressions led
to, joining events and feedback to served lists by ``source = list_id``; see
:mod:`cratedig.experiments.data`, the adapter that turns them into per-user metrics.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, and_, func, insert, literal, select, update

from cratedig.store.schema import experiments, feedback, impressions, user_events

DAY_MS = 86_400_000
#: Events led by a list that experiment metrics count.
LIST_EVENTS = ("recommendation_click", "follow_artist", "play_track")
#: Events of the user (any source) that experiment metrics count.
USER_EVENTS = ("visit", "subscribe")


def insert_experiment(conn: Connection, row: dict[str, Any]) -> None:
    """Insert one experiment row."""
    conn.execute(insert(experiments).values(**row))


def get_experiment(conn: Connection, name: str) -> dict[str, Any] | None:
    """One experiment's row as a dict, or ``None``."""
    row = conn.execute(select(experiments).where(experiments.c.name == name)).first()
    return None if row is None else dict(row._mapping)


def list_experiments(conn: Connection, states: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Every experiment (or those in ``states``), newest first."""
    query = select(experiments).order_by(experiments.c.created_at_ms.desc(), experiments.c.name)
    if states is not None:
        query = query.where(experiments.c.state.in_(list(states)))
    return [dict(r._mapping) for r in conn.execute(query).all()]


def update_experiment(conn: Connection, name: str, **values: Any) -> None:
    """Set columns of one experiment."""
    conn.execute(update(experiments).where(experiments.c.name == name).values(**values))


def _exposed(variants: Sequence[str], list_types: Sequence[str], start: int, end: int) -> Any:
    return and_(
        impressions.c.variant.in_(list(variants)),
        impressions.c.list_type.in_(list(list_types)),
        impressions.c.shown_at_ms >= start,
        impressions.c.shown_at_ms < end,
    )


def daily_impressions(
    conn: Connection, variants: Sequence[str], list_types: Sequence[str], start: int, end: int
) -> list[Any]:
    """``(user_id, variant, day, first_ms, lists, items)`` of the experiment's lists."""
    day = (impressions.c.shown_at_ms // DAY_MS).label("day")
    query = (
        select(
            impressions.c.user_id,
            impressions.c.variant,
            day,
            func.min(impressions.c.shown_at_ms),
            func.count(),
            func.sum(impressions.c.n_items),
        )
        .where(_exposed(variants, list_types, start, end))
        .group_by(impressions.c.user_id, impressions.c.variant, day)
    )
    return list(conn.execute(query).all())


def daily_list_events(
    conn: Connection, variants: Sequence[str], list_types: Sequence[str], start: int, end: int
) -> list[Any]:
    """``(user_id, variant, day, event_type, events, duration_ms)`` led by those lists.

    ``day`` is the day the list was shown: events are credited to their list by
    ``source = list_id``, never by time.
    """
    day = (impressions.c.shown_at_ms // DAY_MS).label("day")
    query = (
        select(
            impressions.c.user_id,
            impressions.c.variant,
            day,
            user_events.c.event_type,
            func.count(),
            func.coalesce(func.sum(user_events.c.duration_ms), 0),
        )
        .select_from(impressions.join(user_events, user_events.c.source == impressions.c.list_id))
        .where(
            _exposed(variants, list_types, start, end),
            user_events.c.event_type.in_(LIST_EVENTS),
        )
        .group_by(impressions.c.user_id, impressions.c.variant, day, user_events.c.event_type)
    )
    return list(conn.execute(query).all())


def daily_ratings(
    conn: Connection, variants: Sequence[str], list_types: Sequence[str], start: int, end: int
) -> list[Any]:
    """``(user_id, variant, day, rating_sum, ratings)`` of those lists (day shown)."""
    day = (impressions.c.shown_at_ms // DAY_MS).label("day")
    query = (
        select(
            impressions.c.user_id,
            impressions.c.variant,
            day,
            func.sum(feedback.c.value),
            func.count(),
        )
        .select_from(impressions.join(feedback, feedback.c.list_id == impressions.c.list_id))
        .where(
            _exposed(variants, list_types, start, end),
            feedback.c.kind == "rating",
            feedback.c.value.between(1, 5),
        )
        .group_by(impressions.c.user_id, impressions.c.variant, day)
    )
    return list(conn.execute(query).all())


def clicked_lists(
    conn: Connection,
    variants: Sequence[str] | None,
    list_types: Sequence[str],
    start: int,
    end: int,
    users_of: tuple[Sequence[str], int, int] | None = None,
) -> list[Any]:
    """``(user_id, variant, day, list_id, artist_ids, artist_id)``, distinct: each list
    shown in ``[start, end)`` and each artist named by an event of the list's user whose
    ``source`` is the list (click-through; the caller keeps the artists in the list).

    ``variants=None`` reads lists of any variant of the users exposed to
    ``users_of = (variants, start, end)`` (the pre-period).
    """
    day = (impressions.c.shown_at_ms // DAY_MS).label("day")
    if variants is not None:
        shown = _exposed(variants, list_types, start, end)
    else:
        assert users_of is not None
        shown = _shown_to_exposed(users_of, list_types, start, end)
    query = (
        select(
            impressions.c.user_id,
            impressions.c.variant,
            day,
            impressions.c.list_id,
            impressions.c.artist_ids,
            user_events.c.artist_id,
        )
        .select_from(
            impressions.join(
                user_events,
                and_(
                    user_events.c.source == impressions.c.list_id,
                    user_events.c.user_id == impressions.c.user_id,
                ),
            )
        )
        .where(shown, user_events.c.artist_id.is_not(None))
        .distinct()
    )
    return list(conn.execute(query).all())


def _exposed_users(variants: Sequence[str], list_types: Sequence[str], start: int, end: int) -> Any:
    return (
        select(impressions.c.user_id)
        .where(_exposed(variants, list_types, start, end))
        .distinct()
        .scalar_subquery()
    )


def _shown_to_exposed(
    users_of: tuple[Sequence[str], int, int], list_types: Sequence[str], start: int, end: int
) -> Any:
    """Lists of ``list_types`` (any variant) shown in ``[start, end)`` to the users exposed
    to ``users_of = (variants, start, end)``."""
    variants, exposed_start, exposed_end = users_of
    return and_(
        impressions.c.user_id.in_(_exposed_users(variants, list_types, exposed_start, exposed_end)),
        impressions.c.list_type.in_(list(list_types)),
        impressions.c.shown_at_ms >= start,
        impressions.c.shown_at_ms < end,
    )


def daily_user_events(
    conn: Connection,
    variants: Sequence[str],
    list_types: Sequence[str],
    start: int,
    end: int,
    pre_start: int,
) -> list[Any]:
    """``(user_id, day, event_type, events)`` of visits and subscriptions (any source) of
    the exposed users, from ``pre_start`` to ``end``."""
    day = (user_events.c.occurred_at_ms // DAY_MS).label("day")
    query = (
        select(user_events.c.user_id, day, user_events.c.event_type, func.count())
        .where(
            user_events.c.user_id.in_(_exposed_users(variants, list_types, start, end)),
            user_events.c.event_type.in_(USER_EVENTS),
            user_events.c.occurred_at_ms >= pre_start,
            user_events.c.occurred_at_ms < end,
        )
        .group_by(user_events.c.user_id, day, user_events.c.event_type)
    )
    return list(conn.execute(query).all())


def pre_period(
    conn: Connection,
    variants: Sequence[str],
    list_types: Sequence[str],
    start: int,
    end: int,
    pre_start: int,
    items: bool = True,
) -> list[Any]:
    """``(user_id, event_type, items, events, duration_ms)`` per exposed user before
    ``start`` (from ``pre_start``): the lists they were shown and what those led to.

    ``event_type`` is ``"items"`` for the row of items shown (left out when ``items``
    is false: an analysis that reads the items shown from the online rollups).
    """
    before = _shown_to_exposed((variants, start, end), list_types, pre_start, start)
    shown = (
        select(
            impressions.c.user_id,
            literal("items"),
            func.sum(impressions.c.n_items),
            literal(0),
            literal(0),
        )
        .where(before)
        .group_by(impressions.c.user_id)
    )
    led = (
        select(
            impressions.c.user_id,
            user_events.c.event_type,
            literal(0),
            func.count(),
            func.coalesce(func.sum(user_events.c.duration_ms), 0),
        )
        .select_from(impressions.join(user_events, user_events.c.source == impressions.c.list_id))
        .where(before, user_events.c.event_type.in_(LIST_EVENTS))
        .group_by(impressions.c.user_id, user_events.c.event_type)
    )
    rows = list(conn.execute(shown).all()) if items else []
    return rows + list(conn.execute(led).all())


def interleaved_clicks(
    conn: Connection, variants: Sequence[str], start: int, end: int
) -> list[Any]:
    """``(user_id, artist_ids, teams, clicked_artist)`` of clicks on interleaved lists."""
    query = (
        select(
            impressions.c.user_id,
            impressions.c.artist_ids,
            impressions.c.teams,
            user_events.c.artist_id,
        )
        .select_from(impressions.join(user_events, user_events.c.source == impressions.c.list_id))
        .where(
            impressions.c.variant.in_(list(variants)),
            impressions.c.teams.is_not(None),
            impressions.c.shown_at_ms >= start,
            impressions.c.shown_at_ms < end,
            user_events.c.event_type == "recommendation_click",
        )
    )
    return list(conn.execute(query).all())


def interleaved_users(conn: Connection, variants: Sequence[str], start: int, end: int) -> list[str]:
    """Users served an interleaved list of the experiment."""
    query = (
        select(impressions.c.user_id)
        .where(
            impressions.c.variant.in_(list(variants)),
            impressions.c.teams.is_not(None),
            impressions.c.shown_at_ms >= start,
            impressions.c.shown_at_ms < end,
        )
        .distinct()
    )
    return list(conn.execute(query).scalars())


def users_reached(conn: Connection, since_ms: int) -> tuple[int, int]:
    """Distinct users shown a list since ``since_ms``, and the days with any list shown.

    Their ratio is the rate at which an experiment started at ``since_ms`` would have
    enrolled users (each user counts once, on the first list).
    """
    shown = and_(
        impressions.c.shown_at_ms >= since_ms, impressions.c.list_type != "similar_artists"
    )
    users = conn.execute(select(func.count(impressions.c.user_id.distinct())).where(shown)).scalar()
    days = conn.execute(
        select(func.count((impressions.c.shown_at_ms // DAY_MS).distinct())).where(shown)
    ).scalar()
    return int(users or 0), int(days or 0)
