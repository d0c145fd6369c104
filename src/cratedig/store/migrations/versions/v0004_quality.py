"""Data quality: review state on quarantined rows, check findings, people's decisions.

Adds ``status`` (open, retried, discarded), ``resolved_at_ms`` and ``resolution`` to
``quarantine`` (every row already there is ``open``), and the ``quality_findings`` and
``quality_decisions`` tables.

Revision ID: 0004_quality
Revises: 0003_online
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_quality"
down_revision = "0003_online"
branch_labels = None
depends_on = None

#: Undoing it drops the findings, the decisions and the review state of quarantined rows.
LOSSLESS_DOWNGRADE = False


def upgrade() -> None:
    with op.batch_alter_table("quarantine") as batch:
        batch.add_column(sa.Column("status", sa.String(16), nullable=False, server_default="open"))
        batch.add_column(sa.Column("resolved_at_ms", sa.BigInteger))
        batch.add_column(sa.Column("resolution", sa.Text))
        batch.create_index("ix_quarantine_status_time", ["status", "created_at_ms"])
    op.create_table(
        "quality_findings",
        sa.Column("finding_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("check_name", sa.String(32), nullable=False),
        sa.Column("start_ms", sa.BigInteger, nullable=False),
        sa.Column("end_ms", sa.BigInteger, nullable=False),
        sa.Column("event_type", sa.String(32), nullable=False),
        sa.Column("observed", sa.Float, nullable=False),
        sa.Column("expected", sa.Float),
        sa.Column("lower_bound", sa.Float),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("found_at_ms", sa.BigInteger, nullable=False),
    )
    op.create_index(
        "ix_quality_findings_key",
        "quality_findings",
        ["check_name", "start_ms", "event_type"],
        unique=True,
    )
    op.create_table(
        "quality_decisions",
        sa.Column("decision_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("start_ms", sa.BigInteger),
        sa.Column("end_ms", sa.BigInteger),
        sa.Column("event_type", sa.String(32)),
        sa.Column("filters", sa.Text),
        sa.Column("rows_affected", sa.BigInteger, nullable=False),
        sa.Column("decided_by", sa.String(128), nullable=False),
        sa.Column("decided_at_ms", sa.BigInteger, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
    )
    op.create_index("ix_quality_decisions_period", "quality_decisions", ["start_ms", "end_ms"])


def downgrade() -> None:
    op.drop_table("quality_decisions")
    op.drop_table("quality_findings")
    with op.batch_alter_table("quarantine") as batch:
        batch.drop_index("ix_quarantine_status_time")
        batch.drop_column("resolution")
        batch.drop_column("resolved_at_ms")
        batch.drop_column("status")
