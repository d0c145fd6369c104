"""PNG plots of the online numbers (matplotlib's Agg canvas, no pyplot, as in
:mod:`cratedig.analytics.plots`). Each takes an :func:`~cratedig.online.summary.
online_summary` and writes one titled figure with labelled axes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

DPI = 110


def _figure(width: float = 8.0, height: float = 4.2) -> Figure:
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path


def _empty(ax: Any) -> None:
    ax.text(0.5, 0.5, "no data in this range", ha="center", va="center", transform=ax.transAxes)


def _series(summary: dict[str, Any], field: str, scale: float = 1.0) -> dict[str, Any]:
    out: dict[str, tuple[list[dt.date], list[float]]] = {}
    for r in summary["by_day"]:
        if r[field] is None:
            continue
        label = f"{r['list_type']} · {r['model_version'] or '–'}"
        xs, ys = out.setdefault(label, ([], []))
        xs.append(dt.date.fromisoformat(r["day"]))
        ys.append(r[field] * scale)
    return out


def plot_over_time(
    summary: dict[str, Any], field: str, title: str, ylabel: str, path: Path, scale: float = 1.0
) -> Path:
    """One line per list type and model version of a per-day metric."""
    fig = _figure()
    ax = fig.add_subplot()
    series = _series(summary, field, scale)
    for label, (xs, ys) in series.items():
        ax.plot(xs, ys, "-o", markersize=3, label=label)
    if series:
        ax.legend(fontsize=8)
        fig.autofmt_xdate()
    else:
        _empty(ax)
    ax.set(title=title, xlabel="impression day (UTC)", ylabel=ylabel)
    return _save(fig, path)


def plot_positions(summary: dict[str, Any], path: Path) -> Path:
    """Item CTR and follow-through by position in the list."""
    fig = _figure()
    ax = fig.add_subplot()
    rows = summary["positions"]
    if rows:
        pos = [r["position"] for r in rows]
        ax.bar(pos, [(r["item_ctr"] or 0) * 100 for r in rows], label="item CTR")
        ax.plot(
            pos,
            [(r["follow_through"] or 0) * 100 for r in rows],
            "-o",
            color="C1",
            label="follow-through",
        )
        ax.legend(fontsize=8)
    else:
        _empty(ax)
    ax.set(title="Position curve", xlabel="position in the list", ylabel="% of items shown")
    return _save(fig, path)


def plot_funnel(summary: dict[str, Any], path: Path) -> Path:
    """Items shown -> clicked -> played -> followed."""
    fig = _figure()
    ax = fig.add_subplot()
    f = summary["totals"]["funnel"]
    labels = ["items shown", "clicked", "plays", "follows"]
    values = [f["items_shown"], f["clicked_items"], f["plays"], f["follows"]]
    ax.bar(labels, values, color=["C0", "C1", "C2", "C3"])
    for i, v in enumerate(values):
        ax.text(i, v, f"{v:,}", ha="center", va="bottom", fontsize=8)
    ax.set(title="Funnel", ylabel="count")
    return _save(fig, path)


def plot_ratings(summary: dict[str, Any], path: Path) -> Path:
    """How many lists got each 1-5 rating."""
    fig = _figure(6.0, 3.8)
    ax = fig.add_subplot()
    dist = summary["totals"]["rating_distribution"]
    ax.bar(list(dist), list(dist.values()), color="C4")
    ax.set(title="Ratings of lists", xlabel="rating", ylabel="ratings")
    return _save(fig, path)


def plot_long_tail(summary: dict[str, Any], path: Path) -> Path:
    """Long-tail share of the items shown, per group."""
    fig = _figure()
    ax = fig.add_subplot()
    groups = summary["groups"]
    if groups:
        labels = [" · ".join(str(g[k] or "–") for k in summary["group_by"]) for g in groups]
        ax.barh(labels, [(g["longtail_share"] or 0) * 100 for g in groups], color="C2")
    else:
        _empty(ax)
    ax.set(title="Long-tail share of items shown", xlabel="% of items shown")
    return _save(fig, path)
