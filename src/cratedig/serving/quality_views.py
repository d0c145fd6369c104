"""The admin pages' data-quality view (``/admin/quality``).

Shows what a reviewer needs before deciding (the same as ``cratedig quarantine list``
and ``cratedig quality findings``): quarantined rows by source and reason and by day,
a sample of open rows, the decisions people took, and the collection-gap findings.
It is read-only (decisions are taken with the CLI, which records who took them) and
obeys the read policy of the JSON API (:func:`cratedig.serving.auth.requires_key`
with ``write=False``): open unless ``read_requires_key`` is set.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, render_template

from cratedig.serving.auth import check_admin
from cratedig.serving.http import service
from cratedig.store.quality import overview

bp = Blueprint("quality", __name__)

#: Open rows shown as a sample; raw rows longer than this many characters are cut.
SAMPLE_ROWS = 20
RAW_SHOWN = 300


def _when(ms: int | None, with_time: bool = True) -> str:
    if ms is None:
        return ""
    stamp = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return stamp.strftime("%Y-%m-%d %H:%M" if with_time else "%Y-%m-%d")


def _cut(text: str | None) -> str:
    text = text or ""
    return text if len(text) <= RAW_SHOWN else text[:RAW_SHOWN] + " …"


@bp.get("/admin/quality")
def quality() -> Any:
    check_admin()
    data = overview(service().engine, sample=SAMPLE_ROWS)
    by_day = [
        {**row, "day": _when(int(row["day"]) * 86_400_000, with_time=False)}
        for row in data["by_day"]
    ]
    sample = [
        {**row, "raw": _cut(row["raw"]), "when": _when(row["created_at_ms"])}
        for row in data["sample"]
    ]
    decisions = [
        {
            **d,
            "when": _when(d["decided_at_ms"]),
            "period": (
                f"{_when(d['start_ms'], False)} .. {_when(d['end_ms'] - 1, False)}"
                if d["start_ms"] is not None
                else ""
            ),
        }
        for d in data["decisions"]
    ]
    found = [
        {**f, "period": f"{_when(f['start_ms'])} .. {_when(f['end_ms'])[11:]}"}
        for f in data["findings"]
    ]
    return render_template(
        "quality.html",
        counts=data["counts"],
        groups=data["groups"],
        by_day=by_day,
        sample=sample,
        decisions=decisions,
        findings=found,
    )
