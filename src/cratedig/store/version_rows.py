"""Reads and deletes of a model version's rows, for cleaning up abandoned runs
(:func:`cratedig.pipeline.cleanup.cleanup_abandoned`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, delete, select

from cratedig.store.reads import id_batches
from cratedig.store.schema import (
    fallback_lists,
    model_versions,
    precomputed_lists,
    similar_artist_lists,
)

#: The tables a training run writes rows keyed by ``version_id`` to (besides the registry).
LIST_TABLES = (precomputed_lists, similar_artist_lists, fallback_lists)


def versions_with_status(conn: Connection, statuses: Sequence[str]) -> list[dict[str, Any]]:
    """``version_id``, ``status``, ``note``, ``started_at_ms`` and ``artifact_path`` of
    the versions whose status is one of ``statuses``."""
    c = model_versions.c
    query = select(c.version_id, c.status, c.note, c.started_at_ms, c.artifact_path).where(
        c.status.in_(list(statuses))
    )
    return [dict(row._mapping) for row in conn.execute(query)]


def all_version_ids(conn: Connection) -> set[str]:
    """Every version id in the registry."""
    return set(conn.execute(select(model_versions.c.version_id)).scalars())


def delete_version_lists(conn: Connection, version_ids: Iterable[str]) -> int:
    """Delete the precomputed, similar-artist and fallback lists of ``version_ids``;
    how many rows were deleted."""
    deleted = 0
    for part in id_batches(sorted(set(version_ids))):
        for table in LIST_TABLES:
            result = conn.execute(delete(table).where(table.c.version_id.in_(part)))
            deleted += int(result.rowcount or 0)
    return deleted
