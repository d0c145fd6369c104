"""The few reads only the pages make: artist cards (top tags, listener counts) for many
artists at once, and one listener's relation to one artist.

Plain functions of a connection (as :mod:`cratedig.store.catalogue`); the page view
models in :mod:`cratedig.serving.page_views` cache their results.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, func, select

from cratedig.store.reads import id_batches
from cratedig.store.schema import artist_tags, feedback, impressions, user_events

#: Event types counted in a listener's relation to an artist.
RELATION_TYPES = (
    "play_track",
    "like_track",
    "share_track",
    "add_track_to_playlist",
    "share_artist",
    "follow_artist",
    "unfollow_artist",
)


def tags_of(conn: Connection, artist_ids: Sequence[str], per_artist: int) -> dict[str, list[str]]:
    """The top ``per_artist`` tags of each artist (by weight, then name)."""
    out: dict[str, list[str]] = {a: [] for a in artist_ids}
    for part in id_batches(sorted(set(artist_ids))):
        rows = conn.execute(
            select(artist_tags.c.artist_id, artist_tags.c.tag)
            .where(artist_tags.c.artist_id.in_(part))
            .order_by(artist_tags.c.artist_id, artist_tags.c.weight.desc(), artist_tags.c.tag)
        )
        for artist_id, tag in rows:
            kept = out.setdefault(artist_id, [])
            if len(kept) < per_artist:
                kept.append(tag)
    return out


def listeners_of(conn: Connection, artist_ids: Sequence[str]) -> dict[str, int]:
    """How many distinct users have any event about each artist."""
    out = dict.fromkeys(artist_ids, 0)
    ev = user_events.c
    for part in id_batches(sorted(set(artist_ids))):
        rows = conn.execute(
            select(ev.artist_id, func.count(func.distinct(ev.user_id)))
            .where(ev.artist_id.in_(part))
            .group_by(ev.artist_id)
        )
        out.update((a, int(n)) for a, n in rows)
    return out


def relation(conn: Connection, user_id: str, artist_id: str) -> dict[str, Any]:
    """One listener's events about one artist.

    Returns
    -------
    dict
        ``counts`` (event type -> rows), ``tracks_played`` (distinct tracks played),
        ``following`` (the latest follow/unfollow was a follow), ``followed_since_ms``
        (the time of that follow, else ``None``), ``first_ms`` and ``last_ms``.
    """
    ev = user_events.c
    mine = (ev.user_id == user_id, ev.artist_id == artist_id)
    counts = {
        t: int(n)
        for t, n in conn.execute(
            select(ev.event_type, func.count())
            .where(*mine, ev.event_type.in_(RELATION_TYPES))
            .group_by(ev.event_type)
        )
    }
    played, first_ms, last_ms = conn.execute(
        select(
            func.count(func.distinct(ev.track_id)).filter(ev.event_type == "play_track"),
            func.min(ev.occurred_at_ms),
            func.max(ev.occurred_at_ms),
        ).where(*mine)
    ).one()
    latest = conn.execute(
        select(ev.event_type, ev.occurred_at_ms)
        .where(*mine, ev.event_type.in_(["follow_artist", "unfollow_artist"]))
        .order_by(ev.occurred_at_ms.desc(), ev.event_id.desc())
        .limit(1)
    ).first()
    following = latest is not None and latest[0] == "follow_artist"
    return {
        "counts": counts,
        "tracks_played": int(played or 0),
        "following": following,
        "followed_since_ms": int(latest[1]) if following and latest is not None else None,
        "first_ms": None if first_ms is None else int(first_ms),
        "last_ms": None if last_ms is None else int(last_ms),
    }


def user_artists(conn: Connection, user_id: str, limit: int = 1000) -> list[str]:
    """Up to ``limit`` artists a user has any event about (the most recent first)."""
    ev = user_events.c
    last = func.max(ev.occurred_at_ms)
    rows = conn.execute(
        select(ev.artist_id)
        .where(ev.user_id == user_id, ev.artist_id.is_not(None))
        .group_by(ev.artist_id)
        .order_by(last.desc(), ev.artist_id)
        .limit(limit)
    )
    return [str(a) for (a,) in rows]


def latest_feedback(conn: Connection, user_id: str) -> tuple[dict[str, int], dict[str, int]]:
    """A listener's latest thumb per artist and latest rating per list type.

    Ratings are per served list; the list's type comes from its impression (a list
    whose impression is not written yet is left out).
    """
    fb = feedback.c
    thumbs: dict[str, int] = {}
    ratings: dict[str, int] = {}
    rows = conn.execute(  # one read for both (an outer join: thumbs need no impression)
        select(fb.kind, fb.artist_id, impressions.c.list_type, fb.value)
        .outerjoin(impressions, impressions.c.list_id == fb.list_id)
        .where(fb.user_id == user_id, fb.kind.in_(["thumb", "rating"]))
        .order_by(fb.created_at_ms, fb.feedback_id)
    )
    for kind, artist_id, list_type, value in rows:
        if kind == "thumb":
            thumbs[str(artist_id)] = int(value)
        elif list_type is not None:
            ratings[str(list_type)] = int(value)
    return thumbs, ratings
