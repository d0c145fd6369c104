"""What users did (``user_events``) and the rows no importer could accept (``quarantine``)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table, Text

from cratedig.store.schema.base import metadata

user_events = Table(
    "user_events",
    metadata,
    Column("event_id", String(128), primary_key=True),
    Column("user_id", String(128), nullable=False),
    Column("event_type", String(32), nullable=False),
    Column("occurred_at_ms", BigInteger, nullable=False),
    Column("artist_id", String(128)),
    Column("track_id", String(128)),
    Column("duration_ms", BigInteger),
    Column("count", Integer, nullable=False, default=1),
    Column("tag", String(256)),
    Column("session_id", String(128)),
    Column("source", String(128), nullable=False, default="organic"),
)
Index("ix_events_user_time", user_events.c.user_id, user_events.c.occurred_at_ms)
Index("ix_events_artist", user_events.c.artist_id)

quarantine = Table(
    "quarantine",
    metadata,
    Column("quarantine_id", Integer, primary_key=True, autoincrement=True),
    Column("source", Text, nullable=False),
    Column("line", BigInteger),
    Column("reason", Text, nullable=False),
    Column("raw", Text),
    Column("created_at_ms", BigInteger, nullable=False),
    # SHA-256 of ``raw``: a row is identified by its source, line and content, so a
    # re-import adds nothing while a new bad row at a reused path and line is kept
    Column("raw_sha256", String(64), nullable=False),
    # open -> retried (fixed and stored: ``resolution`` names the stored id) or
    # discarded (``resolution`` names the quality decision that dropped it)
    Column("status", String(16), nullable=False, default="open", server_default="open"),
    Column("resolved_at_ms", BigInteger),
    Column("resolution", Text),
)
Index(
    "ix_quarantine_source_line_content",
    quarantine.c.source,
    quarantine.c.line,
    quarantine.c.raw_sha256,
    unique=True,
)
Index("ix_quarantine_status_time", quarantine.c.status, quarantine.c.created_at_ms)
