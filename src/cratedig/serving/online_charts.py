"""Small inline SVG charts for the Online admin page (no JavaScript, no CDN).

Rendering SVG text on the server costs well under a millisecond a chart, where a
matplotlib PNG costs ~100 ms; the page stays under its 300 ms budget.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

from markupsafe import Markup

WIDTH, HEIGHT, PAD = 640, 240, 40
COLOURS = ("#2b6cb0", "#c05621", "#2f855a", "#6b46c1", "#b83280", "#4a5568", "#d69e2e")


def _frame(title: str, body: str, y_max: float, y_label: str) -> Markup:
    ticks = "".join(
        f'<text x="{PAD - 4}" y="{HEIGHT - PAD - f * (HEIGHT - 2 * PAD):.1f}" '
        f'text-anchor="end" font-size="10">{y_max * f:.3g}</text>'
        for f in (0, 0.5, 1)
    )
    return Markup(
        f'<svg class="chart" role="img" aria-label="{escape(title)}" viewBox="0 0 {WIDTH} '
        f'{HEIGHT + 30}" width="100%" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(title)}</title>"
        f'<text x="{WIDTH / 2}" y="14" text-anchor="middle" font-size="13">{escape(title)}'
        "</text>"
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - 10}" y2="{HEIGHT - PAD}" '
        'stroke="#999"/>'
        f'<line x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{HEIGHT - PAD}" stroke="#999"/>'
        f'<text x="8" y="{PAD - 8}" font-size="10">{escape(y_label)}</text>'
        f"{ticks}{body}</svg>"
    )


def line_chart(
    title: str,
    x_labels: Sequence[str],
    series: Mapping[str, Sequence[float | None]],
    y_label: str = "",
) -> Markup:
    """One line per series over the x labels (``None`` leaves a gap)."""
    values = [v for ys in series.values() for v in ys if v is not None]
    y_max = max(values, default=0.0) or 1.0
    n = max(len(x_labels) - 1, 1)
    x = [PAD + i * (WIDTH - PAD - 20) / n for i in range(len(x_labels))]
    body = []
    for k, (label, ys) in enumerate(series.items()):
        colour = COLOURS[k % len(COLOURS)]
        points = " ".join(
            f"{x[i]:.1f},{HEIGHT - PAD - y / y_max * (HEIGHT - 2 * PAD):.1f}"
            for i, y in enumerate(ys)
            if y is not None
        )
        body.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}"/>')
        body.extend(  # markers: a series of one day is still visible
            f'<circle cx="{p.split(",")[0]}" cy="{p.split(",")[1]}" r="3" fill="{colour}"/>'
            for p in points.split()
        )
        body.append(
            f'<text x="{PAD + 10 + 150 * (k % 4)}" y="{HEIGHT + 10 + 14 * (k // 4)}" '
            f'font-size="11" fill="{colour}">{escape(label)}</text>'
        )
    if x_labels:
        body.append(
            f'<text x="{PAD}" y="{HEIGHT - PAD + 14}" font-size="10">{escape(x_labels[0])}</text>'
        )
        body.append(
            f'<text x="{WIDTH - 20}" y="{HEIGHT - PAD + 14}" font-size="10" text-anchor="end">'
            f"{escape(x_labels[-1])}</text>"
        )
    return _frame(title, "".join(body), y_max, y_label)


def bar_chart(
    title: str, labels: Sequence[str], values: Sequence[float | None], y_label: str = ""
) -> Markup:
    """One bar per label."""
    clean = [v or 0.0 for v in values]
    y_max = max(clean, default=0.0) or 1.0
    n = max(len(labels), 1)
    slot = (WIDTH - PAD - 20) / n
    body = []
    for i, (label, v) in enumerate(zip(labels, clean, strict=True)):
        h = v / y_max * (HEIGHT - 2 * PAD)
        x0 = PAD + i * slot + slot * 0.15
        body.append(
            f'<rect class="bar" x="{x0:.1f}" y="{HEIGHT - PAD - h:.1f}" width="{slot * 0.7:.1f}" '
            f'height="{h:.1f}" fill="{COLOURS[0]}"><title>{escape(label)}: {v:.4g}</title></rect>'
        )
        if n <= 20 or i % max(n // 10, 1) == 0:
            body.append(
                f'<text x="{x0 + slot * 0.35:.1f}" y="{HEIGHT - PAD + 14}" font-size="10" '
                f'text-anchor="middle">{escape(label)}</text>'
            )
    return _frame(title, "".join(body), y_max, y_label)
