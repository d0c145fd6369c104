"""The model registry and each version's precomputed lists (written by ``pipeline``).

Everything a training run writes is keyed by its ``version_id``; serving reads only
the version named by the ``active_version`` row of :data:`serving_state`. A run that
fails or is killed therefore leaves rows under a version that nothing points to, and
what is served does not change.

Lists are stored as one row per (version, list, owner) holding a JSON array of
``{"artist_id", "score", "explanation"}`` objects: serving reads one row by primary key
per request, and a run writes one row per user instead of one per recommended artist.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, Index, String, Table, Text

from cratedig.store.schema.base import metadata

#: One row per training run.
model_versions = Table(
    "model_versions",
    metadata,
    Column("version_id", String(64), primary_key=True),
    # training -> ready (promoted) | rejected (not promoted) | failed
    Column("status", String(16), nullable=False),
    Column("model_name", String(64), nullable=False),
    Column("params", Text, nullable=False, default="{}"),  # JSON
    Column("metrics", Text, nullable=False, default="{}"),  # JSON
    Column("ndcg_at_10", Float),
    Column("snapshot_ms", BigInteger, nullable=False),  # data snapshot time
    Column("started_at_ms", BigInteger, nullable=False),
    Column("finished_at_ms", BigInteger),
    Column("promoted_at_ms", BigInteger),
    Column("artifact_path", Text),
    Column("n_users", BigInteger),
    Column("n_artists", BigInteger),
    Column("note", Text),
)
Index("ix_model_versions_started", model_versions.c.started_at_ms)

#: Small key/value table; ``active_version`` names the version being served.
serving_state = Table(
    "serving_state",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at_ms", BigInteger, nullable=False),
)

#: Each user's precomputed candidates for one list type (``may_like``, ``hidden_gems``).
precomputed_lists = Table(
    "precomputed_lists",
    metadata,
    Column("version_id", String(64), primary_key=True),
    Column("list_type", String(32), primary_key=True),
    Column("user_id", String(128), primary_key=True),
    Column("entries", Text, nullable=False),  # JSON array
)

#: Each artist's precomputed similar artists ("Fans also like").
similar_artist_lists = Table(
    "similar_artist_lists",
    metadata,
    Column("version_id", String(64), primary_key=True),
    Column("artist_id", String(128), primary_key=True),
    Column("entries", Text, nullable=False),  # JSON array
)

#: Cold-start lists: ``scope`` is ``global`` (``scope_key`` empty) or ``country``
#: (``scope_key`` the country).
fallback_lists = Table(
    "fallback_lists",
    metadata,
    Column("version_id", String(64), primary_key=True),
    Column("scope", String(16), primary_key=True),
    Column("scope_key", String(128), primary_key=True),
    Column("entries", Text, nullable=False),  # JSON array
)
