"""The ``feedback`` table: thumbs on an artist of a list, ratings of a whole list."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, select

from cratedig.store.schema import feedback, impressions


def insert_feedback(conn: Connection, row: Mapping[str, Any]) -> int:
    """Store one validated feedback row; returns its new ``feedback_id``."""
    stmt = feedback.insert().values(**row).returning(feedback.c.feedback_id)
    return int(conn.execute(stmt).scalar_one())


def served_list(conn: Connection, list_id: str) -> tuple[str, list[str]] | None:
    """Who a stored list was served to and its artists in position order (``None``
    when no impression has that ``list_id``); one probe of ``ix_impressions_list``."""
    row = conn.execute(
        select(impressions.c.user_id, impressions.c.artist_ids).where(
            impressions.c.list_id == list_id
        )
    ).first()
    return None if row is None else (str(row[0]), list(json.loads(row[1])))
