"""A/B experiments: the ``experiments`` table and ``impressions.teams``.

Revision ID: 0006_experiments
Revises: 0005_scheduler
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_experiments"
down_revision = "0005_scheduler"
branch_labels = None
depends_on = None

#: Undoing it drops every experiment and the teams of interleaved impressions.
LOSSLESS_DOWNGRADE = False


def upgrade() -> None:
    op.create_table(
        "experiments",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("salt", sa.String(128), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("layer", sa.String(64), nullable=False),
        sa.Column("layer_share", sa.Float, nullable=False),
        sa.Column("layer_start", sa.Integer),
        sa.Column("layer_stop", sa.Integer),
        sa.Column("list_scope", sa.String(32), nullable=False),
        sa.Column("variants", sa.Text, nullable=False),
        sa.Column("weights", sa.Text, nullable=False),
        sa.Column("ramp", sa.Float, nullable=False),
        sa.Column("primary_metric", sa.String(32), nullable=False),
        sa.Column("guardrails", sa.Text, nullable=False),
        sa.Column("created_at_ms", sa.BigInteger, nullable=False),
        sa.Column("started_at_ms", sa.BigInteger),
        sa.Column("stopped_at_ms", sa.BigInteger),
        sa.Column("concluded_at_ms", sa.BigInteger),
        sa.Column("conclusion", sa.Text),
    )
    with op.batch_alter_table("impressions") as batch:
        batch.add_column(sa.Column("teams", sa.String(128)))


def downgrade() -> None:
    with op.batch_alter_table("impressions") as batch:
        batch.drop_column("teams")
    op.drop_table("experiments")
