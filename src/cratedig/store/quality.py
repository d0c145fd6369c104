"""SQL of data quality: quarantine review, check findings and people's decisions."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    and_,
    bindparam,
    delete,
    func,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.sql.elements import ColumnElement

from cratedig.store.schema import quarantine
from cratedig.store.schema.quality import quality_decisions, quality_findings

DAY_MS = 86_400_000


def floor_day(ms: ColumnElement[Any]) -> ColumnElement[Any]:
    """The UTC day number of a (non-negative) millisecond time, as integer division."""
    return ms.op("/", precedence=8)(literal_column(str(DAY_MS)))


@dataclass(frozen=True)
class QuarantineFilter:
    """Which quarantined rows a review command works on.

    Attributes
    ----------
    source
        Rows whose source contains this text.
    reason
        Rows whose reason contains this text.
    since_ms
        Rows quarantined at or after this time.
    status
        ``open`` (default), ``retried``, ``discarded`` or ``None`` for all.
    ids
        Only these quarantine ids.
    """

    source: str | None = None
    reason: str | None = None
    since_ms: int | None = None
    status: str | None = "open"
    ids: tuple[int, ...] | None = None

    def where(self) -> list[ColumnElement[bool]]:
        """The filter as SQL conditions."""
        q = quarantine.c
        out: list[ColumnElement[bool]] = []
        if self.source:
            out.append(q.source.contains(self.source, autoescape=True))
        if self.reason:
            out.append(q.reason.contains(self.reason, autoescape=True))
        if self.since_ms is not None:
            out.append(q.created_at_ms >= self.since_ms)
        if self.status is not None:
            out.append(q.status == self.status)
        if self.ids is not None:
            out.append(q.quarantine_id.in_(self.ids))
        return out

    def as_json(self) -> str:
        """The filter, for the record of a decision."""
        return json.dumps({k: v for k, v in self.__dict__.items() if v is not None})


def quarantine_groups(engine: Engine, filt: QuarantineFilter) -> list[dict[str, Any]]:
    """Counts of quarantined rows by source and reason, largest first."""
    q = quarantine.c
    stmt = (
        select(q.source, q.reason, func.count().label("rows"), func.min(q.line).label("first"))
        .where(*filt.where())
        .group_by(q.source, q.reason)
        .order_by(func.count().desc(), q.source, q.reason)
    )
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(stmt)]


def quarantine_rows(engine: Engine, filt: QuarantineFilter, limit: int | None = None) -> list[Any]:
    """The quarantined rows matching ``filt``, by id."""
    stmt = select(quarantine).where(*filt.where()).order_by(quarantine.c.quarantine_id)
    if limit is not None:
        stmt = stmt.limit(limit)
    with engine.connect() as conn:
        return list(conn.execute(stmt))


def open_quarantine_ids(conn: Connection, filt: QuarantineFilter) -> list[int]:
    """Ids of the rows matching ``filt``, read inside the caller's transaction."""
    stmt = select(quarantine.c.quarantine_id).where(*filt.where())
    return [int(i) for i in conn.scalars(stmt.order_by(quarantine.c.quarantine_id))]


def quarantine_by_day(engine: Engine, since_ms: int | None = None) -> list[dict[str, Any]]:
    """Rows quarantined per UTC day (of quarantining), reason and status, newest day first.

    Each row has ``day`` (days since 1970), ``reason``, ``status`` and ``rows``.
    """
    q = quarantine.c
    day = floor_day(q.created_at_ms)
    stmt = select(day.label("day"), q.reason, q.status, func.count().label("rows")).group_by(
        day, q.reason, q.status
    )
    if since_ms is not None:
        stmt = stmt.where(q.created_at_ms >= since_ms)
    with engine.connect() as conn:
        return [
            dict(r._mapping)
            for r in conn.execute(stmt.order_by(day.desc(), func.count().desc(), q.reason))
        ]


def overview(engine: Engine, sample: int = 20, limit: int = 200) -> dict[str, Any]:
    """Everything a reviewer looks at first, for the report and the admin pages.

    Returns
    -------
    dict
        ``groups`` (open rows by source and reason), ``by_day`` (rows by day of
        quarantining, reason and status), ``counts`` (rows per status), ``sample``
        (the first ``sample`` open rows), ``decisions`` and ``findings`` (at most
        ``limit`` of each, newest first).
    """
    q = quarantine.c
    with engine.connect() as conn:
        counts = {
            str(status): int(n)
            for status, n in conn.execute(select(q.status, func.count()).group_by(q.status))
        }
    return {
        "counts": counts,
        "groups": quarantine_groups(engine, QuarantineFilter()),
        "by_day": quarantine_by_day(engine)[:limit],
        "sample": [dict(r._mapping) for r in quarantine_rows(engine, QuarantineFilter(), sample)],
        "decisions": [dict(r._mapping) for r in decisions(engine)[:limit]],
        "findings": sorted(findings(engine), key=lambda f: -f["start_ms"])[:limit],
    }


