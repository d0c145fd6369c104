"""Baseline: the schema of every store created before migrations existed.

This is a frozen copy of the tables as they were when cratedig adopted Alembic
(``store/schema.py`` and ``store/serving_schema.py`` at that commit). It must never
change: later schema changes are later revisions.

The upgrade creates only the tables and indexes that are missing, so it also brings a
store made by ``init-db`` before migrations existed (no ``alembic_version`` table) to
the baseline, after :func:`cratedig.store.migrate.check_legacy_store` has checked that
the tables it does have are the baseline's.

Revision ID: 0001_baseline
Revises: (none)
"""

from __future__ import annotations

from alembic import op
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

revision = "0001_baseline"
down_revision = None
branch_labels = None
depends_on = None

#: Downgrading below the baseline drops every table: everything is lost.
LOSSLESS_DOWNGRADE = False


def baseline_metadata() -> MetaData:
    """The baseline's tables, defined on a metadata of their own."""
    md = MetaData()
    Table(
        "users",
        md,
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
    Table(
        "artists",
        md,
        Column("artist_id", String(128), primary_key=True),
        Column("name", Text),
        Column("created_at_ms", BigInteger),
        Column("is_stub", Boolean, nullable=False, default=False),
    )
    Table(
        "artist_tags",
        md,
        Column("artist_id", String(128), primary_key=True),
        Column("tag", String(256), primary_key=True),
        Column("weight", Float, nullable=False, default=1.0),
        Column("rank", Integer),
    )
    tracks = Table(
        "tracks",
        md,
        Column("track_id", String(128), primary_key=True),
        Column("artist_id", String(128), nullable=False),
        Column("title", Text),
        Column("duration_ms", Integer),
        Column("is_stub", Boolean, nullable=False, default=False),
    )
    Index("ix_tracks_artist", tracks.c.artist_id)
    events = Table(
        "user_events",
        md,
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
    Index("ix_events_user_time", events.c.user_id, events.c.occurred_at_ms)
    Index("ix_events_artist", events.c.artist_id)
    Table(
        "user_friends",
        md,
        Column("user_id", String(128), primary_key=True),
        Column("friend_id", String(128), primary_key=True),
    )
    feedback = Table(
        "feedback",
        md,
        Column("feedback_id", Integer, primary_key=True, autoincrement=True),
        Column("user_id", String(128), nullable=False),
        Column("list_id", String(128)),
        Column("artist_id", String(128)),
        Column("kind", String(16), nullable=False),
        Column("value", SmallInteger, nullable=False),
        Column("created_at_ms", BigInteger, nullable=False),
    )
    Index("ix_feedback_list", feedback.c.list_id)
    impressions = Table(
        "impressions",
        md,
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
        md,
        Column("quarantine_id", Integer, primary_key=True, autoincrement=True),
        Column("source", Text, nullable=False),
        Column("line", BigInteger),
        Column("reason", Text, nullable=False),
        Column("raw", Text),
        Column("created_at_ms", BigInteger, nullable=False),
    )
    Index("ix_quarantine_source_line", quarantine.c.source, quarantine.c.line, unique=True)
    versions = Table(
        "model_versions",
        md,
        Column("version_id", String(64), primary_key=True),
        Column("status", String(16), nullable=False),
        Column("model_name", String(64), nullable=False),
        Column("params", Text, nullable=False, default="{}"),
        Column("metrics", Text, nullable=False, default="{}"),
        Column("ndcg_at_10", Float),
        Column("snapshot_ms", BigInteger, nullable=False),
        Column("started_at_ms", BigInteger, nullable=False),
        Column("finished_at_ms", BigInteger),
        Column("promoted_at_ms", BigInteger),
        Column("artifact_path", Text),
        Column("n_users", BigInteger),
        Column("n_artists", BigInteger),
        Column("note", Text),
    )
    Index("ix_model_versions_started", versions.c.started_at_ms)
    Table(
        "serving_state",
        md,
        Column("key", String(64), primary_key=True),
        Column("value", Text, nullable=False),
        Column("updated_at_ms", BigInteger, nullable=False),
    )
    Table(
        "precomputed_lists",
        md,
        Column("version_id", String(64), primary_key=True),
        Column("list_type", String(32), primary_key=True),
        Column("user_id", String(128), primary_key=True),
        Column("entries", Text, nullable=False),
    )
    Table(
        "similar_artist_lists",
        md,
        Column("version_id", String(64), primary_key=True),
        Column("artist_id", String(128), primary_key=True),
        Column("entries", Text, nullable=False),
    )
    Table(
        "fallback_lists",
        md,
        Column("version_id", String(64), primary_key=True),
        Column("scope", String(16), primary_key=True),
        Column("scope_key", String(128), primary_key=True),
        Column("entries", Text, nullable=False),
    )
    invalidations = Table(
        "cache_invalidations",
        md,
        Column("user_id", String(128), primary_key=True),
        Column("invalidated_at_ms", BigInteger, nullable=False),
    )
    Index("ix_cache_invalidations_time", invalidations.c.invalidated_at_ms)
    return md


def upgrade() -> None:
    bind = op.get_bind()
    # checkfirst: a store from before migrations keeps its tables; missing ones appear
    baseline_metadata().create_all(bind, checkfirst=True)


def downgrade() -> None:
    baseline_metadata().drop_all(op.get_bind(), checkfirst=True)
