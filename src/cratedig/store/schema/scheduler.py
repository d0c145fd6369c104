"""Tables of the retraining scheduler: the lease and the record of its runs.

Revision ``0005_scheduler`` added them. ``pipeline/scheduler.py`` explains how they
are used; the SQL is in :mod:`cratedig.store.scheduler`.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table, Text

from cratedig.store.schema.base import metadata

#: One row per lease name (``"retrain"``): who may act on the store until when. A
#: holder that stops renewing (killed, hung, cut off) loses it at ``expires_at_ms``.
scheduler_leases = Table(
    "scheduler_leases",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", String(256), nullable=False),  # host:pid:random of the process
    Column("acquired_at_ms", BigInteger, nullable=False),
    Column("renewed_at_ms", BigInteger, nullable=False),
    Column("expires_at_ms", BigInteger, nullable=False),
)

#: One row per retraining run the scheduler started.
scheduler_runs = Table(
    "scheduler_runs",
    metadata,
    Column("run_id", Integer, primary_key=True, autoincrement=True),
    # cron | new_events | ctr_drop | retry | now
    Column("trigger", String(32), nullable=False),
    Column("detail", Text, nullable=False, default=""),  # why it fired, in words
    Column("holder", String(256), nullable=False),
    Column("started_at_ms", BigInteger, nullable=False),
    Column("finished_at_ms", BigInteger),
    # running -> promoted | rejected | failed | lease_lost | interrupted | stopped
    Column("outcome", String(16), nullable=False),
    Column("version_id", String(64)),
    Column("error", Text),
)
Index("ix_scheduler_runs_started", scheduler_runs.c.started_at_ms)
Index("ix_scheduler_runs_outcome", scheduler_runs.c.outcome)
