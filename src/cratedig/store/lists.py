"""Reads of a model version's precomputed lists: per-user lists, similar artists and
cold-start fallbacks.

Every reader takes the ``version_id``: the registry may serve several versions at
once (an experiment's arms), so which version a request reads is the caller's
choice, never a global. Lists are returned as the stored JSON text; callers parse
(and cache) them.
"""

from __future__ import annotations

from sqlalchemy import Connection, select

from cratedig.store.serving_schema import fallback_lists, precomputed_lists, similar_artist_lists


def read_user_list(conn: Connection, version_id: str, list_type: str, user_id: str) -> str | None:
    """The stored list (JSON text) of one user in a version (``None``: cold start)."""
    query = select(precomputed_lists.c.entries).where(
        precomputed_lists.c.version_id == version_id,
        precomputed_lists.c.list_type == list_type,
        precomputed_lists.c.user_id == user_id,
    )
    return conn.execute(query).scalar_one_or_none()


def read_similar(conn: Connection, version_id: str, artist_id: str) -> str | None:
    """The similar artists (JSON text) of one artist in a version."""
    query = select(similar_artist_lists.c.entries).where(
        similar_artist_lists.c.version_id == version_id,
        similar_artist_lists.c.artist_id == artist_id,
    )
    return conn.execute(query).scalar_one_or_none()


def read_fallback(conn: Connection, version_id: str, scope: str, scope_key: str) -> str | None:
    """A cold-start list (JSON text) of a version, by ``scope`` and ``scope_key``."""
    query = select(fallback_lists.c.entries).where(
        fallback_lists.c.version_id == version_id,
        fallback_lists.c.scope == scope,
        fallback_lists.c.scope_key == scope_key,
    )
    return conn.execute(query).scalar_one_or_none()


def users_with_lists(conn: Connection, version_id: str, list_type: str, limit: int) -> list[str]:
    """The first ``limit`` users (in id order) with a stored list of a version."""
    query = (
        select(precomputed_lists.c.user_id)
        .where(
            precomputed_lists.c.version_id == version_id,
            precomputed_lists.c.list_type == list_type,
        )
        .order_by(precomputed_lists.c.user_id)
        .limit(limit)
    )
    return list(conn.execute(query).scalars())
