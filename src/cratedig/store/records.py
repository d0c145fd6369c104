"""Writes and reads of imported users, artists and tracks records (not events)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table, delete, false, select

from cratedig.store.reads import id_batches
from cratedig.store.schema import artist_tags
from cratedig.store.writes import insert_ignore


def real_ids(conn: Connection, table: Table, ids: Sequence[str]) -> set[str]:
    """The ids among ``ids`` that ``table`` stores as real (non-stub) records."""
    key = next(iter(table.primary_key.columns))
    real: set[str] = set()
    for part in id_batches(ids):
        query = select(key).where(key.in_(part), table.c.is_stub == false())
        real.update(conn.execute(query).scalars())
    return real


def replace_artist_tags(conn: Connection, tags: Mapping[str, Sequence[str]]) -> None:
    """Make each artist's tags exactly ``tags[artist]``, ranked in order (weight 1)."""
    ids = list(tags)
    for part in id_batches(ids):
        conn.execute(delete(artist_tags).where(artist_tags.c.artist_id.in_(part)))
    rows: list[dict[str, Any]] = [
        {"artist_id": artist_id, "tag": tag, "weight": 1.0, "rank": rank}
        for artist_id, names in tags.items()
        for rank, tag in enumerate(names, start=1)
    ]
    insert_ignore(conn, artist_tags, rows)
