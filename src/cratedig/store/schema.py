"""The tables of the store (SQLAlchemy Core).

Times are integers: milliseconds since the Unix epoch, UTC (columns ending in
``_ms``). Integer times bucket the same way on SQLite and PostgreSQL (``t / 86400000``
is a UTC day) and read back without parsing, which keeps 10M-event scans fast.
Ids are the site's own strings.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
)

metadata = MetaData()

users = Table(
    "users",
    metadata,
    Column("user_id", String(128), primary_key=True),
    Column("country", String(64)),
    Column("region", String(128)),
    Column("city", String(128)),
    Column("timezone", String(64)),
    Column("signup_at_ms", BigInteger),
    Column("age", SmallInteger),
    Column("gender", String(16)),
    Column("is_stub", Boolean, nullable=False, default=False),
)

artists = Table(
    "artists",
    metadata,
    Column("artist_id", String(128), primary_key=True),
    Column("name", Text),
    Column("created_at_ms", BigInteger),
    Column("is_stub", Boolean, nullable=False, default=False),
)

artist_tags = Table(
    "artist_tags",
    metadata,
    Column("artist_id", String(128), primary_key=True),
    Column("tag", String(256), primary_key=True),
    Column("weight", Float, nullable=False, default=1.0),
    Column("rank", Integer),
)

tracks = Table(
    "tracks",
    metadata,
    Column("track_id", String(128), primary_key=True),
    Column("artist_id", String(128), nullable=False),
    Column("title", Text),
    Column("duration_ms", Integer),
    Column("is_stub", Boolean, nullable=False, default=False),
)
Index("ix_tracks_artist", tracks.c.artist_id)

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

user_friends = Table(
    "user_friends",
    metadata,
    Column("user_id", String(128), primary_key=True),
    Column("friend_id", String(128), primary_key=True),
)

feedback = Table(
    "feedback",
    metadata,
    Column("feedback_id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", String(128), nullable=False),
    Column("list_id", String(128)),
    Column("artist_id", String(128)),
    Column("kind", String(16), nullable=False),  # "thumb" or "rating"
    Column("value", SmallInteger, nullable=False),  # -1/+1 for thumbs, 1..5 for ratings
    Column("created_at_ms", BigInteger, nullable=False),
)
Index("ix_feedback_list", feedback.c.list_id)

impressions = Table(
    "impressions",
    metadata,
    # One row per list served: its artists in position order (a JSON array of ids;
    # position = index + 1). One insert per request instead of one per artist keeps
    # logging off the request path's CPU budget.
    Column("impression_id", Integer, primary_key=True, autoincrement=True),
    Column("list_id", String(128), nullable=False),
    Column("user_id", String(128), nullable=False),
    Column("list_type", String(32), nullable=False),
    Column("model_version", String(64)),
    Column("variant", String(64)),
    Column("artist_ids", Text, nullable=False),
    Column("n_items", SmallInteger, nullable=False),
    Column("shown_at_ms", BigInteger, nullable=False),
)
Index("ix_impressions_list", impressions.c.list_id, unique=True)
Index("ix_impressions_user_time", impressions.c.user_id, impressions.c.shown_at_ms)

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
Index("ix_quarantine_status_time", quarantine.c.status, quarantine.c.created_at_ms)
Index(
    "ix_quarantine_source_line_content",
    quarantine.c.source,
    quarantine.c.line,
    quarantine.c.raw_sha256,
    unique=True,
)
