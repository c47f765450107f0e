"""Trend charts: Mermaid ``xychart-beta`` for Markdown (GitHub renders it) and inline SVG for the HTML dashboard.

Text from reports (node ids, SKUs) is reduced to a safe alphabet before it
reaches either format: a quote or a newline cannot end the chart's title early.
"""

from __future__ import annotations

import html
import math
import re

from preflight_action.history.trends import Series

_UNSAFE = re.compile(r"[^A-Za-z0-9 ._:/()%+-]")


def _text(value: str, limit: int = 100) -> str:
    return _UNSAFE.sub("_", value)[:limit]


def _number(value: float) -> str:
    return f"{value:.4g}" if abs(value) < 1e15 else f"{value:.3e}"


def _axis(series: Series) -> tuple[float, float]:
    values = [*series.values, *series.reference]
    low, high = min(values), max(values)
    pad = (high - low) * 0.1 or abs(high) * 0.1 or 1.0
    return max(0.0, low - pad), high + pad


def mermaid(series: Series) -> str:
    """One ``xychart-beta`` block (without the fence): the figure's line, then its reference line."""
    low, high = _axis(series)
    labels = ", ".join(f'"{_text(label, 20)}"' for label in series.labels)
    lines = [
        "xychart-beta",
        f'    title "{_text(series.title)}"',
        f"    x-axis [{labels}]",
        f'    y-axis "{_text(series.unit or "value", 20)}" {_number(low)} --> {_number(high)}',
        f"    line [{', '.join(_number(v) for v in series.values)}]",
    ]
    if series.reference:
        lines.append(f"    line [{', '.join(_number(v) for v in series.reference)}]")
    return "\n".join(lines)


def legend(series: Series) -> str:
    """The words that name a chart's lines (Mermaid's xychart has no legend of its own)."""
    first, last = (series.labels[0], series.labels[-1]) if series.labels else ("", "")
    span = f"; x: when each report finished, {first} to {last} (UTC)" if series.labels else ""
    return f"first line: {series.value_name}; second line: {series.reference_name}{span}"


WIDTH, HEIGHT, PAD = 360, 120, 24


def svg(series: Series) -> str:
    """A small accessible line chart (role=img, title, description) with no script and no external reference."""
    low, high = _axis(series)
    span = (high - low) or 1.0
    count = max(1, len(series.values) - 1)

    def points(values: tuple[float, ...]) -> str:
        out = []
        for index, value in enumerate(values):
            x = PAD + (WIDTH - 2 * PAD) * index / count
            y = HEIGHT - PAD - (HEIGHT - 2 * PAD) * (value - low) / span
            out.append(f"{x:.1f},{y:.1f}" if math.isfinite(y) else f"{x:.1f},{HEIGHT - PAD}")
        return " ".join(out)

    title = html.escape(_text(series.title))
    last = series.values[-1] if series.values else 0.0
    described = (
        f"{len(series.values)} runs from {html.escape(series.labels[0])} to {html.escape(series.labels[-1])}; "
        f"latest {_number(last)} {html.escape(series.unit)}; {html.escape(series.value_name)} as a solid line, "
        f"{html.escape(series.reference_name)} as a dashed line"
        if series.labels
        else "no runs"
    )
    colour = "#cf222e" if series.regressed else "#0969da"
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="trend" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}">'
        f"<title>{title}</title><desc>{described}</desc>"
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" stroke="#8c959f"/>'
        f'<polyline fill="none" stroke="#57606a" stroke-dasharray="4 3" points="{points(series.reference)}"/>'
        f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points(series.values)}"/>'
        f'<text x="{PAD}" y="14" font-size="11">{html.escape(_number(high))} {html.escape(series.unit)}</text>'
        f'<text x="{PAD}" y="{HEIGHT - 6}" font-size="11">{html.escape(_number(low))}</text>'
        f'<text x="{WIDTH - PAD}" y="14" font-size="11" text-anchor="end" fill="{colour}">— {html.escape(_text(series.value_name, 40))}</text>'
        f'<text x="{WIDTH - PAD}" y="{HEIGHT - 6}" font-size="11" text-anchor="end" fill="#57606a">'
        f"- - {html.escape(_text(series.reference_name, 40))}</text>"
        "</svg>"
    )
