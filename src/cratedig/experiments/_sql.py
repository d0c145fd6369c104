"""SQL of the experiment analysis over the online rollups (read only).

``cratedig online refresh`` writes ``online_user_daily`` (one row per impression day x
user x list type x model version x variant, see ``docs/online.md``); the analysis reads
the per-user numerators and denominators it holds (items shown, clicked items, ratings)
from it instead of joining the raw events to the impressions. This module only reads
the online package's tables; it never writes them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, func, select

from cratedig.store.schema.rollups import online_state, online_user_daily

#: The ``online_user_daily`` columns the analysis reads, by the name it uses.
ROLLUP_COUNTS = {
    "items": "items",
    "clicks": "clicked_items",
    "rating_sum": "rating_sum",
    "ratings": "ratings",
}


def _sums() -> list[Any]:
    t = online_user_daily.c
    return [func.sum(t[column]).label(name) for name, column in ROLLUP_COUNTS.items()]


def user_day_counts(
    conn: Connection, variants: Sequence[str], list_types: Sequence[str], first: int, last: int
) -> list[Any]:
    """``(user_id, variant, day, items, clicks, rating_sum, ratings)`` of the experiment's
    lists shown on days ``first..last`` (inclusive)."""
    t = online_user_daily.c
    query = (
        select(t.user_id, t.variant, t.day, *_sums())
        .where(
            t.variant.in_(list(variants)),
            t.list_type.in_(list(list_types)),
            t.day >= first,
            t.day <= last,
        )
        .group_by(t.user_id, t.variant, t.day)
    )
    return list(conn.execute(query).all())


def pre_counts(
    conn: Connection,
    users: Sequence[str],
    list_types: Sequence[str],
    first: int,
    before: int,
) -> list[Any]:
    """``(user_id, items, clicks, rating_sum, ratings)`` per user of ``users`` over the
    lists of ``list_types`` shown on days ``first`` to ``before - 1`` (any variant)."""
    t = online_user_daily.c
    out: list[Any] = []
    ids = list(users)
    for start in range(0, len(ids), 5_000):  # SQLite's bound-parameter limit
        query = (
            select(t.user_id, *_sums())
            .where(
                t.user_id.in_(ids[start : start + 5_000]),
                t.list_type.in_(list(list_types)),
                t.day >= first,
                t.day < before,
            )
            .group_by(t.user_id)
        )
        out.extend(conn.execute(query).all())
    return out


def last_refresh_ms(conn: Connection) -> int | None:
    """The ``now_ms`` of the last online refresh (``None`` when there was none)."""
    raw = conn.execute(
        select(online_state.c.value).where(online_state.c.key == "last_refresh")
    ).scalar_one_or_none()
    if raw is None:
        return None
    try:
        value = json.loads(raw).get("now_ms")
    except (ValueError, AttributeError):
        return None
    return int(value) if isinstance(value, int) else None
