"""The incremental online refresh's memory as one Arrow blob per kind and day.

``online_memory`` replaces ``online_credit`` and ``online_visit_day`` (revision
``0007_online_state``): the memory is only ever read and written whole days at a time,
and a row per attributed event cost an incremental refresh half a second to write.

Revision ID: 0008_online_memory
Revises: 0007_online_state
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_online_memory"
down_revision = "0007_online_state"
branch_labels = None
depends_on = None

#: Every table involved is derived (``cratedig online refresh --full`` rebuilds the
#: memory), so neither direction loses anything that cannot be recomputed.
LOSSLESS_DOWNGRADE = True

#: Without a memory the next incremental refresh reads its whole range and remembers it
#: afresh; no record may claim that the new (or restored) tables cover a range.
FORGET_RANGE = "DELETE FROM online_state WHERE key = 'credit_cache'"


def upgrade() -> None:
    op.create_table(
        "online_memory",
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("day", sa.Integer, primary_key=True),
        sa.Column("rows", sa.Integer, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )
    op.drop_table("online_visit_day")
    op.drop_table("online_credit")
    op.execute(FORGET_RANGE)


def downgrade() -> None:
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
    op.drop_table("online_memory")
    op.execute(FORGET_RANGE)
