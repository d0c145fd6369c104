"""The analytics report: PNG plots, one self-contained ``report.html`` and ``summary.json``.

The report adapts to the data (see :mod:`cratedig.analytics.coverage`): each section
runs only on event types whose timestamps support it, and the report lists plainly
what it cannot show and why. ``report.html`` embeds every plot as a base64 data URI
and uses no external resource, so it opens offline.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

from jinja2 import Environment, select_autoescape
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import Engine

from cratedig import __version__
from cratedig.analytics.coverage import Coverage, measure_coverage
from cratedig.analytics.profile import iso
from cratedig.analytics.report_steps import (
    ReportBuild,
    step_activity,
    step_artists,
    step_coverage,
    step_follows,
    step_heatmap,
    step_mix,
    step_quality,
    step_retention,
    step_visits,
)


def _render_html(b: ReportBuild, title: str) -> str:
    template_text = (
        resources.files("cratedig.analytics")
        .joinpath("templates/report.html")
        .read_text(encoding="utf-8")
    )
    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    images: dict[str, str] = {}
    for sec in b.sections:
        for name, _alt in sec.images:
            data = (b.out / name).read_bytes()
            images[name] = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
    return env.from_string(template_text).render(
        title=title,
        version=__version__,
        summary=b.summary,
        sections=b.sections,
        images=images,
        notes=b.summary.get("cannot_show", []),
    )


def build_report(
    engine: Engine,
    out_dir: str | Path,
    *,
    gap_minutes: float = 30.0,
    title: str = "cratedig analytics report",
    progress: bool = False,
    console: Console | None = None,
) -> dict[str, Any]:
    """Write the PNG plots, ``report.html`` and ``summary.json`` into ``out_dir``.

    Returns
    -------
    dict
        The summary (also written as ``summary.json``).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    b = ReportBuild(out)
    started = time.perf_counter()
    b.summary["generated_at"] = iso(int(time.time() * 1000))
    b.summary["gap_minutes"] = gap_minutes
    steps: list[tuple[str, Callable[[Coverage], None]]] = [
        ("event mix", lambda c: step_mix(b, engine, c)),
        ("active users", lambda c: step_activity(b, engine, c)),
        ("visits", lambda c: step_visits(b, engine, c, gap_minutes)),
        ("listening hours", lambda c: step_heatmap(b, engine, c)),
        ("artists", lambda c: step_artists(b, engine, c)),
        ("follow churn", lambda c: step_follows(b, engine, c)),
        ("retention", lambda c: step_retention(b, engine, c)),
        ("data quality", lambda c: step_quality(b, engine, c)),
    ]
    with Progress(
        TextColumn("{task.description:<22}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console or Console(stderr=True),
        disable=not progress,
    ) as bar:
        task = bar.add_task("measuring coverage", total=len(steps) + 2)
        cov = measure_coverage(engine)
        step_coverage(b, engine, cov)
        bar.advance(task)
        for name, step in steps:
            bar.update(task, description=name)
            step(cov)
            bar.advance(task)
        bar.update(task, description="writing report")
        b.summary["plots"] = [name for sec in b.sections for name, _ in sec.images]
        b.summary["seconds"] = round(time.perf_counter() - started, 3)
        (out / "summary.json").write_text(
            json.dumps(b.summary, indent=2, default=str), encoding="utf-8"
        )
        (out / "report.html").write_text(_render_html(b, title), encoding="utf-8")
        bar.advance(task)
    return b.summary
