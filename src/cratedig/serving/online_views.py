"""Online measurement in the service: ``GET /api/v1/metrics/online`` and the admin
"Online" page (``/admin/online``), both read from the rollups that
``cratedig online refresh`` writes (never from raw events).

The API endpoint obeys the read policy of every other API read (an ``X-API-Key`` when
``read_requires_key`` is set); the page follows the other admin pages.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request

from cratedig.online.summary import online_summary, parse_day, parse_group_by
from cratedig.serving.api import fast_json, service
from cratedig.serving.auth import check_admin, requires_key
from cratedig.serving.online_charts import bar_chart, line_chart

bp = Blueprint("online", __name__)


def _summary(default_group_by: str | None = None) -> dict[str, Any]:
    since = parse_day("since", request.args.get("since"))
    until = parse_day("until", request.args.get("until"))
    group_by = parse_group_by(request.args.get("group_by", default_group_by))
    return online_summary(service().engine, since, until, group_by)


@bp.get("/api/v1/metrics/online")
@requires_key(write=False)
def metrics_online() -> Any:
    """The online numbers over ``since``..``until`` (ISO dates, inclusive) by ``group_by``."""
    return fast_json(_summary())


def charts(summary: dict[str, Any]) -> list[Any]:
    """The page's SVG charts from an :func:`online_summary`."""
    days = sorted({r["day"] for r in summary["by_day"]})
    index = {d: i for i, d in enumerate(days)}
    ctr: dict[str, list[float | None]] = {}
    discovery: dict[str, list[float | None]] = {}
    for r in summary["by_day"]:
        label = f"{r['list_type']} {r['model_version'] or '-'}"
        ctr.setdefault(label, [None] * len(days))[index[r["day"]]] = r["item_ctr"]
        minutes = (r["discovery_ms_per_user_day"] or 0) / 60_000
        discovery.setdefault(label, [None] * len(days))[index[r["day"]]] = minutes
    totals = summary["totals"]
    funnel = totals["funnel"]
    positions = summary["positions"]
    return [
        line_chart("Item CTR per day by list type and model version", days, ctr, "CTR"),
        bar_chart(
            "Item CTR by position",
            [str(p["position"]) for p in positions],
            [p["item_ctr"] for p in positions],
            "CTR",
        ),
        bar_chart(
            "Funnel: items shown, clicked, played, followed",
            ["shown", "clicked", "plays", "follows"],
            [funnel["items_shown"], funnel["clicked_items"], funnel["plays"], funnel["follows"]],
            "count",
        ),
        bar_chart(
            "Ratings of lists (1-5)",
            list(totals["rating_distribution"]),
            list(totals["rating_distribution"].values()),
            "ratings",
        ),
        line_chart(
            "Discovery: minutes on new artists per exposed user-day", days, discovery, "min"
        ),
        bar_chart(
            "Long-tail share of items shown, by group",
            [
                f"{g.get('list_type', '')} {g.get('model_version', '')}".strip()
                for g in summary["groups"]
            ],
            [g["longtail_share"] for g in summary["groups"]],
            "share",
        ),
    ]


@bp.get("/admin/online")
def admin_online() -> Any:
    check_admin()
    summary = _summary("list_type,model_version,variant")
    return render_template("admin_online.html", summary=summary, charts=charts(summary))
