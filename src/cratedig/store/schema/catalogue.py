"""The catalogue: users, artists, their tags, tracks and friendships."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    SmallInteger,
    String,
    Table,
    Text,
)

from cratedig.store.schema.base import metadata

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

user_friends = Table(
    "user_friends",
    metadata,
    Column("user_id", String(128), primary_key=True),
    Column("friend_id", String(128), primary_key=True),
)
