"""Evaluation output: a rich table, a JSON file and a self-contained HTML page.

``results`` is always ``{model name: {metric: value}}`` as returned by
:func:`cratedig.evaluation.protocol.evaluate_model` (plus anything the caller adds,
such as the tuned parameters under ``"params"``).
"""

from __future__ import annotations

import base64
import io
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jinja2
from rich.table import Table

MetricResults = Mapping[str, Mapping[str, Any]]


def main_columns(k: int) -> list[tuple[str, str]]:
    """The (metric key, column title) pairs shown by default, in order."""
    return [
        (f"ndcg@{k}", f"NDCG@{k}"),
        (f"recall@{k}", f"Recall@{k}"),
        (f"precision@{k}", f"Prec@{k}"),
        (f"map@{k}", f"MAP@{k}"),
        (f"coverage@{k}", "Coverage"),
        (f"novelty@{k}", "Novelty"),
        (f"diversity@{k}", "Diversity"),
        (f"long_tail_share@{k}", "Tail share"),
        (f"ndcg_long_tail@{k}", f"Tail NDCG@{k}"),
        ("fit_seconds", "Fit s"),
    ]


def format_value(value: Any, key: str = "") -> str:
    """Numbers to short text: 4 decimals, seconds with 2, NaN/missing as a dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, int | float):
        if key.endswith("seconds") or key.startswith("novelty"):
            return f"{value:.2f}"
        return f"{value:.4f}"
    return str(value)


def _present(results: MetricResults, columns: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(key, title) for key, title in columns if any(key in r for r in results.values())]


def metrics_table(
    results: MetricResults,
    k: int = 10,
    title: str | None = None,
    columns: Sequence[tuple[str, str]] | None = None,
) -> Table:
    """A rich table, one row per model, best NDCG in bold."""
    cols = _present(results, columns or main_columns(k))
    table = Table(title=title, header_style="bold")
    table.add_column("Model")
    for _, heading in cols:
        table.add_column(heading, justify="right")
    ndcg_key = f"ndcg@{k}"
    best = max((r.get(ndcg_key, float("-inf")) for r in results.values()), default=float("-inf"))
    for name, row in results.items():
        style = "bold green" if row.get(ndcg_key) == best and math.isfinite(best) else None
        table.add_row(name, *(format_value(row.get(key), key) for key, _ in cols), style=style)
    return table


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if hasattr(value, "item"):  # numpy scalars
        return _json_safe(value.item())
    return value


def write_json(
    results: MetricResults, path: str | Path, meta: Mapping[str, Any] | None = None
) -> Path:
    """Write ``{"meta": ..., "results": ...}`` as JSON (NaN and inf become null)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {"meta": dict(meta or {}), "results": {k: dict(v) for k, v in results.items()}}
    out.write_text(json.dumps(_json_safe(payload), indent=2, sort_keys=False), encoding="utf-8")
    return out


def _png(figure: Any) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def plots(results: MetricResults, k: int = 10) -> dict[str, str]:
    """Base64 PNGs: accuracy bars, accuracy vs novelty, coverage and tail share."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    names = list(results)
    images: dict[str, str] = {}
    if not names:
        return images
    accuracy = [
        m for m in ("ndcg", "recall", "precision", "map") if f"{m}@{k}" in results[names[0]]
    ]
    if accuracy:
        fig, ax = plt.subplots(figsize=(max(6, len(names) * 0.9), 3.6))
        width = 0.8 / len(accuracy)
        x = np.arange(len(names))
        for i, metric in enumerate(accuracy):
            values = [results[n].get(f"{metric}@{k}", float("nan")) for n in names]
            ax.bar(x + i * width, values, width, label=f"{metric}@{k}")
        ax.set_xticks(x + width * (len(accuracy) - 1) / 2, names, rotation=30, ha="right")
        ax.set_ylabel("score")
        ax.set_title(f"Accuracy at {k}")
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
        images["Accuracy"] = _png(fig)
        plt.close(fig)
    ndcg, novelty = f"ndcg@{k}", f"novelty@{k}"
    if any(novelty in r for r in results.values()):
        fig, ax = plt.subplots(figsize=(6, 4))
        for name in names:
            row = results[name]
            if ndcg in row and novelty in row:
                ax.scatter(row[novelty], row[ndcg])
                ax.annotate(name, (row[novelty], row[ndcg]), fontsize=8)
        ax.set_xlabel("novelty (bits, higher = less popular artists)")
        ax.set_ylabel(f"NDCG@{k}")
        ax.set_title("Accuracy against novelty")
        images["Accuracy vs novelty"] = _png(fig)
        plt.close(fig)
    shares = [m for m in (f"coverage@{k}", f"long_tail_share@{k}") if m in results[names[0]]]
    if shares:
        fig, ax = plt.subplots(figsize=(max(6, len(names) * 0.9), 3.4))
        width = 0.8 / len(shares)
        x = np.arange(len(names))
        for i, metric in enumerate(shares):
            ax.bar(
                x + i * width,
                [results[n].get(metric, float("nan")) for n in names],
                width,
                label=metric,
            )
        ax.set_xticks(x + width * (len(shares) - 1) / 2, names, rotation=30, ha="right")
        ax.set_ylim(0, 1)
        ax.set_title("Catalogue coverage and long-tail share")
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
        images["Coverage and long tail"] = _png(fig)
        plt.close(fig)
    return images


_PAGE = jinja2.Environment(autoescape=True).from_string(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2rem;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:1rem 0}
th,td{padding:.3rem .6rem;border-bottom:1px solid #ddd}
td.num{text-align:right;font-variant-numeric:tabular-nums}th{background:#f4f4f4}
img{max-width:100%;margin:1rem 0}
dl{display:grid;grid-template-columns:max-content auto;gap:.2rem 1rem}
</style></head><body>
<h1>{{ title }}</h1>
<dl>{% for key, value in meta.items() %}<dt>{{ key }}</dt><dd>{{ value }}</dd>{% endfor %}</dl>
<table><thead><tr><th>Model</th>
{% for _, heading in columns %}<th>{{ heading }}</th>{% endfor %}</tr></thead>
<tbody>{% for name, cells in rows %}<tr><th>{{ name }}</th>
{% for cell in cells %}<td class="num">{{ cell }}</td>{% endfor %}</tr>{% endfor %}
</tbody></table>
{% for caption, data in images.items() %}<figure>
<img alt="{{ caption }}" src="data:image/png;base64,{{ data }}">
<figcaption>{{ caption }}</figcaption></figure>{% endfor %}
<p>Full ranking over the catalogue; each user's training history is masked; means over
users with at least one held-out artist. Novelty is the mean self-information
-log2(share of training users) of the recommended artists, in bits; the long tail is
every artist outside the popular head (the most-listened 10% of the catalogue).</p>
</body></html>
"""
)


def write_html(
    results: MetricResults,
    path: str | Path,
    k: int = 10,
    meta: Mapping[str, Any] | None = None,
    title: str = "cratedig offline evaluation",
) -> Path:
    """Write one self-contained HTML page (table and PNG plots inline, no external files)."""
    cols = _present(results, main_columns(k))
    rows = [
        (name, [format_value(r.get(key), key) for key, _ in cols]) for name, r in results.items()
    ]
    html = _PAGE.render(
        title=title, meta=dict(meta or {}), columns=cols, rows=rows, images=plots(results, k)
    )
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    return out
