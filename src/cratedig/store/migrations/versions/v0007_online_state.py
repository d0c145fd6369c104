"""The incremental online refresh's memory: ``online_credit`` and ``online_visit_day``.

Revision ID: 0007_online_state
Revises: 0006_experiments
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_online_state"
down_revision = "0006_experiments"
branch_labels = None
depends_on = None

#: Both tables are derived (``cratedig online refresh --full`` rebuilds them), so
#: undoing the revision loses nothing that cannot be recomputed.
LOSSLESS_DOWNGRADE = True


def upgrade() -> None:
    op.create_table(
        "online_credit",
        sa.Column("impression_id", sa.BigInteger, nullable=False),
        sa.Column("list_day", sa.Integer, nullable=False),
        sa.Column("event_day", sa.Integer, nullable=False),
        sa.Column("occurred_at_ms", sa.BigInteger, nullable=False),
        sa.Column("event_type", sa.String(32), nullable=False),
        sa.Column("artist_id", sa.String(128)),
        sa.Column("duration_ms", sa.BigInteger, nullable=False),
        sa.Column("mode", sa.String(8), nullable=False),
        sa.Column("position", sa.Integer),
        sa.Column("is_new", sa.Integer, nullable=False),
        sa.Column("first_follow", sa.Integer, nullable=False),
    )
    op.create_table(
        "online_visit_day",
        sa.Column("user_id", sa.String(128), primary_key=True),
        sa.Column("day", sa.Integer, primary_key=True),
    )


def downgrade() -> None:
    op.drop_table("online_visit_day")
    op.drop_table("online_credit")
    # an upgrade after this starts with empty tables: no state may claim to cover them
    op.execute("DELETE FROM online_state WHERE key = 'credit_cache'")
