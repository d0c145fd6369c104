"""Online measurement: per-user-per-day aggregates, daily rollups and two event indexes.

Adds the tables ``cratedig online refresh`` writes (``online_user_daily``,
``online_daily``, ``online_position_daily``, ``online_event_daily``,
``online_artist_tail``, ``online_state``) and two indexes on ``user_events``: by time
(the incremental refresh reads a time range) and by (user, artist, time) (whether an
artist was new to a user). The new tables are derived data: ``cratedig online refresh
--full`` rebuilds them from the events, impressions and feedback, so the downgrade,
which drops them, loses nothing that cannot be recomputed.

Revision ID: 0003_online
Revises: 0002_quarantine_content_key
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_online"
down_revision = "0002_quarantine_content_key"
branch_labels = None
depends_on = None

#: The dropped tables are rollups, recomputed by ``cratedig online refresh --full``.
LOSSLESS_DOWNGRADE = True

# frozen copy of cratedig.store.schema.rollups.OUTCOME_COLUMNS (a revision describes
# one moment and must not change with the code)
_OUTCOMES = (
    "lists",
    "items",
    "clicks",
    "clicked_items",
    "clicked_lists",
    "follows",
    "shares",
    "plays",
    "play_ms",
    "new_play_ms",
    "new_artists",
    "thumbs_up",
    "thumbs_down",
    "ratings",
    "rating_sum",
    "rating_1",
    "rating_2",
    "rating_3",
    "rating_4",
    "rating_5",
    "subscriptions",
    "new_followers",
    "new_longtail_listeners",
    "longtail_items",
)


def _key() -> list[sa.Column[object]]:
    return [
        sa.Column("day", sa.Integer, primary_key=True),
        sa.Column("list_type", sa.String(32), primary_key=True),
        sa.Column("model_version", sa.String(64), primary_key=True),
        sa.Column("variant", sa.String(64), primary_key=True),
    ]


def _counts(*names: str) -> list[sa.Column[object]]:
    return [sa.Column(name, sa.BigInteger, nullable=False) for name in names]


def upgrade() -> None:
    op.create_table(
        "online_user_daily",
        sa.Column("day", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.String(128), primary_key=True),
        sa.Column("list_type", sa.String(32), primary_key=True),
        sa.Column("model_version", sa.String(64), primary_key=True),
        sa.Column("variant", sa.String(64), primary_key=True),
        *_counts(*_OUTCOMES),
        sa.Column("returned", sa.Integer, nullable=False),
    )
    op.create_index("ix_online_user_daily_user", "online_user_daily", ["user_id"])
    op.create_table(
        "online_daily",
        *_key(),
        *_counts("users", *_OUTCOMES, "returned_users"),
    )
    op.create_table(
        "online_position_daily",
        *_key(),
        sa.Column("position", sa.Integer, primary_key=True),
        *_counts(
            "items", "clicked_items", "follows", "shares", "plays", "thumbs_up", "thumbs_down"
        ),
    )
    op.create_table(
        "online_event_daily",
        sa.Column("day", sa.Integer, primary_key=True),
        *_counts("events", "click_through", "view_through", "unknown_list", "unattributed"),
    )
    op.create_table(
        "online_artist_tail",
        sa.Column("artist_id", sa.String(128), primary_key=True),
        sa.Column("plays", sa.BigInteger, nullable=False),
        sa.Column("is_long_tail", sa.Integer, nullable=False),
        sa.Column("computed_at_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "online_state",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.String(2000), nullable=False),
        sa.Column("updated_at_ms", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_events_time", "user_events", ["occurred_at_ms"])
    op.create_index(
        "ix_events_user_artist_time", "user_events", ["user_id", "artist_id", "occurred_at_ms"]
    )


def downgrade() -> None:
    op.drop_index("ix_events_user_artist_time", table_name="user_events")
    op.drop_index("ix_events_time", table_name="user_events")
    for table in (
        "online_state",
        "online_artist_tail",
        "online_event_daily",
        "online_position_daily",
        "online_daily",
        "online_user_daily",
    ):
        op.drop_table(table)
