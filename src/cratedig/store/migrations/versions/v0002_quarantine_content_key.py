"""Quarantine rows are keyed by their content, not only by (source, line).

Before, a quarantined row was identified by its file path and line: importing a
*different* file at the same path with another bad row on the same line silently
dropped the new bad row (insert-or-ignore). Now each row carries ``raw_sha256``, the
SHA-256 of its raw text, and the unique key is (source, line, raw_sha256): the same
file imported twice still adds nothing, and a new bad row is always kept.

The upgrade computes the hash of every quarantined row already stored (with
progress), in batches.

Revision ID: 0002_quarantine_content_key
Revises: 0001_baseline
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from alembic import op

from cratedig.exceptions import StoreError
from cratedig.store.migrate import report_progress

revision = "0002_quarantine_content_key"
down_revision = "0001_baseline"
branch_labels = None
depends_on = None

#: Undoing it is lossless unless two rows now share (source, line); the downgrade
#: refuses in that case rather than deleting one of them.
LOSSLESS_DOWNGRADE = True

BATCH = 5_000


def content_hash(raw: str | None) -> str:
    """SHA-256 (hex) of a quarantined row's raw text (``""`` when it has none).

    A frozen copy of :func:`cratedig.ingest.quarantine.content_hash` (a test checks
    they agree): a revision must not change when the code does.
    """
    return hashlib.sha256((raw or "").encode("utf-8", "surrogatepass")).hexdigest()


def upgrade() -> None:
    with op.batch_alter_table("quarantine") as batch:
        batch.add_column(sa.Column("raw_sha256", sa.String(64), nullable=True))
    bind = op.get_bind()
    quarantine = sa.table(
        "quarantine",
        sa.column("quarantine_id", sa.Integer),
        sa.column("raw", sa.Text),
        sa.column("raw_sha256", sa.String),
    )
    total = bind.execute(sa.select(sa.func.count()).select_from(quarantine)).scalar_one()
    done, last_id = 0, -1
    report_progress("quarantine rows hashed", 0, total)
    while True:
        rows = bind.execute(
            sa.select(quarantine.c.quarantine_id, quarantine.c.raw)
            .where(quarantine.c.quarantine_id > last_id)
            .order_by(quarantine.c.quarantine_id)
            .limit(BATCH)
        ).all()
        if not rows:
            break
        bind.execute(
            quarantine.update()
            .where(quarantine.c.quarantine_id == sa.bindparam("qid"))
            .values(raw_sha256=sa.bindparam("h")),
            [{"qid": r.quarantine_id, "h": content_hash(r.raw)} for r in rows],
        )
        last_id = rows[-1].quarantine_id
        done += len(rows)
        report_progress("quarantine rows hashed", done, total)
    with op.batch_alter_table("quarantine") as batch:
        batch.alter_column("raw_sha256", existing_type=sa.String(64), nullable=False)
        batch.drop_index("ix_quarantine_source_line")
        batch.create_index(
            "ix_quarantine_source_line_content",
            ["source", "line", "raw_sha256"],
            unique=True,
        )


def downgrade() -> None:
    bind = op.get_bind()
    clashes = bind.execute(
        sa.text("SELECT source, line FROM quarantine GROUP BY source, line HAVING COUNT(*) > 1")
    ).first()
    if clashes is not None:
        raise StoreError(
            "cannot undo 0002_quarantine_content_key without losing rows: several "
            f"quarantined rows share source {clashes.source!r}, line {clashes.line}."
        )
    with op.batch_alter_table("quarantine") as batch:
        batch.drop_index("ix_quarantine_source_line_content")
        batch.create_index("ix_quarantine_source_line", ["source", "line"], unique=True)
        batch.drop_column("raw_sha256")
