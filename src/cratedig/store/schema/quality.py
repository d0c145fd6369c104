"""Tables of data quality: what the daily checks found, and what people decided.

Revision ``0004_quality`` added them.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, Index, Integer, String, Table, Text

from cratedig.store.schema.base import metadata

#: One row per anomaly a check found: a (check, period, event type) is stored once, so
#: rerunning a check updates its row instead of adding another.
quality_findings = Table(
    "quality_findings",
    metadata,
    Column("finding_id", Integer, primary_key=True, autoincrement=True),
    # low_volume_day, low_volume_hour, vanished_type, quarantine_jump, play_too_long,
    # unknown_catalogue
    Column("check_name", String(32), nullable=False),
    Column("start_ms", BigInteger, nullable=False),
    Column("end_ms", BigInteger, nullable=False),
    Column("event_type", String(32), nullable=False, default=""),  # "" = all types
    Column("observed", Float, nullable=False),
    Column("expected", Float),
    Column("lower_bound", Float),
    Column("detail", Text, nullable=False),
    Column("found_at_ms", BigInteger, nullable=False),
)
Index(
    "ix_quality_findings_key",
    quality_findings.c.check_name,
    quality_findings.c.start_ms,
    quality_findings.c.event_type,
    unique=True,
)

#: A person's decision: discard quarantined rows, or exclude / keep a period of events.
quality_decisions = Table(
    "quality_decisions",
    metadata,
    Column("decision_id", Integer, primary_key=True, autoincrement=True),
    Column("action", String(16), nullable=False),  # discard | exclude | keep
    Column("start_ms", BigInteger),  # the period, for exclude / keep
    Column("end_ms", BigInteger),
    Column("event_type", String(32)),  # exclude only this type (None: all)
    Column("filters", Text),  # JSON: the quarantine filters, for discard
    Column("rows_affected", BigInteger, nullable=False, default=0),
    Column("decided_by", String(128), nullable=False),
    Column("decided_at_ms", BigInteger, nullable=False),
    Column("note", Text, nullable=False),
)
Index("ix_quality_decisions_period", quality_decisions.c.start_ms, quality_decisions.c.end_ms)
