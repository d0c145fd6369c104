"""An experiment's report: ``report.json``, the sequential path as ``path.png``, and one
self-contained ``report.html`` (the plot embedded as a data URI; no external resource).
"""

from __future__ import annotations

import base64
import json
import math
from importlib import resources
from pathlib import Path
from typing import Any

from jinja2 import Environment, select_autoescape
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from cratedig import __version__
from cratedig.experiments.data import METRICS


def _clean(value: Any) -> Any:
    """NaN/inf as ``None`` so the JSON is valid everywhere."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def to_json(analysis: dict[str, Any]) -> str:
    """The analysis as JSON text (NaN as ``null``)."""
    return json.dumps(_clean(analysis), indent=2)


def plot_path(path: list[dict[str, Any]], title: str, out: Path) -> Path:
    """The lift over days: fixed-horizon and always-valid intervals."""
    fig = Figure(figsize=(8.0, 4.5), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    days = [p["day"] for p in path]
    pct = 100.0
    ax.fill_between(
        days,
        [p["sequential_lift_ci"][0] * pct for p in path],
        [p["sequential_lift_ci"][1] * pct for p in path],
        alpha=0.25,
        label="always-valid 95% interval",
    )
    ax.fill_between(
        days,
        [p["fixed_lift_ci"][0] * pct for p in path],
        [p["fixed_lift_ci"][1] * pct for p in path],
        alpha=0.35,
        label="fixed-horizon 95% interval",
    )
    ax.plot(days, [p["lift"] * pct for p in path], marker="o", label="lift")
    ax.axhline(0.0, color="black", linewidth=0.8)
    ax.set_xlabel("day of the experiment")
    ax.set_ylabel("relative lift (%)")
    ax.set_title(title)
    ax.legend(loc="best")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png")
    return out


def render_html(analysis: dict[str, Any], plot_uri: str | None) -> str:
    """The HTML report of an analysis."""
    template = (
        resources.files("cratedig.experiments")
        .joinpath("templates/report.html")
        .read_text(encoding="utf-8")
    )
    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    env.filters["pct"] = lambda v: "n/a" if v is None else f"{v * 100:+.2f}%"
    env.filters["num"] = lambda v: "n/a" if v is None else f"{v:.4g}"
    env.filters["p"] = lambda v: "n/a" if v is None else ("< 0.001" if v < 0.001 else f"{v:.3f}")
    labels = {k: m.label for k, m in METRICS.items()}
    return env.from_string(template).render(
        a=_clean(analysis), plot=plot_uri, labels=labels, version=__version__
    )


def write_report(analysis: dict[str, Any], out: Path) -> dict[str, Path]:
    """Write ``report.json``, ``path.png`` (when there is a path) and ``report.html``."""
    out.mkdir(parents=True, exist_ok=True)
    files = {"json": out / "report.json", "html": out / "report.html"}
    files["json"].write_text(to_json(analysis), encoding="utf-8")
    uri = None
    primary = next((m for m in analysis.get("metrics", []) if m.get("path")), None)
    if primary is not None:
        files["png"] = plot_path(
            primary["path"],
            f"{analysis['experiment']['name']}: {primary['metric']}",
            out / "path.png",
        )
        uri = "data:image/png;base64," + base64.b64encode(files["png"].read_bytes()).decode()
    files["html"].write_text(render_html(analysis, uri), encoding="utf-8")
    return files
