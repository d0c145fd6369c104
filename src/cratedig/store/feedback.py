"""The ``feedback`` table: thumbs on an artist of a list, ratings of a whole list."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection

from cratedig.store.schema import feedback


def insert_feedback(conn: Connection, row: Mapping[str, Any]) -> int:
    """Store one validated feedback row; returns its new ``feedback_id``."""
    stmt = feedback.insert().values(**row).returning(feedback.c.feedback_id)
    return int(conn.execute(stmt).scalar_one())
