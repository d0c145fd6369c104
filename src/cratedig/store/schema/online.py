"""What serving records as it runs: lists served (``impressions``), thumbs and ratings
(``feedback``), and cross-worker cache invalidations (``cache_invalidations``)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, SmallInteger, String, Table, Text

from cratedig.store.schema.base import metadata

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
    # "<experiment>:<variant>" when the user is in a running experiment
    Column("variant", String(64)),
    # interleaved lists: the team ("A"/"B") of each position (revision 0006)
    Column("teams", String(128)),
    Column("artist_ids", Text, nullable=False),
    Column("n_items", SmallInteger, nullable=False),
    Column("shown_at_ms", BigInteger, nullable=False),
)
Index("ix_impressions_list", impressions.c.list_id, unique=True)
Index("ix_impressions_user_time", impressions.c.user_id, impressions.c.shown_at_ms)

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

#: When each user's cached lists were last invalidated (their events arrived). Workers
#: with an in-process cache poll it, so an event posted to one gunicorn worker
#: invalidates the user's lists in every worker within a fraction of a second.
cache_invalidations = Table(
    "cache_invalidations",
    metadata,
    Column("user_id", String(128), primary_key=True),
    Column("invalidated_at_ms", BigInteger, nullable=False),
)
Index("ix_cache_invalidations_time", cache_invalidations.c.invalidated_at_ms)
