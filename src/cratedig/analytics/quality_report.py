"""The data-quality section of the analytics report: the stored collection-gap
findings, the quarantine by reason, and the decisions people took.

It shows what ``cratedig quality check`` stored (it does not run the checks: a report
should not change the store), so a report written before any check says so.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import polars as pl
from sqlalchemy import Engine

from cratedig.store.quality import overview


def _day(ms: int | None) -> str:
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")


def quality_section(engine: Engine) -> tuple[list[str], list[tuple[str, pl.DataFrame]], dict]:
    """``(paragraphs, [(caption, table)], summary)`` of the data-quality section."""
    data = overview(engine, sample=0)
    found = data["findings"]
    unreviewed = sum(1 for f in found if not f["reviewed"])
    counts = data["counts"]
    text = [
        f"{len(found):,} collection-gap finding(s) stored, {unreviewed:,} without a decision. "
        "Each day is compared with the same weekday of the previous four weeks (median and "
        "MAD; see docs/quality.md); decide with `cratedig quality decide`, and training "
        "leaves out the periods marked exclude."
        if found
        else "No collection-gap findings stored (run `cratedig quality check`).",
        f"Quarantined rows: {counts.get('open', 0):,} open, {counts.get('retried', 0):,} "
        f"retried, {counts.get('discarded', 0):,} discarded.",
    ]
    tables: list[tuple[str, pl.DataFrame]] = []
    if found:
        tables.append(
            (
                "Findings (newest first)",
                pl.DataFrame(
                    {
                        "period (UTC)": [
                            f"{_day(f['start_ms'])} .. {_day(f['end_ms'])[11:]}" for f in found
                        ],
                        "check": [f["check_name"] for f in found],
                        "type": [f["event_type"] or "all" for f in found],
                        "detail": [f["detail"] for f in found],
                        "reviewed": ["yes" if f["reviewed"] else "no" for f in found],
                    }
                ),
            )
        )
    if data["groups"]:
        tables.append(
            (
                "Open quarantined rows by source and reason",
                pl.DataFrame(
                    {
                        "rows": [int(g["rows"]) for g in data["groups"]],
                        "source": [g["source"] for g in data["groups"]],
                        "reason": [g["reason"] for g in data["groups"]],
                    }
                ),
            )
        )
    if data["decisions"]:
        ds = data["decisions"]
        tables.append(
            (
                "Decisions (newest first)",
                pl.DataFrame(
                    {
                        "action": [d["action"] for d in ds],
                        "from (UTC)": [_day(d["start_ms"]) for d in ds],
                        "until (UTC)": [_day(d["end_ms"]) for d in ds],
                        "type": [d["event_type"] or "" for d in ds],
                        "rows": [int(d["rows_affected"]) for d in ds],
                        "by": [d["decided_by"] for d in ds],
                        "why": [d["note"] for d in ds],
                    }
                ),
            )
        )
    summary: dict[str, Any] = {
        "findings": [
            {k: f[k] for k in ("check_name", "start_ms", "end_ms", "event_type", "detail")}
            | {"reviewed": bool(f["reviewed"])}
            for f in found
        ],
        "unreviewed": unreviewed,
        "quarantine": counts,
        "decisions": len(data["decisions"]),
    }
    return text, tables, summary
