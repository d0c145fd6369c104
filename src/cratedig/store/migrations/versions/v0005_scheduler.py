"""The retraining scheduler: its lease and the record of its runs.

Adds ``scheduler_leases`` (one row per lease: who may act on the store until when)
and ``scheduler_runs`` (one row per retraining run: trigger, times, outcome, version,
error). No existing table changes.

Revision ID: 0005_scheduler
Revises: 0004_quality
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_scheduler"
down_revision = "0004_quality"
branch_labels = None
depends_on = None

#: Undoing it drops the scheduler's run history (and its lease, which is harmless).
LOSSLESS_DOWNGRADE = False


def upgrade() -> None:
    op.create_table(
        "scheduler_leases",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("holder", sa.String(256), nullable=False),
        sa.Column("acquired_at_ms", sa.BigInteger, nullable=False),
        sa.Column("renewed_at_ms", sa.BigInteger, nullable=False),
        sa.Column("expires_at_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "scheduler_runs",
        sa.Column("run_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("trigger", sa.String(32), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("holder", sa.String(256), nullable=False),
        sa.Column("started_at_ms", sa.BigInteger, nullable=False),
        sa.Column("finished_at_ms", sa.BigInteger),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("version_id", sa.String(64)),
        sa.Column("error", sa.Text),
    )
    op.create_index("ix_scheduler_runs_started", "scheduler_runs", ["started_at_ms"])
    op.create_index("ix_scheduler_runs_outcome", "scheduler_runs", ["outcome"])


def downgrade() -> None:
    op.drop_table("scheduler_runs")
    op.drop_table("scheduler_leases")
