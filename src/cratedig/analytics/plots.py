"""PNG plots of the analytics (matplotlib's Agg canvas; no pyplot, so no global state).

Each function takes the frames computed by the other analytics modules, draws one
titled figure with labelled axes (units in the labels) and writes it to ``path``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib.dates as mdates
import matplotlib.ticker as mticker
import numpy as np
import polars as pl
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from cratedig.analytics.activity import WEEKDAYS
from cratedig.analytics.artists import gini, lorenz_curve

DPI = 110


def _figure(width: float = 8.0, height: float = 4.5) -> Figure:
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path


def _compact(value: float, _pos: object = None) -> str:
    """Tick label without a scientific offset: 950, 12k, 2.5M."""
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:g}{suffix}"
    return f"{value:g}"


def _date_axis(ax: Axes) -> None:
    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def plot_active_users(
    series: Mapping[str, pl.DataFrame], path: Path, subtitle: str | None = None
) -> Path:
    """Active users over time; ``series`` maps a label (``"daily"``...) to a frame whose
    first column is a date and whose ``users`` column is the count."""
    fig = _figure()
    ax = fig.add_subplot()
    styles = {"daily": ("-", 1.0), "weekly": ("-o", 1.6), "monthly": ("-s", 1.6)}
    for label, frame in series.items():
        if frame.height == 0:
            continue
        style, width = styles.get(label, ("-", 1.2))
        x = frame.get_column(frame.columns[0]).to_list()
        ax.plot(x, frame["users"].to_list(), style, lw=width, ms=3, label=f"{label} active users")
    ax.set_title("Active users over time" + (f"\n{subtitle}" if subtitle else ""))
    ax.set_xlabel("date (UTC)")
    ax.set_ylabel("distinct active users")
    ax.yaxis.set_major_formatter(mticker.FuncFormatter(_compact))
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    _date_axis(ax)
    return _save(fig, path)


def plot_visits_per_week(frequency: pl.DataFrame, path: Path) -> Path:
    """Histogram of users by their visits per week."""
    fig = _figure()
    ax = fig.add_subplot()
    values = frequency["visits_per_week"].to_numpy()
    top = float(np.quantile(values, 0.99)) if values.size else 1.0
    bins = np.linspace(0, max(top, 1.0), 30).tolist()
    ax.hist(np.clip(values, 0, bins[-1]), bins=bins, color="#3b75af", edgecolor="white")
    median = float(np.median(values)) if values.size else 0.0
    ax.axvline(median, color="#c0392b", ls="--", label=f"median {median:.2f} visits/week")
    ax.set_title("How often users visit (99th percentile and above in the last bar)")
    ax.set_xlabel("visits per week (per user, over the time they were observed)")
    ax.set_ylabel("users")
    ax.grid(alpha=0.3, axis="y")
    ax.legend()
    return _save(fig, path)


def plot_segments(counts: Mapping[str, int], rules_text: str, path: Path) -> Path:
    """Bar chart of users per visit-frequency segment."""
    fig = _figure(7, 4)
    ax = fig.add_subplot()
    names = list(counts)
    values = [counts[n] for n in names]
    bars = ax.bar(names, values, color=["#1a9850", "#91cf60", "#fdae61", "#d73027"][: len(names)])
    ax.bar_label(bars, labels=[f"{v:,}" for v in values], padding=2)
    ax.set_title("Users by visit frequency (last 28 days)")
    ax.set_xlabel(f"segment ({rules_text})", fontsize=8)
    ax.set_ylabel("users")
    ax.set_ylim(0, max([*values, 1]) * 1.15)
    return _save(fig, path)


def plot_heatmap(matrix: list[list[int]], title: str, path: Path, unit: str = "plays") -> Path:
    """Weekday x hour heat map (7 rows Mon..Sun, 24 columns)."""
    fig = _figure(9, 3.8)
    ax = fig.add_subplot()
    data = np.asarray(matrix, dtype=np.float64)
    image = ax.imshow(data, aspect="auto", cmap="viridis", origin="upper")
    ax.set_yticks(range(7), WEEKDAYS)
    ax.set_xticks(range(0, 24, 2), [f"{h:02d}" for h in range(0, 24, 2)])
    ax.set_title(title)
    ax.set_xlabel("hour of day (listener's local time)")
    ax.set_ylabel("day of week")
    bar = fig.colorbar(image, ax=ax)
    bar.set_label(unit)
    return _save(fig, path)


def plot_event_mix(mix: pl.DataFrame, path: Path) -> Path:
    """Horizontal bars: events per type (log scale when counts span > 100x)."""
    fig = _figure(8, max(3.0, 0.4 * mix.height + 1.2))
    ax = fig.add_subplot()
    ordered = mix.sort("events")
    values = ordered["events"].to_list()
    bars = ax.barh(ordered["event_type"].to_list(), values, color="#3b75af")
    ax.bar_label(bars, labels=[f"{v:,}" for v in values], padding=3, fontsize=8)
    positive = [v for v in values if v > 0]
    if positive and max(positive) > 100 * min(positive):
        ax.set_xscale("log")
        ax.set_xlabel("events (sum of count; log scale)")
    else:
        ax.set_xlabel("events (sum of count)")
    if ax.get_xscale() == "log":
        # bars start at the left edge: put it a power of ten below the smallest bar
        ax.set_xlim(10 ** np.floor(np.log10(min(positive))), max(positive) * 8)
    else:
        ax.set_xlim(0, max([*values, 1]) * 1.2)
    ax.set_title("Event mix")
    ax.set_ylabel("event type")
    return _save(fig, path)


def plot_lorenz(popularity: pl.DataFrame, path: Path) -> Path:
    """Lorenz curves of plays and listeners over artists, with their Gini coefficients."""
    fig = _figure(6.5, 5.5)
    ax = fig.add_subplot()
    for column, color in (("plays", "#3b75af"), ("listeners", "#e67e22")):
        values = popularity[column].to_numpy()
        x, y = lorenz_curve(values)
        ax.plot(x * 100, y * 100, color=color, lw=2, label=f"{column} (Gini {gini(values):.3f})")
    ax.plot([0, 100], [0, 100], color="grey", ls="--", lw=1, label="perfect equality")
    ax.set_title("Long tail: Lorenz curve of artist popularity")
    ax.set_xlabel("artists, least to most popular (cumulative %)")
    ax.set_ylabel("share of the total (cumulative %)")
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    return _save(fig, path)


def plot_top_artists(popularity: pl.DataFrame, path: Path, n: int = 20) -> Path:
    """Horizontal bars of the ``n`` most played artists."""
    top = popularity.head(n).reverse()
    fig = _figure(8, max(3.0, 0.32 * top.height + 1.3))
    ax = fig.add_subplot()
    labels = [
        _short(name or artist) for name, artist in zip(top["name"], top["artist_id"], strict=True)
    ]
    bars = ax.barh(labels, top["plays"].to_list(), color="#3b75af")
    ax.bar_label(bars, labels=[f"{v:,}" for v in top["plays"].to_list()], padding=3, fontsize=8)
    ax.set_xlim(right=max([*top["plays"].to_list(), 1]) * 1.2)
    ax.xaxis.set_major_formatter(mticker.FuncFormatter(_compact))
    ax.set_title(f"Top {top.height} artists by plays")
    ax.set_xlabel("plays (sum of count)")
    ax.set_ylabel("artist")
    return _save(fig, path)


def plot_follow_churn(churn: pl.DataFrame, path: Path) -> Path:
    """Follows (up) and unfollows (down) per week, with the net change."""
    fig = _figure()
    ax = fig.add_subplot()
    x = churn["week_start"].to_list()
    ax.bar(x, churn["follows"].to_list(), width=5, color="#1a9850", label="follows")
    ax.bar(x, (-churn["unfollows"]).to_list(), width=5, color="#d73027", label="unfollows")
    ax.plot(x, churn["net"].to_list(), "-o", color="black", ms=3, lw=1.2, label="net")
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_title("Follow churn per week")
    ax.set_xlabel("week starting (Monday, UTC)")
    ax.set_ylabel("events per week (unfollows below 0)")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(loc="upper left")
    _date_axis(ax)
    return _save(fig, path)


def plot_retention(table: pl.DataFrame, path: Path, max_cohorts: int = 20) -> Path:
    """Cohort x week heat map of the share of each cohort active (in %).

    Only cohorts whose week 0 the data cover are drawn (the latest ``max_cohorts``).
    """
    observed = table.filter((pl.col("week") == 0) & pl.col("share").is_not_null())
    table = table.join(observed.select("cohort_start"), on="cohort_start", how="semi")
    wide = table.pivot(on="week", index=["cohort_start", "cohort_size"], values="share").sort(
        "cohort_start"
    )
    wide = wide.tail(max_cohorts)
    weeks = [c for c in wide.columns if c not in ("cohort_start", "cohort_size")]
    data = wide.select(weeks).to_numpy().astype(np.float64) * 100
    fig = _figure(9, max(3.0, 0.33 * wide.height + 1.6))
    ax = fig.add_subplot()
    masked = np.ma.masked_invalid(data)
    image = ax.imshow(masked, aspect="auto", cmap="Blues", vmin=0, vmax=100)
    ax.set_xticks(range(len(weeks)), weeks)
    labels = [
        f"{d} (n={n:,})" for d, n in zip(wide["cohort_start"], wide["cohort_size"], strict=True)
    ]
    ax.set_yticks(range(wide.height), labels, fontsize=8)
    if data.size <= 400:
        for (i, j), value in np.ndenumerate(data):
            if np.isfinite(value):
                ax.text(
                    j,
                    i,
                    f"{value:.0f}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if value > 55 else "black",
                )
    ax.set_title("Retention: share of each signup-week cohort active in week k")
    ax.set_xlabel("weeks since signup (k)")
    ax.set_ylabel("cohort (signup week, size)")
    bar = fig.colorbar(image, ax=ax)
    bar.set_label("% of cohort active")
    return _save(fig, path)


def _short(text: str, limit: int = 32) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
