"""The one query of the Parquet export: every stored event, streamed."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from cratedig.store.schema import user_events


def all_events() -> Any:
    """``SELECT`` of every column of ``user_events`` (no order: the export partitions)."""
    return select(user_events)