def resolve_quarantined(
    conn: Connection, resolutions: Sequence[tuple[int, str]], status: str, now_ms: int
) -> int:
    """Mark rows ``(quarantine_id, resolution)`` as ``status`` (retried or discarded)."""
    if not resolutions:
        return 0
    stmt = (
        update(quarantine)
        .where(quarantine.c.quarantine_id == bindparam("qid"), quarantine.c.status == "open")
        .values(status=status, resolved_at_ms=now_ms, resolution=bindparam("res"))
    )
    result = conn.execute(stmt, [{"qid": i, "res": r} for i, r in resolutions])
    return int(result.rowcount or 0)


def take_quarantined(conn: Connection, source: str) -> dict[int, str]:
    """Remove the rows quarantined under ``source``; returns ``{line: reason}``."""
    q = quarantine.c
    taken = {
        int(line): reason
        for line, reason in conn.execute(select(q.line, q.reason).where(q.source == source))
    }
    conn.execute(delete(quarantine).where(q.source == source))
    return taken


def update_reason(conn: Connection, reasons: Sequence[tuple[int, str]]) -> None:
    """Replace the reason of open rows ``(quarantine_id, reason)`` (a failed retry)."""
    if reasons:
        conn.execute(
            update(quarantine)
            .where(quarantine.c.quarantine_id == bindparam("qid"), quarantine.c.status == "open")
            .values(reason=bindparam("why")),
            [{"qid": i, "why": r} for i, r in reasons],
        )


def record_decision(conn: Connection, **values: Any) -> int:
    """Insert a decision; returns its id."""
    result = conn.execute(quality_decisions.insert().values(**values))
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def decisions(engine: Engine, action: str | None = None) -> list[Any]:
    """Every decision (of one action, when given), newest first."""
    stmt = select(quality_decisions).order_by(quality_decisions.c.decision_id.desc())
    if action is not None:
        stmt = stmt.where(quality_decisions.c.action == action)
    with engine.connect() as conn:
        return list(conn.execute(stmt))


def excluded_periods(engine: Engine) -> list[tuple[int, int, str | None]]:
    """``(start_ms, end_ms, event_type)`` of every period people chose to exclude.

    A later ``keep`` decision covering exactly the same period and type undoes it.
    """
    rows = decisions(engine)
    latest: dict[tuple[int, int, str | None], str] = {}
    for row in reversed(rows):  # oldest first, so the newest decision wins
        if row.action in ("exclude", "keep") and row.start_ms is not None:
            latest[(int(row.start_ms), int(row.end_ms), row.event_type)] = row.action
    return sorted(k for k, action in latest.items() if action == "exclude")


def replace_findings(
    conn: Connection, since_ms: int, until_ms: int, rows: Sequence[dict[str, Any]]
) -> int:
    """Store the findings of a check over ``[since_ms, until_ms)``, replacing those an
    earlier run stored for the same range (so a rerun never duplicates them)."""
    f = quality_findings.c
    conn.execute(delete(quality_findings).where(f.start_ms >= since_ms, f.start_ms < until_ms))
    if rows:
        conn.execute(quality_findings.insert(), list(rows))
    return len(rows)


def findings(
    engine: Engine, since_ms: int | None = None, until_ms: int | None = None
) -> list[dict[str, Any]]:
    """Stored findings in a time range, each with ``reviewed``: whether a decision
    (exclude or keep) covers its period."""
    f = quality_findings.c
    d = quality_decisions.c
    covered = (
        select(func.count())
        .where(
            d.action.in_(("exclude", "keep")),
            d.start_ms <= f.start_ms,
            d.end_ms >= f.end_ms,
            # a decision on all types covers every finding; one on a type, that type's
            or_(d.event_type.is_(None), d.event_type == f.event_type),
        )
        .scalar_subquery()
    )
    stmt = select(quality_findings, (covered > 0).label("reviewed")).order_by(
        f.start_ms, f.check_name, f.event_type
    )
    conds = []
    if since_ms is not None:
        conds.append(f.end_ms > since_ms)
    if until_ms is not None:
        conds.append(f.start_ms < until_ms)
    if conds:
        stmt = stmt.where(and_(*conds))
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(stmt)]
