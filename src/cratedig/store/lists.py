"""Reads of a model version's precomputed lists: per-user lists, similar artists and
cold-start fallbacks.

Every reader takes the ``version_id``: the registry may serve several versions at
once (an experiment's arms), so which version a request reads is the caller's
choice, never a global. Lists are returned as the stored JSON text; callers parse
(and cache) them.
"""

from __future__ import annotations

from sqlalchemy import Connection, Table, select

from cratedig.store.schema import fallback_lists, precomputed_lists, similar_artist_lists


def _entries(conn: Connection, table: Table, **keys: str) -> str | None:
    """The ``entries`` (JSON text) of the row of ``table`` with the given key values."""
    query = select(table.c.entries).where(*(table.c[k] == v for k, v in keys.items()))
    return conn.execute(query).scalar_one_or_none()


def read_user_list(conn: Connection, version_id: str, list_type: str, user_id: str) -> str | None:
    """The stored list (JSON text) of one user in a version (``None``: cold start)."""
    return _entries(
        conn, precomputed_lists, version_id=version_id, list_type=list_type, user_id=user_id
    )


def read_similar(conn: Connection, version_id: str, artist_id: str) -> str | None:
    """The similar artists (JSON text) of one artist in a version."""
    return _entries(conn, similar_artist_lists, version_id=version_id, artist_id=artist_id)


def read_fallback(conn: Connection, version_id: str, scope: str, scope_key: str) -> str | None:
    """A cold-start list (JSON text) of a version, by ``scope`` and ``scope_key``."""
    return _entries(conn, fallback_lists, version_id=version_id, scope=scope, scope_key=scope_key)


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
