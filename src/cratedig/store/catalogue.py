"""Reads of the catalogue: artists (names, tags, tracks, listeners), tracks and users.

Plain functions of a connection, so that the caller chooses the transaction and the
caching (serving caches names; the write path looks tracks up once per batch). The
lookups on the service's request path (:func:`artist_names`, :func:`artist_exists`,
:func:`user_row`) run statements built once with bound parameters: building a
``select`` per call cost ~100 us of CPU, four times the execution of a built one.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, bindparam, false, func, select

from cratedig.store.reads import id_batches
from cratedig.store.schema import artist_tags, artists, tracks, user_events, users

#: How many tags and tracks :func:`artist_details` returns.
MAX_TAGS = 20
MAX_TRACKS = 50


_ARTIST_NAMES = select(artists.c.artist_id, artists.c.name).where(
    artists.c.artist_id.in_(bindparam("ids", expanding=True))
)
_ARTIST_EXISTS = select(artists.c.artist_id).where(artists.c.artist_id == bindparam("artist_id"))
_USER_ROW = select(users).where(users.c.user_id == bindparam("user_id"))


def artist_names(conn: Connection, artist_ids: Iterable[str]) -> dict[str, str | None]:
    """The display names of the known artists among ``artist_ids`` (unnamed: ``None``)."""
    wanted = sorted(set(artist_ids))
    found: dict[str, str | None] = {}
    for part in id_batches(wanted):
        found.update((r.artist_id, r.name) for r in conn.execute(_ARTIST_NAMES, {"ids": part}))
    return found


def artist_exists(conn: Connection, artist_id: str) -> bool:
    """Whether the ``artists`` table holds the artist (a stub counts)."""
    return conn.execute(_ARTIST_EXISTS, {"artist_id": artist_id}).first() is not None


def artist_details(conn: Connection, artist_id: str) -> dict[str, Any] | None:
    """An artist's name, tags (by weight), tracks (by title) and distinct listeners.

    ``None`` when the artist is unknown.
    """
    row = conn.execute(select(artists).where(artists.c.artist_id == artist_id)).first()
    if row is None:
        return None
    tags = conn.execute(
        select(artist_tags.c.tag)
        .where(artist_tags.c.artist_id == artist_id)
        .order_by(artist_tags.c.weight.desc(), artist_tags.c.tag)
        .limit(MAX_TAGS)
    ).scalars()
    track_rows = conn.execute(
        select(tracks.c.track_id, tracks.c.title, tracks.c.duration_ms)
        .where(tracks.c.artist_id == artist_id)
        .order_by(tracks.c.title, tracks.c.track_id)
        .limit(MAX_TRACKS)
    ).all()
    listeners = conn.execute(
        select(func.count(func.distinct(user_events.c.user_id))).where(
            user_events.c.artist_id == artist_id
        )
    ).scalar_one()
    return {
        "artist_id": row.artist_id,
        "name": row.name,
        "tags": list(tags),
        "listeners": int(listeners),
        "tracks": [
            {"track_id": t.track_id, "title": t.title, "duration_ms": t.duration_ms}
            for t in track_rows
        ],
    }


def track_artists(conn: Connection, track_ids: Iterable[str]) -> dict[str, str]:
    """``track_id -> artist_id`` of the **real** (non-stub) tracks among ``track_ids``.

    Stub tracks (made from events) are left out on purpose: otherwise whether an
    event resolves would depend on which events came before it.
    """
    wanted = sorted(set(track_ids))
    found: dict[str, str] = {}
    for part in id_batches(wanted):
        query = select(tracks.c.track_id, tracks.c.artist_id).where(
            tracks.c.track_id.in_(part), tracks.c.is_stub == false()
        )
        found.update((t, a) for t, a in conn.execute(query))
    return found


def user_row(conn: Connection, user_id: str) -> Any | None:
    """The ``users`` row of a user (``None`` when unknown)."""
    return conn.execute(_USER_ROW, {"user_id": user_id}).first()


def user_ids(conn: Connection, limit: int) -> list[str]:
    """The first ``limit`` user ids, in order."""
    query = select(users.c.user_id).order_by(users.c.user_id).limit(limit)
    return list(conn.execute(query).scalars())


def event_counts(conn: Connection, user_id: str) -> dict[str, int]:
    """How many event rows of each type a user has."""
    rows = conn.execute(
        select(user_events.c.event_type, func.count())
        .where(user_events.c.user_id == user_id)
        .group_by(user_events.c.event_type)
    ).all()
    return {r[0]: int(r[1]) for r in rows}


def followed_artists(conn: Connection, user_id: str) -> list[str]:
    """The artists a user follows now (the last follow/unfollow of each wins), sorted."""
    rows = conn.execute(
        select(user_events.c.artist_id, user_events.c.event_type)
        .where(
            user_events.c.user_id == user_id,
            user_events.c.event_type.in_(["follow_artist", "unfollow_artist"]),
        )
        .order_by(user_events.c.occurred_at_ms)
    ).all()
    state: dict[str, bool] = {}
    for artist_id, event_type in rows:
        state[artist_id] = event_type == "follow_artist"
    return sorted(a for a, on in state.items() if on)
