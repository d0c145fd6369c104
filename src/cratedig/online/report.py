"""``cratedig online report``: PNG plots, one self-contained ``report.html`` (plots as
base64 data URIs, no external resource) and ``summary.json``, from the rollups.

``summary.json`` is exactly what ``GET /api/v1/metrics/online`` returns for the same
range and grouping, plus when and how the report was made.
"""

from __future__ import annotations

import base64
import json
import time
from importlib import resources
from pathlib import Path
from typing import Any

from jinja2 import Environment, select_autoescape
from sqlalchemy import Engine

from cratedig import __version__
from cratedig.online import plots
from cratedig.online.summary import online_summary

PLOTS = (
    ("ctr_over_time.png", "Item CTR per day by list type and model version"),
    ("follow_through_over_time.png", "Follow-through per day"),
    ("positions.png", "Position curve"),
    ("funnel.png", "Funnel: items shown, clicked, played, followed"),
    ("ratings.png", "Rating distribution"),
    ("discovery_over_time.png", "Discovery: minutes on new artists per exposed user-day"),
    ("long_tail.png", "Long-tail share of items shown"),
)


def _draw(summary: dict[str, Any], out: Path) -> None:
    plots.plot_over_time(
        summary, "item_ctr", "Item CTR", "% of items shown", out / PLOTS[0][0], 100
    )
    plots.plot_over_time(
        summary, "follow_through", "Follow-through", "% of items shown", out / PLOTS[1][0], 100
    )
    plots.plot_positions(summary, out / PLOTS[2][0])
    plots.plot_funnel(summary, out / PLOTS[3][0])
    plots.plot_ratings(summary, out / PLOTS[4][0])
    plots.plot_over_time(
        summary,
        "discovery_ms_per_user_day",
        "Discovery time",
        "minutes per exposed user-day",
        out / PLOTS[5][0],
        1 / 60_000,
    )
    plots.plot_long_tail(summary, out / PLOTS[6][0])


def build_online_report(
    engine: Engine,
    out_dir: str | Path,
    since_day: int | None = None,
    until_day: int | None = None,
    group_by: tuple[str, ...] = ("list_type", "model_version", "variant"),
    title: str = "cratedig online report",
) -> dict[str, Any]:
    """Write the plots, ``report.html`` and ``summary.json``; returns the summary."""
    started = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = online_summary(engine, since_day, until_day, group_by)
    _draw(summary, out)
    summary["plots"] = [name for name, _ in PLOTS]
    summary["generated_at_ms"] = int(time.time() * 1000)
    summary["seconds"] = round(time.perf_counter() - started, 3)
    (out / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    images = {
        name: "data:image/png;base64," + base64.b64encode((out / name).read_bytes()).decode()
        for name, _ in PLOTS
    }
    template = (
        resources.files("cratedig.online").joinpath("templates/report.html").read_text("utf-8")
    )
    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    html = env.from_string(template).render(
        title=title, version=__version__, summary=summary, plots=PLOTS, images=images
    )
    (out / "report.html").write_text(html, encoding="utf-8")
    return summary
